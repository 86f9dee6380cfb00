"""Pages of the community features: the upvote button (a POST form that redirects
back), trending, and submitting a paper by its arXiv id (queued, then followed on a
status page only its submitter sees). Plain forms with the CSRF field; no JavaScript
needed."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens.arxiv_ids import BadArxivId
from paperlens.community import WINDOWS
from paperlens.errors import TooMany
from paperlens.web.deps import ClientIp, CurrentUser, FormFields, LensDep, ThrottleDep
from paperlens.web.pages.listing import (
    back,
    code_context,
    feed_links,
    listing_context,
    paper_of_form,
)
from paperlens.web.rendering import error_page, has_math, render
from paperlens.web.security import MAX_CATEGORY_CHARS, clean_text

router = APIRouter(include_in_schema=False)


@router.post("/vote")
async def vote(user: CurrentUser, lens: LensDep, values: FormFields) -> Response:
    pk, key = paper_of_form(lens, values)
    lens.community.vote(user.pk, pk, values.get("up", "1") != "0")
    return back(values, f"/paper/{key}")


# -- trending --------------------------------------------------------------------------------


@router.get("/trending", response_class=HTMLResponse)
def trending_page(request: Request, lens: LensDep) -> HTMLResponse:
    window = request.query_params.get("window", "week")
    if window not in WINDOWS:
        return error_page(request, 400, "Bad request", "window must be day, week or month")
    category = clean_text(request.query_params.get("category", ""), MAX_CATEGORY_CHARS)
    items = lens.community.trending(window, limit=30, category=category or None)
    context = {
        "window": window,
        "windows": list(WINDOWS),
        "category": category,
        "items": items,
        "math": has_math(*(t.paper.title for t in items)),
        "feed_links": feed_links(
            "/feeds/trending.xml?"
            + urlencode({"window": window, **({"category": category} if category else {})}),
            "Trending papers",
        ),
        **listing_context(request, [t.pk for t in items]),
        **code_context(request, {t.pk: t.paper for t in items}),
    }
    return render(request, "trending.html", context)


# -- submit ----------------------------------------------------------------------------------


@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "submit.html", {"errors": {}, "values": {}})


#: Seconds between reloads of a submission's status page while it is unfinished.
STATUS_REFRESH_SECONDS = 3


@router.post("/submit", response_class=HTMLResponse)
async def submit(
    request: Request,
    user: CurrentUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> Response:
    """Answers at once: a paper already here is shown; otherwise the submission is
    queued and the browser goes to its status page. Every refusal comes back on the
    form, with the status the API would give."""
    raw = clean_text(values.get("arxiv_id", ""), 300)
    throttle.hit("submit_ip", ip)
    throttle.hit("submit_account", str(user.pk))
    error = ""
    status = 400
    try:
        result = lens.community.submit(user.pk, raw)
    except BadArxivId:
        error = (
            f"{raw[:80]!r} is not an arXiv id or link. Use a form like 2106.09685, "
            "arXiv:2106.09685v2 or https://arxiv.org/abs/2106.09685."
            if raw
            else "Type an arXiv id or link."
        )
    except TooMany as exc:
        error, status = str(exc).capitalize() + ".", 429
    else:
        if result.job is not None:
            return RedirectResponse(f"/submissions/{result.job.pk}", status_code=303)
        assert result.stored is not None
        return render(request, "submitted.html", {"job": None, "paper": result.stored.paper})
    return render(
        request, "submit.html", {"errors": {"arxiv_id": error}, "values": {"arxiv_id": raw}}, status
    )


@router.get("/submissions/{job_id}", response_class=HTMLResponse)
def submission_status(
    request: Request,
    job_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    user: CurrentUser,
    lens: LensDep,
) -> HTMLResponse:
    """The submitter's view of one submission (others: not found). While it waits, the
    page asks the browser to reload it (a ``Refresh`` header: no JavaScript)."""
    job, stored = lens.community.submission_status(user.pk, job_id)
    context = {"job": job, "paper": stored.paper if stored is not None else None}
    response = render(request, "submitted.html", context)
    if job.state in ("queued", "fetching"):
        response.headers["Refresh"] = str(STATUS_REFRESH_SECONDS)
    return response

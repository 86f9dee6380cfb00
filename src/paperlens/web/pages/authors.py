"""Pages about authors: ``/author/{name}`` (their papers, co-authors, categories and
names that are possibly the same person), follow/unfollow (POST forms with the CSRF
field), ``/following`` (the reader's followed authors and their private Atom feed),
``/feeds/following/{token}.xml`` (that feed), claiming a paper (``POST /claims``) and
the admins' review of claims (``/admin/claims``).

An unknown name is a 200 page saying so, never a 404: author links come from free text.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from paperlens.errors import PaperlensError
from paperlens.feeds import CONTENT_TYPES, FeedPaper, FeedSpec, render_feed
from paperlens.web.deps import (
    AdminUser,
    CurrentUser,
    FormFields,
    LensDep,
    ThrottleDep,
    current_user,
)
from paperlens.web.pages.listing import back, listing_context, paper_of_form
from paperlens.web.rendering import has_math, render

router = APIRouter(include_in_schema=False)

PER_PAGE = 30
FEED_SIZE = 50
MAX_PAGE = 1000


def _page(raw: str | None) -> int:
    try:
        page = int(raw or "1")
    except ValueError:
        raise ValueError("page must be a whole number") from None
    if not 1 <= page <= MAX_PAGE:
        raise ValueError(f"page must be between 1 and {MAX_PAGE}")
    return page


def author_path(name: str) -> str:
    return "/author/" + quote(name, safe="")


@router.get("/author/{name:path}", response_class=HTMLResponse)
def author_page(request: Request, name: str, lens: LensDep) -> HTMLResponse:
    page = _page(request.query_params.get("page"))
    view = lens.authors.page(name, page, PER_PAGE)
    user = current_user(request)
    following = bool(user and view.key and view.key in lens.authors.following_keys(user.pk))
    context = {
        "view": view,
        "following": following,
        "author_path": author_path,
        "page_url": lambda n: f"{author_path(name)}?page={n}",
        "math": has_math(*(p.paper.title for p in view.papers)),
        **listing_context(request, [p.pk for p in view.papers]),
    }
    return render(request, "author.html", context)


@router.post("/author-follow")
async def follow(
    user: CurrentUser, lens: LensDep, values: FormFields, throttle: ThrottleDep
) -> Response:
    throttle.hit("follow_account", str(user.pk))
    name = values.get("name", "")
    if values.get("follow", "1") == "0":
        lens.authors.unfollow(user.pk, name)
    else:
        lens.authors.follow(user.pk, name)
    return back(values, author_path(name))


@router.get("/following", response_class=HTMLResponse)
def following(request: Request, user: CurrentUser, lens: LensDep) -> HTMLResponse:
    authors = lens.authors.following(user.pk)
    papers = lens.authors.new_from_followed(user.pk, limit=PER_PAGE)
    token = lens.authors.feed_token(user.pk, user.created_at)
    context = {
        "authors": authors,
        "papers": papers,
        "author_path": author_path,
        "feed_url": f"{lens.settings.public_url}/feeds/following/{token}.xml",
        "math": has_math(*(p.paper.title for p in papers)),
        **listing_context(request, [p.pk for p in papers]),
    }
    return render(request, "following.html", context)


@router.get("/feeds/following/{token}.xml")
def following_feed(request: Request, token: str, lens: LensDep) -> Response:
    """A reader's "new from authors you follow" Atom feed; the token in the URL is the
    secret (feed readers send no cookies). A bad token: a plain-text 404."""
    missing = Response("no such feed", status_code=404, media_type="text/plain; charset=utf-8")
    try:
        user_pk, created = lens.authors.feed_subject(token)
    except PaperlensError:
        return missing
    user = lens.accounts.get_user(user_pk)
    if user is None or user.created_at.isoformat() != created:
        return missing
    papers = lens.authors.new_from_followed(user.pk, limit=FEED_SIZE)
    base = lens.settings.public_url.rstrip("/")
    spec = FeedSpec(
        "paperlens: new from authors you follow",
        "Papers by the authors you follow, newest first.",
        f"{base}/following",
        f"{base}/feeds/following/{token}.xml",
    )
    body = render_feed(spec, [FeedPaper(p.paper, p.added_at) for p in papers], base, "atom")
    # Private to one reader: never kept by a shared cache.
    return Response(
        body, media_type=CONTENT_TYPES["atom"], headers={"cache-control": "private, max-age=300"}
    )


# -- claims -----------------------------------------------------------------------------


@router.post("/claims")
async def claim(
    request: Request,
    user: CurrentUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
) -> Response:
    """Claim authorship of the form's paper; a refusal comes back as the error page
    with its message (400, 409 or 429), success goes back to the paper."""
    _pk, key = paper_of_form(lens, values)
    throttle.hit("claim_account", str(user.pk))
    name, reason = values.get("author_name", ""), values.get("reason", "")
    lens.authors.claim(user.pk, lens.paper(key), name, reason)
    return back(values, f"/paper/{key}")


@router.get("/admin/claims", response_class=HTMLResponse)
def admin_claims(request: Request, admin: AdminUser, lens: LensDep) -> HTMLResponse:
    status = request.query_params.get("status", "pending")
    claims = lens.authors.claims(status if status != "all" else None)
    return render(request, "admin_claims.html", {"claims": claims, "status": status})


@router.post("/admin/claims/{claim_id}")
async def review_claim(
    claim_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    admin: AdminUser,
    lens: LensDep,
    values: FormFields,
) -> Response:
    approve = values.get("decision") == "approve"
    if values.get("decision") not in ("approve", "reject"):
        raise ValueError("decision must be approve or reject")
    lens.authors.review(claim_id, approve, admin.pk, admin.is_admin)
    return back(values, "/admin/claims")

"""Facet-aware similar papers on the paper page (``/paper/{id}?facet=method``) and the
"papers like my draft" page (``/like-my-draft``).

Both work without JavaScript: the facet switch is plain links, the draft a POST form
(multipart: pasted text or a PDF, with its CSRF token). A draft is never stored; the
page echoes it back escaped (Jinja autoescape) inside the form. Bad input (empty, too
long, not a PDF, encrypted, scanned) comes back as a message on the same form, 400;
over the ``draft_ip`` rate limit, a 429 page; a body over 20 MB is refused (413) by the
body-size middleware before it is read whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from paperlens.core import PaperLens, StoredPaper
from paperlens.drafts import MAX_DRAFT_CHARS, MAX_PDF_BYTES, Draft, from_pdf, from_text
from paperlens.errors import Invalid, Unavailable
from paperlens.facets import DraftMatches, parse_facet
from paperlens.web.deps import ClientIp, LensDep, ThrottleDep
from paperlens.web.pages.listing import listing_context
from paperlens.web.rendering import has_math, render

FACET_K = 8
DRAFT_K = 10
DRAFT_PATH = "/like-my-draft"
#: The body-size middleware lets this page's form carry a PDF (plus the form's fields).
LARGE_BODIES = {DRAFT_PATH: MAX_PDF_BYTES + 64 * 1024}
#: (query value, label) of the paper page's "Similar by" links, in order.
FACET_LINKS: tuple[tuple[str, str], ...] = (
    ("", "everything"),
    ("background", "background"),
    ("method", "method"),
    ("result", "results"),
)

router = APIRouter(include_in_schema=False)


def facet_context(lens: PaperLens, stored: StoredPaper, facet: str | None) -> dict[str, Any]:
    """What paper.html needs for its "Similar by" links and a facet's list: the facet
    chosen ("" for everything), its matches, a note instead of them, and the status."""
    context: dict[str, Any] = {
        "facet": "",
        "facet_links": FACET_LINKS,
        "facet_matches": [],
        "facet_note": "",
        "facet_status": 200,
    }
    if facet is None or facet.strip().lower() in ("", "all", "everything"):
        return context
    try:
        chosen = parse_facet(facet[:40])
    except Invalid as exc:
        return {**context, "facet_note": str(exc), "facet_status": 400, "facet": "?"}
    context["facet"] = chosen
    try:
        context["facet_matches"] = lens.similar_by_facet(stored.paper.id, chosen, FACET_K)
    except (Invalid, Unavailable) as exc:
        context["facet_note"] = str(exc)
    return context


def _draft_page(
    request: Request,
    text: str = "",
    error: str = "",
    found: DraftMatches | None = None,
    status: int = 200,
) -> HTMLResponse:
    papers = [] if found is None else [*found.similar]
    if found is not None:
        papers += [m for ms in found.by_facet.values() for m in ms]
    context = {
        "text": text[: MAX_DRAFT_CHARS * 2],
        "error": error,
        "found": found,
        "max_chars": MAX_DRAFT_CHARS,
        "max_mb": MAX_PDF_BYTES // (1024 * 1024),
        "math": has_math(*(m.paper.title for m in papers)),
        **listing_context(request, [m.pk for m in papers]),
    }
    return render(request, "draft.html", context, status=status)


@router.get(DRAFT_PATH, response_class=HTMLResponse)
def draft_form(request: Request) -> HTMLResponse:
    """The empty form."""
    return _draft_page(request)


@router.post(DRAFT_PATH, response_class=HTMLResponse)
async def draft_results(
    request: Request, lens: LensDep, throttle: ThrottleDep, ip: ClientIp
) -> HTMLResponse:
    """Similar papers for the pasted text or the uploaded PDF (the PDF wins when both)."""
    throttle.hit("draft_ip", ip)
    form = await request.form()  # already parsed (and bounded) for the CSRF check
    raw = form.get("text")
    text = raw if isinstance(raw, str) else ""
    upload = form.get("pdf")
    try:
        draft: Draft
        if isinstance(upload, UploadFile) and upload.filename:
            data = await upload.read(MAX_PDF_BYTES + 1)
            draft = await run_in_threadpool(from_pdf, data)
        else:
            draft = from_text(text)
        found = await run_in_threadpool(lens.like_draft, draft, DRAFT_K)
    except (Invalid, Unavailable) as exc:
        status = 503 if isinstance(exc, Unavailable) else 400
        return _draft_page(request, text, str(exc), status=status)
    return _draft_page(request, text, found=found)

"""Pages of the community features: upvote and save buttons (POST forms that redirect
back), trending, submitting a paper, the library and its collections, public
collection pages and "For you". All plain forms with the CSRF field; no JavaScript
needed. A private collection answers 404 to everyone but its owner.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens.accounts import User
from paperlens.arxiv_ids import BadArxivId
from paperlens.community import WINDOWS, SubmitRateLimited
from paperlens.core import PaperLens
from paperlens.errors import CollectionNotFound, UpstreamError
from paperlens.sources.arxiv_api import NotOnArxiv as ArxivPaperNotFound
from paperlens.store.library import DuplicateName
from paperlens.web.account_pages import form_of
from paperlens.web.auth import current_user, require_user
from paperlens.web.community_api import MAX_PK, CollectionId, export_response
from paperlens.web.feed_routes import feed_links
from paperlens.web.listing import listing_context
from paperlens.web.pages import _local_path, error_page, has_math, lens_of, render
from paperlens.web.security import MAX_CATEGORY_CHARS, clean_id, clean_text
from paperlens.web.throttle import client_ip, throttle_of

router = APIRouter(include_in_schema=False)
CurrentUser = Annotated[User, Depends(require_user)]
FOR_YOU = 30


def _back(values: dict[str, str], default: str = "/") -> RedirectResponse:
    return RedirectResponse(_local_path(values.get("next") or default), status_code=303)


def _paper(lens: PaperLens, values: dict[str, str]) -> tuple[int, str]:
    stored = lens.paper(clean_id(values.get("paper", "")))  # PaperNotFound: a 404 page
    return stored.pk, stored.paper.id


# -- votes, saves, feedback -------------------------------------------------------------------


@router.post("/vote")
async def vote(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    pk, key = _paper(lens, values)
    lens.community.vote(user.pk, pk, values.get("up", "1") != "0")
    return _back(values, f"/paper/{key}")


@router.post("/library/save")
async def save(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    pk, key = _paper(lens, values)
    target = _collection_param(values.get("collection"))
    try:
        if values.get("remove") == "1":
            lens.library.remove(user.pk, pk, target)
        else:
            lens.library.save(user.pk, pk, target)
    except CollectionNotFound:
        return error_page(request, 404, "Collection not found", "You have no such collection.")
    return _back(values, f"/paper/{key}")


@router.post("/library/note")
async def note(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    pk, _key = _paper(lens, values)
    read = None if "read" not in values else values["read"] == "1"
    lens.library.set_note(user.pk, pk, values.get("note"), read)
    return _back(values, "/library")


@router.post("/for-you/dismiss")
async def dismiss(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    pk, _key = _paper(lens, values)
    lens.library.dismiss(user.pk, pk, values.get("undo") != "1")
    return _back(values, "/for-you")


def _collection_param(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"not a collection: {raw[:40]!r}") from None


# -- trending --------------------------------------------------------------------------------


@router.get("/trending", response_class=HTMLResponse)
def trending_page(request: Request) -> HTMLResponse:
    window = request.query_params.get("window", "week")
    if window not in WINDOWS:
        return error_page(request, 400, "Bad request", "window must be day, week or month")
    category = clean_text(request.query_params.get("category", ""), MAX_CATEGORY_CHARS)
    lens = lens_of(request)
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
    }
    return render(request, "trending.html", context)


# -- submit ----------------------------------------------------------------------------------


@router.get("/submit", response_class=HTMLResponse)
def submit_form(request: Request, user: CurrentUser) -> HTMLResponse:
    return render(request, "submit.html", {"errors": {}, "values": {}})


@router.post("/submit", response_class=HTMLResponse)
async def submit(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    raw = clean_text(values.get("arxiv_id", ""), 300)
    throttle = throttle_of(request)
    throttle.hit("submit_ip", client_ip(request))
    throttle.hit("submit_account", str(user.pk))
    error = ""
    status = 400
    try:
        result = lens_of(request).community.submit(user.pk, raw)
    except BadArxivId:
        error = (
            f"{raw[:80]!r} is not an arXiv id or link. Use a form like 2106.09685, "
            "arXiv:2106.09685v2 or https://arxiv.org/abs/2106.09685."
            if raw
            else "Type an arXiv id or link."
        )
    except ArxivPaperNotFound as exc:
        error, status = f"arXiv has no such paper ({exc}).", 404
    except SubmitRateLimited as exc:
        error, status = str(exc).capitalize() + ".", 429
    except UpstreamError:
        error, status = "arXiv could not be reached just now; try again later.", 502
    else:
        context = {"result": result, "paper": result.stored.paper}
        return render(request, "submitted.html", context, status=201 if result.created else 200)
    return render(
        request, "submit.html", {"errors": {"arxiv_id": error}, "values": {"arxiv_id": raw}}, status
    )


# -- library and collections --------------------------------------------------------------------


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request, user: CurrentUser) -> HTMLResponse:
    lens = lens_of(request)
    collections = lens.library.collections(user.pk)
    return render(request, "library.html", {"collections": collections, "errors": {}})


@router.post("/library/collections")
async def create_collection(request: Request, user: CurrentUser) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    try:
        made = lens.library.create(user.pk, values.get("name", ""), values.get("public") == "1")
    except (DuplicateName, ValueError) as exc:
        collections = lens.library.collections(user.pk)
        context = {"collections": collections, "errors": {"name": str(exc)}, "values": values}
        return render(request, "library.html", context, status=400)
    return RedirectResponse(f"/c/{made.pk}", status_code=303)


@router.get("/c/{collection_id}", response_class=HTMLResponse)
def collection_page(request: Request, collection_id: str) -> HTMLResponse:
    lens = lens_of(request)
    user = current_user(request)
    try:
        number = int(collection_id)
        if not 1 <= number <= MAX_PK:
            raise CollectionNotFound(collection_id)
        view = lens.library.view(user.pk if user else None, number)
    except (CollectionNotFound, ValueError):
        return error_page(
            request, 404, "Collection not found", "There is no such collection, or it is private."
        )
    context = {
        "view": view,
        "c": view.collection,
        "feed_links": (
            feed_links(f"/feeds/c/{view.collection.pk}.xml", "This collection")
            if view.collection.public
            else []
        ),
        "math": has_math(*(i.paper.title for i in view.items)),
        **listing_context(request, [i.pk for i in view.items]),
    }
    return render(request, "collection.html", context)


@router.get("/c/{collection_id}/export.{fmt}")
def collection_export(request: Request, collection_id: CollectionId, fmt: str) -> Response:
    if fmt not in ("bib", "json"):
        return error_page(request, 404, "Not found", "Exports are .bib or .json.")
    lens = lens_of(request)
    user = current_user(request)
    try:
        view = lens.library.view(user.pk if user else None, collection_id)
    except CollectionNotFound:
        return error_page(
            request, 404, "Collection not found", "There is no such collection, or it is private."
        )
    return export_response(lens, view, "json" if fmt == "json" else "bibtex")


@router.post("/c/{collection_id}/settings")
async def collection_settings(
    request: Request, collection_id: CollectionId, user: CurrentUser
) -> Response:
    values = await form_of(request)
    lens = lens_of(request)
    try:
        if values.get("delete") == "1":
            lens.library.delete(user.pk, collection_id)
            return RedirectResponse("/library", status_code=303)
        name = values.get("name")
        public = None if "public" not in values else values["public"] == "1"
        lens.library.update(user.pk, collection_id, name if name else None, public)
    except CollectionNotFound:
        return error_page(request, 404, "Collection not found", "You have no such collection.")
    except ValueError as exc:
        return error_page(request, 400, "Bad request", str(exc))
    return RedirectResponse(f"/c/{collection_id}", status_code=303)


# -- for you -----------------------------------------------------------------------------------


@router.get("/for-you", response_class=HTMLResponse)
def for_you(request: Request, user: CurrentUser) -> HTMLResponse:
    lens = lens_of(request)
    recs = lens.recommender.recommend(user.pk, limit=FOR_YOU)
    context = {
        "recs": recs,
        "saved_any": bool(lens.library.saved(user.pk)),
        "math": has_math(*(r.paper.title for r in recs)),
        **listing_context(request, [r.pk for r in recs]),
    }
    return render(request, "for_you.html", context)

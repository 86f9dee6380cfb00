"""Pages of a reader's library: the save and note buttons (POST forms that redirect
back), the library and its collections, public collection pages with their exports,
and "For you" with its "not interested" button.

A private collection answers 404 to everyone but its owner (``Library`` decides, once;
``web/errors.py`` answers). A failed collection form comes back with its message.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens.core import DuplicateName
from paperlens.errors import CollectionNotFound
from paperlens.web.deps import CurrentUser, FormFields, LensDep, OptionalUser
from paperlens.web.exports import EXPORT_EXTENSIONS, export_response
from paperlens.web.pages.listing import back, feed_links, listing_context, paper_of_form
from paperlens.web.rendering import error_page, has_math, render
from paperlens.web.security import path_pk

router = APIRouter(include_in_schema=False)
FOR_YOU = 30


def _collection_param(raw: str | None) -> int | None:
    """The collection a form names (none: the reader's default). A number that names no
    collection is a 404, as for one that does not exist."""
    if not raw:
        return None
    if not raw.strip().lstrip("+-").isdigit():
        raise ValueError(f"not a collection: {raw[:40]!r}")
    return _collection_number(raw)


def _collection_number(raw: str) -> int:
    """The collection a page's path names; a path that names none (not a number, or
    out of range) is a 404, as for a collection that does not exist (not a 400: the
    address is simply wrong)."""
    number = path_pk(raw)
    if number is None:
        raise CollectionNotFound(f"no collection {raw[:40]!r}")
    return number


# -- the buttons on paper listings ---------------------------------------------------------------


@router.post("/library/save")
async def save(user: CurrentUser, lens: LensDep, values: FormFields) -> Response:
    pk, key = paper_of_form(lens, values)
    target = _collection_param(values.get("collection"))
    if values.get("remove") == "1":
        lens.library.remove(user.pk, pk, target)
    else:
        lens.library.save(user.pk, pk, target)
    return back(values, f"/paper/{key}")


@router.post("/library/note")
async def note(user: CurrentUser, lens: LensDep, values: FormFields) -> Response:
    pk, _key = paper_of_form(lens, values)
    read = None if "read" not in values else values["read"] == "1"
    lens.library.set_note(user.pk, pk, values.get("note"), read)
    return back(values, "/library")


@router.post("/for-you/dismiss")
async def dismiss(user: CurrentUser, lens: LensDep, values: FormFields) -> Response:
    pk, _key = paper_of_form(lens, values)
    lens.library.dismiss(user.pk, pk, values.get("undo") != "1")
    return back(values, "/for-you")


# -- library and collections --------------------------------------------------------------------


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request, user: CurrentUser, lens: LensDep) -> HTMLResponse:
    collections = lens.library.collections(user.pk)
    return render(request, "library.html", {"collections": collections, "errors": {}})


@router.post("/library/collections")
async def create_collection(
    request: Request, user: CurrentUser, lens: LensDep, values: FormFields
) -> Response:
    try:
        made = lens.library.create(user.pk, values.get("name", ""), values.get("public") == "1")
    except (DuplicateName, ValueError) as exc:
        collections = lens.library.collections(user.pk)
        context = {"collections": collections, "errors": {"name": str(exc)}, "values": values}
        return render(request, "library.html", context, status=400)
    return RedirectResponse(f"/c/{made.pk}", status_code=303)


@router.get("/c/{collection_id}", response_class=HTMLResponse)
def collection_page(
    request: Request, collection_id: str, lens: LensDep, user: OptionalUser
) -> HTMLResponse:
    view = lens.library.view(user.pk if user else None, _collection_number(collection_id))
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
def collection_export(
    request: Request, collection_id: str, fmt: str, lens: LensDep, user: OptionalUser
) -> Response:
    if fmt not in EXPORT_EXTENSIONS:
        return error_page(request, 404, "Not found", "Exports are .bib, .ris, .csl.json or .json.")
    view = lens.library.view(user.pk if user else None, _collection_number(collection_id))
    return export_response(lens, view, EXPORT_EXTENSIONS[fmt])


@router.post("/c/{collection_id}/settings")
async def collection_settings(
    collection_id: str, user: CurrentUser, lens: LensDep, values: FormFields
) -> Response:
    number = _collection_number(collection_id)
    if values.get("delete") == "1":
        lens.library.delete(user.pk, number)
        return RedirectResponse("/library", status_code=303)
    name = values.get("name")
    public = None if "public" not in values else values["public"] == "1"
    lens.library.update(user.pk, number, name if name else None, public)
    return RedirectResponse(f"/c/{number}", status_code=303)


# -- for you -----------------------------------------------------------------------------------


@router.get("/for-you", response_class=HTMLResponse)
def for_you(
    request: Request, user: CurrentUser, lens: LensDep, collection: str = ""
) -> HTMLResponse:
    """The combined feed, or one collection's (``?collection=PK``, the switch)."""
    chosen = _collection_number(collection) if collection else None
    recs = lens.recommender.recommend(user.pk, limit=FOR_YOU, collection_pk=chosen)
    context = {
        "recs": recs,
        "saved_any": bool(lens.library.saved(user.pk)),
        "collections": [c for c in lens.library.collections(user.pk) if c.size],
        "chosen": chosen,
        "math": has_math(*(r.paper.title for r in recs)),
        **listing_context(request, [r.pk for r in recs]),
    }
    return render(request, "for_you.html", context)

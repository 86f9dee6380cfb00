"""The REST API of a reader's library: collections (with exports) and notes.

Public collections can be read without an account; everything else acts for the
signed-in reader and answers 401 without one. A private collection is a 404 for
everyone but its owner (``Library`` decides; ``web/errors.py`` answers), and a name
already taken is a 409.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Query, Response

from paperlens.accounts import User
from paperlens.core import PaperLens
from paperlens.web.api import paper_key
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import AUTH, NOT_FOUND, error_doc
from paperlens.web.deps import CollectionId, CurrentUser, LensDep, OptionalUser
from paperlens.web.exports import EXPORT_FORMATS, ExportFormat, export_response

router = APIRouter(prefix="/api/v1", tags=["community"], responses=s.BAD_INPUT)


@router.get("/collections", response_model=list[s.CollectionOut], responses=AUTH, summary="Yours")
def my_collections(lens: LensDep, user: CurrentUser) -> list[s.CollectionOut]:
    return [s.CollectionOut.of(c) for c in lens.library.collections(user.pk)]


@router.post(
    "/collections",
    response_model=s.CollectionOut,
    status_code=201,
    responses={**AUTH, 409: error_doc("You already have a collection of that name.")},
    summary="Create a collection",
)
def create_collection(lens: LensDep, body: s.CollectionIn, user: CurrentUser) -> s.CollectionOut:
    return s.CollectionOut.of(lens.library.create(user.pk, body.name, body.public))


@router.get(
    "/collections/{collection_id}",
    response_model=s.CollectionDetailOut,
    responses=NOT_FOUND,
    summary="A collection (yours, or a public one)",
)
def get_collection(
    lens: LensDep, collection_id: CollectionId, viewer: OptionalUser
) -> s.CollectionDetailOut:
    view = lens.library.view(viewer.pk if viewer else None, collection_id)
    return s.CollectionDetailOut.of_view(view)


@router.patch(
    "/collections/{collection_id}",
    response_model=s.CollectionOut,
    responses={**AUTH, **NOT_FOUND, 409: error_doc("Name taken.")},
    summary="Rename, or make public or private",
)
def update_collection(
    lens: LensDep, collection_id: CollectionId, body: s.CollectionPatch, user: CurrentUser
) -> s.CollectionOut:
    done = lens.library.update(user.pk, collection_id, body.name, body.public)
    return s.CollectionOut.of(done)


@router.delete(
    "/collections/{collection_id}",
    status_code=204,
    responses={**AUTH, **NOT_FOUND},
    summary="Delete a collection",
)
def delete_collection(lens: LensDep, collection_id: CollectionId, user: CurrentUser) -> Response:
    lens.library.delete(user.pk, collection_id)
    return Response(status_code=204)


def _item(
    lens: PaperLens, user: User, collection_id: int, paper_id: str, add: bool
) -> s.CollectionOut:
    pk, _key = paper_key(lens, paper_id)
    if add:
        lens.library.save(user.pk, pk, collection_id)
    else:
        lens.library.remove(user.pk, pk, collection_id)
    return s.CollectionOut.of(lens.library.owned(user.pk, collection_id))


@router.put(
    "/collections/{collection_id}/papers/{paper_id:path}",
    response_model=s.CollectionOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Add a paper to a collection",
)
def add_paper(
    lens: LensDep, collection_id: CollectionId, paper_id: str, user: CurrentUser
) -> s.CollectionOut:
    return _item(lens, user, collection_id, paper_id, True)


@router.delete(
    "/collections/{collection_id}/papers/{paper_id:path}",
    response_model=s.CollectionOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Take a paper out of a collection",
)
def remove_paper(
    lens: LensDep, collection_id: CollectionId, paper_id: str, user: CurrentUser
) -> s.CollectionOut:
    return _item(lens, user, collection_id, paper_id, False)


@router.get(
    "/collections/{collection_id}/export",
    responses={
        **NOT_FOUND,
        200: {
            "description": "BibTeX, RIS, CSL-JSON, or paperlens JSON (with your notes).",
            "content": {
                "text/x-bibtex": {},
                "application/x-research-info-systems": {},
                "application/vnd.citationstyles.csl+json": {},
                "application/json": {},
            },
        },
    },
    summary="Export a collection as BibTeX, RIS, CSL-JSON or JSON",
)
def export_collection(
    lens: LensDep,
    collection_id: CollectionId,
    viewer: OptionalUser,
    format: Annotated[
        str, Query(max_length=20, description="bibtex (default), ris, csl-json or json.")
    ] = "bibtex",
) -> Response:
    """A private collection is exported to its owner only (others: 404)."""
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be bibtex, ris, csl-json or json, not {format[:20]!r}")
    view = lens.library.view(viewer.pk if viewer else None, collection_id)
    return export_response(lens, view, cast(ExportFormat, format))


@router.patch(
    "/library/papers/{paper_id:path}",
    response_model=s.NoteIn,
    responses={**AUTH, **NOT_FOUND},
    summary="Your note on a paper, and whether you have read it",
)
def set_note(lens: LensDep, paper_id: str, body: s.NoteIn, user: CurrentUser) -> s.NoteIn:
    pk, _key = paper_key(lens, paper_id)
    lens.library.set_note(user.pk, pk, body.note, body.read)
    note = lens.library.notes(user.pk, [pk])[pk]
    return s.NoteIn(note=note.note, read=note.read)

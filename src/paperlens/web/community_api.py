"""The REST API of the community features: votes, trending, submissions, collections
(with exports), notes, recommendations and "not interested" feedback.

Reading trending papers and public collections needs no account; everything else acts
for the signed-in reader (session or ``Authorization: Bearer`` API token) and answers
401 without one. A private collection is a 404 for everyone but its owner.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from paperlens.accounts import User
from paperlens.arxiv_ids import BadArxivId
from paperlens.community import SubmitRateLimited
from paperlens.core import PaperLens, PaperNotFound
from paperlens.errors import CollectionNotFound, UpstreamError
from paperlens.sources.arxiv_api import NotOnArxiv as ArxivPaperNotFound
from paperlens.store.library import DuplicateName
from paperlens.web import community_schemas as cs
from paperlens.web import schemas
from paperlens.web.auth import current_user, require_user
from paperlens.web.security import MAX_CATEGORY_CHARS, clean_id, clean_text
from paperlens.web.throttle import client_ip, throttle_of

CurrentUser = Annotated[User, Depends(require_user)]
MAX_PK = 2**31 - 1
CollectionId = Annotated[int, Path(ge=1, le=MAX_PK, description="The collection's number.")]


def _doc(description: str) -> dict[str, object]:
    return {"model": schemas.ErrorOut, "description": description}


_ERRORS: dict[int | str, dict[str, object]] = {
    400: _doc("Bad input; `detail` says why."),
    422: _doc("A parameter failed validation."),
    429: _doc("Rate limit reached."),
}
_AUTH: dict[int | str, dict[str, object]] = {
    401: _doc("Sign in or send an API token."),
    403: _doc("Missing CSRF token (cookie sessions only)."),
}
_NOT_FOUND: dict[int | str, dict[str, object]] = {404: _doc("No such paper or collection.")}

router = APIRouter(prefix="/api/v1", tags=["community"], responses=_ERRORS)


def lens_of(request: Request) -> PaperLens:
    lens = request.app.state.lens
    assert isinstance(lens, PaperLens)
    return lens


def _paper_pk(lens: PaperLens, paper_id: str) -> tuple[int, str]:
    key = clean_id(paper_id)
    try:
        stored = lens.paper(key)
    except PaperNotFound:
        raise HTTPException(404, f"no paper with id {key!r}") from None
    return stored.pk, stored.paper.id


# -- votes -----------------------------------------------------------------------------------


def _vote(request: Request, user: User, paper_id: str, up: bool) -> cs.VoteOut:
    lens = lens_of(request)
    pk, key = _paper_pk(lens, paper_id)
    return cs.VoteOut(id=key, votes=lens.community.vote(user.pk, pk, up), voted=up)


@router.post(
    "/papers/{paper_id:path}/vote",
    response_model=cs.VoteOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Upvote a paper (once per account)",
)
def vote(request: Request, paper_id: str, user: CurrentUser) -> cs.VoteOut:
    return _vote(request, user, paper_id, True)


@router.delete(
    "/papers/{paper_id:path}/vote",
    response_model=cs.VoteOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Take your upvote back",
)
def unvote(request: Request, paper_id: str, user: CurrentUser) -> cs.VoteOut:
    return _vote(request, user, paper_id, False)


# -- feedback --------------------------------------------------------------------------------


def _feedback(request: Request, user: User, paper_id: str, value: bool) -> cs.FeedbackOut:
    lens = lens_of(request)
    pk, key = _paper_pk(lens, paper_id)
    lens.library.dismiss(user.pk, pk, value)
    return cs.FeedbackOut(id=key, not_interested=value)


@router.post(
    "/papers/{paper_id:path}/not-interested",
    response_model=cs.FeedbackOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Never recommend this paper; learn from it",
)
def not_interested(request: Request, paper_id: str, user: CurrentUser) -> cs.FeedbackOut:
    return _feedback(request, user, paper_id, True)


@router.delete(
    "/papers/{paper_id:path}/not-interested",
    response_model=cs.FeedbackOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Undo 'not interested'",
)
def interested_again(request: Request, paper_id: str, user: CurrentUser) -> cs.FeedbackOut:
    return _feedback(request, user, paper_id, False)


# -- trending and recommendations ---------------------------------------------------------


@router.get("/trending", response_model=cs.TrendingOut, summary="Trending papers")
def trending(
    request: Request,
    window: Annotated[Literal["day", "week", "month"], Query()] = "week",
    category: Annotated[
        str | None, Query(max_length=MAX_CATEGORY_CHARS, description="Category or archive.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> cs.TrendingOut:
    """Recent papers by upvotes with time decay: ``(votes + 0.1 × HF upvotes) /
    (age_hours + 2) ** 1.8`` over the papers first published in the window."""
    cat = clean_text(category or "", MAX_CATEGORY_CHARS) or None
    items = lens_of(request).community.trending(window, limit=limit, category=cat)
    return cs.TrendingOut(
        window=window, category=cat, papers=[cs.TrendingPaperOut.of(t) for t in items]
    )


@router.get(
    "/recommendations",
    response_model=cs.RecommendationsOut,
    responses=_AUTH,
    summary="Papers for you, with reasons",
)
def recommendations(
    request: Request, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> cs.RecommendationsOut:
    recs = lens_of(request).recommender.recommend(user.pk, limit=limit)
    return cs.RecommendationsOut(recommendations=[cs.RecommendationOut.of(r) for r in recs])


# -- submissions -----------------------------------------------------------------------------


@router.post(
    "/submissions",
    response_model=cs.SubmissionOut,
    status_code=201,
    responses={
        **_AUTH,
        200: {"model": cs.SubmissionOut, "description": "Already here: the existing paper."},
        404: _doc("arXiv has no such paper."),
        502: _doc("arXiv could not be reached."),
    },
    summary="Submit a paper by arXiv id or URL",
)
def submit(
    request: Request, body: cs.SubmissionIn, user: CurrentUser, response: Response
) -> cs.SubmissionOut:
    """Fetched from the arXiv API, stored and indexed at once, credited to you. A
    paper already here is returned with status 200."""
    throttle = throttle_of(request)
    throttle.hit("submit_ip", client_ip(request))
    throttle.hit("submit_account", str(user.pk))
    try:
        result = lens_of(request).community.submit(user.pk, body.id)
    except BadArxivId as exc:
        raise HTTPException(400, str(exc)) from None
    except ArxivPaperNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except SubmitRateLimited as exc:
        raise HTTPException(429, str(exc)) from None
    except UpstreamError as exc:
        raise HTTPException(502, str(exc)) from None
    if not result.created:
        response.status_code = 200
    return cs.SubmissionOut(
        created=result.created,
        indexed=result.indexed,
        paper=schemas.PaperSummary.of(result.stored.paper),
    )


# -- collections ---------------------------------------------------------------------------


def _visible(request: Request, collection_id: CollectionId) -> cs.CollectionDetailOut:
    lens = lens_of(request)
    viewer = current_user(request)
    try:
        view = lens.library.view(viewer.pk if viewer else None, collection_id)
    except CollectionNotFound:
        raise HTTPException(404, f"no collection {collection_id}") from None
    return cs.CollectionDetailOut.of_view(view)


@router.get("/collections", response_model=list[cs.CollectionOut], responses=_AUTH, summary="Yours")
def my_collections(request: Request, user: CurrentUser) -> list[cs.CollectionOut]:
    return [cs.CollectionOut.of(c) for c in lens_of(request).library.collections(user.pk)]


@router.post(
    "/collections",
    response_model=cs.CollectionOut,
    status_code=201,
    responses={**_AUTH, 409: _doc("You already have a collection of that name.")},
    summary="Create a collection",
)
def create_collection(
    request: Request, body: cs.CollectionIn, user: CurrentUser
) -> cs.CollectionOut:
    try:
        made = lens_of(request).library.create(user.pk, body.name, body.public)
    except DuplicateName as exc:
        raise HTTPException(409, str(exc)) from None
    return cs.CollectionOut.of(made)


@router.get(
    "/collections/{collection_id}",
    response_model=cs.CollectionDetailOut,
    responses=_NOT_FOUND,
    summary="A collection (yours, or a public one)",
)
def get_collection(request: Request, collection_id: CollectionId) -> cs.CollectionDetailOut:
    return _visible(request, collection_id)


@router.patch(
    "/collections/{collection_id}",
    response_model=cs.CollectionOut,
    responses={**_AUTH, **_NOT_FOUND, 409: _doc("Name taken.")},
    summary="Rename, or make public or private",
)
def update_collection(
    request: Request, collection_id: CollectionId, body: cs.CollectionPatch, user: CurrentUser
) -> cs.CollectionOut:
    try:
        done = lens_of(request).library.update(user.pk, collection_id, body.name, body.public)
    except CollectionNotFound:
        raise HTTPException(404, f"no collection {collection_id}") from None
    except DuplicateName as exc:
        raise HTTPException(409, str(exc)) from None
    return cs.CollectionOut.of(done)


@router.delete(
    "/collections/{collection_id}",
    status_code=204,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Delete a collection",
)
def delete_collection(request: Request, collection_id: CollectionId, user: CurrentUser) -> Response:
    try:
        lens_of(request).library.delete(user.pk, collection_id)
    except CollectionNotFound:
        raise HTTPException(404, f"no collection {collection_id}") from None
    return Response(status_code=204)


def _item(
    request: Request, user: User, collection_id: CollectionId, paper_id: str, add: bool
) -> cs.CollectionOut:
    lens = lens_of(request)
    pk, _key = _paper_pk(lens, paper_id)
    try:
        if add:
            lens.library.save(user.pk, pk, collection_id)
        else:
            lens.library.remove(user.pk, pk, collection_id)
        return cs.CollectionOut.of(lens.library.owned(user.pk, collection_id))
    except CollectionNotFound:
        raise HTTPException(404, f"no collection {collection_id}") from None


@router.put(
    "/collections/{collection_id}/papers/{paper_id:path}",
    response_model=cs.CollectionOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Add a paper to a collection",
)
def add_paper(
    request: Request, collection_id: CollectionId, paper_id: str, user: CurrentUser
) -> cs.CollectionOut:
    return _item(request, user, collection_id, paper_id, True)


@router.delete(
    "/collections/{collection_id}/papers/{paper_id:path}",
    response_model=cs.CollectionOut,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Take a paper out of a collection",
)
def remove_paper(
    request: Request, collection_id: CollectionId, paper_id: str, user: CurrentUser
) -> cs.CollectionOut:
    return _item(request, user, collection_id, paper_id, False)


@router.get(
    "/collections/{collection_id}/export",
    responses={
        **_NOT_FOUND,
        200: {
            "description": "BibTeX (text/x-bibtex) or JSON.",
            "content": {"text/x-bibtex": {}, "application/json": {}},
        },
    },
    summary="Export a collection as BibTeX or JSON",
)
def export_collection(
    request: Request,
    collection_id: CollectionId,
    format: Annotated[Literal["bibtex", "json"], Query()] = "bibtex",
) -> Response:
    lens = lens_of(request)
    viewer = current_user(request)
    try:
        view = lens.library.view(viewer.pk if viewer else None, collection_id)
    except CollectionNotFound:
        raise HTTPException(404, f"no collection {collection_id}") from None
    return export_response(lens, view, format)


def export_response(lens: PaperLens, view: object, format: str) -> Response:
    from paperlens.library import CollectionView

    assert isinstance(view, CollectionView)
    name = "".join(ch if ch.isalnum() else "-" for ch in view.collection.name).strip("-")
    filename = f"{name or 'collection'}-{view.collection.pk}"
    if format == "json":
        import orjson

        return Response(
            orjson.dumps(lens.library.export_json(view), option=orjson.OPT_INDENT_2),
            media_type="application/json",
            headers={"content-disposition": f'attachment; filename="{filename}.json"'},
        )
    return Response(
        lens.library.export_bibtex(view),
        media_type="text/x-bibtex; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}.bib"'},
    )


@router.patch(
    "/library/papers/{paper_id:path}",
    response_model=cs.NoteIn,
    responses={**_AUTH, **_NOT_FOUND},
    summary="Your note on a paper, and whether you have read it",
)
def set_note(request: Request, paper_id: str, body: cs.NoteIn, user: CurrentUser) -> cs.NoteIn:
    lens = lens_of(request)
    pk, _key = _paper_pk(lens, paper_id)
    lens.library.set_note(user.pk, pk, body.note, body.read)
    note = lens.library.notes(user.pk, [pk])[pk]
    return cs.NoteIn(note=note.note, read=note.read)

"""The REST API of authors, follows, authorship claims and citations.

Reading an author or a paper's citations needs no account; following and claiming act
for the signed-in reader (401 without one); reviewing claims is for admins (403).
Citation data is what the background refresh stored, with its age: no request here
waits on the citation source. Paths avoid ``/papers/{id}/...`` because paper ids may
hold slashes and ``/papers/{id:path}`` would take them.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from paperlens.authors import Claim
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import AUTH, NOT_FOUND, error_doc
from paperlens.web.deps import AdminUser, CurrentUser, LensDep, OptionalUser, ThrottleDep
from paperlens.web.security import clean_id

router = APIRouter(prefix="/api/v1", tags=["authors"], responses=s.BAD_INPUT)

PER_PAGE = 50


def _author_url(name: str) -> str:
    return "/api/v1/authors/" + quote(name, safe="")


@router.get(
    "/authors/{name:path}",
    response_model=s.AuthorOut,
    responses={404: error_doc("Only for a name holding a line break (no route matches).")},
    summary="An author's papers",
)
def author(
    lens: LensDep,
    name: str,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
) -> s.AuthorOut:
    """Every paper here by the author (any spelling: accents, case, "Surname, Given"),
    newest first, with co-authors, categories and names that are possibly the same
    person."""
    view = lens.authors.page(name, page, PER_PAGE)
    return s.AuthorOut(
        name=view.name,
        key=view.key,
        names=view.names,
        total=view.total,
        page=view.page,
        pages=view.pages,
        papers=[s.PaperSummary.of(p.paper) for p in view.papers],
        coauthors=[
            s.AuthorNameOut(name=c.name, papers=c.papers, url=_author_url(c.name))
            for c in view.coauthors
        ],
        categories=dict(view.categories),
        possibly_same=[
            s.AuthorNameOut(name=c.name, papers=c.papers, url=_author_url(c.name))
            for c in view.possibly_same
        ],
    )


# -- follows ---------------------------------------------------------------------------------


def _following(lens: LensDep, user: CurrentUser) -> s.FollowingOut:
    token = lens.authors.feed_token(user.pk, user.created_at)
    return s.FollowingOut(
        authors=[n for _, n in lens.authors.following(user.pk)],
        feed_url=f"{lens.settings.public_url}/feeds/following/{token}.xml",
    )


@router.get(
    "/me/following",
    response_model=s.FollowingOut,
    responses=AUTH,
    summary="The authors you follow",
)
def following(lens: LensDep, user: CurrentUser) -> s.FollowingOut:
    return _following(lens, user)


@router.post(
    "/me/following",
    response_model=s.FollowingOut,
    responses=AUTH,
    summary="Follow an author",
)
def follow(
    lens: LensDep, user: CurrentUser, body: s.FollowIn, throttle: ThrottleDep
) -> s.FollowingOut:
    throttle.hit("follow_account", str(user.pk))
    lens.authors.follow(user.pk, body.name)
    return _following(lens, user)


@router.delete(
    "/me/following/{name:path}",
    response_model=s.FollowingOut,
    responses={**AUTH, 404: error_doc("Only for a name holding a line break.")},
    summary="Stop following an author",
)
def unfollow(lens: LensDep, user: CurrentUser, name: str, throttle: ThrottleDep) -> s.FollowingOut:
    throttle.hit("follow_account", str(user.pk))
    lens.authors.unfollow(user.pk, name)
    return _following(lens, user)


@router.get(
    "/me/following/papers",
    response_model=s.FollowedPapersOut,
    responses=AUTH,
    summary="New papers by the authors you follow",
)
def followed_papers(
    lens: LensDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=100)] = 50
) -> s.FollowedPapersOut:
    papers = lens.authors.new_from_followed(user.pk, limit=limit)
    return s.FollowedPapersOut(papers=[s.PaperSummary.of(p.paper) for p in papers])


# -- claims ----------------------------------------------------------------------------------


def _claim_out(c: Claim, *, private: bool) -> s.ClaimOut:
    status: Literal["pending", "approved", "rejected"] = (
        "approved"
        if c.status == "approved"
        else "rejected"
        if c.status == "rejected"
        else "pending"
    )
    return s.ClaimOut(
        id=c.pk,
        paper=c.paper_id,
        author_name=c.author_name,
        claimed_by=c.display_name,
        matched=c.matched,
        status=status,
        created_at=c.created_at,
        reason=c.reason if private else None,
    )


@router.post(
    "/claims",
    response_model=s.ClaimOut,
    status_code=201,
    responses={**AUTH, **NOT_FOUND, 409: error_doc("You already claimed this paper.")},
    summary="Claim authorship of a paper",
)
def claim(lens: LensDep, user: CurrentUser, body: s.ClaimIn, throttle: ThrottleDep) -> s.ClaimOut:
    """The name must fold to one of the paper's authors, or come with a reason; an admin
    approves or rejects the claim, and only approved claims are shown to others."""
    stored = lens.paper(clean_id(body.paper))
    throttle.hit("claim_account", str(user.pk))
    made = lens.authors.claim(user.pk, stored, body.author_name, body.reason)
    return _claim_out(made, private=True)


@router.get(
    "/claims",
    response_model=s.ClaimsOut,
    responses={**NOT_FOUND, 403: error_doc("Only admins list claims by status.")},
    summary="Approved claims of a paper, or (admins) claims by status",
)
def claims(
    lens: LensDep,
    user: OptionalUser,
    paper: Annotated[str | None, Query(max_length=200, description="A paper's id.")] = None,
    status: Annotated[
        Literal["pending", "approved", "rejected"] | None,
        Query(description="Admins only: claims in this state (oldest first)."),
    ] = None,
) -> s.ClaimsOut | JSONResponse:
    if paper is not None:
        stored = lens.paper(clean_id(paper))
        found = lens.authors.approved_claims(stored.pk)
        return s.ClaimsOut(claims=[_claim_out(c, private=False) for c in found])
    if user is None or not user.is_admin:
        return JSONResponse({"detail": "only admins list claims"}, status_code=403)
    found = lens.authors.claims(status or "pending")
    return s.ClaimsOut(claims=[_claim_out(c, private=True) for c in found])


@router.post(
    "/claims/{claim_id}/review",
    response_model=s.ClaimOut,
    responses={**AUTH, 404: error_doc("No such claim.")},
    summary="Approve or reject a claim (admins)",
)
def review(
    lens: LensDep,
    admin: AdminUser,
    claim_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: s.ReviewIn,
) -> s.ClaimOut:
    done = lens.authors.review(claim_id, body.decision == "approve", admin.pk, admin.is_admin)
    return _claim_out(done, private=True)


# -- citations -------------------------------------------------------------------------------


@router.get(
    "/citations/{paper_id:path}",
    response_model=s.CitationsOut,
    responses={404: error_doc("No such paper.")},
    summary="A paper's citation counts, cited-by and references",
)
def citations(lens: LensDep, paper_id: str) -> s.CitationsOut:
    stored = lens.paper(clean_id(paper_id))
    view = lens.citations.view(stored.pk, stored.paper.id)
    c = view.counts
    return s.CitationsOut(
        id=stored.paper.id,
        citation_count=c.citation_count if c else None,
        influential_count=c.influential_count if c else None,
        reference_count=c.reference_count if c else None,
        known_to_source=c.found if c else None,
        source=c.source if c else None,
        fetched_at=c.fetched_at if c else None,
        cited_by_total=view.cited_by_total,
        cited_by=[
            s.CitedPaperOut(id=e.paper_id, title=e.held_title or e.title, held=e.pk is not None)
            for e in view.cited_by
        ],
        references_total=view.references_total,
        references=[
            s.CitedPaperOut(id=e.paper_id, title=e.held_title or e.title, held=e.pk is not None)
            for e in view.references
        ],
    )

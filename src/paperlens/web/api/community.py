"""The REST API of the community features: votes, "not interested" feedback, trending,
recommendations and submissions.

Reading trending papers needs no account; everything else acts for the signed-in reader
(session or ``Authorization: Bearer`` API token) and answers 401 without one. Failures
(no such paper, a bad arXiv id, too many submissions, a full queue) are answered by
``web/errors.py``. A submission never waits on arXiv: it is queued (202 with a status
URL) and fetched in the background (:mod:`paperlens.jobs`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from paperlens.accounts import User
from paperlens.core import PaperLens
from paperlens.web.api import paper_key
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import AUTH, NOT_FOUND, error_doc
from paperlens.web.deps import ClientIp, CurrentUser, LensDep, ThrottleDep
from paperlens.web.security import MAX_CATEGORY_CHARS, clean_text

router = APIRouter(prefix="/api/v1", tags=["community"], responses=s.BAD_INPUT)


# -- votes -----------------------------------------------------------------------------------


def _vote(lens: PaperLens, user: User, paper_id: str, up: bool) -> s.VoteOut:
    pk, key = paper_key(lens, paper_id)
    return s.VoteOut(id=key, votes=lens.community.vote(user.pk, pk, up), voted=up)


@router.post(
    "/papers/{paper_id:path}/vote",
    response_model=s.VoteOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Upvote a paper (once per account)",
)
def vote(lens: LensDep, paper_id: str, user: CurrentUser) -> s.VoteOut:
    return _vote(lens, user, paper_id, True)


@router.delete(
    "/papers/{paper_id:path}/vote",
    response_model=s.VoteOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Take your upvote back",
)
def unvote(lens: LensDep, paper_id: str, user: CurrentUser) -> s.VoteOut:
    return _vote(lens, user, paper_id, False)


# -- feedback --------------------------------------------------------------------------------


def _feedback(lens: PaperLens, user: User, paper_id: str, value: bool) -> s.FeedbackOut:
    pk, key = paper_key(lens, paper_id)
    lens.library.dismiss(user.pk, pk, value)
    return s.FeedbackOut(id=key, not_interested=value)


@router.post(
    "/papers/{paper_id:path}/not-interested",
    response_model=s.FeedbackOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Never recommend this paper; learn from it",
)
def not_interested(lens: LensDep, paper_id: str, user: CurrentUser) -> s.FeedbackOut:
    return _feedback(lens, user, paper_id, True)


@router.delete(
    "/papers/{paper_id:path}/not-interested",
    response_model=s.FeedbackOut,
    responses={**AUTH, **NOT_FOUND},
    summary="Undo 'not interested'",
)
def interested_again(lens: LensDep, paper_id: str, user: CurrentUser) -> s.FeedbackOut:
    return _feedback(lens, user, paper_id, False)


# -- trending and recommendations ---------------------------------------------------------


@router.get("/trending", response_model=s.TrendingOut, summary="Trending papers")
def trending(
    lens: LensDep,
    window: Annotated[Literal["day", "week", "month"], Query()] = "week",
    category: Annotated[
        str | None, Query(max_length=MAX_CATEGORY_CHARS, description="Category or archive.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    star_weight: Annotated[
        float | None,
        Query(
            ge=0,
            le=10,
            description="Weight of GitHub star growth: adds star_weight × log2(1 + stars "
            "gained this week) points (default: the server's trending_star_weight, 0 "
            "unless configured).",
        ),
    ] = None,
) -> s.TrendingOut:
    """Recent papers by upvotes with time decay: ``(votes + 0.1 × HF upvotes [+ star
    points]) / (age_hours + 2) ** 1.8`` over the papers first published in the window."""
    cat = clean_text(category or "", MAX_CATEGORY_CHARS) or None
    items = lens.community.trending(window, limit=limit, category=cat, star_weight=star_weight)
    return s.TrendingOut(
        window=window, category=cat, papers=[s.TrendingPaperOut.of(t) for t in items]
    )


@router.get(
    "/recommendations",
    response_model=s.RecommendationsOut,
    responses=AUTH,
    summary="Papers for you, with reasons",
)
def recommendations(
    lens: LensDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    collection: Annotated[
        int | None,
        Query(ge=1, description="One of your collections; omitted: every interest, merged"),
    ] = None,
) -> s.RecommendationsOut:
    recs = lens.recommender.recommend(user.pk, limit=limit, collection_pk=collection)
    return s.RecommendationsOut(recommendations=[s.RecommendationOut.of(r) for r in recs])


# -- submissions -----------------------------------------------------------------------------


def status_url(job_pk: int) -> str:
    return f"/api/v1/submissions/{job_pk}"


@router.post(
    "/submissions",
    status_code=202,
    response_model=None,
    responses={
        **AUTH,
        200: {"model": s.SubmissionOut, "description": "Already here: the existing paper."},
        202: {
            "model": s.SubmissionStatusOut,
            "description": "Queued: it is fetched from arXiv in the background; follow "
            "the `Location` header (`GET /api/v1/submissions/{id}`) for its state.",
        },
        429: error_doc("Too many submissions, or the queue is full; `detail` says which."),
    },
    summary="Submit a paper by arXiv id or URL",
)
def submit(
    lens: LensDep,
    body: s.SubmissionIn,
    user: CurrentUser,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> JSONResponse:
    """Answers at once, never waiting on arXiv. A paper already here is returned with
    status 200. Otherwise the id is checked and queued (202): the paper is fetched from
    the arXiv API in the background, stored, indexed and credited to you."""
    throttle.hit("submit_ip", ip)
    throttle.hit("submit_account", str(user.pk))
    result = lens.community.submit(user.pk, body.id)
    if result.stored is not None:
        out = s.SubmissionOut(
            created=False, indexed=True, paper=s.PaperSummary.of(result.stored.paper)
        )
        return JSONResponse(out.model_dump(mode="json"), status_code=200)
    assert result.job is not None
    url = status_url(result.job.pk)
    status = s.SubmissionStatusOut.of(result.job, None, url)
    return JSONResponse(status.model_dump(mode="json"), status_code=202, headers={"Location": url})


@router.get(
    "/submissions/{job_id}",
    response_model=s.SubmissionStatusOut,
    responses={**AUTH, 404: error_doc("No such submission of yours.")},
    summary="The state of one of your submissions",
)
def submission_status(
    lens: LensDep, job_id: Annotated[int, Path(ge=1, le=2**31 - 1)], user: CurrentUser
) -> s.SubmissionStatusOut:
    """queued, fetching, done (with the paper) or failed (with the reason). Only the
    account that submitted it may read it; to others it does not exist (404)."""
    job, stored = lens.community.submission_status(user.pk, job_id)
    return s.SubmissionStatusOut.of(job, stored, status_url(job.pk))

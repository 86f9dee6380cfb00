"""A new reader's start over the API: ``GET /api/v1/onboarding`` (the papers to rate
next, and how far along the reader is) and ``POST /api/v1/onboarding/ratings`` (👍/👎 on
one paper). Categories are set with the account's settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from paperlens.web.api import paper_key
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import Responses, error_doc
from paperlens.web.deps import CurrentUser, LensDep

router = APIRouter(prefix="/api/v1", tags=["v1"])

AUTH: Responses = {401: error_doc("No valid API token or session.")}


@router.get(
    "/onboarding",
    response_model=s.OnboardingOut,
    responses=AUTH,
    summary="Papers to rate next (new readers)",
)
def onboarding(
    lens: LensDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=20)] = 5
) -> s.OnboardingOut:
    """From the reader's categories: random at first, then the papers the reader's
    model is least sure about."""
    return s.OnboardingOut.of(lens.onboarding.state(user.pk, limit))


@router.post(
    "/onboarding/ratings",
    response_model=s.OnboardingOut,
    responses={**AUTH, 404: error_doc("No such paper.")},
    summary="Rate a paper 👍 (saved) or 👎 (not interested)",
)
def rate(lens: LensDep, user: CurrentUser, body: s.RatingIn) -> s.OnboardingOut:
    pk, _id = paper_key(lens, body.paper)
    lens.onboarding.rate(user.pk, pk, body.liked)
    return s.OnboardingOut.of(lens.onboarding.state(user.pk))

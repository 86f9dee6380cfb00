"""The digest subscription endpoint of the REST API: the same double opt-in as the web
form (a confirmation mail, nothing else until it is opened), answers in JSON."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from paperlens.digest import clean_search
from paperlens.digest.service import preferences
from paperlens.digest.validation import MAX_SEARCHES, clean_email
from paperlens.mail import MailError
from paperlens.web.auth import current_user, lens_of
from paperlens.web.schemas import ErrorOut
from paperlens.web.throttle import client_ip, throttle_of

router = APIRouter(prefix="/api/v1", tags=["digests"])


class SavedSearchIn(BaseModel):
    query: str = Field(default="", max_length=300, description="Words (BM25).")
    categories: list[str] = Field(default_factory=list, max_length=10)
    author: str = Field(default="", max_length=200)


class SubscribeIn(BaseModel):
    email: str = Field(max_length=320, description="One plain address.")
    frequency: Literal["daily", "weekly"] = "weekly"
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone.")
    sections: list[Literal["trending", "for_you", "searches", "updates"]] | None = Field(
        default=None,
        description=(
            "What the digest holds (default trending + searches); updates: new versions "
            "of older papers matching the saved searches."
        ),
    )
    searches: list[SavedSearchIn] = Field(default_factory=list, max_length=MAX_SEARCHES)


class SubscribeOut(BaseModel):
    detail: str
    email: str


@router.post(
    "/subscriptions",
    status_code=202,
    response_model=SubscribeOut,
    responses={
        400: {"model": ErrorOut, "description": "A bad address or preference; `detail` says why."},
        429: {"model": ErrorOut, "description": "Too many subscribe requests."},
        503: {"model": ErrorOut, "description": "The confirmation mail could not be sent."},
    },
    summary="Subscribe an address to the digest (double opt-in)",
)
def subscribe(request: Request, body: SubscribeIn) -> SubscribeOut:
    throttle = throttle_of(request)
    throttle.hit("subscribe_ip", client_ip(request))
    email = clean_email(body.email)  # InvalidSubscription is a ValueError: 400
    searches = [clean_search(s.query, s.categories, s.author) for s in body.searches]
    prefs = preferences(body.frequency, body.tz, body.sections, searches)
    if throttle.allowed("subscribe_email", email):
        throttle.record("subscribe_email", email)
        user = current_user(request)
        owner = user.pk if user is not None and user.email.lower() == email else None
        try:
            lens_of(request).digests.subscribe(email, prefs, user_pk=owner)
        except MailError:
            raise HTTPException(503, "the confirmation mail could not be sent; try later") from None
    return SubscribeOut(
        detail="If this address can receive mail, a confirmation link is on its way.",
        email=email,
    )

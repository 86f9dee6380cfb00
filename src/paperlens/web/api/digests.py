"""The digest subscription endpoint of the REST API: the same double opt-in as the web
form (a confirmation mail, nothing else until it is opened), answers in JSON. A bad
address or preference (``InvalidSubscription``) is a 400 from ``web/errors.py``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from paperlens.digest import clean_email, clean_search, preferences
from paperlens.mail import MailError
from paperlens.web.api.schemas import SubscribeIn, SubscribeOut, error_doc
from paperlens.web.deps import ClientIp, LensDep, OptionalUser, ThrottleDep

router = APIRouter(prefix="/api/v1", tags=["digests"])


@router.post(
    "/subscriptions",
    status_code=202,
    response_model=SubscribeOut,
    responses={
        400: error_doc("A bad address or preference; `detail` says why."),
        429: error_doc("Too many subscribe requests."),
        503: error_doc("The confirmation mail could not be sent."),
    },
    summary="Subscribe an address to the digest (double opt-in)",
)
def subscribe(
    body: SubscribeIn, lens: LensDep, throttle: ThrottleDep, ip: ClientIp, user: OptionalUser
) -> SubscribeOut:
    throttle.hit("subscribe_ip", ip)
    email = clean_email(body.email)
    searches = [clean_search(s.query, s.categories, s.author) for s in body.searches]
    prefs = preferences(body.frequency, body.tz, body.sections, searches)
    if throttle.allowed("subscribe_email", email):
        throttle.record("subscribe_email", email)
        owner = user.pk if user is not None and user.owns_address(email) else None
        try:
            lens.digests.subscribe(email, prefs, user_pk=owner)
        except MailError:  # not a PaperlensError: the mail server's words are not for users
            raise HTTPException(503, "the confirmation mail could not be sent; try later") from None
    return SubscribeOut(
        detail="If this address can receive mail, a confirmation link is on its way.",
        email=email,
    )

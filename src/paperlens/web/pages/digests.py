"""Digest pages: subscribe (the footer form on every page, or the full form), confirm,
unsubscribe (a page with a button, and the RFC 8058 one-click POST mail clients send),
manage a subscription by its signed link, and the account's way in (/settings/digest).

The confirm and unsubscribe POSTs are CSRF-exempt: the signed token in their URL is the
authority, and mail clients send the one-click POST without cookies. Link GETs never
change anything (mail scanners open links), they show a button. A bad or expired link
(``BadToken``) is the error page "This link does not work" (``web/errors.py``), except
for a one-click POST, which gets plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from paperlens.core import Collection
from paperlens.digest import (
    DEFAULT_SECTIONS,
    BadToken,
    Digests,
    InvalidSubscription,
    Preferences,
    SavedSearch,
    Subscription,
    clean_email,
    clean_search,
    preferences,
)
from paperlens.mail import MailError
from paperlens.web.csrf import csrf_exempt
from paperlens.web.deps import (
    ClientIp,
    CurrentUser,
    LensDep,
    OptionalUser,
    ThrottleDep,
    current_user,
    lens_of,
)
from paperlens.web.rendering import render

router = APIRouter(include_in_schema=False)

#: Saved-search rows the forms offer (blank ones are ignored).
SEARCH_ROWS = 3
CHECK_INBOX = (
    "If this address can receive mail, a confirmation link is on its way. Open it to "
    "start the digest; nothing else is sent until you do."
)


@dataclass
class FormValues:
    """A preferences form as typed, to refill it."""

    email: str = ""
    frequency: str = "weekly"
    tz: str = "UTC"
    sections: list[str] = field(default_factory=lambda: list(DEFAULT_SECTIONS))
    searches: list[SavedSearch] = field(default_factory=list)

    def padded(self) -> FormValues:
        blank = [SavedSearch()] * max(0, SEARCH_ROWS - len(self.searches))
        return FormValues(
            self.email, self.frequency, self.tz, self.sections, [*self.searches, *blank]
        )

    @classmethod
    def of(cls, sub: Subscription) -> FormValues:
        p = sub.prefs
        return cls(sub.email, p.frequency, p.tz, list(p.sections), list(p.searches))


def _parse(form: FormData) -> tuple[FormValues, Preferences | None, list[str]]:
    """The form's values, the preferences they make (``None`` if invalid) and why not."""
    problems: list[str] = []

    def text(name: str, limit: int = 400) -> str:
        value = form.get(name)
        return value[:limit] if isinstance(value, str) else ""

    full = text("full") == "1"
    sections = [s[:40] for s in form.getlist("sections") if isinstance(s, str)]
    values = FormValues(
        email=text("email", 400).strip(),
        frequency=text("frequency", 20) or "weekly",
        tz=text("tz", 100).strip() or "UTC",
        sections=sections if full else list(DEFAULT_SECTIONS),
    )
    rows = zip(
        form.getlist("search_q"),
        form.getlist("search_category"),
        form.getlist("search_author"),
        strict=False,
    )
    searches: list[SavedSearch] = []
    for q, cats, author in rows:
        q, cats, author = (str(x)[:700] for x in (q, cats, author))
        if not (q.strip() or cats.strip() or author.strip()):
            continue
        try:
            searches.append(clean_search(q, cats, author))
        except InvalidSubscription as exc:
            problems.append(str(exc))
            searches.append(SavedSearch(q.strip()[:300], tuple(cats.split()[:10]), author[:200]))
    values.searches = searches
    prefs: Preferences | None = None
    if not problems:
        try:
            prefs = preferences(values.frequency, values.tz, values.sections, searches)
        except InvalidSubscription as exc:
            problems.append(str(exc))
    return values, prefs, problems


def _message(
    request: Request,
    title: str,
    *lines: str,
    status: int = 200,
    action: str = "",
    button: str = "",
    danger: bool = False,
    manage_url: str = "",
) -> HTMLResponse:
    context = {
        "title": title,
        "lines": lines,
        "action": action,
        "button": button,
        "danger": danger,
        "manage_url": manage_url,
    }
    return render(request, "digest_message.html", context, status)


def _collections(request: Request, user_pk: int | None) -> list[Collection]:
    """The account's non-empty collections, each a possible digest section of its own."""
    if user_pk is None:
        return []
    return [c for c in lens_of(request).library.collections(user_pk) if c.size]


def _subscribe_form(
    request: Request,
    values: FormValues,
    problems: list[str],
    status: int = 200,
    locked_email: bool = False,
) -> HTMLResponse:
    user = current_user(request)
    context = {
        "values": values.padded(),
        "problems": problems,
        "action": "/subscribe",
        "locked_email": locked_email,
        "digest_collections": _collections(request, user.pk if user else None),
    }
    return render(request, "subscribe.html", context, status)


@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_page(request: Request, user: OptionalUser) -> HTMLResponse:
    return _subscribe_form(request, FormValues(email=user.email if user else ""), [])


@router.post("/subscribe", response_class=HTMLResponse)
async def subscribe(
    request: Request, lens: LensDep, throttle: ThrottleDep, ip: ClientIp, user: OptionalUser
) -> HTMLResponse:
    """Footer form (just an email) or the full form: validate, then mail a confirmation
    link. The answer is the same whether or not the address was already subscribed."""
    throttle.hit("subscribe_ip", ip)
    values, prefs, problems = _parse(await request.form())
    email = ""
    try:
        email = clean_email(values.email)
    except InvalidSubscription as exc:
        problems.insert(0, str(exc))
    if problems or prefs is None:
        return _subscribe_form(request, values, problems, 400)
    if throttle.allowed("subscribe_email", email):
        throttle.record("subscribe_email", email)
        owner = user.pk if user is not None and user.owns_address(email) else None
        try:
            lens.digests.subscribe(email, prefs, user_pk=owner)
        except MailError:
            return _message(
                request,
                "Could not send the confirmation mail",
                "The mail server did not take the confirmation mail. Please try again later.",
                status=503,
            )
    return _message(request, "Check your inbox", CHECK_INBOX)


@router.get("/confirm/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    sub = lens.digests.tokens.read("confirm", token)
    return _message(
        request,
        "Confirm your subscription",
        f"Start sending the paperlens digest to {sub.email}?",
        action=f"/confirm/{token}",
        button="Confirm subscription",
    )


@router.post("/confirm/{token}", response_class=HTMLResponse)
@csrf_exempt
def confirm(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    digests = lens.digests
    sub = digests.confirm(token)
    when = "each weekday morning" if sub.prefs.frequency == "daily" else "on Monday mornings"
    return _message(
        request,
        "You are subscribed",
        f"The digest will come to {sub.email} {when} ({sub.prefs.tz}), when there is "
        "something new.",
        manage_url=digests.links(sub).manage,
    )


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_page(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    digests = lens.digests
    subject = digests.tokens.read("unsubscribe", token)
    sub = digests.store.get(subject.subscription_pk)
    if sub is None or sub.email != subject.email or sub.unsubscribed_at is not None:
        return _message(request, "You are unsubscribed", "No more digests go to this address.")
    return _message(
        request,
        "Unsubscribe",
        f"Stop sending the paperlens digest to {sub.email}?",
        action=f"/unsubscribe/{token}",
        button="Unsubscribe",
        danger=True,
    )


@router.post("/unsubscribe/{token}")
@csrf_exempt
async def unsubscribe(request: Request, token: str, lens: LensDep) -> Response:
    """The page's button and RFC 8058 one-click (body ``List-Unsubscribe=One-Click``,
    no cookies): both stop the digest before this answer is sent."""
    body = (await request.body())[:200]
    one_click = b"List-Unsubscribe=One-Click" in body
    try:
        sub = lens.digests.unsubscribe(token)
    except BadToken as exc:
        if one_click:
            return PlainTextResponse(str(exc), status_code=400)
        raise
    if one_click:
        return PlainTextResponse(f"Unsubscribed {sub.email}.")
    return _message(
        request,
        "You are unsubscribed",
        f"No more digests go to {sub.email}. Changed your mind? Subscribe again from any page.",
    )


def _manage_form(
    request: Request,
    digests: Digests,
    sub: Subscription,
    token: str,
    values: FormValues,
    problems: list[str],
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    context = {
        "sub": sub,
        "values": values.padded(),
        "problems": problems,
        "notice": notice,
        "action": f"/subscription/{token}",
        "unsubscribe_url": digests.links(sub).unsubscribe,
        "digest_collections": _collections(request, sub.user_pk),
    }
    return render(request, "subscription.html", context, status)


@router.get("/subscription/{token}", response_class=HTMLResponse)
def manage_page(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    sub = lens.digests.managed(token)
    return _manage_form(request, lens.digests, sub, token, FormValues.of(sub), [])


@router.post("/subscription/{token}", response_class=HTMLResponse)
async def manage(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    digests = lens.digests
    sub = digests.managed(token)
    values, prefs, problems = _parse(await request.form())
    values.email = sub.email
    if problems or prefs is None:
        return _manage_form(request, digests, sub, token, values, problems, status=400)
    updated = digests.update(sub, prefs)
    return _manage_form(request, digests, updated, token, FormValues.of(updated), [], "Saved.")


@router.get("/settings/digest", response_class=HTMLResponse)
def account_digest(request: Request, user: CurrentUser, lens: LensDep) -> Response:
    """From the account's settings: its subscription's page, or the form to start one.
    Only a verified address is the account's: an unverified account (anyone can sign
    up with any address) sees no subscription of it, only how to verify."""
    if not user.email_verified:
        return render(request, "verify_first.html", {"account": user}, 403)
    digests = lens.digests
    sub = digests.for_user(user.pk) or digests.store.by_email(user.email)
    if sub is not None:
        return RedirectResponse(f"/subscription/{digests.token('manage', sub)}", status_code=303)
    return _subscribe_form(request, FormValues(email=user.email), [], locked_email=True)

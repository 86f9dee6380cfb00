"""Account pages: sign up, verify the address, log in, log out, password reset by
mail, and settings (display name, followed categories, password, API tokens).

Plain server-rendered forms (POST, with the CSRF field) that work without JavaScript;
a rejected form comes back with the typed values (never passwords) and each error
next to its field. Login, sign-up, reset and verification mails and current-password
checks are rate limited (:mod:`paperlens.web.throttle`); wrong logins only slow down
the address that sends them, never the account's owner elsewhere.

Nothing tells whether an address has an account: sign-up and the reset form answer
the same either way (page and status) and mail in the background, so the timing does
not tell either; what differs goes by mail to the address (a verification link, or
"someone tried to sign up with your address"). Sign-up therefore does not sign in:
the reader signs in with the new password, and the verification link works only in
the account's own session (see ``Accounts.verify_email``).

Signing in starts a new session (the ``pl_session`` cookie, ``Secure`` on an https
site) and ends any session the browser brought along. Settings take a browser session
(``SessionUser``): an API token can never manage tokens or the password.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens.accounts import (
    MAX_PASSWORD,
    MIN_PASSWORD,
    TOKEN_LIFETIMES,
    TOKEN_SCOPES,
    WRITE_SCOPE,
    Accounts,
    InvalidResetToken,
    InvalidVerifyToken,
    User,
    check_password,
    clean_categories,
    clean_display_name,
    normalise_email,
)
from paperlens.core import PaperLens
from paperlens.mail import Mailer, MailError
from paperlens.web.deps import (
    SESSION_COOKIE,
    ClientIp,
    CurrentUser,
    FormFields,
    LensDep,
    SessionUser,
    ThrottleDep,
    forget_user,
)
from paperlens.web.rendering import local_path, render
from paperlens.web.security import path_pk

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

#: Notices shown after a redirect (fixed texts; nothing from the URL is echoed).
NOTICES = {
    "profile": "Your profile was saved.",
    "password": "Your password was changed; other devices were signed out.",
    "reset": "Your new password is set, and you are signed in.",
    "revoked": "The API token was revoked.",
    "verified": "Your email address is verified.",
    "verify_sent": "A new verification link is on its way to your address.",
}


def _next(raw: str | None) -> str:
    target = local_path(raw or "/")
    return "/" if target.startswith(("/login", "/signup", "/logout", "/reset")) else target


# -- the session cookie -------------------------------------------------------------------


def _secure(lens: PaperLens) -> bool:
    """Cookies get ``Secure`` when the public address is https (see README)."""
    return lens.settings.public_url.lower().startswith("https://")


def _set_session_cookie(lens: PaperLens, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lens.accounts.session_lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(lens),
        path="/",
    )


def sign_in(request: Request, lens: PaperLens, response: Response, user: User) -> None:
    """A fresh session for ``user`` on ``response``; any session the browser brought
    along (possibly planted by someone else) ends: no session fixation."""
    accounts = lens.accounts
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        accounts.end_session(old)
    _set_session_cookie(lens, response, accounts.start_session(user.pk))
    forget_user(request)


def _sentence(exc: Exception) -> str:
    """An error message as a sentence: first letter up, a full stop at the end."""
    text = str(exc).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _send_mail(mailer: Mailer, message: EmailMessage, what: str) -> None:
    """Send in the background: a failure is logged, the answer never depends on it."""
    try:
        mailer.send(message)
    except MailError as exc:
        log.warning("%s mail to %s not sent: %s", what, message.get("To", "?"), exc)


def _password_hint() -> str:
    return f"At least {MIN_PASSWORD} characters; a few words you will remember are fine."


# -- sign up ----------------------------------------------------------------------------


def _signup_page(
    request: Request, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> HTMLResponse:
    context = {
        "values": values,
        "errors": errors,
        "next": _next(values.get("next")),
        "password_hint": _password_hint(),
        "max_password": MAX_PASSWORD,
    }
    return render(request, "signup.html", context, status)


@router.get("/signup", response_class=HTMLResponse)
def signup_form(request: Request) -> HTMLResponse:
    return _signup_page(request, {"next": request.query_params.get("next", "/")}, {})


@router.post("/signup")
async def signup(
    request: Request,
    background: BackgroundTasks,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> Response:
    """Valid input always gets the same "check your inbox" page (200), whether or not
    the address had an account; the mail says which."""
    throttle.hit("signup_ip", ip)
    errors: dict[str, str] = {}
    email = values.get("email", "")
    try:
        email = normalise_email(email)
    except ValueError as exc:
        errors["email"] = _sentence(exc)
    try:
        check_password(values.get("password", ""), email)
    except ValueError as exc:
        errors["password"] = _sentence(exc)
    try:
        clean_display_name(values.get("display_name", ""))
    except ValueError as exc:
        errors["display_name"] = _sentence(exc)
    message: EmailMessage | None = None
    if not errors:
        try:
            message = lens.accounts.sign_up(
                email, values.get("password", ""), values.get("display_name", "")
            )
        except ValueError as exc:
            errors["email"] = _sentence(exc)
    if message is None:
        shown = {k: values.get(k, "") for k in ("email", "display_name", "next")}
        return _signup_page(request, shown, errors, 400)
    if throttle.allowed("signup_email", email):
        throttle.record("signup_email", email)
        background.add_task(_send_mail, Mailer(lens.settings), message, "sign-up")
    context = {"email": email, "next": _next(values.get("next"))}
    return render(request, "signup_sent.html", context)


# -- address verification --------------------------------------------------------------


@router.get("/verify/{token}", response_class=HTMLResponse)
def verify_page(request: Request, token: str, user: CurrentUser) -> HTMLResponse:
    """A button, not the change itself: mail scanners open links. Signed out, the
    reader is sent to the login first (the link works only in its account)."""
    return render(request, "verify.html", {"account": user, "token": token})


@router.post("/verify/{token}")
def verify(request: Request, token: str, user: SessionUser, lens: LensDep) -> Response:
    try:
        lens.accounts.verify_email(user, token)
    except InvalidVerifyToken as exc:
        context = {"account": user, "token": "", "error": str(exc)}
        return render(request, "verify.html", context, 400)
    return RedirectResponse("/settings?done=verified", status_code=303)


@router.post("/settings/verify")
def resend_verification(
    request: Request,
    background: BackgroundTasks,
    user: SessionUser,
    lens: LensDep,
    throttle: ThrottleDep,
) -> Response:
    if user.email_verified:
        return RedirectResponse("/settings?done=verified", status_code=303)
    throttle.hit("verify_account", str(user.pk))
    message = lens.accounts.verify_message(user)
    background.add_task(_send_mail, Mailer(lens.settings), message, "verification")
    return RedirectResponse("/settings?done=verify_sent", status_code=303)


# -- log in / out -------------------------------------------------------------------------


def _login_page(
    request: Request, values: dict[str, str], error: str = "", status: int = 200
) -> HTMLResponse:
    context = {"values": values, "error": error, "next": _next(values.get("next"))}
    return render(request, "login.html", context, status)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _login_page(request, {"next": request.query_params.get("next", "/")})


@router.post("/login")
async def login(
    request: Request, lens: LensDep, values: FormFields, throttle: ThrottleDep, ip: ClientIp
) -> Response:
    throttle.hit("login_ip", ip)
    email = values.get("email", "").strip().lower()[:320]
    shown = {"email": email, "next": values.get("next", "/")}
    # Per (account, address): a guesser is slowed down, the owner elsewhere is not.
    pair = f"{email}\n{ip}"
    throttle.check("login_account_ip", pair)
    user = lens.accounts.authenticate(email, values.get("password", ""))
    if user is None:
        throttle.record("login_account_ip", pair)
        return _login_page(request, shown, "The email address or the password is not right.", 400)
    response = RedirectResponse(_next(values.get("next")), status_code=303)
    sign_in(request, lens, response, user)
    return response


@router.post("/logout")
def logout(request: Request, lens: LensDep) -> Response:
    """End the session on the server (the cookie alone would not do) and go home."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        lens.accounts.end_session(token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=_secure(lens), path="/"
    )
    forget_user(request)
    return response


# -- password reset ------------------------------------------------------------------------


def _send_reset(mailer: Mailer, accounts: Accounts, email: str, token: str) -> None:
    _send_mail(mailer, accounts.reset_message(email, token), "password-reset")


@router.get("/reset", response_class=HTMLResponse)
def reset_form(request: Request) -> HTMLResponse:
    return render(request, "reset_request.html", {"values": {}, "errors": {}, "sent": False})


@router.post("/reset", response_class=HTMLResponse)
async def reset_request(
    request: Request,
    background: BackgroundTasks,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> HTMLResponse:
    throttle.hit("reset_ip", ip)
    try:
        email = normalise_email(values.get("email", ""))
    except ValueError as exc:
        context = {
            "values": {"email": values.get("email", "")},
            "errors": {"email": _sentence(exc)},
            "sent": False,
        }
        return render(request, "reset_request.html", context, 400)
    if throttle.allowed("reset_account", email):
        throttle.record("reset_account", email)
        accounts = lens.accounts
        token = accounts.start_reset(email)
        if token is not None:
            background.add_task(_send_reset, Mailer(lens.settings), accounts, email, token)
    context = {"values": {"email": email}, "errors": {}, "sent": True}
    return render(request, "reset_request.html", context)


def _bad_link(request: Request) -> HTMLResponse:
    return render(request, "reset_invalid.html", {}, 400)


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_password_form(request: Request, token: str, lens: LensDep) -> HTMLResponse:
    if len(token) > 200 or not lens.accounts.reset_is_valid(token):
        return _bad_link(request)
    return render(
        request, "reset_password.html", {"token": token, "error": "", "hint": _password_hint()}
    )


@router.post("/reset/{token}")
async def reset_password(
    request: Request, token: str, lens: LensDep, values: FormFields
) -> Response:
    if len(token) > 200:
        return _bad_link(request)
    try:
        user = lens.accounts.finish_reset(token, values.get("password", ""))
    except InvalidResetToken:
        return _bad_link(request)
    except ValueError as exc:
        context = {"token": token, "error": _sentence(exc), "hint": _password_hint()}
        return render(request, "reset_password.html", context, 400)
    response = RedirectResponse("/settings?done=reset", status_code=303)
    sign_in(request, lens, response, user)
    return response


# -- settings -------------------------------------------------------------------------------


def _settings_page(
    request: Request,
    lens: PaperLens,
    user: User,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_token: str = "",
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "account": user,
        "errors": errors or {},
        "values": values
        or {"display_name": user.display_name, "categories": " ".join(user.categories)},
        "tokens": lens.accounts.list_api_tokens(user.pk),
        "token_lifetimes": TOKEN_LIFETIMES,
        "new_token": new_token,
        "notice": notice or NOTICES.get(request.query_params.get("done", ""), ""),
        "password_hint": _password_hint(),
    }
    return render(request, "settings.html", context, status)


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: SessionUser, lens: LensDep) -> HTMLResponse:
    return _settings_page(request, lens, user)


@router.post("/settings/profile")
async def save_profile(
    request: Request, user: SessionUser, lens: LensDep, values: FormFields
) -> Response:
    accounts = lens.accounts
    errors: dict[str, str] = {}
    name = values.get("display_name", "")
    cats = values.get("categories", "").replace(",", " ").split()
    try:
        name = clean_display_name(name)
    except ValueError as exc:
        errors["display_name"] = _sentence(exc)
    try:
        cats = clean_categories(cats)
    except ValueError as exc:
        errors["categories"] = _sentence(exc)
    if errors:
        shown = {"display_name": values.get("display_name", ""), "categories": " ".join(cats)}
        return _settings_page(request, lens, user, errors=errors, values=shown, status=400)
    accounts.set_display_name(user.pk, name)
    accounts.set_categories(user.pk, cats)
    return RedirectResponse("/settings?done=profile", status_code=303)


@router.post("/settings/password")
async def change_password(
    request: Request,
    user: SessionUser,
    lens: LensDep,
    values: FormFields,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> Response:
    """Every session but this browser's new one ends and every API token is revoked.
    Wrong current passwords are limited per account and per address: a stolen session
    cannot be used to guess the password."""
    account_key = str(user.pk)
    throttle.check("reauth_account", account_key)
    throttle.check("reauth_ip", ip)
    try:
        lens.accounts.change_password(
            user.pk, values.get("current_password", ""), values.get("new_password", "")
        )
    except ValueError as exc:
        field = "current_password" if "current" in str(exc) else "new_password"
        if field == "current_password":
            throttle.record("reauth_account", account_key)
            throttle.record("reauth_ip", ip)
        errors = {field: _sentence(exc)}
        return _settings_page(request, lens, user, errors=errors, status=400)
    response = RedirectResponse("/settings?done=password", status_code=303)
    sign_in(request, lens, response, user)
    return response


def _lifetime(raw: str) -> int | None:
    """The form's lifetime (days, or ``never``); ``ValueError`` for anything else."""
    if raw in ("", "never"):
        return None
    if not raw.isdigit() or len(raw) > 4:
        raise ValueError("choose one of the offered lifetimes")
    return int(raw)


@router.post("/settings/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request, user: SessionUser, lens: LensDep, values: FormFields
) -> HTMLResponse:
    scope = values.get("token_scope", WRITE_SCOPE)
    try:
        if scope not in TOKEN_SCOPES:
            raise ValueError(f"the scope must be one of {', '.join(TOKEN_SCOPES)}")
        _pk, plaintext = lens.accounts.create_api_token(
            user.pk,
            values.get("token_name", ""),
            scope=scope,
            lifetime_days=_lifetime(values.get("token_lifetime", "")),
        )
    except ValueError as exc:
        errors = {"token_name": _sentence(exc)}
        return _settings_page(request, lens, user, errors=errors, status=400)
    return _settings_page(request, lens, user, new_token=plaintext)


@router.post("/settings/tokens/{token_id}/revoke")
def revoke_token(request: Request, token_id: str, user: SessionUser, lens: LensDep) -> Response:
    number = path_pk(token_id)  # out of range or not a number: no such token, a 404
    if number is None or not lens.accounts.revoke_api_token(user.pk, number):
        return _settings_page(
            request,
            lens,
            user,
            errors={"tokens": "There is no such token (already revoked?)."},
            status=404,
        )
    return RedirectResponse("/settings?done=revoked", status_code=303)

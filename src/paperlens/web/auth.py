"""Who is asking, and whether a form really came from our own page.

**Who.** :func:`current_user` reads ``Authorization: Bearer <API token>`` when the
request has an ``Authorization`` header (and then ignores cookies altogether), else the
``pl_session`` cookie. :func:`require_user` is the FastAPI dependency for routes that
need a reader: pages redirect to ``/login?next=...``, the API answers 401 JSON.
:func:`require_admin` also needs the admin role (403 otherwise).

**CSRF.** Every unsafe request (POST, PUT, PATCH, DELETE) must carry a token, in the
form field ``csrf_token`` or the ``X-CSRF-Token`` header; :func:`csrf_protect` runs as
an app-wide dependency (see ``create_app``), so every route any router adds is covered.
For a signed-in reader the token is an HMAC of their session token; for an anonymous
visitor, an HMAC of a random ``pl_csrf`` cookie (signed double submit), set by
:class:`CsrfCookie` on the first page that needs it. Templates get ``csrf_token`` in
their context and ``{{ csrf_field() }}`` renders the hidden input. Not checked:

- requests authenticated by ``Authorization`` (no ambient credentials to abuse);
- API requests (``/api/``) that carry no session cookie: they act as nobody;
- routes marked with :func:`csrf_exempt`, for endpoints that carry their own signed
  token, such as RFC 8058 one-click unsubscribe::

      @router.post("/unsubscribe")
      @csrf_exempt               # below the route decorator
      def unsubscribe(...): ...
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from markupsafe import Markup, escape
from starlette.datastructures import MutableHeaders

from paperlens.accounts import Accounts, User
from paperlens.core import PaperLens
from paperlens.web.security import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "pl_session"
CSRF_COOKIE = "pl_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIX = "/api/"
_EXEMPT_ATTR = "__paperlens_csrf_exempt__"
_USER_KEY = "pl_user"
_NEW_CSRF_KEY = "pl_new_csrf_cookie"
_UNSET = object()

F = TypeVar("F", bound=Callable[..., Any])


class LoginRequired(Exception):
    """A page needs a signed-in reader; the app answers with a redirect to the login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def lens_of(request: Request) -> PaperLens:
    lens = request.app.state.lens
    assert isinstance(lens, PaperLens)
    return lens


def accounts_of(request: Request) -> Accounts:
    return lens_of(request).accounts


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def secure_cookies(request: Request) -> bool:
    """Cookies get ``Secure`` when the public address is https (see README)."""
    return lens_of(request).settings.public_url.lower().startswith("https://")


# -- who ----------------------------------------------------------------------------------


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``""`` for any other
    Authorization header; ``None`` without one."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def current_user(request: Request) -> User | None:
    """The reader making the request (API token, else session cookie), or ``None``.
    Worked out once per request."""
    cached = getattr(request.state, _USER_KEY, _UNSET)
    if cached is None or isinstance(cached, User):
        return cached
    user: User | None = None
    token = bearer_token(request)
    if token is not None:
        user = accounts_of(request).api_token_user(token) if token else None
    else:
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            user = accounts_of(request).session_user(session)
    setattr(request.state, _USER_KEY, user)
    return user


def forget_user(request: Request) -> None:
    """Drop the cached reader (after signing in or out within the request)."""
    setattr(request.state, _USER_KEY, _UNSET)


def require_user(request: Request) -> User:
    """FastAPI dependency: the signed-in reader; else a redirect to the login page
    (pages) or 401 (API)."""
    user = current_user(request)
    if user is not None:
        return user
    if is_api(request):
        raise HTTPException(
            401,
            "authentication required: send 'Authorization: Bearer <API token>' "
            "(create one in Settings) or sign in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise LoginRequired(target)


def require_admin(request: Request) -> User:
    """FastAPI dependency: a signed-in admin (403 for other readers)."""
    user = require_user(request)
    if not user.is_admin:
        raise HTTPException(403, "only an administrator may do this")
    return user


def login_redirect(next_path: str) -> Response:
    from fastapi.responses import RedirectResponse

    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=303)


# -- sessions in cookies -------------------------------------------------------------------


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    max_age = int(accounts_of(request).session_lifetime.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=secure_cookies(request), path="/"
    )


# -- CSRF -----------------------------------------------------------------------------------


def _mac(request: Request, purpose: str, value: str) -> str:
    key = lens_of(request).settings.resolved_secret_key.encode()
    msg = f"paperlens-csrf:{purpose}:{value}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token this request's forms must send back: bound to the session of a
    signed-in reader, else to the visitor's ``pl_csrf`` cookie (made if missing)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session and bearer_token(request) is None and current_user(request) is not None:
        return _mac(request, "session", hashlib.sha256(session.encode()).hexdigest())
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, _NEW_CSRF_KEY, None)
    if not seed or len(seed) > 100:
        seed = secrets.token_urlsafe(24)
        setattr(request.state, _NEW_CSRF_KEY, seed)
    return _mac(request, "anon", seed)


def csrf_field(token: str) -> Markup:
    """``<input type="hidden" name="csrf_token" ...>`` for ``token``."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


def csrf_exempt(endpoint: F) -> F:
    """Mark a route's endpoint as checking its own token (apply below ``@router.post``)."""
    setattr(endpoint, _EXEMPT_ATTR, True)
    return endpoint


def _exempt(request: Request) -> bool:
    return bool(getattr(request.scope.get("endpoint"), _EXEMPT_ATTR, False))


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _sent_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").lower().startswith(FORM_TYPES):
        await request.body()  # cache the raw body: handlers may read it as well
        try:
            form = await request.form()
        except Exception:  # malformed multipart: no token to be found
            return ""
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: 403 for an unsafe request without a valid CSRF token."""
    if request.method in SAFE_METHODS or _exempt(request):
        return
    if bearer_token(request) is not None:
        return
    if is_api(request) and SESSION_COOKIE not in request.cookies:
        return
    sent = await _sent_token(request)
    if sent and hmac.compare_digest(sent.encode(), csrf_token(request).encode()):
        return
    raise HTTPException(
        403,
        "This form has expired or did not come from this site (missing or wrong CSRF "
        "token). Go back, reload the page and try again.",
    )


class CsrfCookie:
    """Sets the anonymous ``pl_csrf`` cookie when :func:`csrf_token` made a new one."""

    def __init__(self, app: ASGIApp, secure: bool = False) -> None:
        self.app = app
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                seed = scope.get("state", {}).get(_NEW_CSRF_KEY)
                if seed:
                    headers = MutableHeaders(scope=message)
                    cookie = Response()
                    cookie.set_cookie(
                        CSRF_COOKIE, seed, httponly=True, samesite="lax", secure=self.secure
                    )
                    headers.append("set-cookie", cookie.headers["set-cookie"])
            await send(message)

        await self.app(scope, receive, send_with_cookie)

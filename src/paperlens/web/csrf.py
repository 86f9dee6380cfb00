"""Whether a form really came from our own page: the CSRF token of every unsafe request.

Every unsafe request (POST, PUT, PATCH, DELETE) must carry a token, in the form field
``csrf_token`` or the ``X-CSRF-Token`` header; :func:`csrf_protect` runs as an app-wide
dependency (see ``create_app``), so every route any router adds is covered. For a
signed-in reader the token is an HMAC of their session token; for an anonymous visitor,
an HMAC of a random ``pl_csrf`` cookie (signed double submit), set by
:class:`CsrfCookie` on the first page that needs it. Templates get ``csrf_token`` in
their context and ``{{ csrf_field() }}`` renders the hidden input. Not checked:

- API requests (``/api/``) with an ``Authorization`` header: they act as the API
  token (no ambient credentials to abuse), and a read-only token's write is refused
  here, before any route runs (403 naming the scope);
- API requests that carry no session cookie: they act as nobody.

Off the API an ``Authorization`` header counts for nothing (``web/deps.py``): a page
request carrying one needs its CSRF token like any other.
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

from fastapi import HTTPException, Request, Response
from markupsafe import Markup, escape
from starlette.datastructures import MutableHeaders

from paperlens.web.deps import SESSION_COOKIE, bearer_token, current_user, is_api, lens_of
from paperlens.web.security import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "pl_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_EXEMPT_ATTR = "__paperlens_csrf_exempt__"
_NEW_CSRF_KEY = "pl_new_csrf_cookie"

F = TypeVar("F", bound=Callable[..., Any])


def _mac(request: Request, purpose: str, value: str) -> str:
    key = lens_of(request).settings.resolved_secret_key.encode()
    msg = f"paperlens-csrf:{purpose}:{value}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token this request's forms must send back: bound to the session of a
    signed-in reader, else to the visitor's ``pl_csrf`` cookie (made if missing)."""
    session = request.cookies.get(SESSION_COOKIE)
    if session and bearer_token(request) is None and current_user(request) is not None:
        # (bearer_token is None off the API: pages know only the session)
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
    if bearer_token(request) is not None:  # only ever on the API
        current_user(request)  # a read-only token's write stops here (403)
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

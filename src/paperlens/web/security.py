"""ASGI middleware guarding the web app: security headers, a request-body size limit,
and a per-client rate limit on the API; and the bounds every path id and free-text
parameter goes through (:func:`path_pk`, :func:`clean_id`, :func:`clean_text`).

The rate limit counts requests per client address in a moving window with the
``limits`` library (the engine behind ``slowapi``), in ``PAPERLENS_RATE_LIMIT_STORAGE``.
The address is the connecting one; behind a reverse proxy it is the one the proxy
forwards, believed only from ``PAPERLENS_TRUSTED_PROXIES`` (see ``cli/serve.py``).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from paperlens.web.deps import MAX_PK

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Everything from this server only; no inline script or style, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
STATIC_CACHE = b"public, max-age=86400"
DEFAULT_MAX_BODY = 16 * 1024
#: Comment forms and API bodies: 10,000 characters of up to 4 UTF-8 bytes, form-encoded
#: (3 bytes a byte), fit.
COMMENT_MAX_BODY = 128 * 1024
COMMENT_PATHS = re.compile(r"^/comments/|^/comments$|^/api/v1/papers/.+/comments(/\d+)?$")


async def send_json(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = orjson.dumps({"detail": detail})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response, a cache lifetime to static files
    (their URLs carry the app version, so a new release is fetched anew), and
    ``private, no-store`` to any other answer to a signed-in request that set no
    Cache-Control itself (pages and API answers for one reader)."""

    def __init__(
        self, app: ASGIApp, static_prefix: str = "/static/", session_cookie: str = ""
    ) -> None:
        self.app = app
        self.static_prefix = static_prefix
        #: A request carrying this cookie (or an Authorization header) gets an answer
        #: for one reader: unless a route chose otherwise, no cache may keep it.
        self.session_marker = f"{session_cookie}=".encode() if session_cookie else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith(self.static_prefix)
        personal = not is_static and self._personal(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                if is_static and b"cache-control" not in present:
                    headers.append((b"cache-control", STATIC_CACHE))
                elif personal and b"cache-control" not in present:
                    headers.append((b"cache-control", b"private, no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _personal(self, scope: Scope) -> bool:
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                return True
            if key == b"cookie" and self.session_marker and self.session_marker in value:
                return True
        return False


class BodySizeLimit:
    """Answers 413 to a request whose body is over ``max_bytes``, whether it declares a
    length or streams chunks; smaller bodies are read here and handed on unchanged.
    ``larger`` names the few paths allowed more (an archive upload), by exact path."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        #: Paths that take more (comments: 10,000 characters, form-encoded), by regex.
        self.larger = tuple(larger)

    def _limit(self, path: str) -> int:
        return next((n for rx, n in self.larger if rx.match(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        too_big = f"request body too large (at most {limit} bytes)"
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json(send, 400, "bad content-length header", [])
                    return
                if declared > limit:
                    await send_json(send, 413, too_big, [])
                    return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                await send_json(send, 413, too_big, [])
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


class RateLimit:
    """At most ``limit`` (``"120/minute"``) requests per client address to paths under
    ``prefix``; over it, 429 with ``Retry-After``."""

    def __init__(
        self,
        app: ASGIApp,
        limit: str = "120/minute",
        prefix: str = "/api/",
        storage: Storage | None = None,
    ) -> None:
        self.app = app
        self.prefix = prefix
        self.item: RateLimitItem = parse(limit)
        self.limiter = MovingWindowRateLimiter(storage or MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = str(client[0]) if client else "unknown"
        if self.limiter.hit(self.item, "api", key):
            await self.app(scope, receive, send)
            return
        stats = self.limiter.get_window_stats(self.item, "api", key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        await send_json(
            send,
            429,
            f"too many requests: at most {self.item} per client; try again in {retry} s",
            [(b"retry-after", str(retry).encode())],
        )


# -- input cleaning ----------------------------------------------------------------------

#: Longest paper id accepted (store ids are at most 128 characters).
MAX_ID_CHARS = 200
MAX_AUTHOR_CHARS = 200
MAX_CATEGORIES = 20
MAX_CATEGORY_CHARS = 64
_CONTROL = dict.fromkeys([*range(0, 32), 127], " ")


def clean_text(value: str, max_chars: int) -> str:
    """``value`` with control characters (NUL included) as spaces, trimmed and cut to
    ``max_chars``: what every free-text parameter goes through before the core."""
    return value.translate(_CONTROL).strip()[:max_chars]


def clean_id(value: str) -> str:
    """A paper id from a URL, trimmed; too long or with control characters it cannot
    name a stored paper, so it becomes ``""`` (which finds nothing)."""
    value = value.strip()
    if len(value) > MAX_ID_CHARS or value != value.translate(_CONTROL):
        return ""
    return value


def path_pk(raw: str) -> int | None:
    """The row number a path (or form field) names: a whole number from 1 to
    :data:`MAX_PK`, else ``None``. Larger numbers name no row, and would overflow the
    database's integer (a 500 on SQLite and PostgreSQL alike), so they never reach it."""
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(MAX_PK)):
        return None
    number = int(raw)
    return number if 1 <= number <= MAX_PK else None

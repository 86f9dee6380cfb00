"""The app's exception handlers, in one place: every failure becomes a clear 4xx (or,
for a real fault, a logged 5xx) in the right format: ``{"detail": ...}`` JSON for the
API (and the OpenAPI document), the error page for people.

Each kind of :class:`~paperlens.errors.PaperlensError` has its status here, once
(:data:`STATUS`); routes raise or let the core's errors through and never translate
them, except to show a form again with the message. A plain ``ValueError`` (input the
core refused) is a 400. ``LoginRequired`` on a page redirects to the login.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperlens.core import IndexNotBuilt
from paperlens.digest import BadToken
from paperlens.errors import (
    CollectionNotFound,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PaperlensError,
    PaperNotFound,
    TooMany,
    Unavailable,
    UpstreamError,
)
from paperlens.web.deps import LoginRequired, is_api
from paperlens.web.rendering import error_page

log = logging.getLogger(__name__)

#: The HTTP status of each kind of failure; the first match wins.
STATUS: tuple[tuple[type[PaperlensError], int], ...] = (
    (NotFound, 404),
    (Invalid, 400),
    (Conflict, 409),
    (Forbidden, 403),
    (TooMany, 429),
    (Unavailable, 503),
    (UpstreamError, 502),
)
#: How long a client should wait before asking again for something not ready yet.
UNAVAILABLE_RETRY_AFTER = "60"

#: Error-page titles by status ...
_TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Forbidden",
    404: "Page not found",
    405: "Method not allowed",
    413: "Request too large",
    422: "Bad request",
    429: "Too many requests",
    503: "Not ready",
}
#: ... and, more precise, by kind of failure: the title, and the message when people
#: should read another than the exception's (a private collection is "no such
#: collection" on the page, whatever the reason).
_KIND_PAGES: tuple[tuple[type[PaperlensError], str, str | None], ...] = (
    (PaperNotFound, "Paper not found", None),
    (
        CollectionNotFound,
        "Collection not found",
        "There is no such collection, or it is private.",
    ),
    (BadToken, "This link does not work", None),
    (IndexNotBuilt, "Search is not ready", None),
)


def wants_json(request: Request) -> bool:
    """API requests, and the OpenAPI document, get their errors as JSON."""
    return is_api(request) or request.url.path == request.app.openapi_url


def error_response(
    request: Request,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    title: str | None = None,
) -> Response:
    """``{"detail": detail}`` for the API, else the error page titled ``title`` (by
    default the status's title)."""
    if wants_json(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    response = error_page(request, status, title or _TITLES.get(status, "Error"), detail)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def status_of(exc: PaperlensError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 400)


def login_redirect(next_path: str) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(next_path, safe='/')}", status_code=303)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(x) for x in err.get("loc", ()) if x not in ("query", "path", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"Nothing lives at {request.url.path[:200]!r}."
        return error_response(request, exc.status_code, detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 422 if is_api(request) else 400, _validation_message(exc))

    @app.exception_handler(PaperlensError)
    async def paperlens_error(request: Request, exc: PaperlensError) -> Response:
        headers: dict[str, str] = {}
        if isinstance(exc, TooMany) and exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unavailable):
            headers["retry-after"] = UNAVAILABLE_RETRY_AFTER
        status, detail = status_of(exc), str(exc)
        if wants_json(request):
            return error_response(request, status, detail, headers)
        for kind, title, message in _KIND_PAGES:
            if isinstance(exc, kind):
                return error_response(request, status, message or detail, headers, title)
        return error_response(request, status, detail, headers)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> Response:
        return error_response(request, 400, str(exc) or "bad input")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if is_api(request):  # require_user answers 401 itself; this is a safety net
            return error_response(request, 401, "authentication required")
        return login_redirect(exc.next_path)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", ref, request.method, request.url.path)
        return error_response(
            request, 500, f"unexpected server error (reference {ref}); it was logged"
        )

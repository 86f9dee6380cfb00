"""The web application: HTML pages, the JSON API under ``/api/v1``, static files, and
the handlers that make every failure a clear 4xx (or, for a real fault, a logged 5xx)
in the right format: JSON for the API, a friendly page for people."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from paperlens import __version__
from paperlens.config import Settings
from paperlens.core import PaperLens, PaperNotFound
from paperlens.search.engine import IndexNotBuilt
from paperlens.web import (
    account_pages,
    api,
    api_accounts,
    community_api,
    community_pages,
    digest_api,
    digest_pages,
    feed_routes,
    pages,
)
from paperlens.web.auth import CsrfCookie, LoginRequired, csrf_protect, login_redirect
from paperlens.web.security import DEFAULT_MAX_BODY, BodySizeLimit, RateLimit, SecurityHeaders
from paperlens.web.throttle import DEFAULT_LIMITS, RateLimits, Throttle, open_storage

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
API_PREFIX = "/api/"
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


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path == "/openapi.json"


def _error(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    response = pages.error_page(request, status, _TITLES.get(status, "Error"), detail)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


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
        return _error(request, exc.status_code, detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error(request, 422 if _is_api(request) else 400, _validation_message(exc))

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError) -> Response:
        return _error(request, 400, str(exc) or "bad input")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):  # require_user answers 401 itself; this is a safety net
            return _error(request, 401, "authentication required")
        response: Response = login_redirect(exc.next_path)
        assert isinstance(response, RedirectResponse)
        return response

    @app.exception_handler(PaperNotFound)
    async def not_found(request: Request, exc: PaperNotFound) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(IndexNotBuilt)
    async def not_built(request: Request, exc: IndexNotBuilt) -> Response:
        return _error(request, 503, str(exc), {"retry-after": "60"})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error %s on %s %s", ref, request.method, request.url.path)
        return _error(request, 500, f"unexpected server error (reference {ref}); it was logged")


def create_app(
    lens: PaperLens | None = None,
    settings: Settings | None = None,
    *,
    rate_limit: str | None = "120/minute",
    max_body: int = DEFAULT_MAX_BODY,
    auth_limits: RateLimits | None = DEFAULT_LIMITS,
) -> FastAPI:
    """The app over ``lens`` (or a new :class:`PaperLens` on ``settings``, closed when
    the app shuts down). ``rate_limit`` is per client on the API; ``None`` turns it off.
    ``auth_limits`` limits logins, sign-ups, reset mails and submissions (per address
    and per account); ``None`` turns them off."""
    owned = lens is None
    the_lens = lens if lens is not None else PaperLens(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            the_lens.close()

    app = FastAPI(
        title="paperlens",
        version=__version__,
        summary="Search arXiv papers (BM25, dense, hybrid), similar papers, a daily feed.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Every unsafe request to every route needs a CSRF token (see web/auth.py).
        dependencies=[Depends(csrf_protect)],
    )
    app.state.lens = the_lens
    storage = the_lens.settings.rate_limit_storage
    app.state.throttle = Throttle(auth_limits, storage)
    add_error_handlers(app)
    app.include_router(api.router)
    app.include_router(api_accounts.router)
    app.include_router(community_api.router)
    app.include_router(pages.router)
    app.include_router(account_pages.router)
    app.include_router(community_pages.router)
    app.include_router(digest_api.router)
    app.include_router(digest_pages.router)
    app.include_router(feed_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost last: headers on every answer, even a 413 or 429.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    secure = the_lens.settings.public_url.lower().startswith("https://")
    app.add_middleware(CsrfCookie, secure=secure)
    if rate_limit:
        app.add_middleware(
            RateLimit, limit=rate_limit, prefix=API_PREFIX, storage=open_storage(storage)
        )
    app.add_middleware(BodySizeLimit, max_bytes=max_body)
    app.add_middleware(SecurityHeaders)
    return app

"""``create_app``: the FastAPI application, put together from the routers under
``web/api/`` (the JSON API, ``/api/v1``) and ``web/pages/`` (HTML pages and feeds), the
static files, the exception handlers of ``web/errors.py`` and the middleware.

Order matters twice here. API routers come before page routers, and routes keep the
order they are declared in (``/papers/{id}/similar`` before ``/papers/{id}``). Middleware
added last runs outermost: security headers wrap everything, even a 400 for an unknown
``Host`` (when ``PAPERLENS_PUBLIC_URL`` is set), a 413 or a 429.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from paperlens import __version__
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.portability.archive import MAX_ARCHIVE_BYTES
from paperlens.web.api import accounts as api_accounts
from paperlens.web.api import authors as api_authors
from paperlens.web.api import community as api_community
from paperlens.web.api import digests as api_digests
from paperlens.web.api import discussions as api_discussions
from paperlens.web.api import facets as api_facets
from paperlens.web.api import library as api_library
from paperlens.web.api import onboarding as api_onboarding
from paperlens.web.api import papers as api_papers
from paperlens.web.api import portability as api_portability
from paperlens.web.csrf import CsrfCookie, csrf_protect
from paperlens.web.deps import API_PREFIX, SESSION_COOKIE
from paperlens.web.errors import add_error_handlers
from paperlens.web.pages import accounts as page_accounts
from paperlens.web.pages import authors as page_authors
from paperlens.web.pages import community as page_community
from paperlens.web.pages import digests as page_digests
from paperlens.web.pages import discussions as page_discussions
from paperlens.web.pages import facets as page_facets
from paperlens.web.pages import feeds as page_feeds
from paperlens.web.pages import library as page_library
from paperlens.web.pages import onboarding as page_onboarding
from paperlens.web.pages import papers as page_papers
from paperlens.web.pages import portability as page_portability
from paperlens.web.security import (
    COMMENT_MAX_BODY,
    COMMENT_PATHS,
    DEFAULT_MAX_BODY,
    BodySizeLimit,
    RateLimit,
    SecurityHeaders,
)
from paperlens.web.throttle import DEFAULT_LIMITS, RateLimits, Throttle, open_storage

STATIC = Path(__file__).parent / "static"

#: In the order they are matched (comments first: ``GET /api/v1/papers/{id:path}``
#: would take ``.../comments`` for a paper id).
ROUTERS = (
    api_discussions.router,
    api_facets.router,  # before papers: /papers/{id}/similar/{facet} is not a paper id
    api_papers.router,
    api_accounts.router,
    api_community.router,
    api_library.router,
    api_digests.router,
    page_papers.router,
    page_accounts.router,
    page_community.router,
    page_library.router,
    page_digests.router,
    page_feeds.router,
    page_discussions.router,
    api_portability.router,
    page_portability.router,
    api_onboarding.router,
    page_onboarding.router,
    page_facets.router,
    api_authors.router,
    page_authors.router,
)


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
        # Each server process works the submission queue in a thread (paperlens.jobs:
        # any number of workers are safe together), unless a deployment runs
        # `paperlens worker` apart and turns this off.
        worker = the_lens.community.worker("web") if the_lens.settings.submission_worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                worker.stop()
            if owned:
                the_lens.close()

    app = FastAPI(
        title="paperlens",
        version=__version__,
        summary="Search arXiv papers (BM25, dense, hybrid), similar papers, a daily feed.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Every unsafe request to every route needs a CSRF token (see web/csrf.py).
        dependencies=[Depends(csrf_protect)],
    )
    app.state.lens = the_lens
    storage = the_lens.settings.rate_limit_storage
    app.state.throttle = Throttle(auth_limits, storage)
    add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost last: headers on every answer, even a 413 or 429.
    app.add_middleware(GZipMiddleware, minimum_size=1000)
    secure = the_lens.settings.public_url.lower().startswith("https://")
    app.add_middleware(CsrfCookie, secure=secure)
    if rate_limit:
        app.add_middleware(
            RateLimit, limit=rate_limit, prefix=API_PREFIX, storage=open_storage(storage)
        )
    upload = max(MAX_ARCHIVE_BYTES + page_portability.FORM_SLACK, max_body)
    larger = (
        (COMMENT_PATHS, max(max_body, COMMENT_MAX_BODY)),
        *((re.compile(re.escape(path) + r"\Z"), upload) for path in page_portability.IMPORT_PATHS),
        *(
            (re.compile(re.escape(path) + r"\Z"), max(limit, max_body))
            for path, limit in {**api_facets.LARGE_BODIES, **page_facets.LARGE_BODIES}.items()
        ),
    )
    app.add_middleware(BodySizeLimit, max_bytes=max_body, larger=larger)
    allowed_hosts = the_lens.settings.allowed_hosts()
    if allowed_hosts is not None:
        # A request for another host (Host: evil.example) is a 400 before anything else
        # runs; links are built on public_url either way (see config.Settings).
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts, www_redirect=False)
    app.add_middleware(SecurityHeaders, session_cookie=SESSION_COOKIE)
    return app

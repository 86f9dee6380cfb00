"""Everything a page needs to become HTML: the Jinja environment with its globals and
filters, :func:`render` (the context every page has, and the visit cookies),
:func:`error_page`, and :func:`local_path` for redirects.

Paper text reaches templates as plain strings and Jinja escapes it (autoescape on);
only ``highlight`` builds markup, and it escapes every piece of text before wrapping
matches. Every POST form carries ``{{ csrf_field() }}``, which needs the
``csrf_token`` that :func:`render` puts in the context.

"New since your last visit": two cookies, the time of the latest page view and the
start of the previous visit. A visit ends after :data:`VISIT_GAP` without a page
view; papers stored after the previous visit began get a "new" badge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from paperlens import __version__
from paperlens.core import Mode
from paperlens.web.csrf import csrf_field, csrf_token
from paperlens.web.deps import current_user, lens_of
from paperlens.web.highlight import highlight, snippet

TEMPLATES = Path(__file__).parent / "templates"
VISIT_GAP = timedelta(minutes=30)
COOKIE_AGE = 365 * 24 * 3600
LAST_SEEN, NEW_SINCE, THEME = "pl_last_seen", "pl_new_since", "pl_theme"
THEMES = ("auto", "light", "dark")
ABS_LINKS = (("abs", "arXiv page"), ("pdf", "PDF"), ("doi", "DOI"), ("url", "Link"))


# -- template helpers -----------------------------------------------------------------


def fmt_day(d: date | datetime | None) -> str:
    """``Mar 11``: the feed's date header."""
    return "" if d is None else f"{d:%b} {d.day}"


def fmt_date(d: date | datetime | None) -> str:
    """``Mar 11, 2007``."""
    return "" if d is None else f"{d:%b} {d.day}, {d.year}"


def static_url(path: str) -> str:
    return f"/static/{path}?v={__version__}"


def has_math(*texts: str) -> bool:
    """Whether any text has LaTeX math, so the page needs KaTeX."""
    return any("$" in t or "\\(" in t or "\\[" in t for t in texts)


def safe_links(links: dict[str, str]) -> list[tuple[str, str]]:
    """The paper's outside links worth showing, http(s) only (a source may give any
    ``url``; ``javascript:`` and the like never become a link)."""
    return [
        (label, links[key])
        for key, label in ABS_LINKS
        if key in links and links[key].lower().startswith(("https://", "http://"))
    ]


@pass_context
def csrf_field_global(ctx: Context) -> Markup:
    """``{{ csrf_field() }}``: the hidden CSRF input every POST form carries (macros
    that use it must be imported ``with context``)."""
    token = ctx.get("csrf_token")
    if not isinstance(token, str) or not token:
        raise RuntimeError(
            "csrf_field() needs csrf_token in the template context: render with "
            "rendering.render() and import macros 'with context'"
        )
    return csrf_field(token)


env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(("html",), default_for_string=True, default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals.update(
    static_url=static_url,
    fmt_day=fmt_day,
    fmt_date=fmt_date,
    highlight=highlight,
    snippet=snippet,
    safe_links=safe_links,
    version=__version__,
    modes=[m.value for m in Mode],
    csrf_field=csrf_field_global,
)


# -- request state ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Visit:
    """When this reader's current visit counts papers as new from, and now."""

    new_since: datetime | None
    now: datetime

    def is_new(self, added_at: datetime) -> bool:
        return self.new_since is not None and added_at > self.new_since


def _cookie_time(request: Request, name: str) -> datetime | None:
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def visit_of(request: Request) -> Visit:
    now = datetime.now(UTC)
    last = _cookie_time(request, LAST_SEEN)
    if last is None:
        return Visit(None, now)  # first visit: nothing to compare with
    if now - last > VISIT_GAP:
        return Visit(last, now)
    return Visit(_cookie_time(request, NEW_SINCE) or last, now)


def remember_visit(response: Response, visit: Visit) -> None:
    opts: dict[str, Any] = {"max_age": COOKIE_AGE, "httponly": True, "samesite": "lax"}
    response.set_cookie(LAST_SEEN, visit.now.isoformat(), **opts)
    response.set_cookie(NEW_SINCE, (visit.new_since or visit.now).isoformat(), **opts)


def theme_of(request: Request) -> str:
    theme = request.cookies.get(THEME, "auto")
    return theme if theme in THEMES else "auto"


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    status: int = 200,
    visit: Visit | None = None,
) -> HTMLResponse:
    """Render ``template`` with the context every page has; remember the visit."""
    visit = visit or visit_of(request)
    page_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    user = current_user(request)
    base: dict[str, Any] = {
        "request_path": page_path[:2000],
        "theme": theme_of(request),
        "visit": visit,
        "math": False,
        "q": "",
        "user": user,
        "csrf_token": csrf_token(request),
        # Called by base.html for a signed-in reader only: one indexed count.
        "unread_notifications": lambda: (
            lens_of(request).discussions.unread_count(user.pk) if user else 0
        ),
    }
    html = env.get_template(template).render({**base, **context})
    response = HTMLResponse(html, status_code=status)
    remember_visit(response, visit)
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    """The error page (``error.html``): what ``web/errors.py`` answers people with."""
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status
    )


def local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 for ch in target):
        return "/"
    return target[:2000]

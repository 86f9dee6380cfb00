"""Server-rendered HTML pages: the daily feed, search, a paper with similar papers.

Everything works without JavaScript: search is a GET form, the theme switch is a POST
form that sets a cookie, and paging is links. Paper text reaches templates as plain
strings and Jinja escapes it (autoescape on); only :func:`highlight` builds markup,
and it escapes every piece of text before wrapping matches.

"New since your last visit": two cookies, the time of the latest page view and the
start of the previous visit. A visit ends after :data:`VISIT_GAP` without a page
view; papers stored after the previous visit began get a "new" badge.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from paperlens import __version__
from paperlens.core import MAX_QUERY_CHARS, PaperLens, PaperNotFound, Result, SearchResults
from paperlens.filters import SearchFilters
from paperlens.search.engine import MAX_DEPTH, IndexNotBuilt, Mode
from paperlens.store.feed import FeedDay
from paperlens.web.auth import csrf_field, csrf_token, current_user
from paperlens.web.feed_routes import feed_links
from paperlens.web.highlight import highlight, query_terms, snippet
from paperlens.web.listing import listing_context, paper_extras
from paperlens.web.security import (
    MAX_AUTHOR_CHARS,
    MAX_CATEGORY_CHARS,
    clean_id,
    clean_text,
)

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
PER_PAGE = 20
FEED_PER_PAGE = 30
SIMILAR_K = 8
MAX_PAGE = MAX_DEPTH // PER_PAGE
VISIT_GAP = timedelta(minutes=30)
COOKIE_AGE = 365 * 24 * 3600
LAST_SEEN, NEW_SINCE, THEME = "pl_last_seen", "pl_new_since", "pl_theme"
THEMES = ("auto", "light", "dark")
ABS_LINKS = (("abs", "arXiv page"), ("pdf", "PDF"), ("doi", "DOI"), ("url", "Link"))

router = APIRouter(include_in_schema=False)


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
            "pages.render() and import macros 'with context'"
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


def lens_of(request: Request) -> PaperLens:
    lens = request.app.state.lens
    assert isinstance(lens, PaperLens)
    return lens


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
    base: dict[str, Any] = {
        "request_path": page_path[:2000],
        "theme": theme_of(request),
        "visit": visit,
        "math": False,
        "q": "",
        "user": current_user(request),
        "csrf_token": csrf_token(request),
    }
    html = env.get_template(template).render({**base, **context})
    response = HTMLResponse(html, status_code=status)
    remember_visit(response, visit)
    return response


def error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return render(
        request, "error.html", {"status": status, "title": title, "message": message}, status
    )


# -- pages ------------------------------------------------------------------------------


def _int_param(raw: str | None, name: str, default: int, high: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not 1 <= value <= high:
        raise ValueError(f"{name} must be between 1 and {high}")
    return value


def _day_param(raw: str | None, name: str) -> date | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, not {raw[:40]!r}") from None


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """The daily feed: one day of papers, newest first, with the days around it."""
    params = request.query_params
    try:
        day = _day_param(params.get("date"), "date")
        page = _int_param(params.get("page"), "page", 1, MAX_DEPTH)
        feed: FeedDay | None = lens_of(request).daily(day, page, FEED_PER_PAGE)
    except ValueError as exc:
        return error_page(request, 400, "Bad request", str(exc))
    texts = [i.stored.paper.title for i in feed.items] if feed else []
    texts += [i.stored.paper.abstract for i in feed.items] if feed else []
    context = {
        "feed": feed,
        "math": has_math(*texts),
        "page_url": lambda n: f"/?date={feed.day.isoformat()}&page={n}" if feed else "/",
        "feed_links": feed_links("/feeds/daily.xml", "Daily papers"),
        **listing_context(request, [i.stored.pk for i in feed.items] if feed else []),
    }
    return render(request, "home.html", context)


@dataclass(frozen=True, slots=True)
class SearchForm:
    """The search page's parameters, as typed (to refill the form) and as parsed."""

    q: str
    mode: str
    since: str
    until: str
    category: str
    author: str
    page: int

    def query_string(self, page: int) -> str:
        pairs = {
            "q": self.q,
            "mode": self.mode if self.mode != Mode.HYBRID.value else "",
            "since": self.since,
            "until": self.until,
            "category": self.category,
            "author": self.author,
            "page": str(page) if page > 1 else "",
        }
        return urlencode({k: v for k, v in pairs.items() if v})


def _search_form(request: Request) -> tuple[SearchForm, list[str]]:
    """The form as typed, and what is wrong with it (empty when it can run)."""
    p = request.query_params
    problems: list[str] = []
    raw_q = p.get("q", "")
    q = clean_text(raw_q, MAX_QUERY_CHARS + 1)
    if len(q) > MAX_QUERY_CHARS:
        problems.append(
            f"That query is too long ({len(clean_text(raw_q, 10**6)):,} characters); "
            f"use at most {MAX_QUERY_CHARS:,}."
        )
        q = q[:MAX_QUERY_CHARS]
    mode = p.get("mode", Mode.HYBRID.value) or Mode.HYBRID.value
    if mode not in {m.value for m in Mode}:
        problems.append(f"Unknown mode {mode[:40]!r}: choose hybrid, lexical or semantic.")
        mode = Mode.HYBRID.value
    page = 1
    try:
        page = _int_param(p.get("page"), "page", 1, MAX_PAGE)
    except ValueError as exc:
        problems.append(f"{str(exc).capitalize()}.")
    form = SearchForm(
        q=q,
        mode=mode,
        since=clean_text(p.get("since", ""), 40),
        until=clean_text(p.get("until", ""), 40),
        category=clean_text(p.get("category", ""), MAX_CATEGORY_CHARS * 4),
        author=clean_text(p.get("author", ""), MAX_AUTHOR_CHARS),
        page=page,
    )
    return form, problems


def _filters(form: SearchForm) -> SearchFilters:
    cats = tuple(c[:MAX_CATEGORY_CHARS] for c in form.category.replace(",", " ").split())[:20]
    return SearchFilters(
        since=_day_param(form.since, "From"),
        until=_day_param(form.until, "To"),
        categories=cats,
        author=form.author or None,
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    """One box, hybrid by default; bad input comes back as a message on the same form."""
    form, problems = _search_form(request)
    found: SearchResults | None = None
    filters = SearchFilters()
    if not problems:
        try:
            filters = _filters(form)
        except ValueError as exc:
            problems.append(str(exc))
    hint = ""
    if not problems:
        if not form.q and not filters.active:
            hint = "Type a few words (a topic, a method, an author), or set a filter to browse."
        else:
            try:
                found = lens_of(request).search(form.q, form.mode, filters, form.page, PER_PAGE)
            except IndexNotBuilt as exc:
                return error_page(request, 503, "Search is not ready", str(exc))
            except ValueError as exc:
                problems.append(str(exc))
    terms = query_terms(form.q)
    results: list[Result] = found.results if found else []
    texts = [t for r in results for t in (r.paper.title, r.paper.abstract)]
    context = {
        "form": form,
        "q": form.q,
        "found": found,
        "results": results,
        "terms": terms,
        "problems": problems,
        "hint": hint,
        "filters_open": filters.active or bool(form.since or form.until),
        "math": has_math(*texts),
        "page_url": lambda n: "/search?" + form.query_string(n),
        "max_page": MAX_PAGE,
        "feed_links": (
            feed_links("/feeds/search.xml?" + form.query_string(1), "This search")
            if form.q or filters.active
            else []
        ),
        **listing_context(request, [r.pk for r in results]),
    }
    return render(request, "search.html", context, status=400 if problems else 200)


@router.get("/paper/{paper_id:path}", response_class=HTMLResponse)
def paper_page(request: Request, paper_id: str) -> HTMLResponse:
    """A paper, and the papers most like it."""
    lens = lens_of(request)
    key = clean_id(paper_id)
    try:
        stored = lens.paper(key)
    except PaperNotFound:
        return error_page(
            request,
            404,
            "Paper not found",
            f"There is no paper with id {key or paper_id[:80]!r} here.",
        )
    similar: list[Result] = []
    similar_note = ""
    try:
        similar = lens.similar(stored.paper.id, SIMILAR_K)
    except IndexNotBuilt:
        similar_note = "Similar papers appear once the index is built (paperlens index)."
    p = stored.paper
    texts = [p.title, p.abstract, *(t for r in similar for t in (r.paper.title, r.paper.abstract))]
    context = {
        "stored": stored,
        "p": p,
        "similar": similar,
        "similar_note": similar_note,
        "math": has_math(*texts),
        **paper_extras(request, stored.pk),
        **listing_context(request, [stored.pk, *(r.pk for r in similar)]),
    }
    return render(request, "paper.html", context)


def _local_path(target: str) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(ch) < 32 for ch in target):
        return "/"
    return target[:2000]


@router.post("/theme")
async def set_theme(request: Request) -> Response:
    """Remember the chosen theme (auto, light, dark) and go back to the page."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    theme = (form.get("theme") or ["auto"])[0]
    target = _local_path((form.get("next") or ["/"])[0])
    if theme not in THEMES:
        return error_page(request, 400, "Bad request", "theme must be auto, light or dark")
    response = RedirectResponse(target, status_code=303)
    if theme == "auto":
        response.delete_cookie(THEME)
    else:
        response.set_cookie(THEME, theme, max_age=COOKIE_AGE, httponly=True, samesite="lax")
    return response


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """The API explorer (Swagger UI, served from this server)."""
    return HTMLResponse(env.get_template("docs.html").render())

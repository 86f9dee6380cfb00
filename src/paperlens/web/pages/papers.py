"""Pages about papers: the daily feed (home), search, a paper with similar papers, the
theme switch and the API explorer.

Everything works without JavaScript: search is a GET form, the theme switch is a POST
form that sets a cookie, and paging is links. Bad search input comes back as a message
on the same form; every other failure is answered by ``web/errors.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperlens import cite
from paperlens.core import (
    FEED_SORTS,
    MAX_DEPTH,
    MAX_QUERY_CHARS,
    FeedDay,
    IndexNotBuilt,
    Mode,
    Result,
    SearchFilters,
    SearchResults,
)
from paperlens.web.deps import LensDep, current_user
from paperlens.web.exports import cite_response
from paperlens.web.feedcontrol import FeedControl, feed_control
from paperlens.web.highlight import query_terms
from paperlens.web.pages.discussions import discussion_context, discussion_feed_links
from paperlens.web.pages.facets import facet_context
from paperlens.web.pages.listing import (
    author_extras,
    cite_context,
    code_context,
    feed_links,
    listing_context,
    paper_extras,
)
from paperlens.web.rendering import (
    COOKIE_AGE,
    THEME,
    THEMES,
    env,
    error_page,
    has_math,
    local_path,
    render,
)
from paperlens.web.security import (
    MAX_AUTHOR_CHARS,
    MAX_CATEGORY_CHARS,
    clean_id,
    clean_text,
)

PER_PAGE = 20
FEED_PER_PAGE = 30
SIMILAR_K = 8
MAX_PAGE = MAX_DEPTH // PER_PAGE

router = APIRouter(include_in_schema=False)


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
def home(request: Request, lens: LensDep) -> HTMLResponse:
    """The daily feed: one day of papers, newest first (or by votes or stars), in the
    reader's categories, with the days around it. A bad option comes back as a message
    over the unfiltered feed."""
    params = request.query_params
    day = _day_param(params.get("date"), "date")
    page = _int_param(params.get("page"), "page", 1, MAX_DEPTH)
    user = current_user(request)
    problems: list[str] = []
    try:
        control = feed_control(
            params.getlist("category") if "category" in params else None,
            params.get("sort"),
            params.get("hide"),
            user,
            params.get("code"),
        )
    except ValueError as exc:
        problems.append(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
        control = FeedControl()
    feed: FeedDay | None = lens.daily(
        day,
        page,
        FEED_PER_PAGE,
        categories=control.categories,
        sort=control.sort,
        hide_for=user.pk if control.hide and user else None,
        has_code=control.has_code,
    )
    texts = [i.stored.paper.title for i in feed.items] if feed else []
    texts += [i.stored.paper.abstract for i in feed.items] if feed else []
    keep = control.pairs()

    def day_url(d: date) -> str:
        return "/?" + urlencode([("date", d.isoformat()), *keep])

    def page_url(n: int) -> str:
        if feed is None:
            return "/"
        return "/?" + urlencode([("date", feed.day.isoformat()), *keep, ("page", str(n))])

    feed_query = urlencode(control.pairs(with_hide=False))
    toggled = replace(control, has_code=not control.has_code).pairs()
    code_toggle_url = "/?" + urlencode(
        [*([("date", feed.day.isoformat())] if feed else []), *toggled]
    )
    context = {
        "feed": feed,
        "math": has_math(*texts),
        "page_url": page_url,
        "day_url": day_url,
        "control": control,
        "sorts": FEED_SORTS,
        # Feed cards offer "Mark read" to a signed-in reader, for "hide what I have read".
        "mark_read": user is not None,
        "problems": problems,
        "feed_links": feed_links(
            "/feeds/daily.xml" + (f"?{feed_query}" if feed_query else ""), "Daily papers"
        ),
        "with_code": control.has_code,
        "code_toggle_url": code_toggle_url,
        **listing_context(request, [i.stored.pk for i in feed.items] if feed else []),
        **code_context(request, {i.stored.pk: i.stored.paper for i in feed.items} if feed else {}),
    }
    return render(request, "home.html", context, status=400 if problems else 200)


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
    code: str = ""
    #: ``""`` (relevance) or ``citations``.
    sort: str = ""

    def query_string(self, page: int) -> str:
        pairs = {
            "q": self.q,
            "mode": self.mode if self.mode != Mode.HYBRID.value else "",
            "since": self.since,
            "until": self.until,
            "category": self.category,
            "author": self.author,
            "code": self.code,
            "page": str(page) if page > 1 else "",
            "sort": self.sort,
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
        code="1" if p.get("code") == "1" else "",
        sort="citations" if p.get("sort") == "citations" else "",
    )
    return form, problems


def _filters(form: SearchForm) -> SearchFilters:
    cats = tuple(c[:MAX_CATEGORY_CHARS] for c in form.category.replace(",", " ").split())[:20]
    return SearchFilters(
        since=_day_param(form.since, "From"),
        until=_day_param(form.until, "To"),
        categories=cats,
        author=form.author or None,
        has_code=form.code == "1",
    )


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, lens: LensDep) -> HTMLResponse:
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
                found = lens.search(form.q, form.mode, filters, form.page, PER_PAGE)
                if form.sort == "citations":
                    found = lens.by_citations(found)
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
        "sort_urls": {
            "": "/search?" + replace(form, sort="").query_string(1),
            "citations": "/search?" + replace(form, sort="citations").query_string(1),
        },
        "max_page": MAX_PAGE,
        "feed_links": (
            feed_links("/feeds/search.xml?" + form.query_string(1), "This search")
            if form.q or filters.active
            else []
        ),
        **listing_context(request, [r.pk for r in results]),
        **code_context(request, {r.pk: r.paper for r in results}),
    }
    return render(request, "search.html", context, status=400 if problems else 200)


@router.get("/paper/{paper_id:path}/cite.{ext}")
def paper_cite(request: Request, paper_id: str, ext: str, lens: LensDep) -> Response:
    """The paper's citation as a file: ``cite.bib``, ``cite.ris`` or ``cite.json``
    (CSL-JSON). Declared before the paper page, whose path would take it."""
    info = cite.BY_EXTENSION.get(ext)
    if info is None:
        return error_page(request, 404, "Not found", "Citations are cite.bib, .ris or .json.")
    return cite_response(lens.paper(clean_id(paper_id)).paper, info.name)


@router.get("/paper/{paper_id:path}", response_class=HTMLResponse)
def paper_page(
    request: Request, paper_id: str, lens: LensDep, facet: str | None = None
) -> HTMLResponse:
    """A paper, and the papers most like it (``?facet=method``: like it in one facet,
    see ``web/pages/facets.py``)."""
    stored = lens.paper(clean_id(paper_id))
    similar: list[Result] = []
    similar_note = ""
    by_facet = facet_context(lens, stored, facet)
    try:
        if not by_facet["facet"]:
            similar = lens.similar(stored.paper.id, SIMILAR_K)
    except IndexNotBuilt:
        similar_note = "Similar papers appear once the index is built (paperlens index)."
    p = stored.paper
    texts = [p.title, p.abstract, *(t for r in similar for t in (r.paper.title, r.paper.abstract))]
    texts += [t for m in by_facet["facet_matches"] for t in (m.paper.title, m.paper.abstract)]
    context = {
        "stored": stored,
        "p": p,
        "similar": similar,
        "similar_note": similar_note,
        "math": has_math(*texts),
        "citations": cite_context(p),
        **by_facet,
        **paper_extras(request, stored.pk),
        **listing_context(
            request,
            [stored.pk, *(r.pk for r in similar), *(m.pk for m in by_facet["facet_matches"])],
        ),
        **code_context(request, {stored.pk: p, **{r.pk: r.paper for r in similar}}),
        **discussion_context(request, stored),
        "feed_links": discussion_feed_links(p.id),
        **author_extras(request, stored.pk, p.id),
    }
    context["math"] = context["math"] or context.pop("comment_math")
    return render(request, "paper.html", context, status=by_facet["facet_status"])


@router.post("/theme")
async def set_theme(request: Request) -> Response:
    """Remember the chosen theme (auto, light, dark) and go back to the page."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
    theme = (form.get("theme") or ["auto"])[0]
    target = local_path((form.get("next") or ["/"])[0])
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

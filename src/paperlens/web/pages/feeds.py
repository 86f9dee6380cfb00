"""RSS/Atom feeds over the same lists the pages show: ``/feeds/daily.xml?category=&sort=``,
``/feeds/trending.xml?window=``, ``/feeds/search.xml?q=&category=&author=`` and
``/feeds/c/{collection}.xml`` (public collections only) and
``/feeds/discussion/{paper}.xml`` (a paper's visible comments, newest first). Atom by default,
``?format=rss`` for RSS 2.0. Links in feeds are absolute, built on
``PAPERLENS_PUBLIC_URL`` and never on the request's ``Host`` header: feeds are cached
(``public``), so a forged host would otherwise reach every reader behind that cache.

A collection feed that does not exist (or is private) answers a plain-text 404, not
the HTML error page: feed readers, not people, read it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperlens.core import MAX_QUERY_CHARS, Mode, SearchFilters
from paperlens.errors import CollectionNotFound, PaperNotFound
from paperlens.feeds import (
    CONTENT_TYPES,
    FORMATS,
    FeedComment,
    FeedPaper,
    FeedSpec,
    Format,
    paper_url,
    render_comment_feed,
    render_feed,
)
from paperlens.web.deps import LensDep, current_user, lens_of
from paperlens.web.feedcontrol import feed_control
from paperlens.web.security import (
    MAX_AUTHOR_CHARS,
    MAX_CATEGORIES,
    MAX_CATEGORY_CHARS,
    clean_id,
    clean_text,
    path_pk,
)

router = APIRouter(prefix="/feeds", include_in_schema=False)

FEED_SIZE = 50
WINDOWS = ("day", "week", "month")
MAX_AGE = "public, max-age=900"


def _format(request: Request) -> Format:
    raw = request.query_params.get("format", "atom")
    for fmt in FORMATS:
        if raw == fmt:
            return fmt
    raise ValueError("format must be atom or rss")


def _base(request: Request) -> str:
    return lens_of(request).settings.public_url.rstrip("/")


def _self(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{_base(request)}{request.url.path}{query}"


def _respond(request: Request, spec: FeedSpec, items: list[FeedPaper]) -> Response:
    fmt = _format(request)
    body = render_feed(spec, items, _base(request), fmt)
    return Response(body, media_type=CONTENT_TYPES[fmt], headers={"cache-control": MAX_AGE})


@router.get("/daily.xml")
def daily(request: Request, lens: LensDep) -> Response:
    """The newest day, with the home page's options: ``category`` (no default: a feed
    reader has no account here), ``sort``, ``code=1`` (only papers with code) and
    ``hide=1`` (only with a session cookie; the answer is then private to that reader,
    never in a shared cache)."""
    _format(request)
    p = request.query_params
    user = current_user(request) if p.get("hide") else None
    control = feed_control(
        p.getlist("category") if "category" in p else None,
        p.get("sort"),
        p.get("hide"),
        user,
        p.get("code"),
    )
    feed = lens.daily(
        None,
        1,
        FEED_SIZE,
        categories=control.categories,
        sort=control.sort,
        hide_for=user.pk if control.hide and user else None,
        has_code=control.has_code,
    )
    items = [FeedPaper(i.stored.paper, i.stored.added_at) for i in feed.items] if feed else []
    day = f" of {feed.day:%b} {feed.day.day}, {feed.day.year}" if feed else ""
    cats = f" in {', '.join(control.categories)}" if control.categories else ""
    cats += " with code" if control.has_code else ""
    order = {
        "newest": "newest first",
        "votes": "most votes first",
        "stars": "most stars first",
        "citations": "most cited first",
    }
    spec = FeedSpec(
        f"paperlens: papers{day}{cats}",
        f"The newest day of papers, {order[feed.sort if feed else control.sort]}.",
        f"{_base(request)}/?{urlencode(control.pairs(with_hide=False))}".rstrip("?"),
        _self(request),
    )
    response = _respond(request, spec, items)
    if control.hide:
        response.headers["cache-control"] = "private, no-store"
    return response


@router.get("/trending.xml")
def trending(request: Request, lens: LensDep) -> Response:
    window = request.query_params.get("window", "week")
    if window not in WINDOWS:
        raise ValueError("window must be day, week or month")
    category = clean_text(request.query_params.get("category", ""), MAX_CATEGORY_CHARS)
    found = lens.community.trending(window, limit=FEED_SIZE, category=category or None)
    query = urlencode({k: v for k, v in {"window": window, "category": category}.items() if v})
    spec = FeedSpec(
        f"paperlens: trending this {window}" + (f" in {category}" if category else ""),
        "Papers readers upvote, with time decay.",
        f"{_base(request)}/trending?{query}",
        _self(request),
    )
    return _respond(request, spec, [FeedPaper(t.paper, t.added_at) for t in found])


@router.get("/search.xml")
def search(request: Request, lens: LensDep) -> Response:
    p = request.query_params
    q = clean_text(p.get("q", ""), MAX_QUERY_CHARS)
    cats = tuple(
        c[:MAX_CATEGORY_CHARS]
        for c in clean_text(p.get("category", ""), 1000).replace(",", " ").split()
    )[:MAX_CATEGORIES]
    author = clean_text(p.get("author", ""), MAX_AUTHOR_CHARS)
    mode = p.get("mode", Mode.HYBRID.value) or Mode.HYBRID.value
    filters = SearchFilters(categories=cats, author=author or None)
    found = lens.search(q, mode, filters, 1, FEED_SIZE)
    pairs = {"q": q, "category": " ".join(cats), "author": author}
    query = urlencode({k: v for k, v in pairs.items() if v})
    what = f"“{q}”" if q else "filtered papers"
    spec = FeedSpec(
        f"paperlens search: {what}"[:300],
        "The best matches of a saved search.",
        f"{_base(request)}/search?{query}",
        _self(request),
    )
    return _respond(request, spec, [FeedPaper(r.paper, r.added_at) for r in found.results])


@router.get("/c/{collection_id}.xml")
def collection(request: Request, collection_id: str, lens: LensDep) -> Response:
    number = path_pk(collection_id)
    try:
        if number is None:  # not a number, or one too large to name a row
            raise CollectionNotFound(f"no collection {collection_id[:40]!r}")
        view = lens.library.view(None, number)  # anonymous: public only
    except CollectionNotFound:
        return Response(
            "no such public collection", status_code=404, media_type="text/plain; charset=utf-8"
        )
    c = view.collection
    spec = FeedSpec(
        f"paperlens collection: {c.name}",
        f"Papers saved to the public collection “{c.name}”.",
        f"{_base(request)}/c/{c.pk}",
        _self(request),
    )
    return _respond(request, spec, [FeedPaper(i.paper, i.added_at) for i in view.items])


@router.get("/discussion/{paper_id:path}.xml")
def discussion(request: Request, paper_id: str, lens: LensDep) -> Response:
    fmt = _format(request)
    try:
        stored = lens.paper(clean_id(paper_id))
    except PaperNotFound:
        return Response("no such paper", status_code=404, media_type="text/plain; charset=utf-8")
    p = stored.paper
    page = paper_url(_base(request), p.id)
    items = [
        FeedComment(
            f"{page}#c{c.pk}",
            c.author_name,
            c.html,
            c.created_at,
            c.edited_at or c.created_at,
            c.parent_pk is not None,
        )
        for c in lens.discussions.recent(stored.pk, FEED_SIZE)
    ]
    title = " ".join(p.title.split())
    spec = FeedSpec(
        f"paperlens discussion: {title}"[:300],
        f"Comments on {p.id}, newest first.",
        f"{page}#discussion",
        _self(request),
    )
    body = render_comment_feed(spec, items, fmt)
    return Response(body, media_type=CONTENT_TYPES[fmt], headers={"cache-control": MAX_AGE})

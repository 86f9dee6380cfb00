"""RSS 2.0 and Atom feeds of paper lists (the daily list, trending, a search, a public
collection), built with ``feedgen`` so escaping and dates follow the specs.

Every feed is a :class:`FeedSpec` (what it is, where it lives) plus papers. Text is
passed as text: feedgen (lxml) escapes ``<``, ``&`` and quotes; characters XML cannot
carry at all (control characters) are dropped first. Atom summaries are typed text.
RSS descriptions are HTML by convention, so the abstract becomes the HTML that reads as
the same text (:func:`html_of_text`): only an ``&`` or ``<`` that HTML would take for
markup is escaped for HTML, so ``a & b < c`` is ``a &amp; b &lt; c`` in the XML (once
escaped) and reads ``a & b < c`` in a reader, while ``<script>`` stays text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote

from feedgen.feed import FeedGenerator

from paperlens.paper import Paper

Format = Literal["atom", "rss"]
FORMATS: tuple[Format, ...] = ("atom", "rss")
CONTENT_TYPES: dict[Format, str] = {
    "atom": "application/atom+xml; charset=utf-8",
    "rss": "application/rss+xml; charset=utf-8",
}
#: Longest summary in a feed entry (abstracts are usually shorter).
SUMMARY_CHARS = 2000
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
#: ``<`` opening a tag, end tag, comment or processing instruction; ``&`` opening a
#: character reference (HTML also reads some names without ``;``: ``&copy2``).
_HTML_MARKUP = re.compile(r"<(?=[A-Za-z/!?])|&(?=[A-Za-z0-9#])")


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot hold."""
    return _NOT_XML.sub("", text)


def html_of_text(text: str) -> str:
    """HTML that a browser shows as ``text``: every ``<`` or ``&`` that would start
    markup or a character reference is escaped; the rest, a lone ``&`` or ``a < b``
    included, is already text in HTML and is left for the XML escaping alone."""
    return _HTML_MARKUP.sub(lambda m: "&lt;" if m.group() == "<" else "&amp;", text)


@dataclass(frozen=True, slots=True)
class FeedSpec:
    title: str
    description: str
    #: The HTML page this feed mirrors (absolute URL).
    page_url: str
    #: The feed's own URL (absolute).
    self_url: str


@dataclass(frozen=True, slots=True)
class FeedPaper:
    paper: Paper
    #: When it entered this list (stored, voted, saved); the paper's date if unknown.
    at: datetime | None = None


def paper_url(base_url: str, paper_id: str) -> str:
    return f"{base_url.rstrip('/')}/paper/{quote(paper_id, safe='')}"


def _when(item: FeedPaper) -> datetime:
    p = item.paper
    return p.updated or p.published or item.at or datetime(1970, 1, 1, tzinfo=UTC)


def render_feed(
    spec: FeedSpec, items: Sequence[FeedPaper], base_url: str, fmt: Format = "atom"
) -> bytes:
    """The feed as UTF-8 XML bytes."""
    fg = FeedGenerator()
    fg.id(xml_text(spec.self_url))
    fg.title(xml_text(spec.title))
    # Also the RSS <description>, which is HTML: a collection's name may hold markup.
    about = xml_text(spec.description)
    fg.subtitle(about if fmt == "atom" else html_of_text(about))
    # feedgen takes RSS's <link> from the last link given: the page, not the feed.
    fg.link(href=spec.self_url, rel="self")
    fg.link(href=spec.page_url, rel="alternate", type="text/html")
    fg.generator("paperlens")
    fg.language("en")
    newest = max((_when(i) for i in items), default=datetime(1970, 1, 1, tzinfo=UTC))
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for item in items:
        p = item.paper
        url = paper_url(base_url, p.id)
        fe = fg.add_entry(order="append")
        fe.id(url)
        fe.guid(url, permalink=True)
        fe.title(xml_text(" ".join(p.title.split())) or p.id)
        fe.link(href=url, rel="alternate", type="text/html")
        summary = xml_text(" ".join(p.abstract.split()))[:SUMMARY_CHARS]
        if summary and fmt == "atom":
            fe.summary(summary)  # <summary> without a type: plain text
        elif summary:
            # RSS <description> is HTML: readers show "<script>" from an abstract as
            # characters, never as markup, and "a & b" as itself.
            fe.description(html_of_text(summary))
        for name in p.authors[:20]:
            clean = xml_text(name).strip()
            if clean:
                fe.author({"name": clean} if fmt == "atom" else {"name": clean, "email": ""})
        for cat in p.categories[:10]:
            fe.category(term=xml_text(cat))
        if p.published is not None:
            fe.published(p.published)
        fe.updated(_when(item))
    out = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    assert isinstance(out, bytes)
    return out


@dataclass(frozen=True, slots=True)
class FeedComment:
    """A comment in a discussion feed: ``html`` is already sanitised (it goes into an
    Atom ``content type="html"``, escaped once more by lxml as XML text)."""

    url: str
    author: str
    html: str
    published: datetime
    updated: datetime
    reply: bool = False


def render_comment_feed(
    spec: FeedSpec, comments: Sequence[FeedComment], fmt: Format = "atom"
) -> bytes:
    """A paper's discussion as a feed, newest comment first."""
    fg = FeedGenerator()
    fg.id(xml_text(spec.self_url))
    fg.title(xml_text(spec.title))
    about = xml_text(spec.description)
    fg.subtitle(about if fmt == "atom" else html_of_text(about))
    fg.link(href=spec.self_url, rel="self")
    fg.link(href=spec.page_url, rel="alternate", type="text/html")
    fg.generator("paperlens")
    fg.language("en")
    newest = max((c.updated for c in comments), default=datetime(1970, 1, 1, tzinfo=UTC))
    fg.updated(newest)
    fg.lastBuildDate(newest)
    for c in comments:
        fe = fg.add_entry(order="append")
        fe.id(c.url)
        fe.guid(c.url, permalink=True)
        author = xml_text(c.author).strip() or "a reader"
        fe.title(f"{'Reply' if c.reply else 'Comment'} by {author}")
        fe.link(href=c.url, rel="alternate", type="text/html")
        if fmt == "atom":
            fe.content(xml_text(c.html), type="html")
            fe.author({"name": author})
        else:
            fe.description(xml_text(c.html))
        fe.published(c.published)
        fe.updated(c.updated)
    out = fg.atom_str(pretty=True) if fmt == "atom" else fg.rss_str(pretty=True)
    assert isinstance(out, bytes)
    return out

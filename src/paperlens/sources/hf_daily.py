"""Hugging Face daily papers: the community-curated list of arXiv papers for each day.

``GET {base}/api/daily_papers?date=YYYY-MM-DD&limit=N&p=PAGE`` answers a JSON list of
``{paper: {id, title, summary, authors: [{name}], publishedAt, upvotes, ...},
publishedAt, title, numComments, submittedBy, ...}``; ``p`` counts pages from 0 and
``limit`` is at most 100. Newer items also carry ``paper.githubRepo``,
``paper.projectPage`` (kept as the paper's ``code`` and ``project`` links),
``paper.ai_summary``, ``paper.ai_keywords``, ``paper.organization``,
``paper.submittedOnDailyBy`` and ``paper.githubStars`` (an :class:`HfExtras` on the
entry); each is optional. Each item becomes a paper (source ``hf-daily``) with a
:class:`~paperlens.sources.base.Listing` carrying its upvotes and comments. HF gives no
categories, DOI or versions: those stay empty and the store merges them with richer
arXiv records.

Positions are ISO dates: the last entry of each day (or a :class:`Checkpoint` for a day
with no papers) carries that day, and resuming skips every day up to it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from paperlens.arxiv_ids import parse_arxiv_id
from paperlens.config import Settings
from paperlens.paper import Paper, make_paper
from paperlens.sources.base import (
    Checkpoint,
    Entry,
    HfExtras,
    Listing,
    Parsed,
    Rejected,
    SourceError,
)
from paperlens.sources.http import PoliteClient, client_or_default, json_body
from paperlens.text import clean_user_text

log = logging.getLogger(__name__)

SOURCE = "hf-daily"
FEED = "hf-daily"
MAX_LINK_CHARS = 500
#: Hugging Face's largest page.
MAX_PAGE_SIZE = 100
#: A day never has this many pages; stop rather than loop if paging misbehaves.
MAX_PAGES = 50


def _time(value: object) -> datetime | None:
    """``2024-10-22T17:59:30.000Z`` -> an aware UTC datetime (``None`` if unreadable)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


#: Longest AI summary, keyword and name kept (HF's are a sentence and a few words).
MAX_SUMMARY_CHARS = 1000
MAX_KEYWORD_CHARS = 80
MAX_KEYWORDS = 20
MAX_NAME_CHARS = 200


def _text(value: object, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = clean_user_text(value)[:limit].strip()
    return cleaned or None


def _who(value: object) -> str | None:
    """``{name, fullname}`` (organization) or ``{user, fullname}`` (submitter)."""
    if not isinstance(value, dict):
        return None
    for key in ("fullname", "name", "user"):
        found = _text(value.get(key), MAX_NAME_CHARS)
        if found:
            return found
    return None


def parse_extras(item: dict[str, Any], paper: dict[str, Any]) -> HfExtras:
    """The optional fields of an item (``paper.ai_summary``, ``paper.ai_keywords``,
    ``paper.organization`` or ``item.organization``, ``paper.submittedOnDailyBy`` or
    ``item.submittedBy``, ``item.numComments``, ``paper.githubStars``); absent or
    malformed ones stay empty, never fail the item."""
    raw_keywords = paper.get("ai_keywords")
    keywords: list[str] = []
    for k in raw_keywords if isinstance(raw_keywords, list) else []:
        word = _text(k, MAX_KEYWORD_CHARS)
        if word and word not in keywords:
            keywords.append(word)
    stars = paper.get("githubStars")
    return HfExtras(
        ai_summary=_text(paper.get("ai_summary"), MAX_SUMMARY_CHARS),
        ai_keywords=tuple(keywords[:MAX_KEYWORDS]),
        organization=_who(paper.get("organization")) or _who(item.get("organization")),
        submitted_by=_who(paper.get("submittedOnDailyBy")) or _who(item.get("submittedBy")),
        num_comments=_count(item.get("numComments")),
        github_stars=stars if isinstance(stars, int) and not isinstance(stars, bool) else None,
    )


def parse_item(item: object, day: date) -> tuple[Paper, Listing]:
    """One daily-papers item -> (paper, listing); raises ``ValueError`` naming the problem."""
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    paper: Any = item.get("paper")
    if not isinstance(paper, dict):
        raise ValueError("no paper object")
    raw_id = paper.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise ValueError("missing paper id")
    paper_id, _ = parse_arxiv_id(raw_id)
    title = paper.get("title") or item.get("title")
    if not isinstance(title, str):
        raise ValueError("missing title")
    summary = paper.get("summary")
    authors = paper.get("authors")
    names = [
        a["name"]
        for a in (authors if isinstance(authors, list) else [])
        if isinstance(a, dict) and isinstance(a.get("name"), str)
    ]
    # HF's ``githubRepo`` and ``projectPage`` travel as the paper's ``code`` and
    # ``project`` links; they are validated (paperlens.links) before anyone sees them.
    links = {
        name: value.strip()
        for name, value in (
            ("code", paper.get("githubRepo")),
            ("project", paper.get("projectPage")),
        )
        if isinstance(value, str) and value.strip() and len(value) <= MAX_LINK_CHARS
    }
    built = make_paper(
        id=paper_id,
        title=title,
        abstract=summary if isinstance(summary, str) else "",
        authors=names,
        published=_time(paper.get("publishedAt")),
        source=SOURCE,
        links=links,
    )
    listing = Listing(FEED, day, _count(paper.get("upvotes")), _count(item.get("numComments")))
    return built, listing


class HfDailySource:
    """Reads the daily-papers lists of the given days, oldest first, fetching further
    pages (``p``) while a page comes back full (``page_size`` items)."""

    def __init__(
        self,
        days: Iterable[date],
        base_url: str | None = None,
        *,
        client: PoliteClient | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        self.days = sorted(set(days))
        self.base_url = (base_url or Settings().hf_base_url).rstrip("/")
        self.page_size = page_size
        self._client = client

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/daily_papers"

    @property
    def key(self) -> str:
        listed = ",".join(d.isoformat() for d in self.days)
        digest = hashlib.blake2b(listed.encode(), digest_size=8).hexdigest()
        span = f"{self.days[0]}..{self.days[-1]}" if self.days else "none"
        return f"{SOURCE}:{self.base_url}:{span}:{len(self.days)}days:{digest}"

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        done: date | None = None
        if resume_from:
            try:
                done = date.fromisoformat(resume_from)
            except ValueError:
                raise SourceError(f"not a daily-papers position: {resume_from!r}") from None
        days = [d for d in self.days if done is None or d > done]
        if not days:
            return
        with client_or_default(self._client) as client:
            for day in days:
                entries = self._day(client, day)
                if entries:
                    entries[-1] = replace(entries[-1], position=day.isoformat())
                    yield from entries
                else:
                    yield Checkpoint(day.isoformat())

    def _day(self, client: PoliteClient, day: date) -> list[Parsed | Rejected]:
        entries: list[Parsed | Rejected] = []
        seen: set[str] = set()
        index = 0
        for page in range(MAX_PAGES):
            params = {"date": day.isoformat(), "limit": str(self.page_size), "p": str(page)}
            response = client.get(self.url, params)
            items = json_body(response)
            if not isinstance(items, list):
                raise SourceError(f"{response.url}: expected a JSON list of papers")
            fresh = 0
            for item in items:
                where = f"hf-daily {day.isoformat()} item {index}"
                index += 1
                try:
                    paper, listing = parse_item(item, day)
                except ValueError as exc:
                    entries.append(Rejected(where, str(exc)))
                    fresh += 1
                    continue
                if paper.id in seen:
                    continue
                seen.add(paper.id)
                fresh += 1
                assert isinstance(item, dict)  # parse_item checked it
                extras = parse_extras(item, item["paper"])
                entries.append(Parsed(paper, where, listing=listing, hf=extras))
            if len(items) < self.page_size:
                break
            if not fresh:
                log.warning("%s repeated an earlier page; stopping %s here", response.url, day)
                break
        else:
            log.warning("%s: stopped after %d pages", self.url, MAX_PAGES)
        return entries

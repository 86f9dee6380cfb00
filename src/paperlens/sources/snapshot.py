"""The bulk arXiv metadata snapshot (``arxiv-metadata-oai-snapshot.json``): one JSON
object a line, about 2.7 million lines. Streamed, never loaded whole."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from paperlens.arxiv_ids import parse_arxiv_id
from paperlens.paper import Paper, Version, make_paper
from paperlens.sources.base import Entry, file_key, json_line_entries
from paperlens.text import decode_accents, normalise_whitespace

SOURCE = "arxiv-snapshot"


def _rfc2822(value: str) -> datetime | None:
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def author_name(parts: list[str]) -> str:
    """``["Balázs", "C.", ""]`` -> ``"C. Balázs"``; suffixes (``Jr``) go last."""
    last, first, suffix = ([*parts, "", "", ""])[:3]
    return decode_accents(normalise_whitespace(" ".join(p for p in (first, last, suffix) if p)))


def split_authors(authors: str) -> list[str]:
    """Split arXiv's free-text author list (``"A, B and C"``) when no parsed form exists."""
    text = normalise_whitespace(authors).replace(" and ", ", ")
    return [decode_accents(a.strip()) for a in text.split(",") if a.strip()]


def parse_record(record: dict[str, Any]) -> Paper:
    raw_id = record.get("id")
    if not isinstance(raw_id, str) or not raw_id.strip():
        raise ValueError("missing id")
    paper_id, _ = parse_arxiv_id(raw_id)
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("missing title")
    versions = []
    for v in record.get("versions") or []:
        try:
            number = int(str(v["version"]).lstrip("v"))
        except (KeyError, TypeError, ValueError):
            continue
        versions.append(Version(number, _rfc2822(v.get("created", ""))))
    parsed = record.get("authors_parsed")
    if isinstance(parsed, list) and parsed:
        authors = [author_name([str(x) for x in a]) for a in parsed if isinstance(a, list)]
    else:
        authors = split_authors(str(record.get("authors") or ""))
    updated = None
    if record.get("update_date"):
        try:
            updated = datetime.fromisoformat(str(record["update_date"])).replace(tzinfo=UTC)
        except ValueError:
            updated = None
    return make_paper(
        id=paper_id,
        title=title,
        abstract=str(record.get("abstract") or ""),
        authors=authors,
        categories=str(record.get("categories") or "").split(),
        versions=versions,
        updated=max((d for d in (updated, *(v.created for v in versions)) if d), default=None),
        doi=record.get("doi"),
        journal_ref=record.get("journal-ref"),
        comments=record.get("comments"),
        license=record.get("license"),
        source=SOURCE,
    )


class SnapshotSource:
    """Reads a snapshot file (plain or ``.gz``) from a resume position."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def key(self) -> str:
        return file_key(SOURCE, self.path)

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        return json_line_entries(self.path, resume_from, parse_record)

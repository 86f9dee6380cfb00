"""Plain JSON lines of ``{title, abstract, ...}``: the simplest way to bring your own papers.

Recognised keys: ``id`` (an arXiv id in any form, or any id of letters, digits and
``._:/-``), ``title`` (required), ``abstract``/``summary``, ``authors`` (list or
``"A, B and C"``), ``categories`` (list or space-separated), ``published``/``date``
and ``updated`` (ISO 8601), ``doi``, ``journal_ref``, ``comments``, ``license``, ``url``.

Records without an id get ``title-<16 hex>``, a hash of the folded title
(:func:`paperlens.arxiv_ids.title_id`), so re-importing them is idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.paper import Paper, Version, make_paper
from paperlens.sources.base import Entry, file_key, json_line_entries
from paperlens.sources.snapshot import split_authors

SOURCE = "jsonl"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")


def _date(value: object, key: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"bad {key} date {value!r} (expected ISO 8601)") from exc
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _strings(value: object, key: str, split: str | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        if split == "authors":
            return split_authors(value)
        return value.split()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and all(isinstance(v, dict) and "name" in v for v in value):
        return [str(v["name"]) for v in value]
    raise ValueError(f"{key} must be a list of strings")


def parse_record(record: dict[str, Any]) -> Paper:
    title = record.get("title")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("missing title")
    raw_id = record.get("id")
    version = None
    if raw_id in (None, ""):
        paper_id = title_id(title)
    elif not isinstance(raw_id, str):
        raise ValueError(f"bad id {raw_id!r} (expected a string)")
    else:
        try:
            paper_id, version = parse_arxiv_id(raw_id)
        except BadArxivId:
            if not _PLAIN_ID.match(raw_id):
                raise ValueError(
                    f"bad id {raw_id!r} (letters, digits and ._:/- only, at most 100)"
                ) from None
            paper_id = raw_id
    published = _date(record.get("published", record.get("date")), "published")
    links = {"url": str(record["url"])} if record.get("url") else {}
    return make_paper(
        id=paper_id,
        title=title,
        abstract=str(record.get("abstract") or record.get("summary") or ""),
        authors=_strings(record.get("authors"), "authors", "authors"),
        categories=_strings(record.get("categories"), "categories", None),
        published=published,
        updated=_date(record.get("updated"), "updated"),
        versions=[Version(version, published)] if version else [],
        doi=record.get("doi"),
        journal_ref=record.get("journal_ref"),
        comments=record.get("comments"),
        license=record.get("license"),
        source=SOURCE,
        links=links,
    )


class JsonlSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def key(self) -> str:
        return file_key(SOURCE, self.path)

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        return json_line_entries(self.path, resume_from, parse_record)

"""BibTeX and RIS of a list of papers: the one place citations are written for export
archives. BibTeX reuses :func:`paperlens.library.bibtex_entry` (escaping, cite keys);
RIS is written by ``rispy`` (pinned), so its tags and line format are that library's
and not hand-rolled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rispy  # type: ignore[import-untyped]  # ships no type hints

from paperlens.arxiv_ids import abs_url, is_arxiv_id
from paperlens.library import bibtex_entry
from paperlens.paper import Paper


def bibtex(papers: Sequence[Paper]) -> str:
    keys: set[str] = set()
    return "\n".join(bibtex_entry(p, keys) for p in papers)


def ris_entry(p: Paper) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type_of_reference": "JOUR" if p.journal_ref else "GEN",
        "title": p.title,
        "authors": list(p.authors),
        "abstract": p.abstract,
        "keywords": list(p.categories),
        "id": p.id,
    }
    if p.published:
        entry["year"] = str(p.published.year)
        entry["date"] = p.published.strftime("%Y/%m/%d")
    url = abs_url(p.id) if is_arxiv_id(p.id) else (p.links.get("abs") or p.links.get("url"))
    if url:
        entry["urls"] = [url]
    if p.doi:
        entry["doi"] = p.doi
    if p.journal_ref:
        entry["journal_name"] = p.journal_ref
    return entry


def ris(papers: Sequence[Paper]) -> str:
    text: str = rispy.dumps([ris_entry(p) for p in papers])
    return text

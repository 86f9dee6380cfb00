"""Citation counts, "cited by" and references from the Semantic Scholar Graph API.

One ``POST {base}/graph/v1/paper/batch?fields=...`` with ``{"ids": ["ARXIV:2106.09685",
...]}`` (at most :data:`MAX_BATCH` ids) answers a JSON list in the order of the ids, with
``null`` for an id Semantic Scholar does not know. Each paper carries ``paperId``,
``externalIds`` (``ArXiv``, ``DOI``, ``CorpusId``...), ``title``, ``citationCount``,
``influentialCitationCount``, ``referenceCount`` and the lists ``citations`` and
``references`` of ``{paperId, title, externalIds}`` (``paperId`` may be null for a
reference it could not resolve). An API key (``x-api-key``) is optional; without one
the shared pool answers ``429`` when it is busy, which :class:`PoliteClient` waits out.

Ids of the other ends become paper ids as paperlens stores them: the arXiv id without
version when there is one (so papers held here link up), else ``DOI:...``, else
``S2:<paperId>``, else the title id of :func:`paperlens.arxiv_ids.title_id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.sources.base import SourceError
from paperlens.sources.http import PoliteClient, json_body

#: The most ids one batch request may carry (the API's limit).
MAX_BATCH = 500
FIELDS = ",".join(
    [
        "paperId",
        "externalIds",
        "title",
        "citationCount",
        "influentialCitationCount",
        "referenceCount",
        "citations.paperId",
        "citations.title",
        "citations.externalIds",
        "references.paperId",
        "references.title",
        "references.externalIds",
    ]
)
#: Longest title kept for an outside paper.
TITLE_CHARS = 500


@dataclass(frozen=True, slots=True)
class S2Paper:
    found: bool
    citation_count: int = 0
    influential_count: int = 0
    reference_count: int = 0
    cited_by: tuple[tuple[str, str | None], ...] = ()
    references: tuple[tuple[str, str | None], ...] = ()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def other_id(item: dict[str, Any]) -> str | None:
    """The id paperlens gives a citing or cited paper (see the module docstring)."""
    ext = item.get("externalIds")
    ext = ext if isinstance(ext, dict) else {}
    arxiv = ext.get("ArXiv")
    if isinstance(arxiv, str):
        try:
            return parse_arxiv_id(arxiv)[0]
        except BadArxivId:
            pass
    doi = ext.get("DOI")
    if isinstance(doi, str) and doi.strip():
        return f"DOI:{doi.strip()[:150]}"
    pid = item.get("paperId")
    if isinstance(pid, str) and pid.strip():
        return f"S2:{pid.strip()[:150]}"
    title = item.get("title")
    if isinstance(title, str) and title.strip():
        return title_id(title)
    return None


def _edges(items: Any) -> tuple[tuple[str, str | None], ...]:
    out: dict[str, str | None] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        oid = other_id(item)
        if oid is None:
            continue
        title = item.get("title")
        out[oid] = " ".join(title.split())[:TITLE_CHARS] if isinstance(title, str) else None
    return tuple(out.items())


def parse_batch(data: object, count: int) -> list[S2Paper]:
    """The batch answer for ``count`` ids; :class:`SourceError` if it is not one."""
    if not isinstance(data, list) or len(data) != count:
        raise SourceError(f"Semantic Scholar batch: expected a list of {count} papers")
    out: list[S2Paper] = []
    for item in data:
        if not isinstance(item, dict):
            out.append(S2Paper(found=False))
            continue
        out.append(
            S2Paper(
                found=True,
                citation_count=_int(item.get("citationCount")),
                influential_count=_int(item.get("influentialCitationCount")),
                reference_count=_int(item.get("referenceCount")),
                cited_by=_edges(item.get("citations")),
                references=_edges(item.get("references")),
            )
        )
    return out


class SemanticScholar:
    """Fetches batches of arXiv ids. The caller owns ``client`` (its pace and retries)."""

    name = "semantic-scholar"

    def __init__(self, client: PoliteClient, base_url: str, api_key: str = "") -> None:
        self.client = client
        self.url = base_url.rstrip("/") + "/graph/v1/paper/batch"
        self.headers = {"x-api-key": api_key} if api_key else {}

    def fetch(self, arxiv_ids: Sequence[str]) -> list[S2Paper]:
        """One batch request for ``arxiv_ids`` (at most :data:`MAX_BATCH`)."""
        if len(arxiv_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} ids per batch")
        if not arxiv_ids:
            return []
        response = self.client.post_json(
            self.url,
            {"ids": [f"ARXIV:{i}" for i in arxiv_ids]},
            params={"fields": FIELDS},
            headers=self.headers,
        )
        return parse_batch(json_body(response), len(arxiv_ids))

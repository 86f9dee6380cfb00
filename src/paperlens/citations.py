"""Citations: counts, "cited by" and references of stored papers, and the refresh that
fills them from Semantic Scholar.

Pages and the API only read what a refresh stored, with its age (``fetched_at``): no
request ever waits on the citation source, so a source that is down or rate-limits
costs a stale number, never a slow page. ``paperlens refresh citations`` (cron it) asks
for papers never fetched first, then the stalest past ``citations_max_age_days``, in
batches at the configured pace; a batch the source refuses after its retries stops the
run with what was done so far kept (the next run continues).

Papers whose id is not an arXiv id (records without one carry a title id) cannot be
asked for by id; they are recorded as unknown to the source so they are not asked for
again until their counts are due.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from paperlens.arxiv_ids import is_arxiv_id
from paperlens.config import Settings
from paperlens.sources.base import SourceError
from paperlens.sources.http import PoliteClient
from paperlens.sources.semantic_scholar import MAX_BATCH, SemanticScholar
from paperlens.store.citations import CitationStore, Counts, Edge, Fetched
from paperlens.store.schema import utcnow

__all__ = ["CitationView", "Citations", "Counts", "Edge", "RefreshReport"]

#: How many matches a search sorted by citations re-ranks (the best by relevance).
SORT_DEPTH = 200


@dataclass(frozen=True, slots=True)
class CitationView:
    counts: Counts | None
    cited_by_total: int
    cited_by: list[Edge]
    references_total: int
    references: list[Edge]


@dataclass(slots=True)
class RefreshReport:
    asked: int = 0
    found: int = 0
    unknown: int = 0
    batches: int = 0
    error: str | None = None
    ids: list[str] = field(default_factory=list)


class Citations:
    def __init__(
        self,
        store: CitationStore,
        settings: Settings,
        client_factory: Callable[[], PoliteClient] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self._client_factory = client_factory

    # -- reading (what pages and the API call) ------------------------------------------

    def view(self, paper_pk: int, paper_id: str, limit: int = 50) -> CitationView:
        counts = self.store.counts([paper_pk]).get(paper_pk)
        cited_total, cited = self.store.cited_by(paper_id, limit)
        refs_total, refs = self.store.references(paper_id, limit)
        return CitationView(counts, cited_total, cited, refs_total, refs)

    def counts(self, pks: Sequence[int]) -> dict[int, Counts]:
        return self.store.counts(pks)

    def ranked(self, pks: Sequence[int]) -> list[int]:
        """``pks`` by citation count, most cited first (papers without counts last)."""
        return self.store.ranked(pks)

    # -- refreshing (CLI / background only) ---------------------------------------------

    def _client(self) -> PoliteClient:
        if self._client_factory is not None:
            return self._client_factory()
        s = self.settings
        return PoliteClient(
            interval=s.citations_request_interval,
            retries=s.request_retries,
            timeout=s.request_timeout,
        )

    def refresh(
        self,
        limit: int = 1000,
        *,
        max_age: timedelta | None = None,
        now: datetime | None = None,
        batch_size: int | None = None,
    ) -> RefreshReport:
        """Fetch counts and edges for up to ``limit`` papers that are due."""
        now = now or utcnow()
        age = (
            max_age if max_age is not None else timedelta(days=self.settings.citations_max_age_days)
        )
        size = min(batch_size or self.settings.citations_batch_size, MAX_BATCH)
        report = RefreshReport()
        due = self.store.due(now - age, limit)
        if not due:
            return report
        others = [Fetched(pk, pid, found=False) for pk, pid in due if not is_arxiv_id(pid)]
        self.store.save(others, SemanticScholar.name, now)
        report.unknown += len(others)
        wanted = [(pk, pid) for pk, pid in due if is_arxiv_id(pid)]
        client = self._client()
        try:
            source = SemanticScholar(
                client, self.settings.citations_base_url, self.settings.semantic_scholar_api_key
            )
            for start in range(0, len(wanted), size):
                batch = wanted[start : start + size]
                try:
                    answers = source.fetch([pid for _, pid in batch])
                except SourceError as exc:
                    report.error = str(exc)
                    break
                fetched = [
                    replace(
                        Fetched(pk, pid, found=a.found),
                        citation_count=a.citation_count,
                        influential_count=a.influential_count,
                        reference_count=a.reference_count,
                        cited_by=a.cited_by,
                        references=a.references,
                    )
                    for (pk, pid), a in zip(batch, answers, strict=True)
                ]
                self.store.save(fetched, source.name, utcnow())
                report.batches += 1
                report.asked += len(batch)
                report.found += sum(1 for f in fetched if f.found)
                report.unknown += sum(1 for f in fetched if not f.found)
                report.ids.extend(pid for _, pid in batch)
        finally:
            if self._client_factory is None:
                client.close()
        return report

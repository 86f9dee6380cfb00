"""Citations in SQL: the ``citations`` edges (either end may be outside the corpus) and
per-paper ``citation_counts`` with the time they were fetched.

A fetched paper's edges are replaced as a whole in one transaction with its counts, so
a page never shows half of one fetch. Reads join ``papers`` on the id, so a paper stored
after the fetch links up without a refetch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select

from paperlens.store.community import dialect_insert
from paperlens.store.db import chunked
from paperlens.store.schema import CitationCountRow, CitationRow, PaperRow, table

citations_t = table(CitationRow)
counts_t = table(CitationCountRow)
papers_t = table(PaperRow)


@dataclass(frozen=True, slots=True)
class Counts:
    citation_count: int
    influential_count: int
    reference_count: int
    found: bool
    source: str
    fetched_at: datetime


@dataclass(frozen=True, slots=True)
class Edge:
    """The other end of a citation: ``paper_id`` as stored, ``title`` as the source gave
    it, and ``pk`` when this store holds that paper (then link to it)."""

    paper_id: str
    title: str | None
    pk: int | None
    held_title: str | None


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a source said about one paper (``found=False``: it does not know it)."""

    paper_pk: int
    paper_id: str
    found: bool
    citation_count: int = 0
    influential_count: int = 0
    reference_count: int = 0
    #: (id, title) of papers citing this one, and of those it cites.
    cited_by: tuple[tuple[str, str | None], ...] = ()
    references: tuple[tuple[str, str | None], ...] = ()


class CitationStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, fetched: Sequence[Fetched], source: str, now: datetime) -> None:
        """Store one fetched batch: counts, and each found paper's edges replaced."""
        if not fetched:
            return
        with self.engine.begin() as conn:
            found = [f for f in fetched if f.found]
            for chunk in chunked([f.paper_id for f in found]):
                conn.execute(
                    delete(citations_t).where(
                        or_(citations_t.c.cited_id.in_(chunk), citations_t.c.citing_id.in_(chunk))
                    )
                )
            edges: dict[tuple[str, str], dict[str, Any]] = {}
            for f in found:
                for other, title in f.cited_by:
                    edges[(other, f.paper_id)] = {
                        "citing_id": other,
                        "cited_id": f.paper_id,
                        "citing_title": title,
                        "cited_title": None,
                    }
                for other, title in f.references:
                    edges[(f.paper_id, other)] = {
                        "citing_id": f.paper_id,
                        "cited_id": other,
                        "citing_title": None,
                        "cited_title": title,
                    }
            values = list(edges.values())
            for start in range(0, len(values), 500):
                conn.execute(insert(citations_t), values[start : start + 500])
            rows = [
                {
                    "paper_pk": f.paper_pk,
                    "citation_count": f.citation_count,
                    "influential_count": f.influential_count,
                    "reference_count": f.reference_count,
                    "found": f.found,
                    "source": source,
                    "fetched_at": now,
                }
                for f in fetched
            ]
            stmt = dialect_insert(conn, counts_t)
            stmt = stmt.on_conflict_do_update(
                index_elements=["paper_pk"],
                set_={
                    c: stmt.excluded[c]
                    for c in (
                        "citation_count",
                        "influential_count",
                        "reference_count",
                        "found",
                        "source",
                        "fetched_at",
                    )
                },
            )
            conn.execute(stmt, rows)

    def counts(self, pks: Iterable[int]) -> dict[int, Counts]:
        out: dict[int, Counts] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(list(dict.fromkeys(pks))):
                for r in conn.execute(select(counts_t).where(counts_t.c.paper_pk.in_(chunk))):
                    out[r.paper_pk] = Counts(
                        r.citation_count,
                        r.influential_count,
                        r.reference_count,
                        bool(r.found),
                        r.source,
                        r.fetched_at,
                    )
        return out

    def _edges(self, paper_id: str, *, cited_by: bool, limit: int) -> tuple[int, list[Edge]]:
        mine, other = (
            (citations_t.c.cited_id, citations_t.c.citing_id)
            if cited_by
            else (citations_t.c.citing_id, citations_t.c.cited_id)
        )
        title = citations_t.c.citing_title if cited_by else citations_t.c.cited_title
        join = and_(papers_t.c.id == other, papers_t.c.deleted.is_(False))
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count()).select_from(citations_t).where(mine == paper_id)
            ).scalar_one()
            rows = conn.execute(
                select(other.label("oid"), title.label("title"), papers_t.c.pk, papers_t.c.title)
                .select_from(citations_t.outerjoin(papers_t, join))
                .where(mine == paper_id)
                # Papers held here first (they link), newest first; then the rest by id.
                .order_by(
                    papers_t.c.pk.is_(None),
                    papers_t.c.published.desc().nulls_last(),
                    other,
                )
                .limit(limit)
            ).all()
        return int(total), [Edge(r.oid, r[1], r.pk, r[3]) for r in rows]

    def cited_by(self, paper_id: str, limit: int = 50) -> tuple[int, list[Edge]]:
        return self._edges(paper_id, cited_by=True, limit=limit)

    def references(self, paper_id: str, limit: int = 50) -> tuple[int, list[Edge]]:
        return self._edges(paper_id, cited_by=False, limit=limit)

    def due(
        self, older_than: datetime, limit: int, ids_like: str | None = None
    ) -> list[tuple[int, str]]:
        """(pk, id) of live papers never fetched or fetched before ``older_than``,
        never-fetched first, then the stalest."""
        cond: list[Any] = [
            papers_t.c.deleted.is_(False),
            or_(counts_t.c.paper_pk.is_(None), counts_t.c.fetched_at < older_than),
        ]
        if ids_like is not None:
            cond.append(papers_t.c.id.like(ids_like))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(papers_t.c.pk, papers_t.c.id)
                .select_from(papers_t.outerjoin(counts_t, counts_t.c.paper_pk == papers_t.c.pk))
                .where(*cond)
                .order_by(counts_t.c.fetched_at.is_not(None), counts_t.c.fetched_at, papers_t.c.pk)
                .limit(limit)
            ).all()
        return [(r.pk, r.id) for r in rows]

    def ranked(self, pks: Sequence[int]) -> list[int]:
        """``pks`` by citation count, most cited first (unfetched last, order kept)."""
        counts = self.counts(pks)
        order = {pk: i for i, pk in enumerate(pks)}
        return sorted(
            pks, key=lambda pk: (-(counts[pk].citation_count if pk in counts else -1), order[pk])
        )

    def day_by_citations(
        self, start: datetime, end: datetime, limit: int, offset: int = 0
    ) -> list[int]:
        """Pks of live papers first published in ``[start, end)``, most cited first
        (papers without counts last, then newest first): the daily feed by citations."""
        cited = func.coalesce(counts_t.c.citation_count, -1)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(papers_t.c.pk)
                    .select_from(papers_t.outerjoin(counts_t, counts_t.c.paper_pk == papers_t.c.pk))
                    .where(
                        papers_t.c.deleted.is_(False),
                        papers_t.c.published >= start,
                        papers_t.c.published < end,
                    )
                    .order_by(cited.desc(), papers_t.c.published.desc(), papers_t.c.pk.desc())
                    .limit(limit)
                    .offset(offset)
                ).scalars()
            )

"""The paper store: idempotent batched upserts with checkpoints, and reads.

A batch is one transaction: its papers, its deletions, its listings and the source's
checkpoint are committed together or not at all. That is what makes an interrupted
import resume with every paper exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from paperlens.paper import Paper, Version, merge
from paperlens.sources.base import Deleted, HfExtras, Listing, Parsed
from paperlens.store.authors import replace_authors
from paperlens.store.code import replace_text_links, save_hf_extras
from paperlens.store.db import chunked, current_seq, next_seq
from paperlens.store.schema import (
    CheckpointRow,
    ListingRow,
    PaperCategoryRow,
    PaperRow,
    table,
    utcnow,
)
from paperlens.text import strip_latex

papers_t = table(PaperRow)
categories_t = table(PaperCategoryRow)
listings_t = table(ListingRow)
checkpoints_t = table(CheckpointRow)


def embedding_text(title: str, abstract: str) -> str:
    """The text a paper is embedded and indexed by: LaTeX stripped, title first."""
    title_t, abstract_t = strip_latex(title), strip_latex(abstract)
    return f"{title_t}. {abstract_t}" if abstract_t else title_t


def text_hash(title: str, abstract: str) -> str:
    return hashlib.blake2b(
        embedding_text(title, abstract).encode("utf-8"), digest_size=16
    ).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """A paper with its storage bookkeeping."""

    pk: int
    seq: int
    deleted: bool
    added_at: datetime
    paper: Paper


@dataclass(slots=True)
class BatchResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __iadd__(self, other: BatchResult) -> BatchResult:
        self.added += other.added
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        return self


def _to_row(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id,
        "title": p.title,
        "abstract": p.abstract,
        "authors": list(p.authors),
        "categories": list(p.categories),
        "primary_category": p.primary_category,
        "published": p.published,
        "updated": p.updated,
        "versions": [[v.number, v.created.isoformat() if v.created else None] for v in p.versions],
        "version": p.version,
        "doi": p.doi,
        "journal_ref": p.journal_ref,
        "comments": p.comments,
        "license": p.license,
        "source": p.source,
        "links": p.links,
        "content_hash": p.content_hash,
        "text_hash": text_hash(p.title, p.abstract),
    }


def _revised(old: Paper, new: Paper) -> bool:
    """Whether ``new`` is a newer version than ``old`` (digests announce revisions by
    ``revised_at``; a metadata correction of the same version is not one)."""
    return (new.version or 0) > (old.version or 0) or (
        new.updated is not None and (old.updated is None or new.updated > old.updated)
    )


def _from_row(r: Row[Any]) -> Paper:
    return Paper(
        id=r.id,
        title=r.title,
        abstract=r.abstract,
        authors=tuple(r.authors),
        categories=tuple(r.categories),
        published=r.published,
        updated=r.updated,
        versions=tuple(
            Version(int(n), datetime.fromisoformat(c) if c else None) for n, c in r.versions
        ),
        doi=r.doi,
        journal_ref=r.journal_ref,
        comments=r.comments,
        license=r.license,
        source=r.source,
        links=dict(r.links),
        content_hash=r.content_hash,
    )


def _stored(r: Row[Any]) -> StoredPaper:
    return StoredPaper(r.pk, r.seq, bool(r.deleted), r.added_at, _from_row(r))


class PaperStore:
    """Reads and writes papers; one instance per engine, safe to share across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writing -----------------------------------------------------------------------

    def write_batch(
        self,
        entries: Sequence[Parsed | Deleted],
        checkpoint: tuple[str, str] | None = None,
    ) -> BatchResult:
        """Store a batch of parsed and deleted entries, and the source checkpoint, in
        one transaction. Re-writing the same batch changes nothing."""
        result = BatchResult()
        with self.engine.begin() as conn:
            incoming: dict[str, Paper] = {}
            listings: list[tuple[str, Listing]] = []
            hf_extras: list[tuple[str, HfExtras]] = []
            deleted_ids: list[str] = []
            for e in entries:
                if isinstance(e, Parsed):
                    pid = e.paper.id
                    incoming[pid] = merge(incoming[pid], e.paper) if pid in incoming else e.paper
                    if e.listing is not None:
                        listings.append((pid, e.listing))
                    if e.hf is not None:
                        hf_extras.append((pid, e.hf))
                else:
                    deleted_ids.append(e.paper_id)
            existing = self._load_by_ids(conn, list(incoming))
            now = utcnow()
            inserts: list[dict[str, Any]] = []
            updates: list[tuple[int, dict[str, Any]]] = []
            #: Papers whose links may have changed, for ``paper_links`` (same order).
            inserted: list[Paper] = []
            updated: list[tuple[int, Paper]] = []
            for pid, paper in incoming.items():
                old = existing.get(pid)
                if old is None:
                    inserts.append(_to_row(paper))
                    inserted.append(paper)
                    continue
                merged = merge(old.paper, paper)
                # An unchanged record does not revive a paper its source deleted.
                if merged is old.paper:
                    result.unchanged += 1
                else:
                    row = _to_row(merged)
                    if _revised(old.paper, merged):
                        row["revised_at"] = now
                    updates.append((old.pk, row))
                    updated.append((old.pk, merged))
            if inserts or updates or deleted_ids:
                seq = next_seq(conn)
                new_pks = self._insert(conn, inserts, seq, now)
                self._update(conn, updates, seq)
                result.added, result.updated = len(new_pks), len(updates)
                cat_rows = [(pk, r["categories"]) for pk, r in zip(new_pks, inserts, strict=True)]
                cat_rows += [(pk, r["categories"]) for pk, r in updates]
                self._replace_categories(conn, cat_rows, fresh=len(new_pks))
                author_rows = [(pk, r["authors"]) for pk, r in zip(new_pks, inserts, strict=True)]
                author_rows += [(pk, r["authors"]) for pk, r in updates]
                replace_authors(conn, author_rows, fresh=len(new_pks))
                result.deleted = self._mark_deleted(conn, deleted_ids, seq)
                replace_text_links(conn, list(zip(new_pks, inserted, strict=True)), fresh=True)
                replace_text_links(conn, updated)
            if listings:
                self._upsert_listings(conn, listings)
            if hf_extras:
                pks = self._pks_for(conn, [pid for pid, _ in hf_extras])
                save_hf_extras(conn, [(pks[pid], e) for pid, e in hf_extras if pid in pks])
            if checkpoint is not None:
                self._save_checkpoint(conn, *checkpoint)
        return result

    def _insert(
        self, conn: Connection, rows: list[dict[str, Any]], seq: int, now: datetime
    ) -> list[int]:
        if not rows:
            return []
        for r in rows:
            r["seq"], r["deleted"], r["added_at"], r["revised_at"] = seq, False, now, now
        ids = [r["id"] for r in rows]
        conn.execute(insert(papers_t), rows)
        pk_by_id: dict[str, int] = {}
        for chunk in chunked(ids):
            for pk, pid in conn.execute(
                select(papers_t.c.pk, papers_t.c.id).where(papers_t.c.id.in_(chunk))
            ):
                pk_by_id[pid] = pk
        return [pk_by_id[i] for i in ids]

    def _update(
        self, conn: Connection, updates: list[tuple[int, dict[str, Any]]], seq: int
    ) -> None:
        for pk, row in updates:
            conn.execute(
                update(papers_t).where(papers_t.c.pk == pk).values(**row, seq=seq, deleted=False)
            )

    def _replace_categories(
        self, conn: Connection, rows: list[tuple[int, list[str]]], fresh: int
    ) -> None:
        changed = [pk for pk, _ in rows[fresh:]]
        for chunk in chunked(changed):
            conn.execute(delete(categories_t).where(categories_t.c.paper_pk.in_(chunk)))
        values = [{"paper_pk": pk, "category": c} for pk, cats in rows for c in cats]
        if values:
            conn.execute(insert(categories_t), values)

    def _mark_deleted(self, conn: Connection, ids: list[str], seq: int) -> int:
        count = 0
        for chunk in chunked(ids):
            res = conn.execute(
                update(papers_t)
                .where(papers_t.c.id.in_(chunk), papers_t.c.deleted.is_(False))
                .values(deleted=True, seq=seq)
            )
            count += res.rowcount
        return count

    def _dialect_insert(self, conn: Connection, table: Any) -> Any:
        if conn.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def _upsert_listings(self, conn: Connection, listings: list[tuple[str, Listing]]) -> None:
        pks = self._pks_for(conn, [pid for pid, _ in listings])
        values = [
            {
                "feed": lst.feed,
                "day": lst.day,
                "paper_pk": pks[pid],
                "upvotes": lst.upvotes,
                "comments": lst.comments,
            }
            for pid, lst in listings
            if pid in pks
        ]
        if not values:
            return
        stmt = self._dialect_insert(conn, listings_t)
        stmt = stmt.on_conflict_do_update(
            index_elements=["feed", "day", "paper_pk"],
            set_={"upvotes": stmt.excluded.upvotes, "comments": stmt.excluded.comments},
        )
        conn.execute(stmt, values)

    def _save_checkpoint(self, conn: Connection, key: str, position: str) -> None:
        stmt = self._dialect_insert(conn, checkpoints_t).values(
            source_key=key, position=position, updated_at=utcnow()
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["source_key"],
            set_={"position": stmt.excluded.position, "updated_at": stmt.excluded.updated_at},
        )
        conn.execute(stmt)

    # -- checkpoints ----------------------------------------------------------------------

    def checkpoint(self, source_key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(checkpoints_t.c.position).where(checkpoints_t.c.source_key == source_key)
            ).scalar()

    def clear_checkpoint(self, source_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(checkpoints_t).where(checkpoints_t.c.source_key == source_key))

    # -- reading ------------------------------------------------------------------------

    def _load_by_ids(self, conn: Connection, ids: list[str]) -> dict[str, StoredPaper]:
        out: dict[str, StoredPaper] = {}
        for chunk in chunked(ids):
            for r in conn.execute(select(papers_t).where(papers_t.c.id.in_(chunk))):
                out[r.id] = _stored(r)
        return out

    def _pks_for(self, conn: Connection, ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunked(list(dict.fromkeys(ids))):
            for pk, pid in conn.execute(
                select(papers_t.c.pk, papers_t.c.id).where(papers_t.c.id.in_(chunk))
            ):
                out[pid] = pk
        return out

    def get(self, paper_id: str) -> StoredPaper | None:
        with self.engine.connect() as conn:
            return self._load_by_ids(conn, [paper_id]).get(paper_id)

    def revised_at(self, paper_ids: Iterable[str]) -> dict[str, datetime]:
        """When the store first held each paper's newest version (papers without one
        are left out); see ``PaperRow.revised_at``."""
        out: dict[str, datetime] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(list(dict.fromkeys(paper_ids))):
                for pid, when in conn.execute(
                    select(papers_t.c.id, papers_t.c.revised_at).where(
                        papers_t.c.id.in_(chunk), papers_t.c.revised_at.is_not(None)
                    )
                ):
                    out[pid] = when
        return out

    def get_by_pks(self, pks: Iterable[int]) -> dict[int, StoredPaper]:
        wanted = list(dict.fromkeys(pks))
        out: dict[int, StoredPaper] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                for r in conn.execute(select(papers_t).where(papers_t.c.pk.in_(chunk))):
                    out[r.pk] = _stored(r)
        return out

    def changed_since(self, seq: int, batch_size: int = 1000) -> Iterator[list[StoredPaper]]:
        """Papers written (or deleted) after ``seq``, in batches, in ``seq`` order
        (keyset pagination on ``(seq, pk)``, so memory stays bounded)."""
        last_seq, last_pk = seq, 0
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(papers_t)
                    .where(
                        (papers_t.c.seq > last_seq)
                        | ((papers_t.c.seq == last_seq) & (papers_t.c.pk > last_pk))
                    )
                    .order_by(papers_t.c.seq, papers_t.c.pk)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return
                yield [_stored(r) for r in rows]
                last_seq, last_pk = rows[-1].seq, rows[-1].pk

    def changed_keys_since(
        self, seq: int, batch_size: int = 10000
    ) -> Iterator[list[tuple[int, bool]]]:
        """``(pk, deleted)`` of papers written after ``seq``: the light form of
        :meth:`changed_since` for indexes that only need to know what to drop."""
        last_seq, last_pk = seq, 0
        with self.engine.connect() as conn:
            while True:
                rows = conn.execute(
                    select(papers_t.c.pk, papers_t.c.seq, papers_t.c.deleted)
                    .where(
                        (papers_t.c.seq > last_seq)
                        | ((papers_t.c.seq == last_seq) & (papers_t.c.pk > last_pk))
                    )
                    .order_by(papers_t.c.seq, papers_t.c.pk)
                    .limit(batch_size)
                ).all()
                if not rows:
                    return
                yield [(r.pk, bool(r.deleted)) for r in rows]
                last_seq, last_pk = rows[-1].seq, rows[-1].pk

    def live_by_recency(self) -> tuple[list[int], list[int]]:
        """``(pks, seqs)`` of every paper not deleted, newest first (by first publication,
        papers without a date last, then newest stored first): what a job that works
        through the corpus a budget at a time does first."""
        newest = papers_t.c.published.is_(None)
        query = (
            select(papers_t.c.pk, papers_t.c.seq)
            .where(papers_t.c.deleted.is_(False))
            .order_by(newest, papers_t.c.published.desc(), papers_t.c.pk.desc())
        )
        pks: list[int] = []
        seqs: list[int] = []
        with self.engine.connect() as conn:
            for pk, seq in conn.execute(query):
                pks.append(pk)
                seqs.append(seq)
        return pks, seqs

    def current_seq(self) -> int:
        with self.engine.connect() as conn:
            return current_seq(conn)

    def count(self, include_deleted: bool = False) -> int:
        with self.engine.connect() as conn:
            q = select(func.count()).select_from(papers_t)
            if not include_deleted:
                q = q.where(papers_t.c.deleted.is_(False))
            return int(conn.execute(q).scalar_one())

    def stats(self) -> dict[str, Any]:
        """Counts a reader or operator wants at a glance."""
        live = papers_t.c.deleted.is_(False)
        with self.engine.connect() as conn:
            by_source: dict[str, int] = dict(
                conn.execute(
                    select(papers_t.c.source, func.count()).where(live).group_by(papers_t.c.source)
                ).all()
            )
            top_categories = conn.execute(
                select(categories_t.c.category, func.count().label("n"))
                .join(papers_t, papers_t.c.pk == categories_t.c.paper_pk)
                .where(live)
                .group_by(categories_t.c.category)
                .order_by(func.count().desc(), categories_t.c.category)
                .limit(10)
            ).all()
            first, last = conn.execute(
                select(func.min(papers_t.c.published), func.max(papers_t.c.published)).where(live)
            ).one()
            deleted = conn.execute(
                select(func.count()).select_from(papers_t).where(papers_t.c.deleted.is_(True))
            ).scalar_one()
        return {
            "papers": sum(by_source.values()),
            "deleted": int(deleted),
            "by_source": {str(k): int(v) for k, v in by_source.items()},
            "top_categories": {str(c): int(n) for c, n in top_categories},
            "first_published": _as_utc(first),
            "last_published": _as_utc(last),
        }


def _as_utc(value: datetime | str | None) -> datetime | None:
    # Aggregates bypass the column type on SQLite and come back as text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)

"""Stored paper embeddings, one row per (paper, model), as float16 bytes.

Embedding is incremental: :meth:`EmbeddingStore.pending` lists live papers whose
embedded text changed (or was never embedded) for a model, in ``pk`` order, so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import ColumnElement, Engine, Join, and_, func, or_, select

from paperlens.store.db import chunked, next_seq
from paperlens.store.schema import EmbeddingRow, PaperRow, table

papers_t = table(PaperRow)
embeddings_t = table(EmbeddingRow)


def to_bytes(vector: NDArray[np.float32]) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_bytes(blob: bytes) -> NDArray[np.float32]:
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


@dataclass(frozen=True, slots=True)
class PendingPaper:
    pk: int
    title: str
    abstract: str
    text_hash: str


@dataclass(frozen=True, slots=True)
class EmbeddingBatch:
    pks: NDArray[np.uint64]
    matrix: NDArray[np.float32]
    last_seq: int  # change counter of the batch's last row


class EmbeddingStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _pending_filter(self, model: str) -> tuple[ColumnElement[bool], Join]:
        """(condition, join) selecting live papers with no current embedding for ``model``."""
        e = embeddings_t
        joined = papers_t.outerjoin(e, and_(e.c.paper_pk == papers_t.c.pk, e.c.model == model))
        condition = and_(
            papers_t.c.deleted.is_(False),
            or_(e.c.paper_pk.is_(None), e.c.text_hash != papers_t.c.text_hash),
        )
        return condition, joined

    def count_pending(self, model: str) -> int:
        where, joined = self._pending_filter(model)
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
            )

    def pending(self, model: str, batch_size: int = 256) -> Iterator[list[PendingPaper]]:
        """Batches of papers to embed for ``model``, in ``pk`` order."""
        where, joined = self._pending_filter(model)
        after = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(
                        papers_t.c.pk, papers_t.c.title, papers_t.c.abstract, papers_t.c.text_hash
                    )
                    .select_from(joined)
                    .where(where, papers_t.c.pk > after)
                    .order_by(papers_t.c.pk)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            yield [PendingPaper(r.pk, r.title, r.abstract, r.text_hash) for r in rows]
            after = rows[-1].pk

    def put(self, model: str, rows: Sequence[tuple[int, str, NDArray[np.float32]]]) -> int:
        """Store ``(pk, text_hash, vector)`` rows in one transaction; returns their seq."""
        with self.engine.begin() as conn:
            seq = next_seq(conn)
            pks = [pk for pk, _, _ in rows]
            for chunk in chunked(pks):
                conn.execute(
                    embeddings_t.delete().where(
                        embeddings_t.c.model == model, embeddings_t.c.paper_pk.in_(chunk)
                    )
                )
            conn.execute(
                embeddings_t.insert(),
                [
                    {
                        "paper_pk": pk,
                        "model": model,
                        "text_hash": h,
                        "vector": to_bytes(v),
                        "seq": seq,
                    }
                    for pk, h, v in rows
                ],
            )
        return seq

    def changed_since(
        self, model: str, seq: int, batch_size: int = 4096
    ) -> Iterator[tuple[NDArray[np.uint64], NDArray[np.float32]]]:
        """Embeddings of live papers written after ``seq``: ``(pks, matrix)`` batches."""
        for batch in self.changed_batches(model, seq, batch_size):
            yield batch.pks, batch.matrix

    def changed_batches(
        self, model: str, seq: int, batch_size: int = 4096
    ) -> Iterator[EmbeddingBatch]:
        """As :meth:`changed_since`, in change order, each batch with the change
        counter of its last row (everything before that counter has been yielded)."""
        last_seq, last_pk = seq, 0
        e = embeddings_t
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(e.c.paper_pk, e.c.seq, e.c.vector)
                    .join(papers_t, papers_t.c.pk == e.c.paper_pk)
                    .where(
                        e.c.model == model,
                        papers_t.c.deleted.is_(False),
                        (e.c.seq > last_seq) | ((e.c.seq == last_seq) & (e.c.paper_pk > last_pk)),
                    )
                    .order_by(e.c.seq, e.c.paper_pk)
                    .limit(batch_size)
                ).all()
            if not rows:
                return
            yield EmbeddingBatch(
                np.array([r.paper_pk for r in rows], dtype=np.uint64),
                np.vstack([from_bytes(r.vector) for r in rows]),
                int(rows[-1].seq),
            )
            last_seq, last_pk = rows[-1].seq, rows[-1].paper_pk

    def get(self, model: str, pks: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        out: dict[int, NDArray[np.float32]] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(list(pks)):
                for pk, blob in conn.execute(
                    select(embeddings_t.c.paper_pk, embeddings_t.c.vector).where(
                        embeddings_t.c.model == model, embeddings_t.c.paper_pk.in_(chunk)
                    )
                ):
                    out[pk] = from_bytes(blob)
        return out

    def count(self, model: str) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(embeddings_t)
                    .where(embeddings_t.c.model == model)
                ).scalar_one()
            )

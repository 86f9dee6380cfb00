"""Dense search in PostgreSQL with pgvector (index/pgvector.py): the same neighbours as
exact search, writes and deletions honoured, the watermark resumed by another process,
and the backend chosen by ``Settings.vector_backend``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, text

from corpus import sample_records, write_jsonl
from databases import backend
from paperlens.config import Settings
from paperlens.core import PaperLens, SearchFilters
from paperlens.index.pgvector import PgVectorIndex
from paperlens.index.vector import HnswParams
from paperlens.indexer import sync_vectors
from paperlens.sources.base import Deleted
from paperlens.sources.snapshot import SnapshotSource
from paperlens.store.db import create_db_engine

on_postgres = pytest.mark.skipif(
    backend() != "postgresql",
    reason="pgvector needs PostgreSQL: set PAPERLENS_TEST_DATABASE_URL (./test.sh does)",
)
MODEL = "test-model@1"
NDIM = 24


def exact_top(lens: PaperLens, vector: Any, k: int) -> list[int]:
    pks = [pk for pk, _ in lens.vectors.search(vector, 10_000)]
    found, matrix = lens.vectors.get_many(pks)
    scores = matrix @ vector
    return [found[i] for i in np.argsort(-scores, kind="stable")[:k]]


@on_postgres
def test_auto_backend_on_postgres_is_pgvector_and_matches_exact_search(indexed_lens: Any) -> None:
    lens = indexed_lens
    assert lens.vector_backend == "pgvector"
    index = lens.vectors
    assert isinstance(index, PgVectorIndex)
    assert len(index) == lens.embeddings.count(lens.model_key) == 501
    assert lens.stats()["vectors"] == 501
    pks = [pk for pk, _ in index.search(lens.retriever.embed_query("neural networks"), 501)]
    assert len(pks) == len(set(pks)) == 501  # every vector reachable, each once
    overlap = []
    for pk in pks[::50]:
        vector = index.get(pk)
        assert vector is not None
        hits = index.search(vector, 10)
        assert hits[0][0] == pk and hits[0][1] == pytest.approx(1.0, abs=2e-3)
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        overlap.append(len({p for p, _ in hits} & set(exact_top(lens, vector, 10))) / 10)
    assert np.mean(overlap) >= 0.98


@on_postgres
def test_semantic_search_and_similar_use_pgvector(indexed_lens: Any) -> None:
    lens = indexed_lens
    query = "dark matter in galaxy halos"
    found = lens.search(query, "semantic", per_page=10)
    expected = exact_top(lens, lens.retriever.embed_query(query), 10)
    assert [r.pk for r in found.results] == expected
    base = found.results[0]
    similar = lens.similar(base.paper.id, 5)
    assert len(similar) == 5
    assert base.pk not in {r.pk for r in similar}
    assert base.paper.id not in {r.paper.id for r in similar}
    hits = lens.retriever.similar(base.pk, 5)
    assert base.pk not in {h.pk for h in hits}
    # The dense half of "similar" (re-ranked with tf-idf since issue 13) is pgvector's
    # exact neighbour list.
    vector = lens.vectors.get(base.pk)
    dense = [pk for pk, _ in lens.retriever.dense(vector, SearchFilters(), 6) if pk != base.pk]
    assert dense[:5] == [pk for pk in exact_top(lens, vector, 6) if pk != base.pk][:5]


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    m = rng.normal(size=(n, NDIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


@pytest.fixture
def small_lens(settings: Settings, tmp_path: Path) -> Any:
    """40 stored papers, no model: embeddings are random unit vectors put directly."""
    lens = PaperLens(settings)
    path = write_jsonl(tmp_path / "s.jsonl", sample_records("arxiv-snapshot-sample", limit=40))
    lens.ingest(SnapshotSource(path))
    yield lens
    lens.close()


def _pks(lens: PaperLens) -> list[int]:
    return sorted(lens.papers.get_by_pks(range(1, 1000)))


@on_postgres
def test_a_filtered_search_on_pgvector_keeps_the_nearest_passing(indexed_lens: Any) -> None:
    """``fetch`` / ``keep`` (the over-fetch path of a filtered search): the nearest
    passing keys among the ``fetch`` nearest, exact like the unfiltered search."""
    index = indexed_lens.vectors
    vector = indexed_lens.retriever.embed_query("neural networks")
    every = [pk for pk, _ in index.search(vector, 501)]
    asked: list[int] = []

    def keep(pks: list[int]) -> set[int]:
        asked.extend(pks)
        return {pk for pk in pks if pk % 3 == 0}

    hits = index.search(vector, 10, fetch=200, keep=keep)
    assert len(asked) == 200
    assert [pk for pk, _ in hits] == [pk for pk in every[:200] if pk % 3 == 0][:10]
    assert index.search(vector, 10, fetch=200, keep=lambda pks: set()) == []


@on_postgres
def test_upsert_remove_deletions_and_watermark_resume(small_lens: Any) -> None:
    lens = small_lens
    rng = np.random.default_rng(7)
    pks = _pks(lens)
    assert len(pks) == 40
    vectors = _unit(rng, 40)
    lens.embeddings.put(MODEL, [(pk, "h", v) for pk, v in zip(pks[:25], vectors, strict=False)])
    lens.embeddings.put(
        MODEL, [(pk, "h", v) for pk, v in zip(pks[25:30], vectors[25:30], strict=True)]
    )

    index = PgVectorIndex(lens.engine, NDIM, MODEL)
    assert (len(index), index.seq, pks[0] in index) == (0, 0, False)
    assert index.search(vectors[0], 5) == []  # nothing built yet: empty, no table made
    assert sync_vectors(lens.papers, lens.embeddings, index) == 30
    first_seq = lens.papers.current_seq()
    assert (len(index), index.seq) == (30, first_seq)
    assert index.search(vectors[3], 1)[0][0] == pks[3]

    # Another process resumes from the saved watermark: it applies the 10 new vectors and
    # the 5 written at the watermark itself (re-applying is harmless), not all 40.
    other = PgVectorIndex(lens.engine, NDIM, MODEL)
    assert (len(other), other.seq) == (30, first_seq)
    lens.embeddings.put(MODEL, [(pk, "h", v) for pk, v in zip(pks[30:], vectors[30:], strict=True)])
    assert sync_vectors(lens.papers, lens.embeddings, other) == 15
    assert other.seq == lens.papers.current_seq() > first_seq
    assert len(index) == 40  # the first instance sees the shared index at once

    # A re-embedded paper is replaced, not added; its old vector is gone.
    moved = _unit(rng, 1)[0]
    lens.embeddings.put(MODEL, [(pks[5], "h2", moved)])
    sync_vectors(lens.papers, lens.embeddings, index)
    assert len(index) == 40
    assert index.search(moved, 1)[0][0] == pks[5]
    stored = index.get(pks[5])
    assert stored is not None and np.abs(stored - moved).max() < 2e-3

    # A deleted paper leaves the index; search, get and get_many no longer see it.
    gone = lens.papers.get_by_pks([pks[7]])[pks[7]].paper.id
    lens.papers.write_batch([Deleted(gone, "test")])
    sync_vectors(lens.papers, lens.embeddings, index)
    assert pks[7] not in index and index.get(pks[7]) is None
    assert len(index) == 39
    assert pks[7] not in {pk for pk, _ in index.search(vectors[7], 40)}
    found, matrix = index.get_many([pks[8], pks[7], pks[9]])
    assert found == [pks[8], pks[9]] and matrix.shape == (2, NDIM)
    assert np.abs(matrix - vectors[[8, 9]]).max() < 2e-3

    # Direct upsert / remove.
    index.remove(np.array([pks[0], pks[1]], dtype=np.uint64))
    assert len(index) == 37 and pks[0] not in index
    index.upsert(np.array([pks[0]], dtype=np.uint64), vectors[:1])
    assert len(index) == 38 and pks[0] in index
    index.save(123)
    assert (PgVectorIndex(lens.engine, NDIM, MODEL).seq, len(index)) == (123, 38)


def _no_seqscan(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    dbapi_connection.commit()


@on_postgres
def test_hnsw_index_is_used_and_deep_searches_return_everything_in_order(
    small_lens: Any,
) -> None:
    lens = small_lens
    pks = _pks(lens)
    vectors = _unit(np.random.default_rng(3), 40)
    # On 40 rows the planner would rather scan the table: make it use the index.
    engine = create_db_engine(lens.settings.resolved_database_url)
    event.listen(engine, "connect", _no_seqscan)
    try:
        index = PgVectorIndex(engine, NDIM, MODEL, HnswParams(expansion_search=10))
        index.upsert(np.array(pks, dtype=np.uint64), vectors)
        index.save(1)  # builds the HNSW index over the loaded rows
        with engine.connect() as conn:
            plan = "\n".join(
                row[0]
                for row in conn.execute(
                    text(
                        f'EXPLAIN SELECT paper_pk FROM "{index.table}" '
                        f"ORDER BY embedding <#> CAST(:q AS halfvec({NDIM})) LIMIT 5"
                    ),
                    {"q": "[" + ",".join(["0.1"] * NDIM) + "]"},
                )
            )
        assert f"Index Scan using {index.table}_hnsw" in plan
        exact = [pks[i] for i in np.argsort(-(vectors @ vectors[0]))]
        top = index.search(vectors[0], 5)  # one scan of ef_search = 10
        assert [pk for pk, _ in top][:3] == exact[:3]
        hits = index.search(vectors[0], 35)  # more than one scan returns: iterative
        assert len(hits) == 35
        scores = [s for _, s in hits]
        assert scores == sorted(scores, reverse=True)
        assert len({pk for pk, _ in hits} & set(exact[:35])) >= 33
    finally:
        engine.dispose()


@on_postgres
def test_a_model_whose_dimension_changes_gets_a_fresh_index(small_lens: Any) -> None:
    lens = small_lens
    pks = _pks(lens)
    old = PgVectorIndex(lens.engine, NDIM, MODEL)
    old.upsert(np.array(pks[:10], dtype=np.uint64), _unit(np.random.default_rng(1), 10))
    old.save(5)
    assert PgVectorIndex.saved_ndim(lens.engine, MODEL) == NDIM

    wider = np.random.default_rng(2).normal(size=(4, NDIM * 2)).astype(np.float32)
    wider /= np.linalg.norm(wider, axis=1, keepdims=True)
    new = PgVectorIndex(lens.engine, NDIM * 2, MODEL)
    assert (len(new), new.seq) == (0, 0)  # the old index is not this one
    new.upsert(np.array(pks[:4], dtype=np.uint64), wider)
    new.save(6)
    assert PgVectorIndex.saved_ndim(lens.engine, MODEL) == NDIM * 2
    assert (len(new), new.seq, PgVectorIndex.saved_count(lens.engine, MODEL)) == (4, 6, 4)
    assert (len(old), old.seq) == (0, 0)  # its table was dropped with its registry row
    with lens.engine.connect() as conn:
        assert not conn.execute(text("SELECT to_regclass(:t)"), {"t": old.table}).scalar()
    with pytest.raises(ValueError, match="dimensions"):
        new.upsert(np.array(pks[:1], dtype=np.uint64), _unit(np.random.default_rng(3), 1))


@on_postgres
def test_usearch_backend_can_be_chosen_on_postgres(settings: Settings) -> None:
    lens = PaperLens(settings.model_copy(update={"vector_backend": "usearch"}))
    try:
        assert lens.vector_backend == "usearch"
    finally:
        lens.close()


def test_pgvector_backend_on_sqlite_is_refused(tmp_path: Path) -> None:
    lens = PaperLens(
        Settings(
            data_dir=tmp_path / "data",
            database_url=f"sqlite:///{tmp_path / 'x.db'}",
            vector_backend="pgvector",
        )
    )
    try:
        with pytest.raises(ValueError, match="needs a PostgreSQL"):
            _ = lens.vectors
    finally:
        lens.close()
    with pytest.raises(RuntimeError, match="needs a PostgreSQL"):
        PgVectorIndex(lens.engine, NDIM, MODEL)


def test_auto_backend_on_sqlite_is_usearch(tmp_path: Path) -> None:
    lens = PaperLens(
        Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'x.db'}")
    )
    try:
        assert lens.vector_backend == "usearch"
        assert lens.stats()["vector_backend"] == "usearch"
    finally:
        lens.close()

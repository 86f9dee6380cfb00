"""The usearch HNSW index on disk: a memory-mapped main graph plus a small delta.

Real usearch files in a temporary directory. The vectors are random unit vectors; at
these sizes HNSW with the default settings is exact, so results are checked against
brute force over the vectors that should be there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from corpus import sample_records, write_jsonl
from paperlens import core
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.index import vector as vector_module
from paperlens.index.vector import HnswParams, VectorIndex
from paperlens.indexer import sync_vectors
from paperlens.sources.snapshot import SnapshotSource

NDIM = 16
MODEL = "test-model@1"


def unit(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    m = rng.standard_normal((n, NDIM)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def keys(*values: int) -> NDArray[np.uint64]:
    return np.array(values, dtype=np.uint64)


def brute_force(
    expected: dict[int, NDArray[np.float32]], query: NDArray[np.float32], k: int
) -> list[int]:
    pks = sorted(expected)
    scores = np.vstack([expected[pk] for pk in pks]) @ query
    return [pks[i] for i in np.argsort(-scores, kind="stable")[:k]]


def assert_top(
    expected: dict[int, NDArray[np.float32]], got: list[int], query: NDArray[np.float32], k: int
) -> None:
    """``got`` is a true top-``k`` of ``expected`` for ``query`` (ties within the f16
    storage precision may come in either order)."""
    assert len(got) == len(set(got)) == k and set(got) <= set(expected)
    true = np.array([expected[pk] @ query for pk in got])
    best = np.array([expected[pk] @ query for pk in brute_force(expected, query, k)])
    assert np.allclose(true, best, atol=5e-3)


def built(
    path: Path, n: int = 300, **kwargs: object
) -> tuple[VectorIndex, dict[int, NDArray[np.float32]]]:
    rng = np.random.default_rng(7)
    vectors = unit(rng, n)
    index = VectorIndex(path, NDIM, MODEL, **kwargs)  # type: ignore[arg-type]
    index.upsert(np.arange(1, n + 1, dtype=np.uint64), vectors)
    index.save(seq=10)
    return index, {pk: vectors[pk - 1] for pk in range(1, n + 1)}


def file_identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def deltas(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}.delta-*"))


def test_first_build_writes_the_main_graph_alone(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    index, expected = built(path)
    assert path.exists() and deltas(path) == []
    state = json.loads((tmp_path / "v.usearch.json").read_text())
    assert (state["count"], state["main_count"], state["delta"], state["masked"]) == (
        300,
        300,
        None,
        [],
    )
    assert len(index) == 300 and len(index.delta) == 0
    reader = VectorIndex(path, NDIM, MODEL)
    assert (len(reader), reader.seq) == (300, 10)
    for pk in (1, 150, 300):
        hits = reader.search(expected[pk], 5)
        assert_top(expected, [p for p, _ in hits], expected[pk], 5)
        assert hits[0] == (pk, pytest.approx(1.0, abs=1e-2))


@pytest.mark.parametrize("view", [True, False])
def test_a_small_change_writes_only_the_delta(tmp_path: Path, view: bool) -> None:
    path = tmp_path / "v.usearch"
    index, expected = built(path, view=view)
    main_before = file_identity(path)
    reader = VectorIndex(path, NDIM, MODEL)
    reader_main = reader.main

    rng = np.random.default_rng(99)
    new = unit(rng, 3)
    index.upsert(keys(1001, 1002, 5), new)  # two new papers, paper 5 re-embedded
    index.remove(keys(7, 1002))  # paper 7 (in the main graph) and one new paper deleted
    index.save(seq=11)

    expected.update({1001: new[0], 5: new[2]})
    del expected[7]
    assert file_identity(path) == main_before  # the big file is untouched
    assert len(deltas(path)) == 1
    assert len(index) == len(expected) == 300
    assert 7 not in index and 1002 not in index and 1001 in index and 5 in index
    assert np.allclose(index.get(5), new[2], atol=1e-2)  # type: ignore[arg-type]
    assert index.get(7) is None and index.get(1002) is None

    assert reader.reload() and reader.main is reader_main  # the mapping is kept
    for probe in (index, reader, VectorIndex(path, NDIM, MODEL, view=not view)):
        assert (len(probe), probe.seq) == (300, 11)
        for query in (new[0], new[2], expected[100], unit(rng, 1)[0]):
            assert_top(expected, [p for p, _ in probe.search(query, 10)], query, 10)
        found, matrix = probe.get_many([5, 7, 1001, 1002, 42])
        assert found == [5, 1001, 42] and matrix.shape == (3, NDIM)
    old_vector_of_7 = built(tmp_path / "again.usearch")[1][7]
    assert 7 not in [p for p, _ in reader.search(old_vector_of_7, 20)]


def test_many_masked_keys_still_fill_the_page(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    index, expected = built(path, compact_min=10_000)
    gone = np.arange(2, 301, 2, dtype=np.uint64)  # half the main graph deleted
    index.remove(gone)
    index.save(seq=12)
    for pk in gone:
        del expected[int(pk)]
    reader = VectorIndex(path, NDIM, MODEL)
    assert len(reader) == 150 and len(reader.masked) == 150
    query = unit(np.random.default_rng(3), 1)[0]
    assert_top(expected, [p for p, _ in reader.search(query, 10)], query, 10)


def test_a_large_delta_is_folded_into_the_main_graph(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    index, expected = built(path, compact_min=5, compact_share=0.01)
    small = unit(np.random.default_rng(5), 2)
    index.upsert(keys(2001, 2002), small)
    index.save(seq=11)  # 2 changes: under the threshold
    main_before = file_identity(path)
    assert len(deltas(path)) == 1

    more = unit(np.random.default_rng(6), 10)
    index.upsert(np.arange(3001, 3011, dtype=np.uint64), more)
    index.remove(keys(3, 4))
    index.save(seq=12)  # 14 changes: folded in
    expected |= {2001: small[0], 2002: small[1]}
    expected |= {3001 + i: more[i] for i in range(10)}
    del expected[3], expected[4]

    assert file_identity(path) != main_before and deltas(path) == []
    state = json.loads((tmp_path / "v.usearch.json").read_text())
    assert (state["count"], state["main_count"], state["masked"]) == (310, 310, [])
    reader = VectorIndex(path, NDIM, MODEL)
    assert len(reader) == 310 and len(reader.delta) == 0
    for query in (more[4], small[1], expected[250]):
        assert_top(expected, [p for p, _ in reader.search(query, 10)], query, 10)


@pytest.mark.parametrize("n", [300, 3000])
def test_every_added_paper_can_be_found(tmp_path: Path, n: int) -> None:
    """usearch's concurrent add() strands a few nodes no search reaches (USearch#735).
    Graphs built four threads at a time must still return every paper for its own
    vector: the main graph of a first build, and a delta added to it later, in the
    writer and in a reader of the saved files."""
    rng = np.random.default_rng(n)

    def lost(graph: object, pks: NDArray[np.uint64], vectors: NDArray[np.float32]) -> list[int]:
        hits = graph.search(vectors, 4, threads=1).keys  # type: ignore[attr-defined]
        return [int(k) for k, row in zip(pks, hits, strict=True) if k not in row]

    for build in range(4):
        path = tmp_path / f"v{build}.usearch"
        first, later = unit(rng, n), unit(rng, n // 2)
        first_keys = np.arange(1, n + 1, dtype=np.uint64)
        later_keys = np.arange(n + 1, n + 1 + n // 2, dtype=np.uint64)
        index = VectorIndex(path, NDIM, MODEL)
        for chunk in np.array_split(np.arange(n), 3):
            index.upsert(first_keys[chunk], first[chunk], threads=4)
        index.save(seq=1)
        index.upsert(later_keys, later, threads=4)
        index.save(seq=2)
        assert deltas(path) and len(index.delta) == n // 2
        for probe in (index, VectorIndex(path, NDIM, MODEL)):
            assert lost(probe.main, first_keys, first) == [], f"build {build}: main graph"
            assert lost(probe.delta, later_keys, later) == [], f"build {build}: delta"


def test_an_index_saved_before_the_delta_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    plain = HnswParams(rerank=0)  # the layout of that time: one exact graph, no rows file
    _index, expected = built(path, params=plain)
    state_path = tmp_path / "v.usearch.json"
    state = json.loads(state_path.read_text())
    legacy = {k: state[k] for k in ("seq", "model", "ndim", "count", "hnsw")}
    legacy["hnsw"] = {k: v for k, v in legacy["hnsw"].items() if not k.startswith("main_")}
    del legacy["hnsw"]["rerank"]
    state_path.write_text(json.dumps(legacy))
    index = VectorIndex(path, NDIM, MODEL, plain)
    assert (len(index), index.seq) == (300, 10)
    assert_top(expected, [p for p, _ in index.search(expected[9], 3)], expected[9], 3)
    index.upsert(keys(9), unit(np.random.default_rng(1), 1))
    index.save(seq=11)  # now saved in the new form, with a delta
    assert len(deltas(path)) == 1 and len(VectorIndex(path, NDIM, MODEL, plain)) == 300
    # The default layout (compressed graph + rows file) does not use it: it is rebuilt.
    assert (len(VectorIndex(path, NDIM, MODEL)), VectorIndex(path, NDIM, MODEL).seq) == (0, 0)


def test_an_index_for_another_model_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    built(path)
    other = VectorIndex(path, NDIM, "other-model@1")
    assert (len(other), other.seq) == (0, 0)


def test_unsaved_changes_are_not_dropped_by_a_reload(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    writer, _expected = built(path)
    other = VectorIndex(path, NDIM, MODEL)
    writer.upsert(keys(501), unit(np.random.default_rng(2), 1))  # not saved yet
    other.upsert(keys(502), unit(np.random.default_rng(3), 1))
    other.save(seq=20)
    assert not writer.reload() and 501 in writer and 502 not in writer
    writer.save(seq=21)
    assert writer.reload() is False  # its own save: nothing new
    assert other.reload() and 501 in other and other.seq == 21


def test_a_running_server_sees_an_index_published_by_another_process(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`paperlens index` from cron while `paperlens serve` runs: the server finds the
    new papers by embedding without a restart."""
    if settings.database_url.startswith("postgresql"):
        pytest.skip("pgvector is read live; this is about the usearch file")
    monkeypatch.setattr(core, "VECTORS_RELOAD_SECONDS", 0.0)
    records = sample_records("arxiv-snapshot-sample", limit=40)
    indexer = PaperLens(settings)
    server = PaperLens(settings)
    try:
        indexer.ingest(SnapshotSource(write_jsonl(tmp_path / "a.jsonl", records[:30])))
        indexer.index()
        assert len(server.similar(records[0]["id"], k=5)) == 5
        indexer.ingest(SnapshotSource(write_jsonl(tmp_path / "b.jsonl", records[30:])))
        indexer.index()
        late = records[35]["id"]
        assert server.similar(late, k=5)  # it has a vector in the server now
        assert server.stats()["vectors"] == 40
        assert late in [r.paper.id for r in server.search(records[35]["title"], "semantic").results]
    finally:
        indexer.close()
        server.close()


class Crash(Exception):
    pass


class CrashingIndex(VectorIndex):
    """Dies (like a killed process) once ``crash_after`` vectors have been added."""

    crash_after = 10**9

    def upsert(
        self, keys: NDArray[np.uint64], vectors: NDArray[np.float32], threads: int = 0
    ) -> None:
        if self.crash_after <= 0:
            raise Crash
        self.crash_after -= len(keys)
        super().upsert(keys, vectors, threads)


def test_a_long_build_resumes_from_its_last_checkpoint(settings: Settings, tmp_path: Path) -> None:
    lens = PaperLens(settings)
    try:
        records = sample_records("arxiv-snapshot-sample", limit=60)
        lens.ingest(SnapshotSource(write_jsonl(tmp_path / "s.jsonl", records)))
        pks = sorted(pk for b in lens.papers.changed_keys_since(0) for pk, _deleted in b)
        vectors = unit(np.random.default_rng(11), len(pks))
        for start in range(0, len(pks), 4):  # 4 papers a transaction: 15 change counters
            rows = [(pk, "hash", vectors[i]) for i, pk in enumerate(pks) if start <= i < start + 4]
            lens.embeddings.put(MODEL, rows)
        path = tmp_path / "v.usearch"
        small = {"compact_min": 5, "compact_share": 0.01}

        first = CrashingIndex(path, NDIM, MODEL, **small)  # type: ignore[arg-type]
        first.checkpoint_every = 16
        first.crash_after = 40
        with pytest.raises(Crash):
            sync_vectors(lens.papers, lens.embeddings, first, batch_size=8)
        state = json.loads((tmp_path / "v.usearch.json").read_text())
        assert state["building"] and 16 <= state["count"] <= 40 and state["seq"] > 0

        second = CrashingIndex(path, NDIM, MODEL, **small)  # type: ignore[arg-type]
        assert second.building and len(second) == state["count"]
        second.checkpoint_every = 16
        added = sync_vectors(lens.papers, lens.embeddings, second, batch_size=8)
        assert added < len(pks)  # it went on from the checkpoint
        final = VectorIndex(path, NDIM, MODEL)
        assert (len(final), final.building) == (len(pks), False)
        expected = dict(zip(pks, vectors, strict=True))
        for i in (0, 30, 59):
            assert_top(expected, [p for p, _ in final.search(vectors[i], 5)], vectors[i], 5)
    finally:
        lens.close()


# -- the compressed main graph and its rows file --------------------------------------------


def clustered(rng: np.random.Generator, n: int, ndim: int) -> NDArray[np.float32]:
    """Unit vectors as dense as real embeddings: means of 2 of 200 random directions
    plus a little noise, so many papers have close neighbours (i8 codes alone would
    confuse them)."""
    base = rng.standard_normal((200, ndim)).astype(np.float32)
    pairs = rng.integers(0, 200, size=(n, 2))
    m = base[pairs].sum(axis=1) + 0.3 * rng.standard_normal((n, ndim)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def rows_files(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.name}.rows-*"))


def test_the_compressed_graph_is_reranked_with_the_full_vectors(tmp_path: Path) -> None:
    ndim, n = 64, 4000
    rng = np.random.default_rng(21)
    vectors = clustered(rng, n, ndim)
    path = tmp_path / "v.usearch"
    index = VectorIndex(path, ndim, MODEL)
    pks = np.arange(1, n + 1, dtype=np.uint64)
    for chunk in np.array_split(np.arange(n), 4):
        index.upsert(pks[chunk], vectors[chunk])
    index.save(seq=1)
    state = json.loads((tmp_path / "v.usearch.json").read_text())
    assert state["layout"] == {"graph": "i8", "rows": "f16"}
    (rows_name,) = rows_files(path)
    assert rows_name == f"v.usearch.rows-{state['main_id']}"
    assert (tmp_path / rows_name).stat().st_size == n * ndim * 2  # one float16 row each

    reader = VectorIndex(path, ndim, MODEL)
    queries = np.vstack([vectors[rng.choice(n, 40, replace=False)], clustered(rng, 40, ndim)])
    exact = queries @ vectors.T
    recalls = []
    for q, scores in zip(queries, exact, strict=True):
        hits = reader.search(q, 10)
        truth = set((np.argsort(-scores)[:10] + 1).tolist())
        recalls.append(len(truth & {p for p, _ in hits}) / 10)
        # The similarities are the full vectors' (float16), not the 8-bit codes' estimate.
        for pk, s in hits:
            assert s == pytest.approx(float(scores[pk - 1]), abs=2e-3)
    assert np.mean(recalls) >= 0.98
    found, matrix = reader.get_many([5, 17, n + 5, 4000])
    assert found == [5, 17, 4000]
    assert np.allclose(matrix, vectors[[4, 16, 3999]], atol=1e-3)


def test_the_rows_file_follows_upserts_removals_and_folds(tmp_path: Path) -> None:
    path = tmp_path / "v.usearch"
    index, expected = built(path, compact_min=5, compact_share=0.01)
    reader = VectorIndex(path, NDIM, MODEL)
    (first_rows,) = rows_files(path)
    rng = np.random.default_rng(8)

    # A small change: delta only, the rows file stays.
    new = unit(rng, 2)
    index.upsert(keys(5, 1001), new)
    index.save(seq=11)
    assert rows_files(path) == [first_rows]
    expected |= {5: new[0], 1001: new[1]}

    # A large one: folded; bulk mode meanwhile serves from the journal.
    more = unit(rng, 20)
    index.upsert(np.arange(2001, 2021, dtype=np.uint64), more)
    index.upsert(keys(6), more[:1])  # re-embedded after the fold began
    index.remove(keys(7, 2003))
    expected |= {2001 + i: more[i] for i in range(20)} | {6: more[0]}
    del expected[7], expected[2003]
    assert index._bulk and index.journal is not None
    assert np.allclose(index.get(2005), more[4], atol=1e-3)  # type: ignore[arg-type]
    assert_top(expected, [p for p, _ in index.search(more[9], 10)], more[9], 10)

    # The reader still has the old graph and rows open; both keep working.
    index.save(seq=12)
    assert rows_files(path) != [first_rows] and len(rows_files(path)) == 1
    assert not list(tmp_path.glob("v.usearch.journal-*"))
    assert len(reader.search(more[0], 5)) == 5  # old, unlinked files still readable
    assert reader.reload()
    for probe in (reader, VectorIndex(path, NDIM, MODEL)):
        assert len(probe) == len(expected) and probe.seq == 12
        found, matrix = probe.get_many([5, 6, 7, 2003, 2005, 1001])
        assert found == [5, 6, 2005, 1001]
        assert np.allclose(matrix, [expected[pk] for pk in found], atol=1e-3)
        for query in (more[9], new[0], expected[100], unit(rng, 1)[0]):
            assert_top(expected, [p for p, _ in probe.search(query, 10)], query, 10)


def test_the_repair_leaves_no_paper_unreachable(tmp_path: Path) -> None:
    """A graph with very few links (main_connectivity 4) strands many papers; the
    repair re-inserts most, the last whole-graph pass lists the rest exactly, and the
    index serves those from the delta: every paper is returned for its own vector (the
    check searches with the full rows, as queries come, not with the graph's codes)."""
    from paperlens.index.vector import repair_reachability, unreachable_keys, usearch_index_class

    rng = np.random.default_rng(4)
    n, ndim = 6000, 32
    vectors = clustered(rng, n, ndim)
    graph = usearch_index_class()(ndim=ndim, metric="ip", dtype="i8", connectivity=4)
    graph.add(np.arange(n, dtype=np.uint64), vectors, threads=4)
    before = len(unreachable_keys(graph))
    repair = repair_reachability(graph)
    assert repair.reinserted >= before > 0 and len(graph) == n
    assert sorted(unreachable_keys(graph).tolist()) == sorted(repair.stranded)

    path = tmp_path / "v.usearch"
    sparse = HnswParams(main_connectivity=4, main_expansion_add=16, rerank=20)
    index = VectorIndex(path, ndim, MODEL, sparse)
    pks = np.arange(1, n + 1, dtype=np.uint64)
    for chunk in np.array_split(np.arange(n), 3):
        index.upsert(pks[chunk], vectors[chunk], threads=4)
    index.save(seq=1)
    reader = VectorIndex(path, ndim, MODEL, sparse)
    assert len(reader) == n and set(reader.masked) == {int(k) for k in reader.delta.keys}
    # Each paper searched for with its stored vector (the float16 row that "similar"
    # searches with, and the check uses): in a graph this sparse the float32 original
    # can take another path (missed about 1 build in 40), the stored one may not.
    found, stored = reader.get_many([int(pk) for pk in pks])
    assert found == [int(pk) for pk in pks]
    missed = [
        int(pk)
        for pk, v in zip(pks, stored, strict=True)
        if int(pk) not in {p for p, _ in reader.search(v, 4)}
    ]
    assert missed == []


def test_a_dead_writers_journal_is_removed(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    path = tmp_path / "v.usearch"
    orphan = tmp_path / f"v.usearch.journal-{int(dead.stdout)}-abc"
    live = tmp_path / f"v.usearch.journal-{os.getpid()}-def"
    orphan.write_bytes(b"\0" * 64)
    live.write_bytes(b"\0" * 64)
    built(path)
    assert not orphan.exists() and live.exists()


def filtered_build(tmp_path: Path) -> tuple[VectorIndex, NDArray[np.float32], np.random.Generator]:
    """4,000 clustered papers in the main graph (i8 codes + rows file) and 60 more in
    the delta, read back by a second instance as a server would."""
    ndim, n = 64, 4000
    rng = np.random.default_rng(33)
    vectors = clustered(rng, n + 60, ndim)
    path = tmp_path / "v.usearch"
    writer = VectorIndex(path, ndim, MODEL)
    writer.upsert(np.arange(1, n + 1, dtype=np.uint64), vectors[:n])
    writer.save(seq=1)
    writer.upsert(np.arange(n + 1, n + 61, dtype=np.uint64), vectors[n:])
    writer.save(seq=2)
    reader = VectorIndex(path, ndim, MODEL)
    assert len(reader.delta) == 60 and len(reader.main) == n
    return reader, vectors, rng


@pytest.mark.parametrize(("every", "fetch"), [(5, 100), (97, 4060)])
def test_a_filtered_search_equals_the_exact_filtered_top_10(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every: int, fetch: int
) -> None:
    """A large category (one paper in 5, fetched 2x its share) and a small one (one in
    97, the whole index fetched): the passing candidates re-scored give the exact
    filtered top 10, and only the best ``rerank`` passing ones are read from the rows
    file, not every candidate."""
    reader, vectors, rng = filtered_build(tmp_path)
    assert reader.rows is not None
    read_counts: list[int] = []
    read = reader.rows.read

    def counted(rows: NDArray[np.int64]) -> NDArray[np.float16]:
        read_counts.append(len(rows))
        return read(rows)

    monkeypatch.setattr(reader.rows, "read", counted)
    passing = np.arange(1, len(vectors) + 1)
    passing = passing[passing % every == 0]
    asked: list[int] = []

    def keep(pks: list[int]) -> set[int]:
        asked.extend(pks)
        return {pk for pk in pks if pk % every == 0}

    queries = np.vstack(
        [vectors[rng.choice(len(vectors), 15, replace=False)], clustered(rng, 15, 64)]
    )
    for q in queries:
        asked.clear()
        read_counts.clear()
        hits = reader.search(q, 10, fetch=fetch, keep=keep)
        scores = vectors[passing - 1] @ q
        truth = passing[np.argsort(-scores, kind="stable")[:10]]
        got = [pk for pk, _ in hits]
        assert all(pk % every == 0 for pk in got)
        # Same papers as exact search (ties within float16 precision in either order).
        true = np.array([vectors[pk - 1] @ q for pk in got])
        assert np.allclose(true, vectors[truth - 1] @ q, atol=2e-3)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        assert len(asked) >= fetch  # the filter saw every candidate...
        assert sum(read_counts) <= reader.params.rerank  # ...only the best were read


def test_an_unfiltered_search_is_unchanged_by_fetch(tmp_path: Path) -> None:
    reader, vectors, rng = filtered_build(tmp_path)
    q = vectors[int(rng.integers(len(vectors)))]
    plain = reader.search(q, 10)
    assert reader.search(q, 10, fetch=500) == plain
    assert reader.search(q, 10, fetch=500, keep=lambda pks: set(pks)) == plain
    assert reader.search(q, 10, fetch=500, keep=lambda pks: set()) == []


@pytest.mark.parametrize("span", [8192, 7])  # the default, and spans cut every 7 rows
def test_get_many_equals_one_by_one_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span: int
) -> None:
    """Thousands of keys (runs of neighbouring rows read together), in any order, with
    duplicates, keys of the delta, a removed (masked) key and unknown keys: the same
    rows in the same order as reading each alone."""
    monkeypatch.setattr(vector_module, "READ_SPAN", span)
    reader, vectors, rng = filtered_build(tmp_path)
    reader.remove(keys(11))
    wanted = rng.choice(np.arange(1, len(vectors) + 1), 1500, replace=False).tolist()
    wanted += [11, 4003, 99_999, wanted[0], 4000, 1, 12]
    rng.shuffle(wanted)
    found, matrix = reader.get_many(wanted)
    one_by_one = [(pk, reader.get(pk)) for pk in wanted]
    expected = [(pk, v) for pk, v in one_by_one if v is not None]
    assert found == [pk for pk, _ in expected]
    assert 11 not in found and 99_999 not in found and 4003 in found
    assert matrix.dtype == np.float32 and matrix.shape == (len(found), 64)
    assert np.array_equal(matrix, np.vstack([v for _, v in expected]))
    assert np.allclose(matrix, vectors[np.array(found) - 1], atol=2e-3)
    assert reader.get_many([99_999]) == ([], pytest.approx(np.zeros((0, 64))))

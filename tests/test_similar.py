"""Similar papers: the fused (dense + tf-idf) list, its reasons, the term-vector store,
and the same order through the paper page, the API and the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from corpus import write_jsonl
from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.index import terms as terms_module
from paperlens.index.terms import MAX_SEGMENTS, TermIndex
from paperlens.indexer import sync_terms
from paperlens.paper import make_paper
from paperlens.search.engine import Retriever
from paperlens.sources.base import Deleted, Parsed
from paperlens.store.db import open_engine
from paperlens.store.papers import PaperStore, StoredPaper
from paperlens.web import create_app

TWIN_A = {
    "id": "twin-a",
    "title": "Contrastive loss for protein folding",
    "abstract": "We train protein folding models with a contrastive loss over amino acid "
    "sequences, so that sequences of one fold lie close in the embedding space.",
}
TWIN_B = {
    "id": "twin-b",
    "title": "Protein folding with a contrastive loss on amino acid sequences",
    "abstract": "A contrastive loss makes protein folding predictions more accurate: amino "
    "acid sequences that share a fold are pulled together during training.",
}
OTHERS = [
    ("Graph neural networks forecast road traffic", "Sensors on roads feed a graph network."),
    ("Transformers segment medical images", "Attention layers outline organs in CT scans."),
    ("Reinforcement learning for robot grasping", "A robot arm learns to pick up objects."),
    ("Speech recognition in noisy rooms", "Microphone arrays and beamforming reduce noise."),
    ("Protein structure from cryo-electron microscopy", "Density maps give atomic models."),
    ("Dark matter halos in galaxy simulations", "N-body runs trace the growth of halos."),
    ("Machine translation of low-resource languages", "Back-translation adds training data."),
    ("Recommender systems with matrix factorisation", "User and item factors predict ratings."),
    ("Quantum error correction with surface codes", "Logical qubits survive noisy gates."),
    ("Sentiment analysis of product reviews", "Reviews are classified as positive or negative."),
]


@pytest.fixture(scope="module")
def lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperLens]:
    from paperlens.sources.jsonl import JsonlSource

    tmp = tmp_path_factory.mktemp("similar")
    records = [TWIN_A, TWIN_B] + [
        {"id": f"other-{i}", "title": t, "abstract": a} for i, (t, a) in enumerate(OTHERS)
    ]
    for r in records:
        r["published"] = "2024-01-02"
    path = write_jsonl(tmp / "papers.jsonl", records)
    with fresh_database(tmp) as url:
        lens = PaperLens(Settings(data_dir=tmp / "data", database_url=url, max_seq_length=128))
        lens.ingest(JsonlSource(path))
        report = lens.index()
        assert report.term_docs == len(records)
        yield lens
        lens.close()


def test_the_obvious_twin_comes_first(lens: PaperLens) -> None:
    similar = lens.similar("twin-a", k=5)
    assert similar[0].paper.id == "twin-b"
    assert "twin-a" not in [r.paper.id for r in similar]
    scores = [r.score for r in similar]
    assert scores == sorted(scores, reverse=True)


def test_reasons_name_terms_both_papers_share(lens: PaperLens) -> None:
    twin = lens.similar("twin-a", k=3)[0]
    assert twin.reason is not None and twin.reason.kind == "terms"
    text = twin.reason.text
    assert text.startswith("shared: ")
    terms = text.removeprefix("shared: ").split(", ")
    assert 1 <= len(terms) <= 3
    a = f"{TWIN_A['title']} {TWIN_A['abstract']}".lower()
    b = f"{TWIN_B['title']} {TWIN_B['abstract']}".lower()
    for term in terms:
        for word in term.split(" "):
            assert word in a and word in b, (term, text)
    assert any(w in text for w in ("contrastive", "protein", "folding"))


def test_page_api_and_cli_serve_the_same_order(lens: PaperLens) -> None:
    expected = [r.paper.id for r in lens.similar("twin-a", k=8)]
    client = TestClient(create_app(lens, rate_limit=None, auth_limits=None))
    body = client.get("/api/v1/papers/twin-a/similar", params={"k": 8}).json()
    assert [r["paper"]["id"] for r in body["similar"]] == expected
    assert body["similar"][0]["reason"]["kind"] == "terms"
    # The list itself (the "Similar by" switch above it links to this paper).
    page = client.get("/paper/twin-a").text.split('id="similar-heading"', 1)[1]
    page = page.split('<ol class="papers">', 1)[1]
    assert re.findall(r'href="/paper/([^"]+)"', page)[: len(expected)] == expected
    assert 'class="reason"' in page
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(lens.settings.data_dir),
        "PAPERLENS_DATABASE_URL": lens.settings.resolved_database_url,
        "PAPERLENS_MAX_SEQ_LENGTH": str(lens.settings.max_seq_length),
    }
    done = subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", "similar", "twin-a", "-k", "8", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    assert [r["id"] for r in cli["similar"]] == expected
    assert cli["similar"][0]["reason"]["text"].startswith("shared: ")


# -- the term-vector store ----------------------------------------------------------------

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def stored(pk: int, seq: int, title: str, abstract: str, deleted: bool = False) -> StoredPaper:
    paper = make_paper(id=f"p{pk}", title=title, abstract=abstract, source="test")
    return StoredPaper(pk, seq, deleted, NOW, paper)


def test_term_index_updates_replaces_deletes_and_reloads(tmp_path: Path) -> None:
    index = TermIndex(tmp_path, buckets=1 << 12)
    index.max_df = 1.0
    first = [
        stored(1, 1, "Contrastive protein folding", "contrastive loss on protein folds"),
        stored(2, 2, "Protein folding, contrastively", "a contrastive loss folds proteins"),
        stored(3, 3, "Road traffic graphs", "graph networks forecast traffic"),
    ]
    assert index.apply([first], 3) == 3
    assert (index.seq, index.docs) == (3, 3)
    query = index.vector(1)
    assert query is not None
    near, far = index.cosine(query, [2, 3])
    assert near > 0.2 and far == 0.0
    # Candidates sharing no term with the query score 0 (not an error).
    assert index.cosine(query, [3]).tolist() == [0.0]
    # Paper 3 is rewritten to match paper 1; paper 2 is deleted.
    index.apply([[stored(3, 4, "Contrastive protein folding", "contrastive loss")]], 4)
    index.apply([[stored(2, 5, "gone", "gone", deleted=True)]], 5)
    assert index.docs == 2 and index.vector(2) is None
    assert index.cosine(query, [3])[0] > 0.5
    # Another process sees the same generation; df was kept exact through the changes.
    again = TermIndex(tmp_path, buckets=1 << 12)
    rebuilt = TermIndex(tmp_path / "rebuilt", buckets=1 << 12)
    rebuilt.apply(
        [
            [
                stored(1, 1, *_text(first[0])),
                stored(3, 4, "Contrastive protein folding", "contrastive loss"),
            ]
        ],
        4,
    )
    assert np.array_equal(again._df, rebuilt._df)
    assert again.docs == 2


def _text(sp: StoredPaper) -> tuple[str, str]:
    return sp.paper.title, sp.paper.abstract


def test_term_index_merges_segments(tmp_path: Path) -> None:
    index = TermIndex(tmp_path, buckets=1 << 12)
    for seq in range(1, MAX_SEGMENTS + 3):
        index.apply([[stored(seq, seq, f"paper number {seq}", "shared words here")]], seq)
    segments = {f.name.split(".")[0] for f in tmp_path.glob("seg-*.npy")}
    assert len(segments) <= MAX_SEGMENTS
    assert index.docs == MAX_SEGMENTS + 2
    assert all(index.vector(pk) is not None for pk in range(1, MAX_SEGMENTS + 3))


# -- chunked syncs and streaming merges, over a real store --------------------------------

WORDS = " ".join(
    [
        "protein folding contrastive loss graph network traffic forecast robot grasping",
        "speech noise beamforming galaxy halo simulation translation language recommender",
        "matrix quantum surface code sentiment review attention segmentation organ scan",
        "density map",
    ]
).split()


def _record(number: int, revision: int = 0) -> Parsed:
    """A paper whose terms depend on its number and revision (so a change changes them)."""
    pick = [WORDS[(number * 7 + revision * 3 + k * 5) % len(WORDS)] for k in range(12)]
    title = " ".join(pick[:4]).capitalize()
    abstract = f"We study {' '.join(pick[4:])} and {pick[0]} {pick[5]} together."
    return Parsed(
        make_paper(id=f"t{number}", title=title, abstract=abstract, source="test"), "test"
    )


@pytest.fixture
def paper_store(database_url: str) -> Iterator[PaperStore]:
    engine = open_engine(database_url)
    store = PaperStore(engine)
    # 60 papers in batches of 5 (one counter each), then changes and deletions, some of
    # papers first written in the first chunk, some deleted after a change.
    for first in range(0, 60, 5):
        store.write_batch([_record(n) for n in range(first, first + 5)])
    store.write_batch([_record(3, 1), _record(41, 1), _record(58, 1)])
    store.write_batch([Deleted("t7", "test"), Deleted("t41", "test"), _record(3, 2)])
    store.write_batch([_record(n, 1) for n in range(20, 32)])  # a counter of 12 papers
    store.write_batch([_record(60), _record(61), Deleted("t59", "test")])
    yield store
    engine.dispose()


def _same_index(a: TermIndex, b: TermIndex, pks: range) -> None:
    """Identical document frequencies, counts and stored terms of every paper."""
    assert a.docs == b.docs
    assert np.array_equal(a._df, b._df)
    for pk, ra, rb in zip(pks, a.raw_many(list(pks)), b.raw_many(list(pks)), strict=True):
        assert (ra is None) == (rb is None), pk
        if ra is not None and rb is not None:
            assert np.array_equal(ra[0], rb[0]) and np.array_equal(ra[1], rb[1]), pk


def _generations(index: TermIndex) -> int:
    return int(index._read_state()["generation"])


def test_a_chunked_sync_equals_one_big_one(paper_store: PaperStore, tmp_path: Path) -> None:
    whole = TermIndex(tmp_path / "whole", buckets=1 << 12)
    assert sync_terms(paper_store, whole) == paper_store.count()  # a row per paper
    chunked = TermIndex(tmp_path / "chunked", buckets=1 << 12)
    sync_terms(paper_store, chunked, chunk=4)
    assert _generations(whole) == 1 and _generations(chunked) > 10
    assert chunked.seq == whole.seq == paper_store.current_seq()
    assert whole.docs == paper_store.count()  # deletions and changes counted once
    pks = range(1, 70)
    _same_index(whole, chunked, pks)
    assert chunked.vector(2) is not None and chunked.vector(8) is None  # t7 (pk 8) deleted
    # A later sync of a few changes, chunked or not, keeps them equal.
    paper_store.write_batch([_record(5, 3), Deleted("t6", "test"), _record(62)])
    sync_terms(paper_store, whole)
    sync_terms(paper_store, chunked, chunk=1)
    _same_index(whole, chunked, pks)
    assert whole.docs == paper_store.count()


@pytest.mark.parametrize("chunk", [5, 1000])  # its first entry committed, or pending
def test_a_paper_rewritten_during_a_sync_is_counted_once(
    paper_store: PaperStore, tmp_path: Path, chunk: int
) -> None:
    """A paper changed after the sync read it comes again (a later counter), possibly in
    a later chunk: its first entry's terms are subtracted, exactly once."""
    index = TermIndex(tmp_path / "index", buckets=1 << 12)

    def changing() -> Iterator[list[StoredPaper]]:
        for i, batch in enumerate(paper_store.changed_since(0, batch_size=7)):
            yield batch
            if i == 1:  # papers of the first batches change, one is deleted
                paper_store.write_batch([_record(0, 5), _record(9, 5), Deleted("t1", "test")])

    index.apply(changing(), paper_store.current_seq(), chunk=chunk)
    fresh = TermIndex(tmp_path / "fresh", buckets=1 << 12)
    sync_terms(paper_store, fresh)
    _same_index(index, fresh, range(1, 70))
    assert index.docs == paper_store.count()


class Killed(Exception):
    pass


@pytest.mark.parametrize("chunk", [2, 8])  # 2: cut inside counters of 5 papers too
def test_a_sync_killed_anywhere_resumes_after_its_last_chunk(
    paper_store: PaperStore, tmp_path: Path, chunk: int
) -> None:
    whole = TermIndex(tmp_path / "whole", buckets=1 << 12)
    sync_terms(paper_store, whole)
    upto = paper_store.current_seq()
    rows = sum(len(b) for b in paper_store.changed_since(0))
    for kill_at in range(30, 46):  # a cycle of chunk cuts, both at and inside counters
        index = TermIndex(tmp_path / f"killed-{kill_at}", buckets=1 << 12)

        def dying(kill_at: int = kill_at) -> Iterator[list[StoredPaper]]:
            for n, batch in enumerate(paper_store.changed_since(0, batch_size=1)):
                if n == kill_at:
                    raise Killed
                yield batch

        with pytest.raises(Killed):
            index.apply(dying(), upto, chunk=chunk)
        # What was committed stands: a watermark inside the sync, with its chunks.
        again = TermIndex(tmp_path / f"killed-{kill_at}", buckets=1 << 12)
        assert 0 < again.seq < upto and 0 < again.docs < paper_store.count()
        # The resumed sync reads from the watermark on, not the whole store again.
        assert sum(len(b) for b in paper_store.changed_since(again.seq)) < rows - 20
        sync_terms(paper_store, again, chunk=chunk)
        assert again.seq == upto
        _same_index(again, whole, range(1, 70))


def test_a_merge_streams_the_same_vectors_and_readers_keep_reading(
    paper_store: PaperStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pieces of 3 papers, so the streaming merge crosses many piece boundaries.
    monkeypatch.setattr(terms_module, "MERGE_PIECE", 3)
    whole = TermIndex(tmp_path / "whole", buckets=1 << 12)
    sync_terms(paper_store, whole)
    index = TermIndex(tmp_path / "index", buckets=1 << 12)
    reader = None
    for seq in range(1, paper_store.current_seq() + 1):
        # One sync per store counter: a segment each, more than MAX_SEGMENTS of them.
        index.apply(
            [[sp for b in paper_store.changed_since(seq) for sp in b if sp.seq == seq]], seq
        )
        if seq == MAX_SEGMENTS - 1:
            reader = TermIndex(tmp_path / "index", buckets=1 << 12)  # a server
            before = reader.raw_many(list(range(1, 70)))
    assert reader is not None
    assert _generations(index) > paper_store.current_seq()  # merged at least once
    assert len(index._state["segments"]) <= MAX_SEGMENTS
    # The reader still reads its generation (files removed by the merge stay mapped)...
    after = reader.raw_many(list(range(1, 70)))
    for x, y in zip(before, after, strict=True):
        assert (x is None) == (y is None)
        if x is not None and y is not None:
            assert np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1])
    # ...and the newest one once it reloads; merged or not, the same terms and df.
    reader.reload()
    _same_index(reader, whole, range(1, 70))
    _same_index(index, whole, range(1, 70))
    # A merged segment holds live papers only: deleted ones were dropped.
    merged = TermIndex(tmp_path / "index", buckets=1 << 12)
    merged._merge()
    assert len(merged._state["segments"]) == 1
    assert len(merged._segments[0].pks) == paper_store.count()
    _same_index(merged, whole, range(1, 70))


def test_a_reader_reports_the_generation_it_has_loaded(tmp_path: Path) -> None:
    # The similar-list cache keys on loaded_seq: a reader that has not reloaded yet
    # must not claim the generation another process just published.
    writer = TermIndex(tmp_path, buckets=1 << 12)
    writer.apply([[stored(1, 1, "Protein folding", "contrastive folds")]], 1)
    reader = TermIndex(tmp_path, buckets=1 << 12)
    writer.apply([[stored(2, 2, "Traffic graphs", "graph networks forecast traffic")]], 2)
    assert (reader.seq, reader.loaded_seq) == (2, 1)
    assert reader.vector(2) is None  # what it reads is still generation 1
    reader.reload()
    assert reader.loaded_seq == 2 and reader.vector(2) is not None


def test_a_chunk_must_hold_a_paper(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk must be at least 1"):
        TermIndex(tmp_path, buckets=1 << 12).apply([], 1, chunk=0)


# -- candidates and the per-process cache (these add a paper: keep them last) ------------


def test_the_bm25_candidate_query_holds_only_the_first_terms(lens: PaperLens) -> None:
    from paperlens.search import engine

    # "robot" is the tenth distinct analysed term: past the served query's first 8.
    text = "Contrastive loss, protein folding, amino acid sequences, embedding space, robot"
    assert engine.SIMILAR_LEXICAL_TERMS < 10

    def found(max_terms: int) -> set[str]:
        query = lens.lexical.terms_query(text, max_terms)
        hits = lens.lexical.search(query, None, limit=20, total="none").hits
        return {sp.paper.id for sp in lens.papers.get_by_pks(pk for pk, _ in hits).values()}

    assert "other-2" in found(64)  # "Reinforcement learning for robot grasping"
    served = found(engine.SIMILAR_LEXICAL_TERMS)
    assert "other-2" not in served and {"twin-a", "twin-b"} <= served


def test_similar_lists_are_cached_and_dropped_when_the_indexes_change(
    lens: PaperLens, tmp_path: Path
) -> None:
    retriever = lens.retriever
    assert lens.retriever is retriever  # one per PaperLens: its caches outlive a request
    # The per-process cache holds lists computed on request: lists `paperlens index`
    # computed ahead (tests/test_neighbours.py) are switched off here, then back on.
    retriever.stored_lists = False
    try:
        _cached_and_dropped(lens, retriever, tmp_path)
    finally:
        retriever.stored_lists = True
    # The list computed ahead for twin-a took in twin-c, stored after it.
    assert "twin-c" in [r.paper.id for r in lens.similar("twin-a", k=5)][:2]


def _cached_and_dropped(lens: PaperLens, retriever: Retriever, tmp_path: Path) -> None:
    from datetime import date

    from paperlens.filters import SearchFilters
    from paperlens.sources.jsonl import JsonlSource

    retriever.similar_cache.clear()
    first = [(r.paper.id, r.score) for r in lens.similar("twin-a", k=5)]
    assert len(retriever.similar_cache) == 1
    assert [(r.paper.id, r.score) for r in lens.similar("twin-a", k=5)] == first
    assert len(retriever.similar_cache) == 1  # served from the cache
    lens.similar("twin-a", k=6)
    lens.similar("twin-a", k=5, filters=SearchFilters(since=date(2024, 1, 1)))
    assert len(retriever.similar_cache) == 3  # k and filters are part of the key
    before = retriever.index_seqs()

    twin_c = {
        "id": "twin-c",
        "title": "Amino acid sequences under a contrastive loss for protein folding",
        "abstract": "We train protein folding models with a contrastive loss over amino acid "
        "sequences, so that sequences of one fold lie close together.",
        "published": "2024-01-03",
    }
    lens.ingest(JsonlSource(write_jsonl(tmp_path / "more.jsonl", [twin_c])))
    lens.index()
    assert retriever.index_seqs() != before
    after = [r.paper.id for r in lens.similar("twin-a", k=5)]
    assert "twin-c" in after[:2]  # a list cached before the change is not served
    assert len(retriever.similar_cache) == 4

"""Retrieval on real papers: each mode, filters, pagination, similar papers, and the
incremental index (new, changed and deleted papers)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from corpus import sample_records, write_jsonl
from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import IndexNotBuilt, PaperLens, PaperNotFound
from paperlens.filters import SearchFilters
from paperlens.search import engine as engine_module
from paperlens.sources.base import Deleted
from paperlens.sources.jsonl import JsonlSource
from paperlens.sources.snapshot import SnapshotSource
from paperlens.text import fold

N_SNAPSHOT, N_ML = 400, 200


@pytest.fixture(scope="module")
def lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperLens]:
    tmp = tmp_path_factory.mktemp("search")
    snap = write_jsonl(tmp / "snap.jsonl", sample_records("arxiv-snapshot-sample", N_SNAPSHOT))
    ml = write_jsonl(tmp / "ml.jsonl", sample_records("ml-abstracts-1000", N_ML))
    with fresh_database(tmp) as url:
        lens = PaperLens(Settings(data_dir=tmp / "data", database_url=url, max_seq_length=128))
        lens.ingest(SnapshotSource(snap))
        lens.ingest(JsonlSource(ml))
        lens.index()
        yield lens
        lens.close()


def ids(results: list) -> list[str]:  # type: ignore[type-arg]
    return [r.paper.id for r in results]


def test_every_paper_is_indexed(lens: PaperLens) -> None:
    stats = lens.stats()
    assert stats["papers"] == stats["lexical_docs"] == stats["vectors"] == stats["embedded"]
    assert stats["papers"] > N_SNAPSHOT


def test_lexical_finds_a_paper_by_its_title_words(lens: PaperLens) -> None:
    found = lens.search("Sparsity-certifying Graph Decompositions", mode="lexical")
    assert ids(found.results)[0] == "0704.0002"
    assert found.total >= len(found.results)


def test_lexical_matches_folded_author_names(lens: PaperLens) -> None:
    found = lens.search("Balazs", mode="lexical")  # stored as "C. Balázs"
    assert "0704.0001" in ids(found.results)


def test_semantic_bridges_vocabulary_mismatch(lens: PaperLens) -> None:
    query = "using a differential equation to evolve a segmentation contour"
    target = "Neural ODEs for Image Segmentation with Level Sets"
    semantic = lens.search(query, mode="semantic", per_page=3)
    assert semantic.results[0].paper.title == target
    lexical = lens.search(query, mode="lexical", per_page=3)
    assert lexical.results[0].paper.title != target  # BM25 has no "ODE" in the query


def test_hybrid_is_the_default_and_fuses_both_lists(lens: PaperLens) -> None:
    found = lens.search("photon pairs produced in hadron collisions")
    assert found.mode.value == "hybrid"
    top = found.results[0]
    assert top.paper.id == "0704.0001"  # "Calculation of prompt diphoton production ..."
    assert top.lexical_rank is not None and top.semantic_rank is not None
    scores = [r.score for r in found.results]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_category_filter(lens: PaperLens, mode: str) -> None:
    found = lens.search(
        "neural network", mode=mode, filters=SearchFilters(categories=("astro-ph",))
    )
    assert found.results
    assert all("astro-ph" in r.paper.categories for r in found.results)


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_archive_filter_takes_every_subcategory(lens: PaperLens, mode: str) -> None:
    found = lens.search(
        "learning", mode=mode, filters=SearchFilters(categories=("cs",)), per_page=20
    )
    assert found.results
    assert all(any(c.split(".")[0] == "cs" for c in r.paper.categories) for r in found.results)


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_date_filter(lens: PaperLens, mode: str) -> None:
    since, until = date(2007, 4, 2), date(2007, 4, 3)
    found = lens.search(
        "quantum field theory",
        mode=mode,
        filters=SearchFilters(since=since, until=until),
        per_page=20,
    )
    assert found.results
    for r in found.results:
        assert r.paper.published is not None
        assert since <= r.paper.published.date() <= until


def test_author_filter_requires_every_word(lens: PaperLens) -> None:
    found = lens.search("", filters=SearchFilters(author="Nadolsky"))
    assert ids(found.results) == ["0704.0001"]
    found = lens.search("", filters=SearchFilters(author="P. M. Nadolsky"))
    assert all(any("nadolsky" in fold(a) for a in r.paper.authors) for r in found.results)
    assert lens.search("", filters=SearchFilters(author="Nadolsky Einstein")).results == []


def test_blank_query_with_filters_browses_newest_first(lens: PaperLens) -> None:
    found = lens.search("", filters=SearchFilters(categories=("hep-th",)), per_page=20)
    dates = [r.paper.published for r in found.results]
    assert dates and all(d is not None for d in dates)
    assert [d.date() for d in dates if d] == sorted((d.date() for d in dates if d), reverse=True)


@pytest.mark.parametrize("mode", ["lexical", "semantic", "hybrid"])
def test_pagination_is_consistent(lens: PaperLens, mode: str) -> None:
    whole = ids(lens.search("magnetic field", mode=mode, per_page=20).results)
    page1 = ids(lens.search("magnetic field", mode=mode, per_page=10, page=1).results)
    page2 = ids(lens.search("magnetic field", mode=mode, per_page=10, page=2).results)
    assert page1 + page2 == whole
    assert not set(page1) & set(page2)


def test_paging_beyond_the_depth_limit_is_refused(lens: PaperLens) -> None:
    with pytest.raises(ValueError, match="depth"):
        lens.search("magnetic", page=200, per_page=10)


def test_hostile_query_syntax_is_harmless(lens: PaperLens) -> None:
    for q in [
        'title:"unbalanced',
        "AND OR NOT (((",
        "pk:1 OR 1=1; DROP TABLE papers",
        "*",
        "\\",
        "\u202e\u0000é",
    ]:
        lens.search(q, mode="lexical")
    assert lens.stats()["papers"] > N_SNAPSHOT


def test_similar_excludes_the_paper_and_stays_on_topic(lens: PaperLens) -> None:
    base = lens.paper("0704.0001")  # hep-ph: diphoton production at hadron colliders
    similar = lens.similar("0704.0001v2", k=10)
    assert len(similar) == 10
    assert "0704.0001" not in ids(similar)
    same_archive = sum(
        r.paper.categories[0].startswith("hep") for r in similar if r.paper.categories
    )
    assert same_archive >= 7, [r.paper.categories for r in similar]
    assert base.paper.id == "0704.0001"
    cosines = [r.score for r in similar]
    assert cosines == sorted(cosines, reverse=True)


def test_similar_accepts_urls_and_rejects_unknown_ids(lens: PaperLens) -> None:
    assert lens.similar("https://arxiv.org/abs/0704.0002v1", k=3)
    with pytest.raises(PaperNotFound):
        lens.similar("0704.9999")


def test_filtered_dense_search_is_exact_when_few_pass(lens: PaperLens) -> None:
    filters = SearchFilters(categories=("gr-qc",))
    vector = lens.retriever.embed_query("black hole horizon thermodynamics")
    got = lens.retriever.dense(vector, filters, 5)
    candidates, _ = lens.lexical.filtered_pks(filters, 10_000)
    found, matrix = lens.vectors.get_many(candidates)
    expected = [found[i] for i in np.argsort(-(matrix @ vector))[:5]]
    assert [pk for pk, _ in got] == expected


def test_filtered_dense_search_overfetches_when_many_pass(
    lens: PaperLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    filters = SearchFilters(categories=("cs",))
    vector = lens.retriever.embed_query("image segmentation")
    exact = lens.retriever.dense(vector, filters, 10)
    monkeypatch.setattr(engine_module, "EXACT_LIMIT", 5)  # force the HNSW path
    approx = lens.retriever.dense(vector, filters, 10)
    assert len(approx) == 10
    keep = lens.lexical.passing([pk for pk, _ in approx], filters)
    assert keep == {pk for pk, _ in approx}
    assert len({pk for pk, _ in exact} & {pk for pk, _ in approx}) >= 9


@pytest.mark.parametrize("category", ["cs", "gr-qc"])  # a large and a small category
@pytest.mark.parametrize("query", ["image segmentation", "black hole horizon"])
def test_the_overfetch_path_equals_the_exact_path(
    lens: PaperLens, monkeypatch: pytest.MonkeyPatch, category: str, query: str
) -> None:
    """Candidates filtered before they are re-scored exactly: the HNSW path's top 10 is
    the exact path's (scores of every passing paper)."""
    filters = SearchFilters(categories=(category,))
    vector = lens.retriever.embed_query(query)
    exact = lens.retriever.dense(vector, filters, 10)
    monkeypatch.setattr(engine_module, "EXACT_LIMIT", 5)  # force the HNSW path
    approx = lens.retriever.dense(vector, filters, 10)
    assert [pk for pk, _ in approx] == [pk for pk, _ in exact]
    assert [s for _, s in approx] == pytest.approx([s for _, s in exact], abs=1e-5)


def test_index_is_incremental_for_new_changed_and_deleted_papers(
    lens: PaperLens, tmp_path: Path
) -> None:
    new = {
        "id": "2106.09685",
        "title": "LoRA: Low-Rank Adaptation of Large Language Models",
        "abstract": "We propose Low-Rank Adaptation, or LoRA, which freezes the pretrained model "
        "weights and injects trainable rank decomposition matrices into each layer.",
        "categories": "cs.CL cs.LG",
    }
    lens.ingest(JsonlSource(write_jsonl(tmp_path / "new.jsonl", [new])))
    report = lens.index()
    assert report.embedded == 1 and report.lexical_docs == 1
    assert (
        ids(lens.search("low-rank adaptation frozen weights", mode="semantic").results)[0]
        == "2106.09685"
    )

    changed = {**new, "id": "2106.09685v2", "title": "Zyxquux Adapters", "published": "2021-06-17"}
    lens.ingest(JsonlSource(write_jsonl(tmp_path / "changed.jsonl", [changed])))
    assert lens.index().embedded == 1
    assert ids(lens.search("zyxquux", mode="lexical").results) == ["2106.09685"]

    lens.papers.write_batch([Deleted("2106.09685", "test")])
    lens.index()
    for mode in ("lexical", "semantic", "hybrid"):
        assert "2106.09685" not in ids(lens.search("zyxquux adapters low-rank", mode=mode).results)
    with pytest.raises(PaperNotFound):
        lens.paper("2106.09685")
    again = lens.index()
    assert (again.embedded, again.lexical_docs, again.vectors) == (0, 0, 0)


def test_open_vectors_maps_or_loads_the_saved_index(lens: PaperLens) -> None:
    """``open_vectors`` reopens the saved usearch graph mapped or loaded, and the lens then
    searches with it; it refuses pgvector and a model with no saved index."""
    fresh = PaperLens(lens.settings)
    try:
        if fresh.vector_backend != "usearch":
            with pytest.raises(ValueError, match="usearch"):
                fresh.open_vectors()
            return
        pk = next(iter(lens.papers.changed_since(0)))[0].pk
        vector = lens.vectors.get(pk)
        assert vector is not None
        expected = lens.vectors.search(vector, 10)
        for view in (True, False):
            index = fresh.open_vectors(view=view)
            assert (index.view, index.path) == (view, fresh.vector_path)
            assert fresh.vectors is index
            assert index.search(vector, 10) == expected
    finally:
        fresh.close()
    other = PaperLens(lens.settings.model_copy(update={"max_seq_length": 64}))
    try:
        with pytest.raises(IndexNotBuilt):
            other.open_vectors()
    finally:
        other.close()

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
    # pgvector scores halfvec distances in half precision (differences ~3e-5 seen);
    # the exact path multiplies the float16 rows in float32.
    assert [s for _, s in approx] == pytest.approx([s for _, s in exact], abs=1e-4)


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


# -- totals: estimated ("about N") unless counting is needed ----------------------------


def test_unfiltered_lexical_total_is_an_estimate_near_the_count(lens: PaperLens) -> None:
    found = lens.search("magnetic field of the stars", mode="lexical")
    counted = lens.lexical.search("magnetic field of the stars", total="exact")
    assert counted.exact and counted.total > len(found.results) == 10
    assert not found.total_is_exact
    served = lens.lexical.search("magnetic field of the stars")
    assert not served.exact
    # At least the commonest looked-up word's documents (any word matches; "of" and
    # "the" are not looked up), within 2x of the count.
    searcher = lens.lexical.index.searcher()
    assert served.total >= searcher.doc_freq("abstract", "field")
    assert served.total < searcher.doc_freq("abstract", "the")
    assert counted.total / 2 <= served.total <= counted.total * 2
    assert found.total == served.total  # not cut at the paging depth


def test_a_total_beyond_the_paging_depth_is_shown_whole_and_pages_stop_at_the_depth(
    lens: PaperLens, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paperlens.core as core_module

    monkeypatch.setattr(engine_module, "MAX_DEPTH", 20)
    monkeypatch.setattr(core_module, "MAX_DEPTH", 20)
    found = lens.search("magnetic field of the stars", mode="lexical", per_page=10)
    assert found.total > 20  # "about N" says how many match, not how deep paging goes
    assert found.pages == 2
    assert len(lens.search("magnetic field of the stars", mode="lexical", page=2).results) == 10
    with pytest.raises(ValueError, match="depth"):
        lens.search("magnetic field of the stars", mode="lexical", page=3)


def test_a_short_page_gives_an_exact_total_for_free(lens: PaperLens) -> None:
    found = lens.search("Sparsity-certifying pebble", mode="lexical")
    assert found.total_is_exact
    assert (
        found.total
        == len(found.results)
        == lens.lexical.search("Sparsity-certifying pebble", total="exact").total
    )


def test_a_page_past_the_end_is_counted(lens: PaperLens) -> None:
    counted = lens.lexical.search("magnetic", total="exact").total
    assert 10 < counted < 500
    past = lens.search("magnetic", mode="lexical", page=counted // 10 + 3, per_page=10)
    assert past.results == []
    assert past.total_is_exact and past.total == counted
    last = lens.search("magnetic", mode="lexical", page=-(-counted // 10), per_page=10)
    assert last.total_is_exact and last.total == counted  # the last page is short (or full)


def test_filtered_lexical_totals_stay_exact(lens: PaperLens) -> None:
    filters = SearchFilters(categories=("hep-ph",))
    found = lens.search("the", mode="lexical", filters=filters)
    assert len(found.results) == 10
    assert found.total_is_exact
    assert found.total == lens.lexical.search("the", filters, total="exact").total
    assert lens.search("", filters=filters).total_is_exact  # browsing counts too


def test_hybrid_totals_are_exact_and_a_cached_vector_changes_nothing(lens: PaperLens) -> None:
    lens.retriever.query_vectors.clear()
    cold = lens.search("magnetic field", mode="hybrid")
    warm = lens.search("magnetic field", mode="hybrid")
    assert cold.total_is_exact and warm.total_is_exact
    assert ids(cold.results) == ids(warm.results)
    assert [r.score for r in cold.results] == [r.score for r in warm.results]


def test_query_vectors_are_cached_per_model_and_normalised_text(lens: PaperLens) -> None:
    retriever = lens.retriever
    retriever.query_vectors.clear()
    first = retriever.embed_query("dark  matter\tgalaxy ")
    again = retriever.embed_query("dark matter galaxy")
    assert again is first and len(retriever.query_vectors) == 1
    assert np.allclose(first, lens.encoder.encode(["dark matter galaxy"])[0], atol=1e-6)
    other = engine_module.QueryVectors.key("another-model", "dark matter galaxy")
    assert retriever.query_vectors.get(other) is None
    small = engine_module.QueryVectors(size=2)
    for i, text in enumerate(["a", "b", "c"]):
        small.put(("m", text), np.full(3, i, dtype=np.float32))
    assert small.get(("m", "a")) is None and len(small) == 2


@pytest.mark.parametrize(
    "query",
    [
        "magnetic field of the stars",
        "the structure of the structure",  # the parser counts a repeated word once
        "self-supervised state-of-the-art x.y",  # split words are phrases, as parsed
        "Balázs graph decompositions",
    ],
)
def test_plain_queries_are_built_flat_and_score_as_parsed(lens: PaperLens, query: str) -> None:
    """...as the parser scores the words looked up (function words are not)."""
    from paperlens.index.lexical import DEFAULT_FIELDS, TITLE_BOOST

    lexical = lens.lexical
    flat = lexical._plain_query(query)
    assert flat is not None
    words = lexical._content_words(query)
    assert "of" not in words and "the" not in words
    parsed, _ = lexical.index.parse_query_lenient(
        " ".join(words),
        default_field_names=list(DEFAULT_FIELDS),
        field_boosts={"title": TITLE_BOOST},
    )
    searcher = lexical.index.searcher()
    want = searcher.search(parsed, 20, count=True)
    got = searcher.search(flat, 20, count=True)
    assert got.count == want.count  # type: ignore[attr-defined]
    assert [round(s, 3) for s, _ in got.hits] == [round(s, 3) for s, _ in want.hits]


@pytest.mark.parametrize(
    "query",
    ['"a phrase"', "don't", "+must word", "-not this", "title:graph", "a AND b", "x^2", "(a)"],
)
def test_queries_with_syntax_go_to_the_parser(lens: PaperLens, query: str) -> None:
    assert lens.lexical._plain_query(query) is None

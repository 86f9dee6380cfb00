"""The BM25 half of a query beside its dense half (``Settings.search_threads``): the same
hits as in turn, on a real index; the per-process worker pool; the reasons of "similar"
read from the term index equal those analysed from the text."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError

from conftest import HOSTILE_ID, WebCorpus
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.filters import SearchFilters
from paperlens.search.engine import Mode, Ranking, SidePool, side_pool

QUERIES = [
    "neural networks",
    "graph neural network for molecules",
    "quantum error correction",
    '"language model" -vision',  # tantivy syntax: parsed, not built flat
    "title:transformer attention",
    "self-supervised contrastive learning",
    "!!!",  # no words
    "zebrafish",  # few or no matches
]


@pytest.fixture
def lens(indexed_lens: PaperLens) -> Iterator[PaperLens]:
    """The session's indexed lens, its thread setting put back afterwards."""
    before = indexed_lens.retriever.threads
    yield indexed_lens
    indexed_lens.retriever.threads = before


def ranking(lens: PaperLens, threads: int, call: Any) -> Any:
    lens.retriever.threads = threads
    lens.retriever.query_vectors.clear()
    lens.retriever.similar_cache.clear()
    return call()


def hits(r: Ranking) -> list[tuple[int, float, int | None, int | None]]:
    return [(h.pk, h.score, h.lexical_rank, h.semantic_rank) for h in r.hits]


def test_the_default_runs_bm25_beside_the_dense_half(indexed_lens: PaperLens) -> None:
    assert Settings().search_threads == 1
    assert indexed_lens.retriever.threads == indexed_lens.settings.search_threads


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "filters",
    [SearchFilters(), SearchFilters(categories=("cs",)), SearchFilters(categories=("math.AG",))],
    ids=["none", "large-category", "small-category"],
)
def test_hybrid_hits_are_the_same_beside_and_in_turn(
    lens: PaperLens, query: str, filters: SearchFilters
) -> None:
    assert lens.lexical.count(filters) > 0
    for page in (0, 10):

        def search(offset: int = page) -> Ranking:
            return lens.retriever.search(query, Mode.HYBRID, filters, limit=10, offset=offset)

        in_turn = ranking(lens, 0, search)
        for threads in (1, 2):
            beside = ranking(lens, threads, search)
            assert hits(beside) == hits(in_turn)
            assert (beside.total, beside.exact) == (in_turn.total, in_turn.exact)


def test_similar_lists_are_the_same_beside_and_in_turn(
    lens: PaperLens, web_corpus: WebCorpus
) -> None:
    ids = [*web_corpus.snapshot_ids[::10], HOSTILE_ID]
    compared = 0
    for paper_id in ids:
        for filters in (None, SearchFilters(categories=("cs",))):
            in_turn = ranking(lens, 0, lambda p=paper_id, f=filters: lens.similar(p, 10, f))
            beside = ranking(lens, 1, lambda p=paper_id, f=filters: lens.similar(p, 10, f))
            assert [(r.pk, r.score, r.reason) for r in beside] == [
                (r.pk, r.score, r.reason) for r in in_turn
            ]
            compared += len(in_turn)
    assert compared > 100  # the lists were not empty


def test_many_requests_at_once_get_their_own_hits(lens: PaperLens) -> None:
    """More requests than workers: those finding every worker busy run both halves
    themselves; each still gets exactly its own answer."""
    expected = {q: hits(ranking(lens, 0, lambda q=q: lens.retriever.search(q))) for q in QUERIES}
    lens.retriever.threads = 1
    with ThreadPoolExecutor(8) as requests:
        got = list(requests.map(lambda q: (q, hits(lens.retriever.search(q))), QUERIES * 6))
    for query, found in got:
        assert found == expected[query]


def test_a_side_pool_runs_a_call_on_a_worker_or_else_on_the_caller() -> None:
    pool = SidePool(1)

    def on_worker() -> threading.Thread:
        begun = threading.Event()

        def where() -> threading.Thread:
            begun.set()
            return threading.current_thread()

        pending = pool.start(where)
        assert begun.wait(10)
        return pending()

    worker = on_worker()
    assert worker is not threading.current_thread()
    assert worker.name.startswith("paperlens-search")
    busy, release = threading.Event(), threading.Event()

    def hold() -> str:
        busy.set()
        release.wait(10)
        return "held"

    held = pool.start(hold)
    assert busy.wait(10)
    # The one worker is busy: the call comes back to run on the caller, at once.
    assert pool.start(threading.current_thread)() is threading.current_thread()
    release.set()
    assert held() == "held"
    assert on_worker() is worker  # the worker is idle again


def test_a_call_not_begun_when_its_result_is_asked_runs_on_the_caller() -> None:
    """Asked at once, a call is either already running on the worker or taken back by
    the caller; either way its answer is right and the worker is free afterwards."""
    pool = SidePool(1)
    ran_on = {pool.start(threading.current_thread)() for _ in range(200)}
    assert ran_on <= {threading.current_thread(), *threading.enumerate()}
    assert all(pool.start(lambda i=i: i * i)() == i * i for i in range(200))
    assert pool._idle.acquire(blocking=False)  # every path gave the worker back


def test_a_failure_on_a_worker_reaches_the_caller() -> None:
    def fail() -> None:
        raise ValueError("bad query")

    with pytest.raises(ValueError, match="bad query"):
        SidePool(1).start(fail)()


def test_one_pool_per_process_and_size_and_none_for_zero() -> None:
    assert side_pool(0) is None
    assert side_pool(1) is side_pool(1)
    assert side_pool(2) is not side_pool(1)
    with pytest.raises(ValueError, match="at least one thread"):
        SidePool(0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_makes_its_own_pool() -> None:
    parent = side_pool(1)
    assert parent is not None
    parent.start(lambda: None)()  # the parent's worker thread exists
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its parent's worker thread does not exist here
        ok = False
        try:
            child = side_pool(1)
            ok = child is not None and child is not parent and child.start(lambda: 7)() == 7
        finally:
            os.write(write, b"1" if ok else b"0")
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"1"


@pytest.mark.parametrize("value", [-1, 65, "many"])
def test_search_threads_must_be_a_small_count(value: Any) -> None:
    with pytest.raises(ValidationError, match="search_threads"):
        Settings(search_threads=value)


def test_reasons_read_from_the_index_equal_reasons_from_the_text(
    indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    terms = indexed_lens.terms
    compared = 0
    for paper_id in web_corpus.snapshot_ids[::15]:
        stored = indexed_lens.paper(paper_id)
        own = (stored.paper.title, stored.paper.abstract)
        results = indexed_lens.similar(paper_id, 10)
        others = [(r.paper.title, r.paper.abstract) for r in results]
        from_text = terms.reasons(own, others)
        assert terms.reasons(own, others, pks=[r.pk for r in results]) == from_text
        compared += sum(1 for r in from_text if r)
    assert compared > 20  # most lists name shared terms


def test_reasons_of_a_paper_without_stored_terms_come_from_its_text(
    indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    terms = indexed_lens.terms
    stored = indexed_lens.paper(web_corpus.snapshot_ids[0])
    own = (stored.paper.title, stored.paper.abstract)
    unindexed = (stored.paper.title, "")  # not a stored paper: no pk holds these terms
    assert terms.reasons(own, [unindexed], pks=[-1]) == terms.reasons(own, [unindexed])
    assert terms.reasons(own, [unindexed], pks=[-1])[0]  # the title's terms are shared
    with pytest.raises(ValueError, match="one pk for each"):
        terms.reasons(own, [unindexed, unindexed], pks=[stored.pk])

"""Retrieval over the two indexes: lexical, semantic, hybrid, and similar papers.

Everything here works in store ``pk``s; :mod:`paperlens.core` turns them into papers.

Filtered dense search: the lexical index knows which papers pass a filter. When few
do (at most :data:`EXACT_LIMIT`), their vectors are scored exactly, which is both
faster and exact; when many do, the HNSW index is asked for more neighbours than
needed and those failing the filter are dropped.

Totals. A lexical search without filters does not count its matches (counting defeats
tantivy's pruning; :mod:`paperlens.index.lexical`): its total is an estimate unless the
page came back short, and ``Ranking.exact`` says so, for pages to print "about N". With
a filter the count stays exact (a filtered list is one a reader pages to its end).

Query vectors are kept in a small LRU (:class:`QueryVectors`): paging, "most cited"
(which re-runs the query page by page) and repeated queries skip the model.

Two halves at once. Hybrid search runs its BM25 half on a worker thread while the
caller's thread encodes the query and searches HNSW; "similar" runs its BM25 candidate
query beside the dense search the same way. tantivy's ``Searcher.search`` releases the
GIL (two threads of BM25 queries took 0.51 of the time of the same queries one after
the other), onnxruntime's ``run`` does too; usearch's ``Index.search`` holds it (0.97),
which is why the dense half stays on the caller (one side releasing the GIL is enough:
BM25 beside encode + HNSW took 0.49-0.73 of the time in turn; bench/README.md,
"hybridlat.py"). The workers are one small pool per process (:class:`SidePool`,
``Settings.search_threads``; 0 runs both halves in turn on the caller's thread); when
every worker is busy (many requests at once) the caller runs the half itself, so a
query never waits for a worker. Either way a query's hits are the same: each half is
computed from the same inputs, and the fusion after both is unchanged. (Encoding on a
worker beside BM25 on the caller was measured slower on 2 busy cores in an earlier
design: the hand-over waited for a core.)

"Similar" lists computed ahead. ``paperlens index`` stores each paper's unfiltered list
(:mod:`paperlens.search.neighbours`, :mod:`paperlens.index.neighbours`), and
:meth:`Retriever.similar` serves it from there: a page reads one row instead of running
two searches. Other lists (filtered, excluding papers, longer, or of a paper not yet
reached) are computed on request and kept in a per-process LRU (:class:`SimilarCache`)
keyed by everything they depend on, the indexes' seqs included, so a paper page viewed
again skips the retrieval and a re-index retires the old lists. Both caches live on the
one ``Retriever`` a ``PaperLens`` holds.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np

from paperlens.embedding import Encoder
from paperlens.errors import Unavailable
from paperlens.filters import SearchFilters
from paperlens.index.lexical import LexicalHits, LexicalIndex, TotalMode
from paperlens.index.neighbours import WIDTH, NeighbourIndex
from paperlens.index.terms import MAX_DF, TITLE_WEIGHT, TermIndex
from paperlens.index.vector import DenseIndex, Vector
from paperlens.search.fusion import reciprocal_rank_fusion

#: Deepest result a search pages to.
MAX_DEPTH = 1000
#: Filtered dense search scores candidates exactly up to this many.
EXACT_LIMIT = 20_000
#: Each list fused by hybrid search holds at least this many.
FUSION_DEPTH = 100
#: Most neighbours asked of HNSW for one filtered query.
MAX_OVERFETCH = 10_000
#: RRF constant of hybrid search: 10 (rather than the paper's 60) was chosen in every
#: fold of the cross-validation on our keyword query set (bench/README.md, "search.py").
HYBRID_RRF_K = 10
#: "Similar papers" re-scores this many dense neighbours (at least) by the fused score.
SIMILAR_CANDIDATES = 100
#: Bumped when the "similar" ranking changes in a way the constants below do not show:
#: lists stored under an older method are computed again (:meth:`Retriever.lists_key`).
LISTS_METHOD = 1
#: Weight of the dense cosine in the fused "similar" score; the tf-idf cosine has the
#: rest (chosen by cross-validation on CSFCube dev: bench/README.md, "Similar papers").
SIMILAR_DENSE_WEIGHT = 0.2
#: The BM25 query that proposes more "similar" candidates holds the paper's first this
#: many distinct analysed terms (title first); 0 asks BM25 nothing. 8 ranks as well as
#: 64 on CSFCube dev and costs a quarter as much at 200,000 papers (bench/README.md,
#: "similar_candidates.py").
SIMILAR_LEXICAL_TERMS = 8
#: How many BM25 matches of that query join the candidates (at least ``k``).
SIMILAR_LEXICAL_CANDIDATES = 100
#: Query vectors kept by :class:`QueryVectors` (384 floats each: about 1.5 MB in all).
QUERY_CACHE_SIZE = 1024
#: Served "similar" lists kept by :class:`SimilarCache` (a list of ~15 hits plus the
#: paper's text in the key: a few KB each, so a few MB in all).
SIMILAR_CACHE_SIZE = 2048

T = TypeVar("T")


class Mode(StrEnum):
    LEXICAL = "lexical"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class Hit:
    pk: int
    score: float
    lexical_rank: int | None = None
    semantic_rank: int | None = None


@dataclass(frozen=True, slots=True)
class Ranking:
    hits: list[Hit]  # the requested page
    total: int  # results (lexical: all matching, maybe estimated; dense: ranked, up to MAX_DEPTH)
    seconds: float = 0.0
    exact: bool = True  # whether ``total`` was counted (False: an estimate, "about")


class QueryVectors:
    """A thread-safe LRU of query vectors keyed by (encoder key, query with its
    whitespace collapsed): vectors of different models never mix."""

    def __init__(self, size: int = QUERY_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], Vector] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, query: str) -> tuple[str, str]:
        return model, " ".join(query.split())

    def get(self, key: tuple[str, str]) -> Vector | None:
        with self._lock:
            vector = self._items.get(key)
            if vector is not None:
                self._items.move_to_end(key)
            return vector

    def put(self, key: tuple[str, str], vector: Vector) -> None:
        with self._lock:
            self._items[key] = vector
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


#: What a served "similar" list depends on: the paper, k, filters, exclusions, the
#: paper's text, the candidate settings and the seq of every index it read.
SimilarKey = tuple[object, ...]


class SimilarCache:
    """A thread-safe LRU of served "similar" lists (a paper page viewed twice, "for you"
    and digests asking for the same paper). The key holds each index's seq
    (:meth:`Retriever.index_seqs`), so once ``paperlens index`` publishes a change and
    the process picks it up, old lists are never served again (they age out)."""

    def __init__(self, size: int = SIMILAR_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[SimilarKey, tuple[Hit, ...]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: SimilarKey) -> tuple[Hit, ...] | None:
        with self._lock:
            hits = self._items.get(key)
            if hits is not None:
                self._items.move_to_end(key)
            return hits

    def put(self, key: SimilarKey, hits: tuple[Hit, ...]) -> None:
        with self._lock:
            self._items[key] = hits
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class SidePool:
    """Worker threads that run one half of a query beside the caller's thread.

    :meth:`start` hands a call to an idle worker and returns a function that gives its
    result; with no idle worker it returns the call itself, which the caller then runs
    in turn (a busy process degrades to the sequential path, never queues a half behind
    other requests). If the worker has not begun the call by the time the caller asks
    for its result (no core was free for it), the caller takes it back and runs it, so
    the hand-over never costs more than a thread wake-up. A started call's result is
    never needed for it to finish: a caller that fails before reading it just drops it.
    One pool per process and size (:func:`side_pool`), made on first use; its threads
    start on the first call."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("a SidePool needs at least one thread")
        self.threads = threads
        self._idle = threading.Semaphore(threads)
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="paperlens-search")

    def start(self, call: Callable[[], T]) -> Callable[[], T]:
        if not self._idle.acquire(blocking=False):
            return call

        def run() -> T:
            try:
                return call()
            finally:
                self._idle.release()

        try:
            future = self._executor.submit(run)
        except RuntimeError:  # the interpreter is shutting down
            self._idle.release()
            return call

        def result() -> T:
            if future.cancel():
                # Not started yet (on a busy box the worker may wait for a core): the
                # caller, running already, does it rather than wait for the worker.
                self._idle.release()
                return call()
            return future.result()

        return result


_side_pools: dict[int, SidePool] = {}
_side_pools_lock = threading.Lock()


def side_pool(threads: int) -> SidePool | None:
    """This process's :class:`SidePool` of ``threads`` workers (``None`` for 0: run in
    turn). A forked child starts with none (its parent's threads do not exist in it)."""
    if threads <= 0:
        return None
    pool = _side_pools.get(threads)
    if pool is None:
        with _side_pools_lock:
            pool = _side_pools.setdefault(threads, SidePool(threads))
    return pool


def _forget_side_pools() -> None:
    global _side_pools_lock
    _side_pools.clear()
    _side_pools_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_side_pools)


class IndexNotBuilt(Unavailable):
    pass


class Retriever:
    def __init__(
        self,
        lexical: LexicalIndex,
        vectors: Callable[[], DenseIndex],
        encoder: Callable[[], Encoder],
        terms: Callable[[], TermIndex | None] = lambda: None,
        threads: int = 0,
        neighbours: Callable[[], NeighbourIndex | None] = lambda: None,
    ) -> None:
        self.lexical = lexical
        self._vectors = vectors
        self._encoder = encoder
        self._terms = terms
        self._neighbours = neighbours
        #: Workers that run a query's BM25 half beside its dense half (the process's
        #: :func:`side_pool` of that size; 0: both in turn on the caller's thread). May
        #: be changed at any time (benchmarks switch it); results do not depend on it.
        self.threads = threads
        #: Serve lists ``paperlens index`` computed ahead (benchmarks switch it off to
        #: time the computation a request would do otherwise).
        self.stored_lists = True
        self.query_vectors = QueryVectors()
        self.similar_cache = SimilarCache()

    def _beside(self, call: Callable[[], T]) -> Callable[[], T]:
        """``call`` started on a worker when one is idle; the returned function gives
        its result (running it there and then when no worker took it)."""
        pool = side_pool(self.threads)
        return call if pool is None else pool.start(call)

    @property
    def vectors(self) -> DenseIndex:
        return self._vectors()

    # -- modes ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        mode: Mode = Mode.HYBRID,
        filters: SearchFilters | None = None,
        limit: int = 10,
        offset: int = 0,
    ) -> Ranking:
        started = time.perf_counter()
        filters = filters or SearchFilters()
        if offset + limit > MAX_DEPTH:
            raise ValueError(f"results are available to depth {MAX_DEPTH}; ask for less")
        exact = True
        if mode is Mode.LEXICAL:
            count: TotalMode = "exact" if filters.active else "estimate"
            found = self.lexical.search(query, filters, limit=limit, offset=offset, total=count)
            hits = [
                Hit(pk, score, lexical_rank=offset + i + 1)
                for i, (pk, score) in enumerate(found.hits)
            ]
            # Every match, counted or estimated ("about N"); paging stops at MAX_DEPTH.
            total, exact = found.total, found.exact
        elif mode is Mode.SEMANTIC:
            ranked = self.dense(self.embed_query(query), filters, offset + limit)
            hits = [Hit(pk, score, semantic_rank=i + 1) for i, (pk, score) in enumerate(ranked)][
                offset:
            ]
            total = self._dense_total(filters, len(ranked), offset + limit)
        else:
            hits, total = self._hybrid(query, filters, limit, offset)
        return Ranking(hits, total, time.perf_counter() - started, exact)

    def browse(self, filters: SearchFilters, limit: int = 10, offset: int = 0) -> Ranking:
        """No query: the newest papers passing ``filters``."""
        started = time.perf_counter()
        if offset + limit > MAX_DEPTH:
            raise ValueError(f"results are available to depth {MAX_DEPTH}; ask for less")
        found = self.lexical.browse(filters, limit, offset)
        hits = [Hit(pk, 0.0) for pk, _ in found.hits]
        return Ranking(hits, min(found.total, MAX_DEPTH), time.perf_counter() - started)

    def _dense_total(self, filters: SearchFilters, got: int, wanted: int) -> int:
        """Every paper is a dense result; how many could be paged through."""
        if got < wanted:
            return got
        if not filters.active:
            return min(len(self.vectors), MAX_DEPTH)
        return min(self.lexical.count(filters), MAX_DEPTH)

    def _hybrid(
        self, query: str, filters: SearchFilters, limit: int, offset: int
    ) -> tuple[list[Hit], int]:
        depth = max(FUSION_DEPTH, offset + limit)
        # Parsed here: the worker then holds the GIL only briefly, and the BM25 search
        # itself (tantivy, GIL released) overlaps the encoding and HNSW below.
        parsed = self.lexical.text_query(query)
        searched = parsed if parsed is not None else query
        lexical_hits = self._beside(
            lambda: self.lexical.search(searched, filters, limit=depth, total="none")
        )
        dense = self.dense(self.embed_query(query), filters, depth)
        lexical = lexical_hits()
        lex_rank = {pk: i + 1 for i, (pk, _s) in enumerate(lexical.hits)}
        sem_rank = {pk: i + 1 for i, (pk, _s) in enumerate(dense)}
        fused = reciprocal_rank_fusion(
            [[pk for pk, _ in lexical.hits], [pk for pk, _ in dense]], k=HYBRID_RRF_K
        )
        hits = [
            Hit(pk, score, lex_rank.get(pk), sem_rank.get(pk))
            for pk, score in fused[offset : offset + limit]
        ]
        return hits, min(len(fused), MAX_DEPTH)

    def similar(
        self,
        pk: int,
        k: int = 10,
        filters: SearchFilters | None = None,
        exclude: set[int] | None = None,
        text: str | None = None,
    ) -> list[Hit]:
        """The papers most like paper ``pk``, excluding itself and ``exclude``.

        Candidates: its :data:`SIMILAR_CANDIDATES` (or ``k``) nearest dense neighbours
        plus, given the paper's ``text``, the :data:`SIMILAR_LEXICAL_CANDIDATES` (or
        ``k``) BM25 matches of its first :data:`SIMILAR_LEXICAL_TERMS` terms (the BM25
        query is the costly part; more terms ranked no better on CSFCube dev, bench/
        README.md "similar_candidates.py"); they are ranked by
        ``SIMILAR_DENSE_WEIGHT * dense cosine + (1 - SIMILAR_DENSE_WEIGHT) * tf-idf
        cosine`` (:mod:`paperlens.index.terms`). Dense order alone while the paper has no
        term vector yet. ``Hit.score`` is the fused score; the ranks are each side's
        rank among the candidates. The BM25 query runs beside the dense search on a
        worker (:attr:`threads`; the list is the same either way).

        An unfiltered list of at most :data:`~paperlens.index.neighbours.WIDTH` papers
        is read from the lists ``paperlens index`` computed ahead when the paper has one
        (:meth:`stored_similar`; the same computation, done earlier). Others are kept
        in :attr:`similar_cache`, keyed by everything they depend on (including
        :meth:`index_seqs`); a hit returns a copy."""
        filters = filters or SearchFilters()
        if text and not filters.active and not exclude and k <= WIDTH:
            stored = self.stored_similar(pk, k)
            if stored is not None:
                return stored
        key: SimilarKey = (
            pk,
            k,
            filters,
            frozenset(exclude or ()),
            text or "",
            SIMILAR_CANDIDATES,
            SIMILAR_LEXICAL_TERMS,
            SIMILAR_LEXICAL_CANDIDATES,
            self.index_seqs(),
        )
        cached = self.similar_cache.get(key)
        if cached is not None:
            return list(cached)
        hits = self._similar(pk, k, filters, exclude or set(), text)
        self.similar_cache.put(key, tuple(hits))
        return hits

    def lists_key(self) -> str:
        """What a stored "similar" list depends on besides the indexes' contents: the
        model and every constant of the ranking. Lists stored under another key are
        not served (and ``paperlens index`` computes them again)."""
        return "|".join(
            str(part)
            for part in (
                LISTS_METHOD,
                self.vectors.model,
                SIMILAR_CANDIDATES,
                SIMILAR_LEXICAL_TERMS,
                SIMILAR_LEXICAL_CANDIDATES,
                SIMILAR_DENSE_WEIGHT,
                TITLE_WEIGHT,
                MAX_DF,
            )
        )

    def stored_similar(self, pk: int, k: int) -> list[Hit] | None:
        """Paper ``pk``'s first ``k`` similar papers as ``paperlens index`` stored them,
        or ``None`` when it stored none (under :meth:`lists_key`)."""
        lists = self._neighbours() if self.stored_lists else None
        if lists is None or not len(lists):
            return None
        entries = lists.get(pk, self.lists_key())
        if entries is None:
            return None
        return [Hit(p, score, lex, sem) for p, score, lex, sem in entries[:k]]

    def compute_similar(self, pk: int, k: int, text: str, *, beside: bool = True) -> list[Hit]:
        """Paper ``pk``'s unfiltered list computed now (neither stored lists nor the
        cache): what ``paperlens index`` stores. ``beside=False`` runs the BM25 half in
        the calling thread, for callers that keep every core busy with lists already."""
        return self._similar(pk, k, SearchFilters(), set(), text, beside=beside)

    def index_seqs(self) -> tuple[object, ...]:
        """The model and the store seq each index is current to: any index change
        (``paperlens index``, picked up by this process) changes it. The term vectors'
        seq is the generation this process has *loaded*, not the newest on disk: a list
        computed from old term data must not be kept under a newer generation's key."""
        vectors, terms = self.vectors, self._terms()
        return (
            vectors.model,
            vectors.seq,
            self.lexical.seq,
            terms.loaded_seq if terms is not None else -1,
        )

    def _similar(
        self,
        pk: int,
        k: int,
        filters: SearchFilters,
        exclude: set[int],
        text: str | None,
        *,
        beside: bool = True,
    ) -> list[Hit]:
        terms = self._terms()
        query = terms.vector(pk) if terms is not None else None
        bm25: Callable[[], LexicalHits] | None = None
        if terms is not None and query is not None and text and SIMILAR_LEXICAL_TERMS > 0:
            # Papers worded alike that the dense model placed further away: asked of
            # BM25 beside the dense search (its hits are used only after it).
            worded = self.lexical.terms_query(text, SIMILAR_LEXICAL_TERMS)
            wanted = max(SIMILAR_LEXICAL_CANDIDATES, k)

            def worded_alike() -> LexicalHits:
                return self.lexical.search(worded, filters, limit=wanted, total="none")

            bm25 = self._beside(worded_alike) if beside else worded_alike
        vector = self.vectors.get(pk)
        if vector is None:
            raise IndexNotBuilt("this paper has no embedding yet: run `paperlens index`")
        skip = {pk} | exclude
        depth = max(SIMILAR_CANDIDATES, k)
        ranked = self.dense(vector, filters, depth + len(skip))
        kept = [(p, s) for p, s in ranked if p not in skip][:depth]
        if terms is None or query is None or not kept:
            return [Hit(p, s, semantic_rank=i + 1) for i, (p, s) in enumerate(kept[:k])]
        if bm25 is not None:
            near = {p for p, _ in kept}
            found = bm25()
            extra = [p for p, _ in found.hits if p not in near and p not in skip]
            if extra:
                extra_pks, extra_vectors = self.vectors.get_many(extra)
                kept += zip(extra_pks, (extra_vectors @ vector).tolist(), strict=True)
        lexical = terms.cosine(query, [p for p, _ in kept])
        dense = np.array([s for _, s in kept], dtype=np.float32)
        fused = SIMILAR_DENSE_WEIGHT * dense + (1.0 - SIMILAR_DENSE_WEIGHT) * lexical
        lex_rank = np.empty(len(kept), dtype=np.int64)
        lex_rank[np.argsort(-lexical, kind="stable")] = np.arange(1, len(kept) + 1)
        order = np.argsort(-fused, kind="stable")[:k]
        return [Hit(kept[i][0], float(fused[i]), int(lex_rank[i]), int(i) + 1) for i in order]

    # -- dense ------------------------------------------------------------------------

    def embed_query(self, query: str) -> Vector:
        """The query's vector, from :attr:`query_vectors` when it holds it."""
        encoder = self._encoder()
        key = QueryVectors.key(encoder.key, query)
        cached = self.query_vectors.get(key)
        if cached is not None:
            return cached
        vector: Vector = encoder.encode([query])[0]
        self.query_vectors.put(key, vector)
        return vector

    def dense(self, vector: Vector, filters: SearchFilters, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest papers passing ``filters``, as ``(pk, cosine)``."""
        index = self.vectors
        if len(index) == 0:
            raise IndexNotBuilt(f"no vectors for model {index.model} yet: run `paperlens index`")
        if not filters.active:
            return index.search(vector, k)
        candidates, passing = self.lexical.filtered_pks(filters, EXACT_LIMIT)
        if passing <= EXACT_LIMIT:
            return self._exact(vector, candidates, k)
        fraction = passing / max(len(index), 1)
        fetch = min(MAX_OVERFETCH, max(k * 4, math.ceil(k / fraction * 2)))

        def keep(pks: list[int]) -> set[int]:
            return self.lexical.passing(pks, filters)

        while True:
            # The index filters its candidates before re-scoring them exactly, so only
            # the best passing ones pay for a full vector's read.
            kept = index.search(vector, k, fetch=fetch, keep=keep)
            if len(kept) >= k or fetch >= MAX_OVERFETCH or fetch >= len(index):
                return kept[:k]
            fetch = min(MAX_OVERFETCH, fetch * 4)

    def _exact(self, vector: Vector, pks: list[int], k: int) -> list[tuple[int, float]]:
        found, matrix = self.vectors.get_many(pks)
        if not found:
            return []
        scores = matrix @ vector
        top = np.argsort(-scores, kind="stable")[:k]
        return [(found[i], float(scores[i])) for i in top]

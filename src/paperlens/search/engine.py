"""Retrieval over the two indexes: lexical, semantic, hybrid, and similar papers.

Everything here works in store ``pk``s; :mod:`paperlens.core` turns them into papers.

Filtered dense search: the lexical index knows which papers pass a filter. When few
do (at most :data:`EXACT_LIMIT`), their vectors are scored exactly, which is both
faster and exact; when many do, the HNSW index is asked for more neighbours than
needed and those failing the filter are dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from paperlens.embedding import Encoder
from paperlens.errors import Unavailable
from paperlens.filters import SearchFilters
from paperlens.index.lexical import LexicalIndex
from paperlens.index.terms import TermIndex
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
#: Weight of the dense cosine in the fused "similar" score; the tf-idf cosine has the
#: rest (chosen by cross-validation on CSFCube dev: bench/README.md, "Similar papers").
SIMILAR_DENSE_WEIGHT = 0.2


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
    total: int  # results available (lexical: all matching; dense: ranked, up to MAX_DEPTH)
    seconds: float = 0.0


class IndexNotBuilt(Unavailable):
    pass


class Retriever:
    def __init__(
        self,
        lexical: LexicalIndex,
        vectors: Callable[[], DenseIndex],
        encoder: Callable[[], Encoder],
        terms: Callable[[], TermIndex | None] = lambda: None,
    ) -> None:
        self.lexical = lexical
        self._vectors = vectors
        self._encoder = encoder
        self._terms = terms

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
        if mode is Mode.LEXICAL:
            found = self.lexical.search(query, filters, limit=limit, offset=offset)
            hits = [
                Hit(pk, score, lexical_rank=offset + i + 1)
                for i, (pk, score) in enumerate(found.hits)
            ]
            total = min(found.total, MAX_DEPTH)
        elif mode is Mode.SEMANTIC:
            ranked = self.dense(self.embed_query(query), filters, offset + limit)
            hits = [Hit(pk, score, semantic_rank=i + 1) for i, (pk, score) in enumerate(ranked)][
                offset:
            ]
            total = self._dense_total(filters, len(ranked), offset + limit)
        else:
            hits, total = self._hybrid(query, filters, limit, offset)
        return Ranking(hits, total, time.perf_counter() - started)

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
        lexical = self.lexical.search(query, filters, limit=depth)
        dense = self.dense(self.embed_query(query), filters, depth)
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
        plus, given the paper's ``text``, as many BM25 matches of it; they are ranked by
        ``SIMILAR_DENSE_WEIGHT * dense cosine + (1 - SIMILAR_DENSE_WEIGHT) * tf-idf
        cosine`` (:mod:`paperlens.index.terms`). Dense order alone while the paper has no
        term vector yet. ``Hit.score`` is the fused score; the ranks are each side's
        rank among the candidates."""
        vector = self.vectors.get(pk)
        if vector is None:
            raise IndexNotBuilt("this paper has no embedding yet: run `paperlens index`")
        skip = {pk} | (exclude or set())
        depth = max(SIMILAR_CANDIDATES, k)
        ranked = self.dense(vector, filters or SearchFilters(), depth + len(skip))
        kept = [(p, s) for p, s in ranked if p not in skip][:depth]
        terms = self._terms()
        query = terms.vector(pk) if terms is not None else None
        if terms is None or query is None or not kept:
            return [Hit(p, s, semantic_rank=i + 1) for i, (p, s) in enumerate(kept[:k])]
        if text:
            # Papers worded alike that the dense model placed further away.
            near = {p for p, _ in kept}
            found = self.lexical.search(self.lexical.terms_query(text), filters, limit=depth)
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
        vector: Vector = self._encoder().encode([query])[0]
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

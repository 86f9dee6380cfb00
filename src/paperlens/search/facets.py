"""Facet-aware similarity: rank papers by how like a query paper they are in one facet
(background, method or result).

Five ranked lists can be fused by weighted reciprocal-rank fusion (:func:`fuse`):

- ``dense``: the paper's "similar papers" ranking (``Retriever.similar``: dense and
  tf-idf cosine fused, over dense neighbours and BM25 matches);
- ``lexical``: BM25 with the whole paper (title + abstract) as the query;
- ``facet_lexical``: BM25 with the title and the query's sentences of the facet;
- ``facet_dense``: dense neighbours of the embedding of that same text (the title and
  the facet's sentences as one passage, embedded at query time);
- ``maxsim``: late interaction over the sentence index (:func:`rank_by_facet` with
  ``weight=1``): for each of the query's facet sentences ``q`` the candidate's best
  sentence, ``mean_q max_c q · c``, over the dense list's top ``pool``.

Each list is cut to ``pool`` papers. A list weighed 0 is not drawn at all.

**What is served** (:data:`DEFAULT`): the ``dense`` list alone, i.e. each facet list
ranks like "similar papers", and the facet shows in the *reason*: each result's
sentence pair of highest cosine between the query's sentences of that facet and the
candidate's (:func:`rank_by_facet` over the results). Why: on CSFCube dev, once the
similar-papers ranking fuses dense with tf-idf cosine, every facet-specific list
(facet BM25, facet passage dense, sentence max-sim, in any weighted mix chosen by
cross-validation) ranks *below* it held out, on every facet, method included
(bench/facets.py; figures in bench/README.md, "facets.py"). MiniLM sentence vectors
and the facet's words say "same task / domain" more than "same method"; a model trained
for facets is what would change this. The other lists stay here for the benchmark's
grid and for a future model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from paperlens.index.sentences import PaperSentences, SentenceIndex
from paperlens.rhetoric import FACET_ROLES, Facet, Role

CandidateSide = Literal["all", "facet"]


@dataclass(frozen=True, slots=True)
class FacetParams:
    #: Papers taken from each list (and re-ranked by max-sim from the dense list).
    pool: int = 100
    #: For :func:`rank_by_facet` alone: share of the sentence score in its score (the
    #: rest: whole-paper cosine).
    weight: float = 1.0
    #: Match the query's facet sentences against all the candidate's sentences
    #: (``all``) or only those of the same facet (``facet``, all when it has none).
    candidate_side: CandidateSide = "all"
    #: Weights of the fused lists (see the module docstring) and the RRF constant.
    #: Served: the similar-papers ranking alone (``dense``); cross-validation on CSFCube
    #: dev found no weight of the facet-specific lists that beats it held out
    #: (bench/README.md, "facets.py").
    dense: float = 1.0
    lexical: float = 0.0
    facet_lexical: float = 0.0
    maxsim: float = 0.0
    facet_dense: float = 0.0
    rrf_k: int = 20

    def weights(self) -> dict[str, float]:
        return {
            "dense": self.dense,
            "lexical": self.lexical,
            "facet_lexical": self.facet_lexical,
            "maxsim": self.maxsim,
            "facet_dense": self.facet_dense,
        }


DEFAULT = FacetParams()


def fuse(
    lists: Mapping[str, Sequence[int]], params: FacetParams = DEFAULT
) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion of the named lists (each cut to ``params.pool``),
    best first; ties broken by key so the order is deterministic."""
    weights = params.weights()
    scores: dict[int, float] = {}
    for name, ranking in lists.items():
        w = weights.get(name, 0.0)
        if w <= 0:
            continue
        for rank, key in enumerate(ranking[: params.pool], start=1):
            scores[key] = scores.get(key, 0.0) + w / (params.rrf_k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


@dataclass(frozen=True, slots=True)
class FacetHit:
    pk: int
    score: float
    #: The best-matching pair: row of the query's sentence, row of the candidate's
    #: (indexes into each abstract's sentences), and their cosine.
    query_sentence: int
    candidate_sentence: int
    pair_score: float


def facet_rows(roles: Sequence[Role], facet: Facet | None) -> NDArray[np.intp]:
    """Rows of the sentences that stand for ``facet``; every row when none does (or
    when ``facet`` is ``None``)."""
    wanted = FACET_ROLES[facet] if facet is not None else frozenset()
    rows = [i for i, r in enumerate(roles) if r in wanted]
    return np.array(rows if rows else range(len(roles)), dtype=np.intp)


def rank_by_facet(
    query_vectors: NDArray[np.float32],
    query_roles: Sequence[Role],
    facet: Facet | None,
    candidates: Sequence[tuple[int, float]],
    sentences: SentenceIndex | Sequence[PaperSentences],
    params: FacetParams = DEFAULT,
    *,
    pairs: bool = True,
) -> list[FacetHit]:
    """``candidates`` (pk, whole-paper cosine) re-ranked for ``facet`` (``None``: all the
    query's sentences), best first.
    A candidate without sentences keeps its whole-paper score only (scaled by
    ``1 - weight``, so it sinks below candidates that match). ``pairs=False`` skips
    finding each candidate's best sentence pair (its hit then names none: -1)."""
    rows = facet_rows(query_roles, facet)
    if len(candidates) == 0:
        return []
    whole = dict(candidates)
    if isinstance(sentences, SentenceIndex):
        found = sentences.get_many(pk for pk, _ in candidates)
    else:
        found = list(sentences)
    hits: list[FacetHit] = []
    if len(rows) and found:
        query = query_vectors[rows]
        parts: list[NDArray[np.float32]] = []
        local: list[NDArray[np.intp]] = []
        for ps in found:
            cand_rows = (
                facet_rows(ps.roles, facet)
                if params.candidate_side == "facet"
                else np.arange(len(ps.roles))
            )
            parts.append(ps.vectors[cand_rows])
            local.append(cand_rows)
        # (query sentences, all candidate sentences). einsum, not matmul: a product this
        # small is done in well under a millisecond by one thread, while BLAS's thread
        # pool spins for tens of milliseconds on a busy machine (bench/README.md).
        sims = np.einsum("qd,cd->qc", query, np.vstack(parts))
        starts = np.cumsum([0] + [len(p) for p in parts[:-1]])
        # Per candidate: each query sentence's best match, then their mean.
        best = np.maximum.reduceat(sims, starts, axis=1)
        facet_scores = best.mean(axis=0)
        scores = params.weight * facet_scores + (1 - params.weight) * np.array(
            [whole.get(ps.pk, 0.0) for ps in found], dtype=np.float32
        )
        for i, ps in enumerate(found):
            qi = ci = -1
            pair = 0.0
            if pairs:
                block = sims[:, starts[i] : starts[i] + len(parts[i])]
                q, c = np.unravel_index(int(np.argmax(block)), block.shape)
                qi, ci, pair = int(rows[q]), int(local[i][c]), float(block[q, c])
            hits.append(FacetHit(ps.pk, float(scores[i]), qi, ci, pair))
    seen = {h.pk for h in hits}
    for pk, cosine in candidates:
        if pk not in seen:
            hits.append(FacetHit(pk, (1 - params.weight) * cosine, -1, -1, 0.0))
    hits.sort(key=lambda h: -h.score)
    return hits

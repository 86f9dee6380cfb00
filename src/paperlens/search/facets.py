"""Facet-aware similarity: rank candidates by how well their sentences match the query's
sentences of one facet (background, method or result), late-interaction style.

For a query with sentence vectors ``Q`` (the facet's sentences; all of them when the
labeler found none of that facet) and a candidate with sentence vectors ``C``:

    maxsim(q, C) = max_c  q · c           (the candidate's best sentence for q)
    facet score  = mean_q maxsim(q, C)
    score        = weight * facet score + (1 - weight) * whole-paper cosine

Candidates come from the whole-paper dense index (a pool of ``pool`` neighbours), so a
query costs one HNSW search plus one small matrix product (pool x ~9 sentences), at any
corpus size. The reason shown for a result is the sentence pair with the highest
similarity among the query's facet sentences and the candidate's sentences.

:data:`DEFAULT` holds the settings chosen by cross-validation on CSFCube dev
(bench/facets.py; figures in bench/README.md, "Facet-aware similarity").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from paperlens.index.sentences import PaperSentences, SentenceIndex
from paperlens.rhetoric import FACET_ROLES, Facet, Role

CandidateSide = Literal["all", "facet"]


@dataclass(frozen=True, slots=True)
class FacetParams:
    #: Dense neighbours re-ranked by their sentences.
    pool: int = 200
    #: Share of the sentence score in the final score (the rest: whole-paper cosine).
    weight: float = 0.5
    #: Match the query's facet sentences against all the candidate's sentences
    #: (``all``) or only those of the same facet (``facet``, all when it has none).
    candidate_side: CandidateSide = "all"


DEFAULT = FacetParams()


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
) -> list[FacetHit]:
    """``candidates`` (pk, whole-paper cosine) re-ranked for ``facet`` (``None``: all the
    query's sentences), best first.
    A candidate without sentences keeps its whole-paper score only (scaled by
    ``1 - weight``, so it sinks below candidates that match)."""
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
        kept: list[PaperSentences] = []
        parts: list[NDArray[np.float32]] = []
        local: list[NDArray[np.intp]] = []
        for ps in found:
            cand_rows = (
                facet_rows(ps.roles, facet)
                if params.candidate_side == "facet"
                else np.arange(len(ps.roles))
            )
            kept.append(ps)
            parts.append(ps.vectors[cand_rows])
            local.append(cand_rows)
        stacked = np.vstack(parts)
        sims = query @ stacked.T  # (query sentences, all candidate sentences)
        bounds = np.cumsum([0] + [len(p) for p in parts])
        for i, ps in enumerate(kept):
            block = sims[:, bounds[i] : bounds[i + 1]]
            facet_score = float(block.max(axis=1).mean())
            qi, ci = np.unravel_index(int(np.argmax(block)), block.shape)
            score = params.weight * facet_score + (1 - params.weight) * whole.get(ps.pk, 0.0)
            hits.append(
                FacetHit(
                    ps.pk,
                    score,
                    int(rows[qi]),
                    int(local[i][ci]),
                    float(block[qi, ci]),
                )
            )
    seen = {h.pk for h in hits}
    for pk, cosine in candidates:
        if pk not in seen:
            hits.append(FacetHit(pk, (1 - params.weight) * cosine, -1, -1, 0.0))
    hits.sort(key=lambda h: -h.score)
    return hits

"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

Each list contributes ``1 / (k + rank)`` to a document's score (rank from 1), so a
paper ranked well by both BM25 and the dense model rises above one ranked well by
only one of them, with no need to calibrate the two scores against each other.
"""

from __future__ import annotations

from collections.abc import Sequence

#: The constant from the paper; larger values flatten the contribution of top ranks.
RRF_K = 60


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[int]], k: int = RRF_K
) -> list[tuple[int, float]]:
    """Fuse ranked lists of keys into one ``(key, score)`` list, best first; ties are
    broken by the best single rank, then by key, so the order is deterministic."""
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
            best[key] = min(best.get(key, rank), rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], kv[0]))

"""Ranking metrics for query-by-example evaluation (CSFCube style).

* nDCG@k: graded gain = the judged relevance (0..3), discount ``1 / log2(rank + 1)``;
  the ideal ranking sorts *all* judged papers of the query by relevance.
* Average precision: papers judged ``>= RELEVANT`` are relevant, unjudged ones are not;
  divided by the number of relevant papers (retrieved or not).

Run ``python bench/metrics.py`` for the self-check (doctests plus a few asserts).

>>> qrels = {"a": 3, "b": 2, "c": 0}
>>> ndcg_at_k(["a", "b", "c"], qrels, 10)
1.0
>>> average_precision(["a", "x", "b"], qrels)
0.8333...
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: MAP counts a paper as relevant from this grade up (CSFCube: 2 = similar, 3 = near-identical).
RELEVANT = 2


def dcg(gains: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` gains (rank 1 has discount 1).

    >>> round(dcg([3, 2, 0, 1], 3), 4)
    4.2619
    """
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains[:k], start=1))


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, int], k: int) -> float:
    """nDCG@k of ``ranking`` (ids, best first); unjudged ids have gain 0.

    >>> ndcg_at_k(["x", "y"], {"a": 1}, 10)
    0.0
    """
    ideal = dcg(sorted(qrels.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([qrels.get(doc, 0) for doc in ranking], k) / ideal


def average_precision(
    ranking: Sequence[str], qrels: Mapping[str, int], threshold: int = RELEVANT
) -> float:
    """Mean of precision at the rank of each relevant paper; relevant papers never
    retrieved contribute 0.

    >>> average_precision(["x", "a"], {"a": 2, "b": 3})
    0.25
    """
    relevant = {doc for doc, grade in qrels.items() if grade >= threshold}
    if not relevant:
        return 0.0
    hits = 0
    total = 0.0
    for rank, doc in enumerate(ranking, start=1):
        if doc in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


def pool_order(ranking: Sequence[str], pool: Mapping[str, int]) -> list[str]:
    """The judged pool in ``ranking``'s order; pool papers the ranking lacks follow in
    the pool's own (judgement file) order, as a ranker that scored them all alike would.

    >>> pool_order(["x", "b", "y", "a"], {"a": 1, "b": 0, "c": 2})
    ['b', 'a', 'c']
    """
    seen = [doc for doc in ranking if doc in pool]
    kept = set(seen)
    return seen + [doc for doc in pool if doc not in kept]


def csfcube_dcg(grades: Sequence[float], k: int) -> float:
    """DCG as CSFCube's ``eval_scripts`` compute it (``rank_metrics.dcg_at_k``, method
    0): linear gain, ranks 1 and 2 undiscounted, rank ``r >= 2`` divided by
    ``log2(r)``.

    >>> round(csfcube_dcg([3, 2, 0, 1], 4), 4)
    5.5
    """
    head = list(grades[:k])
    if not head:
        return 0.0
    return head[0] + sum(g / math.log2(rank) for rank, g in enumerate(head[1:], start=2))


def csfcube_pool_metrics(
    ranking: Sequence[str], pool: Mapping[str, int], threshold: int = RELEVANT
) -> dict[str, float]:
    """CSFCube's own protocol for one query: the judged pool alone is ranked (in
    ``ranking``'s order, :func:`pool_order`); ``ndcg%20`` is linear-gain nDCG at
    ``int(0.2 * pool size)``, the ideal being the pool's grades sorted; ``ap`` the
    average precision with grade ``>= threshold`` relevant (``rank_metrics``'s: over
    the relevant papers of the pool, all of which are ranked).

    >>> csfcube_pool_metrics(["a", "b"], {"a": 3, "b": 0, "c": 0, "d": 0, "e": 0})
    {'ndcg%20': 1.0, 'ap': 1.0}
    """
    grades = [pool[doc] for doc in pool_order(ranking, pool)]
    k = int(0.20 * len(grades))
    ideal = csfcube_dcg(sorted(grades, reverse=True), k)
    ndcg = csfcube_dcg(grades, k) / ideal if ideal > 0 else 0.0
    hits, total = 0, 0.0
    for rank, grade in enumerate(grades, start=1):
        if grade >= threshold:
            hits += 1
            total += hits / rank
    return {"ndcg%20": ndcg, "ap": total / hits if hits else 0.0}


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def paired_difference(
    before: Sequence[float], after: Sequence[float], resamples: int = 10_000, seed: int = 0
) -> dict[str, float]:
    """Mean per-query difference ``after - before``, queries won and lost, and a 95%
    percentile-bootstrap interval of the mean (queries resampled, seeded).

    >>> paired_difference([0.1, 0.2], [0.3, 0.4])["mean"]
    0.2
    """
    import random

    diffs = [b - a for a, b in zip(before, after, strict=True)]
    rng = random.Random(seed)
    means = sorted(mean(rng.choices(diffs, k=len(diffs))) for _ in range(resamples))
    return {
        "mean": round(mean(diffs), 4),
        "won": sum(d > 0 for d in diffs),
        "lost": sum(d < 0 for d in diffs),
        "ci95_low": round(means[int(0.025 * resamples)], 4),
        "ci95_high": round(means[int(0.975 * resamples) - 1], 4),
    }


def _self_check() -> None:
    import doctest
    import sys

    failures, _ = doctest.testmod(optionflags=doctest.ELLIPSIS)
    qrels = {"a": 3, "b": 3, "c": 2, "d": 1, "e": 0}
    perfect = ["a", "b", "c", "d", "e", "z"]
    assert ndcg_at_k(perfect, qrels, 10) == 1.0
    assert ndcg_at_k(perfect, qrels, 2) == 1.0
    assert average_precision(perfect, qrels) == 1.0
    reversed_ = list(reversed(perfect))
    assert ndcg_at_k(reversed_, qrels, 10) < 1.0
    assert average_precision(reversed_, qrels) < 1.0
    assert ndcg_at_k(["b", "a", "c"], qrels, 3) == 1.0  # ties in grade: order free
    if failures:
        sys.exit(1)
    print("metrics self-check passed")


if __name__ == "__main__":
    _self_check()

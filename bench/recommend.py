"""Recommendation quality on simulated libraries built from CSFCube judgments.

For each CSFCube query, a reader's library is the query paper plus every paper judged
relevant to it (grade >= 2). Half of the judged papers (rounded up) are held out, over
several random seeds; the rest of the library trains a ranker, which then ranks the
**whole corpus less the kept library**. The score is recall@20 of the held-out papers
(and recall@50, MRR of the first held-out paper).

Rankers:

* ``dense-svm``: paperlens's classifier (:func:`paperlens.recommend.svm_scores`):
  LinearSVC, balanced classes, on the stored all-MiniLM-L6-v2 embeddings, negatives a
  random background of ``BACKGROUND`` papers, at several ``C`` (the product's is
  ``SVM_C``);
* ``dense-svm-all``: the same with every other paper as a negative (as arxiv-sanity);
* ``tfidf-svm``: arxiv-sanity-lite: its ``compute.py`` TfidfVectorizer (word 1-2 grams,
  20,000 features, sublinear tf, max_df 0.1, min_df 5, English stop words) and
  ``LinearSVC(C=0.01, class_weight="balanced")`` with every other paper negative;
* ``dense+tfidf``: the sum of the two SVMs' z-scored decision values;
* ``centroid``: cosine to the mean of the kept library's embeddings;
* ``dense-svm + centroid``: the sum of the z-scored SVM and centroid scores
  (:func:`paperlens.recommend.blend_scores`, the product's ranking).

Embeddings come from paperlens's own ingest + index path in a throwaway data dir
(``--dense-cache FILE.npy`` keeps the unit vectors between runs).

**Multi-topic libraries** (``--part multi``): a reader with two or three interests, each
one CSFCube query group (query paper + judged-relevant papers) kept as a collection of its
own. Half of each group's relevant papers (rounded up) are held out; recall@20 counts the
held-out papers of every group. ``single model`` trains one SVM+centroid blend on the
whole library (the old "for you"); ``per-collection, round-robin`` trains one per
collection and merges their lists with :func:`paperlens.recommend.merge_round_robin`
(the product's combined feed). Differences are paired per library with a bootstrap 95%
interval (``metrics.paired_difference``).

**Onboarding** (``--part onboarding``): a new reader whose interest is one query group
rates papers from their "categories" (simulated: a pool of the group's non-held-out
relevant papers among ``ONBOARD_POOL`` random others); 👍 iff judged relevant. The first
round is random (nothing to learn from yet); after each round of 5 the next questions are
the unrated pool papers the SVM is least sure about (``uncertainty``:
:func:`paperlens.recommend.most_uncertain`), a random draw (``random``), or the papers it
likes most (``greedy``, for comparison). After N
ratings the model (blend of 👍 as positives, 👎 + background as negatives) ranks the
corpus; recall@20 of the held-out relevant papers, paired per (group, seed).

    .venv/bin/python bench/recommend.py [--part all|single|multi|onboarding]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import RELEVANT
from quality import Bench, index_at, ingest_corpus, load_bench

K = 20
Scores = NDArray[np.float64]
#: A scipy.sparse matrix (tf-idf features); scipy ships no type hints.
SparseMatrix = Any


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Recall@20 of held-out library papers.")
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--seeds", type=int, default=3, help="hold-out draws per library")
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "recommend.json")
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--keep-tmp", action="store_true")
    parser.add_argument("--part", choices=("all", "single", "multi", "onboarding"), default="all")
    parser.add_argument("--dense-cache", type=Path, default=None, help="unit vectors (.npy)")
    parser.add_argument("--multi-libraries", type=int, default=60, help="per size")
    parser.add_argument("--multi-sizes", type=int, nargs="+", default=[2, 3], help="topics")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="reuse (or make) this data dir instead of a throwaway one; embedding resumes",
    )
    return parser.parse_args()


def tfidf_matrix(texts: list[str]) -> SparseMatrix:
    """arxiv-sanity-lite's features (compute.py)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    v = TfidfVectorizer(
        input="content",
        encoding="utf-8",
        decode_error="replace",
        strip_accents="unicode",
        lowercase=True,
        analyzer="word",
        stop_words="english",
        token_pattern=r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
        ngram_range=(1, 2),
        max_features=20000,
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=0.1,
        min_df=5,
    )
    return v.fit_transform(texts)


def linear_svm(x: SparseMatrix, positives: list[int], negatives: list[int], c: float) -> Scores:
    """Decision values over every row of ``x`` from a balanced LinearSVC."""
    from sklearn.svm import LinearSVC

    rows = positives + negatives
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    clf = LinearSVC(class_weight="balanced", C=c, max_iter=10000, tol=1e-6)
    clf.fit(x[rows], y)
    scores: Scores = clf.decision_function(x).astype(np.float64)
    return scores


def zscore(s: Scores) -> Scores:
    out: Scores = (s - s.mean()) / (s.std() + 1e-12)
    return out


def libraries(bench: Bench, index: dict[str, int]) -> list[tuple[str, int, list[int]]]:
    """(qid, query paper row, judged-relevant rows) for queries with >= 2 relevant."""
    out = []
    for q in bench.queries:
        rel = [index[p] for p, g in bench.qrels.get(q.qid, {}).items() if g >= RELEVANT]
        if len(rel) >= 2 and q.paper_id in index:
            out.append((q.qid, index[q.paper_id], sorted(rel)))
    return out


def evaluate(
    rankers: dict[str, Callable[[list[int], random.Random], Scores]],
    libs: list[tuple[str, int, list[int]]],
    seeds: int,
) -> dict[str, Any]:
    per: dict[str, dict[str, list[float]]] = {
        name: {"recall@20": [], "recall@50": [], "mrr": []} for name in rankers
    }
    seconds: dict[str, float] = dict.fromkeys(rankers, 0.0)
    for _qid, query_row, relevant in libs:
        for seed in range(seeds):
            rng = random.Random(f"{query_row}-{seed}")
            held = set(rng.sample(relevant, math.ceil(len(relevant) / 2)))
            kept = [query_row, *(r for r in relevant if r not in held)]
            for name, ranker in rankers.items():
                t0 = time.perf_counter()
                scores = ranker(kept, random.Random(seed)).copy()
                seconds[name] += time.perf_counter() - t0
                scores[kept] = -np.inf
                order = np.argsort(-scores, kind="stable")[:50]
                hits = [int(r) in held for r in order]
                per[name]["recall@20"].append(sum(hits[:K]) / len(held))
                per[name]["recall@50"].append(sum(hits) / len(held))
                first = next((i for i, h in enumerate(hits) if h), None)
                per[name]["mrr"].append(0.0 if first is None else 1 / (first + 1))
    runs = len(libs) * seeds
    return {
        name: {
            **{m: rounded(statistics.fmean(v)) for m, v in metrics.items()},
            "recall@20_stderr": rounded(
                statistics.stdev(metrics["recall@20"]) / math.sqrt(len(metrics["recall@20"]))
            ),
            "ms_per_library": rounded(seconds[name] / runs * 1000, 2),
        }
        for name, metrics in per.items()
    }


def table(results: dict[str, Any], libs: int, seeds: int) -> Table:
    t = Table(title=f"Held-out recall on {libs} simulated libraries × {seeds} seeds (CSFCube)")
    t.add_column("ranker")
    for col in ("recall@20", "± s.e.", "recall@50", "MRR", "ms / library"):
        t.add_column(col, justify="right")
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["recall@20"]):
        t.add_row(
            name,
            f"{r['recall@20']:.4f}",
            f"{r['recall@20_stderr']:.4f}",
            f"{r['recall@50']:.4f}",
            f"{r['mrr']:.4f}",
            f"{r['ms_per_library']:.1f}",
        )
    return t


def main() -> None:
    args = parse_args()
    go_offline()
    from paperlens.recommend import (
        BACKGROUND,
        SVM_C,
        blend_scores,
        centroid_scores,
        svm_scores,
        unit_rows,
    )

    info = machine_info()
    bench = load_bench(args.csfcube)
    ids = [str(r["id"]) for r in bench.corpus]
    ingest: dict[str, Any] = {"cached": str(args.dense_cache)}
    embed: dict[str, Any] = {}
    if args.dense_cache is not None and args.dense_cache.exists():
        dense = np.load(args.dense_cache).astype(np.float32)
    else:
        with contextlib.ExitStack() as stack:
            if args.data_dir is not None:
                data_dir = args.data_dir
                data_dir.mkdir(parents=True, exist_ok=True)
            else:
                data_dir = stack.enter_context(scratch_dir(args.tmp, args.keep_tmp))
            ingest = {"reused": True}
            if not (data_dir / "paperlens.db").exists():
                ingest = ingest_corpus(data_dir, bench, args.seq_length)
            pl, embed = index_at(data_dir, args.seq_length)
            try:
                pks = {sp.paper.id: sp.pk for b in pl.papers.changed_since(0) for sp in b}
                vectors = pl.embeddings.get(pl.model_key, [pks[i] for i in ids])
                dense = unit_rows(np.vstack([vectors[pks[i]] for i in ids]))
            finally:
                pl.close()
        if args.dense_cache is not None:
            np.save(args.dense_cache, dense)
    if args.part in ("multi", "onboarding", "all"):
        index0 = {pid: i for i, pid in enumerate(ids)}
        groups = libraries(bench, index0)
        out0 = console()
        if args.part in ("multi", "all"):
            multi = evaluate_multi(dense, groups, args.multi_libraries, args.multi_sizes)
            out0.print(multi_table(multi))
            write_json(args.output.with_name("recommend_multi.json"), {"machine": info, **multi})
        if args.part in ("onboarding", "all"):
            onboard = evaluate_onboarding(dense, groups, args.seeds)
            out0.print(onboarding_table(onboard))
            write_json(
                args.output.with_name("recommend_onboarding.json"), {"machine": info, **onboard}
            )
        if args.part != "all":
            return
    texts = [f"{r['title']}. {r['abstract']}" for r in bench.corpus]
    tfidf = tfidf_matrix(texts)
    n = len(ids)
    index = {pid: i for i, pid in enumerate(ids)}
    libs = libraries(bench, index)

    def others(kept: list[int]) -> list[int]:
        taken = set(kept)
        return [i for i in range(n) if i not in taken]

    def background(kept: list[int], rng: random.Random) -> list[int]:
        pool = others(kept)
        return rng.sample(pool, min(BACKGROUND, len(pool)))

    def dense_svm(c: float) -> Callable[[list[int], random.Random], Scores]:
        def rank(kept: list[int], rng: random.Random) -> Scores:
            neg = background(kept, rng)
            return svm_scores(dense[kept], dense[neg], dense, c=c)

        return rank

    def dense_all(kept: list[int], rng: random.Random) -> Scores:
        return linear_svm(dense, kept, others(kept), SVM_C)

    def tfidf_svm(kept: list[int], rng: random.Random) -> Scores:
        return linear_svm(tfidf, kept, others(kept), 0.01)

    def combined(kept: list[int], rng: random.Random) -> Scores:
        return zscore(dense_svm(SVM_C)(kept, rng)) + zscore(tfidf_svm(kept, rng))

    def centroid(kept: list[int], rng: random.Random) -> Scores:
        return centroid_scores(dense[kept], dense)

    def product(kept: list[int], rng: random.Random) -> Scores:
        return blend_scores(dense[kept], dense[background(kept, rng)], dense)

    rankers: dict[str, Callable[[list[int], random.Random], Scores]] = {
        f"dense-svm C={c:g}": dense_svm(c) for c in (0.01, 0.1, 1.0)
    }
    rankers.update(
        {
            f"dense-svm-all C={SVM_C:g}": dense_all,
            "tfidf-svm C=0.01 (arxiv-sanity-lite)": tfidf_svm,
            f"dense+tfidf (z-sum, C={SVM_C:g} / 0.01)": combined,
            "centroid cosine": centroid,
            f"dense-svm C={SVM_C:g} + centroid, z-sum (paperlens)": product,
        }
    )
    results = evaluate(rankers, libs, args.seeds)
    out = console()
    out.print(table(results, len(libs), args.seeds))
    write_json(
        args.output,
        {
            "machine": info,
            "corpus_papers": n,
            "libraries": len(libs),
            "seeds": args.seeds,
            "held_out_fraction": 0.5,
            "k": K,
            "ingest": ingest,
            "embed": embed,
            "results": results,
        },
    )
    out.print(f"wrote {args.output}")


# -- multi-topic libraries ------------------------------------------------------------------


class _Item:
    """A ranked paper for :func:`merge_round_robin` (row of the corpus, score)."""

    __slots__ = ("pk", "score")

    def __init__(self, pk: int, score: float) -> None:
        self.pk = pk
        self.score = score


def _top(scores: Scores, excluded: set[int], k: int) -> list[_Item]:
    s = scores.copy()
    s[list(excluded)] = -np.inf
    order = np.argsort(-s, kind="stable")[:k]
    return [_Item(int(i), float(s[i])) for i in order]


def evaluate_multi(
    dense: NDArray[np.float32],
    groups: list[tuple[str, int, list[int]]],
    per_size: int,
    sizes: list[int],
) -> dict[str, Any]:
    from metrics import paired_difference
    from paperlens.recommend import BACKGROUND, SHARE_EXPONENT, blend_scores, merge_round_robin

    n = len(dense)
    # Two facets of one query paper are near the same topic: a library's groups come from
    # different query papers.
    rng = random.Random(20261201)
    combos: dict[int, list[tuple[int, ...]]] = {}
    for size in sizes:
        seen: set[tuple[int, ...]] = set()
        tries = 0
        while len(seen) < per_size and tries < per_size * 50:
            tries += 1
            pick = tuple(sorted(rng.sample(range(len(groups)), size)))
            if len({groups[g][1] for g in pick}) == size:
                seen.add(pick)
        combos[size] = sorted(seen)
    out: dict[str, Any] = {"groups": len(groups), "k": K, "sizes": {}}
    for size, picks in combos.items():
        single: list[float] = []
        per_coll: list[float] = []
        equal: list[float] = []
        worst_single: list[float] = []
        worst_per: list[float] = []
        worst_equal: list[float] = []
        for pick in picks:
            lib_rng = random.Random(f"multi-{pick}")
            kept_groups: list[list[int]] = []
            held_groups: list[set[int]] = []
            for g in pick:
                _qid, query_row, relevant = groups[g]
                held = set(lib_rng.sample(relevant, math.ceil(len(relevant) / 2)))
                kept_groups.append([query_row, *(r for r in relevant if r not in held)])
                held_groups.append(held)
            kept_all = {r for k in kept_groups for r in k}
            held_all = set().union(*held_groups) - kept_all
            taken = list(kept_all)
            pool = [i for i in range(n) if i not in kept_all]
            bg = lib_rng.sample(pool, min(BACKGROUND, len(pool)))
            one = _top(blend_scores(dense[taken], dense[bg], dense), kept_all, K)
            feeds = [
                _top(blend_scores(dense[k], dense[bg], dense), kept_all, K) for k in kept_groups
            ]
            weights = [len(k) ** SHARE_EXPONENT for k in kept_groups]
            merged = merge_round_robin(feeds, K, weights)
            plain = merge_round_robin(feeds, K)
            for ranking, total, worst in (
                (one, single, worst_single),
                (merged, per_coll, worst_per),
                (plain, equal, worst_equal),
            ):
                got = {it.pk for it in ranking}
                total.append(len(got & held_all) / len(held_all))
                worst.append(
                    min(len(got & (h - kept_all)) / max(len(h - kept_all), 1) for h in held_groups)
                )
        out["sizes"][str(size)] = {
            "libraries": len(picks),
            "single model": {
                "recall@20": rounded(statistics.fmean(single)),
                "worst_topic_recall@20": rounded(statistics.fmean(worst_single)),
            },
            "per-collection, round-robin": {
                "recall@20": rounded(statistics.fmean(per_coll)),
                "worst_topic_recall@20": rounded(statistics.fmean(worst_per)),
            },
            "per-collection, equal shares": {
                "recall@20": rounded(statistics.fmean(equal)),
                "worst_topic_recall@20": rounded(statistics.fmean(worst_equal)),
            },
            "difference": paired_difference(single, per_coll),
            "equal_shares_difference": paired_difference(single, equal),
            "worst_topic_difference": paired_difference(worst_single, worst_per),
        }
    return out


def multi_table(results: dict[str, Any]) -> Table:
    t = Table(title="Multi-topic libraries (CSFCube groups): held-out recall@20")
    for col in (
        "topics",
        "libraries",
        "ranker",
        "recall@20",
        "worst topic",
        "Δ vs single [95% CI]",
        "won/lost",
    ):
        t.add_column(col, justify="right")
    rows = (
        ("single model", None),
        ("per-collection, equal shares", "equal_shares_difference"),
        ("per-collection, round-robin", "difference"),
    )
    for size, r in results["sizes"].items():
        for name, diff in rows:
            d = r[diff] if diff else None
            t.add_row(
                size,
                str(r["libraries"]),
                name.replace("round-robin", "shares by size (product)"),
                f"{r[name]['recall@20']:.4f}",
                f"{r[name]['worst_topic_recall@20']:.4f}",
                f"{d['mean']:+.4f} [{d['ci95_low']:+.4f}, {d['ci95_high']:+.4f}]" if d else "",
                f"{d['won']}/{d['lost']}" if d else "",
            )
    return t


# -- onboarding: uncertainty vs random questions ----------------------------------------------

ONBOARD_POOL = 300
ONBOARD_ROUND = 5
ONBOARD_STEPS = (5, 10, 15, 20, 30)


def _model_scores(
    dense: NDArray[np.float32], pos: list[int], neg: list[int], bg: list[int], rows: Any
) -> Scores:
    from paperlens.recommend import DISMISS_WEIGHT, svm_scores

    negatives = neg + [b for b in bg if b not in set(neg)]
    weights = np.array([DISMISS_WEIGHT] * len(neg) + [1.0] * (len(negatives) - len(neg)))
    return svm_scores(dense[pos], dense[negatives], dense[rows], negative_weights=weights)


def simulate_onboarding(
    dense: NDArray[np.float32],
    relevant: list[int],
    held: set[int],
    strategy: str,
    seed: str,
) -> dict[int, float]:
    """Recall@20 of ``held`` after each step of :data:`ONBOARD_STEPS` ratings."""
    from paperlens.recommend import blend_scores, most_uncertain

    n = len(dense)
    rng = random.Random(seed)
    liked_set = set(relevant)
    in_pool = [r for r in relevant if r not in held]
    others = [i for i in range(n) if i not in liked_set]
    pool = in_pool + rng.sample(others, ONBOARD_POOL)
    bg = rng.sample(others, BACKGROUND_ONBOARD)
    pos: list[int] = []
    neg: list[int] = []
    asked: set[int] = set()
    ask_rng = random.Random(f"{seed}-{strategy}")
    first_rng = random.Random(seed)  # the same first round for every strategy
    out: dict[int, float] = {}
    while len(asked) < max(ONBOARD_STEPS):
        left = [p for p in pool if p not in asked]
        if not pos:
            picks = first_rng.sample(left, min(ONBOARD_ROUND, len(left)))
        elif strategy == "random":
            picks = ask_rng.sample(left, min(ONBOARD_ROUND, len(left)))
        elif strategy == "greedy":  # the papers the model likes most
            scores = _model_scores(dense, pos, neg, bg, left)
            picks = [left[i] for i in np.argsort(-scores, kind="stable")[:ONBOARD_ROUND]]
        else:
            scores = _model_scores(dense, pos, neg, bg, left)
            picks = [left[i] for i in most_uncertain(scores, ONBOARD_ROUND)]
        for p in picks:
            asked.add(p)
            (pos if p in liked_set else neg).append(p)
        if len(asked) in ONBOARD_STEPS:
            if not pos:
                out[len(asked)] = 0.0
                continue
            negatives = neg + [b for b in bg if b not in asked]
            scores = blend_scores(dense[pos], dense[negatives], dense)
            top = _top(scores, asked, K)
            out[len(asked)] = len({it.pk for it in top} & held) / len(held)
    return out


BACKGROUND_ONBOARD = 1000


def evaluate_onboarding(
    dense: NDArray[np.float32], groups: list[tuple[str, int, list[int]]], seeds: int
) -> dict[str, Any]:
    from metrics import paired_difference

    per: dict[str, dict[int, list[float]]] = {
        s: {n: [] for n in ONBOARD_STEPS} for s in ("random", "uncertainty", "greedy")
    }
    for qid, query_row, relevant in groups:
        rel = sorted({query_row, *relevant})
        for seed in range(seeds):
            rng = random.Random(f"onboard-{qid}-{seed}")
            held = set(rng.sample(rel, math.ceil(len(rel) / 2)))
            for strategy in per:
                got = simulate_onboarding(dense, rel, held, strategy, f"{qid}-{seed}")
                for n_rated in ONBOARD_STEPS:
                    per[strategy][n_rated].append(got.get(n_rated, 0.0))
    return {
        "runs": len(groups) * seeds,
        "pool": ONBOARD_POOL,
        "round": ONBOARD_ROUND,
        "steps": {
            str(n): {
                "random": rounded(statistics.fmean(per["random"][n])),
                "uncertainty": rounded(statistics.fmean(per["uncertainty"][n])),
                "greedy": rounded(statistics.fmean(per["greedy"][n])),
                "difference": paired_difference(per["random"][n], per["uncertainty"][n]),
                "greedy_difference": paired_difference(per["random"][n], per["greedy"][n]),
            }
            for n in ONBOARD_STEPS
        },
    }


def onboarding_table(results: dict[str, Any]) -> Table:
    t = Table(title=f"Onboarding: held-out recall@20 after N ratings ({results['runs']} runs)")
    cols = (
        "ratings",
        "random",
        "uncertainty",
        "Δ unc. [95% CI]",
        "w/l",
        "greedy",
        "Δ greedy [95% CI]",
        "w/l",
    )
    for col in cols:
        t.add_column(col, justify="right")
    for n_rated, r in results["steps"].items():
        d, g = r["difference"], r["greedy_difference"]
        t.add_row(
            n_rated,
            f"{r['random']:.4f}",
            f"{r['uncertainty']:.4f}",
            f"{d['mean']:+.4f} [{d['ci95_low']:+.4f}, {d['ci95_high']:+.4f}]",
            f"{d['won']}/{d['lost']}",
            f"{r['greedy']:.4f}",
            f"{g['mean']:+.4f} [{g['ci95_low']:+.4f}, {g['ci95_high']:+.4f}]",
            f"{g['won']}/{g['lost']}",
        )
    return t


if __name__ == "__main__":
    main()

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

Embeddings come from paperlens's own ingest + index path in a throwaway data dir.

    .venv/bin/python bench/recommend.py
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
    with contextlib.ExitStack() as stack:
        if args.data_dir is not None:
            data_dir = args.data_dir
            data_dir.mkdir(parents=True, exist_ok=True)
        else:
            data_dir = stack.enter_context(scratch_dir(args.tmp, args.keep_tmp))
        ingest: dict[str, Any] = {"reused": True}
        if not (data_dir / "paperlens.db").exists():
            ingest = ingest_corpus(data_dir, bench, args.seq_length)
        pl, embed = index_at(data_dir, args.seq_length)
        try:
            pks = {sp.paper.id: sp.pk for b in pl.papers.changed_since(0) for sp in b}
            vectors = pl.embeddings.get(pl.model_key, [pks[i] for i in ids])
            dense = unit_rows(np.vstack([vectors[pks[i]] for i in ids]))
        finally:
            pl.close()
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


if __name__ == "__main__":
    main()

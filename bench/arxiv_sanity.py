"""arxiv-sanity-lite's "similar papers" next to paperlens's, on the same corpus and queries.

arxiv-sanity-lite (Karpathy, https://github.com/karpathy/arxiv-sanity-lite) ranks papers
like a given one with tf-idf features and a linear SVM trained per request:

* ``compute.py``: ``TfidfVectorizer(input='content', encoding='utf-8',
  decode_error='replace', strip_accents='unicode', lowercase=True, analyzer='word',
  stop_words='english', token_pattern=r'(?u)\\b[a-zA-Z_][a-zA-Z0-9_]+\\b',
  ngram_range=(1, 2), max_features=args.num, norm='l2', use_idf=True, smooth_idf=True,
  sublinear_tf=True, max_df=args.max_df, min_df=args.min_df)`` over
  ``' '.join([title, summary, author names])``, features cast to float32. The command-line
  defaults changed over time: ``-n 10000 --min_df 5 --max_df 0.5`` in the early
  versions (read at commits 13a1d5f and 194b7f4), ``-n 20000 --min_df 5 --max_df 0.1``
  later (with ``--max_docs``; seen in copies of the later file, the original's text at
  that commit was not available to check).
* ``serve.py`` ``svm_rank(pid=...)``: ``y`` is 1 for the given paper and 0 for every
  other paper; ``svm.LinearSVC(class_weight='balanced', verbose=False, max_iter=10000,
  tol=1e-6, C=...)`` is fitted on the whole feature matrix, and the corpus is ranked by
  ``clf.decision_function(x)``, descending. ``C=0.1`` hard-coded in the early versions
  (commit c5b5c78), later a request parameter ``svm_c`` defaulting to ``0.01``.

Rows here: ``asl-svm`` (both generations of settings), ``asl-tfidf-cosine`` (plain
cosine of the same tf-idf vectors, no SVM) and paperlens ``similar`` (semantic HNSW
neighbours of the stored embedding) and hybrid (RRF of BM25-on-the-paper's-text and
semantic), as ``bench/quality.py`` computes them.

Quality: CSFCube dev (24 query papers, whole corpus less the query paper ranked;
nDCG@10/20 and MAP exactly as ``bench/quality.py``). paperlens uses the real
all-MiniLM-L6-v2 embeddings of the corpus at max_seq_length 256 (from the pool cache of
``bench/measure.py``; the same vectors ``embed_pending`` stores).

Speed: a "similar papers" request, p50/p95 over ``--requests`` random papers, at the
CSFCube size and on ``--synthetic`` synthetic papers (``bench/synth.py``; paperlens
with proxy embeddings, as in ``speed.py``): arxiv-sanity's fit + decision function +
sort with the features already in memory (its ``serve.py`` also un-pickles the features
file on every request; that load is timed separately), paperlens's
``PaperLens.similar(id, k=10)`` with papers loaded from the store. Memory: the RSS a
fresh process gains by loading each side's serving state (arxiv-sanity: the pickled
features; paperlens: lexical + HNSW indexes as ``PaperLens`` opens them).

    .venv/bin/python bench/arxiv_sanity.py
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    percentile_ms,
    rounded,
    scratch_dir,
    write_json,
)
from measure import cached_pool_vectors, log, open_lens, rss_mb
from quality import (
    METRICS,
    Bench,
    hybrid_ranking,
    ingest_corpus,
    lexical_ranking,
    load_bench,
    pk_to_id,
    score,
    semantic_ranking,
    summarise,
)
from synth import Synthesiser, load_pool

if TYPE_CHECKING:
    from paperlens.core import PaperLens

#: A scipy.sparse matrix (tf-idf features); scipy ships no type hints.
SparseMatrix = Any

#: arxiv-sanity-lite settings by generation: tf-idf features, min_df, max_df, SVM C.
SETTINGS: dict[str, dict[str, Any]] = {
    "later": {"max_features": 20_000, "min_df": 5, "max_df": 0.1, "C": 0.01},
    "early": {"max_features": 10_000, "min_df": 5, "max_df": 0.5, "C": 0.1},
}
SEQ_LENGTH = 256


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="arxiv-sanity-lite's tf-idf + SVM 'similar papers' vs paperlens: "
        "CSFCube quality, request latency and memory.",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="CSFCube directory (default: ../shared/bench/csfcube-dev)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DIR / "data",
        help="directory with the real sample files (default: ../shared/data)",
    )
    parser.add_argument(
        "--synthetic",
        type=int,
        default=100_000,
        help="synthetic corpus size for the latency comparison (default: 100000; 0: skip)",
    )
    parser.add_argument(
        "--requests", type=int, default=30, help="timed 'similar' requests (default: 30)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "arxiv_sanity.json",
        help="JSON results (default: bench/results/arxiv_sanity.json)",
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="parent of the scratch dir")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch dir")
    parser.add_argument("--memory-probe", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args()


# -- arxiv-sanity-lite --------------------------------------------------------------------


def asl_features(texts: list[str], settings: dict[str, Any]) -> tuple[Any, Any]:
    """compute.py: fit the vectorizer on the corpus, then transform it (float32)."""
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
        max_features=settings["max_features"],
        norm="l2",
        use_idf=True,
        smooth_idf=True,
        sublinear_tf=True,
        max_df=settings["max_df"],
        min_df=settings["min_df"],
    )
    v.fit(texts)
    return v, v.transform(texts).astype(np.float32)


def asl_text(title: str, abstract: str, authors: str = "") -> str:
    """compute.py's document: ``' '.join([title, summary, author_str])``."""
    return " ".join([title, abstract, authors])


def svm_rank(x: SparseMatrix, row: int, c: float) -> np.ndarray:
    """serve.py ``svm_rank(pid=...)``: one positive against all the rest; rows by
    decision function, best first."""
    from sklearn import svm

    y = np.zeros(x.shape[0], dtype=np.float32)
    y[row] = 1.0
    clf = svm.LinearSVC(class_weight="balanced", verbose=False, max_iter=10000, tol=1e-6, C=c)
    clf.fit(x, y)
    s = clf.decision_function(x)
    return np.argsort(-s)


def cosine_rank(x: SparseMatrix, row: int) -> np.ndarray:
    sims = (x @ x[row].T).toarray().ravel()
    return np.argsort(-sims, kind="stable")


def matrix_mb(x: SparseMatrix) -> float:
    return rounded((x.data.nbytes + x.indices.nbytes + x.indptr.nbytes) / 1e6, 1)


# -- quality on CSFCube -------------------------------------------------------------------


def asl_quality(bench: Bench) -> dict[str, Any]:
    ids = [str(r["id"]) for r in bench.corpus]
    row_of = {pid: i for i, pid in enumerate(ids)}
    texts = [asl_text(r["title"], r["abstract"]) for r in bench.corpus]
    out: dict[str, Any] = {}
    for generation, settings in SETTINGS.items():
        _, x = asl_features(texts, settings)
        svm: dict[str, dict[str, float]] = {}
        cosine: dict[str, dict[str, float]] = {}
        seconds = []
        for q in bench.queries:
            row = row_of[q.paper_id]
            started = time.perf_counter()
            order = svm_rank(x, row, settings["C"])
            seconds.append(time.perf_counter() - started)
            svm[q.qid] = score([ids[i] for i in order if i != row], bench.qrels[q.qid])
            order = cosine_rank(x, row)
            cosine[q.qid] = score([ids[i] for i in order if i != row], bench.qrels[q.qid])
        out[f"asl-svm ({generation})"] = _method(svm, bench, settings, x)
        out[f"asl-tfidf-cosine ({generation})"] = _method(cosine, bench, settings, x)
        log(f"arxiv-sanity {generation}: SVM nDCG@10 {out[f'asl-svm ({generation})']['all']}")
    return out


def _method(
    per_query: dict[str, dict[str, float]], bench: Bench, settings: dict[str, Any], x: SparseMatrix
) -> dict[str, Any]:
    return summarise(per_query, bench.queries) | {
        "settings": settings,
        "tfidf_shape": list(x.shape),
        "per_query": {q: {k: rounded(v) for k, v in s.items()} for q, s in per_query.items()},
    }


def put_real_embeddings(pl: PaperLens, pool_ids: dict[str, int], pool_vectors: np.ndarray) -> int:
    """Store the cached real embeddings (pool order) for the CSFCube papers, under their
    text hash, so ``PaperLens.index()`` only embeds what the cache lacks."""
    from paperlens.store.papers import text_hash

    rows = []
    for batch in pl.papers.changed_since(0):
        for sp in batch:
            i = pool_ids.get(f"csfcube-{sp.paper.id}")
            if i is not None:
                rows.append((sp.pk, text_hash(sp.paper.title, sp.paper.abstract), pool_vectors[i]))
    pl.embeddings.put(pl.model_key, rows)
    return len(rows)


def paperlens_quality(work: Path, bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    pool = load_pool(args.data, args.csfcube)
    pool_vectors, pool_report = cached_pool_vectors(work / "pool", pool, SEQ_LENGTH)
    data_dir = work / "csfcube"
    data_dir.mkdir()
    ingest_corpus(data_dir, bench, SEQ_LENGTH)
    pl = open_lens(data_dir, SEQ_LENGTH)
    try:
        reused = put_real_embeddings(pl, {p.id: i for i, p in enumerate(pool)}, pool_vectors)
        report = pl.index()
        ids = pk_to_id(pl)
        depth = len(ids) - 1
        per: dict[str, dict[str, dict[str, float]]] = {"similar": {}, "hybrid": {}}
        for q in bench.queries:
            semantic = semantic_ranking(pl, q.paper_id, depth)
            lexical = lexical_ranking(pl, q.paper_id, depth)
            rankings = {"similar": semantic, "hybrid": hybrid_ranking(lexical, semantic, depth)}
            for name, ranking in rankings.items():
                per[name][q.qid] = score([ids[pk] for pk in ranking], bench.qrels[q.qid])
        similar_latency = time_paperlens_similar(pl, list(ids.values()), args)
    finally:
        pl.close()
    names = {
        "similar": "paperlens similar (semantic HNSW)",
        "hybrid": "paperlens hybrid (BM25 + semantic RRF)",
    }
    out = {
        names[m]: summarise(p, bench.queries)
        | {"per_query": {q: {k: rounded(v) for k, v in s.items()} for q, s in p.items()}}
        for m, p in per.items()
    }
    return {
        "methods": out,
        "embeddings": {
            "reused_from_pool_cache": reused,
            "embedded_now": report.embedded,
            "pool": pool_report,
        },
        "similar_latency": similar_latency,
        "memory": memory_probe_child("paperlens", data_dir),
    }


# -- speed and memory ---------------------------------------------------------------------


def _stats(seconds: list[float]) -> dict[str, float]:
    return {
        "requests": len(seconds),
        "p50_ms": percentile_ms(seconds, 50),
        "p95_ms": percentile_ms(seconds, 95),
    }


def time_paperlens_similar(
    pl: PaperLens, paper_ids: list[str], args: argparse.Namespace
) -> dict[str, float]:
    rng = np.random.default_rng(args.seed + 3)
    picked = [paper_ids[int(i)] for i in rng.choice(len(paper_ids), args.requests, False)]
    for pid in picked[:5]:
        pl.similar(pid, k=10)
    seconds = []
    for pid in picked:
        started = time.perf_counter()
        pl.similar(pid, k=10)
        seconds.append(time.perf_counter() - started)
    return _stats(seconds)


def time_asl_similar(x: SparseMatrix, c: float, args: argparse.Namespace) -> dict[str, float]:
    rng = np.random.default_rng(args.seed + 3)
    rows = rng.choice(x.shape[0], args.requests, replace=False)
    seconds = []
    for row in rows:
        started = time.perf_counter()
        svm_rank(x, int(row), c)
        seconds.append(time.perf_counter() - started)
    return _stats(seconds)


def asl_serving(work: Path, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Build the later-generation features for ``texts``, pickle them as compute.py
    does, then time requests and the per-request un-pickling, and probe memory."""
    settings = SETTINGS["later"]
    started = time.perf_counter()
    vectorizer, x = asl_features(texts, settings)
    build = time.perf_counter() - started
    path = work / f"features-{x.shape[0]}.p"
    features = {
        "pids": [str(i) for i in range(x.shape[0])],
        "x": x,
        "vocab": vectorizer.vocabulary_,
        "idf": vectorizer.idf_,
    }
    with path.open("wb") as fh:
        pickle.dump(features, fh)
    loads = []
    for _ in range(5):
        started = time.perf_counter()
        with path.open("rb") as fh:
            pickle.load(fh)  # our own file, as serve.py's load_features does
        loads.append(time.perf_counter() - started)
    latency = time_asl_similar(x, settings["C"], args)
    log(f"arxiv-sanity {x.shape[0]:,} papers: similar p50 {latency['p50_ms']} ms")
    return {
        "papers": x.shape[0],
        "tfidf_shape": list(x.shape),
        "tfidf_nnz": int(x.nnz),
        "tfidf_matrix_mb": matrix_mb(x),
        "features_file_mb": rounded(path.stat().st_size / 1e6, 1),
        "feature_build_seconds": rounded(build, 1),
        "features_unpickle_ms": rounded(float(np.median(loads)) * 1000, 1),
        "similar_latency_features_in_memory": latency,
        "memory": memory_probe_child("asl", path),
    }


def memory_probe_child(kind: str, path: Path) -> dict[str, float]:
    """RSS a fresh process gains loading one side's serving state (see ``probe``)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", kind, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def probe(kind: str, path: Path) -> dict[str, float]:
    """In a fresh process: RSS before and after loading the serving state and answering
    one request (arxiv-sanity: un-pickle features.p and rank once; paperlens: open the
    lexical and HNSW indexes as ``PaperLens`` does and answer one ``similar``)."""
    if kind == "asl":
        import sklearn.svm  # noqa: F401 - imported before the baseline, as a server would

        before = rss_mb()
        with path.open("rb") as fh:
            features = pickle.load(fh)
        loaded = rss_mb()
        svm_rank(features["x"], 0, SETTINGS["later"]["C"])
    else:
        pl = open_lens(path, SEQ_LENGTH)
        first = next(iter(pk_to_id(pl).values()))
        before = rss_mb()
        _ = pl.lexical.num_docs()
        _ = len(pl.vectors)
        loaded = rss_mb()
        pl.similar(first, k=10)
    return {
        "rss_mb_before": before,
        "rss_mb_after_load": loaded,
        "rss_mb_after_one_request": rss_mb(),
        "loaded_mb": rounded(loaded - before, 1),
    }


def synthetic_run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Both systems on ``args.synthetic`` synthetic papers (paperlens: proxy embeddings)."""
    from measure import ingest_file
    from speed import build_indexes, insert_proxies

    pool = load_pool(args.data, args.csfcube)
    pool_vectors, _ = cached_pool_vectors(work / "pool", pool, SEQ_LENGTH)
    synthesiser = Synthesiser(pool, args.seed)
    path = work / "synthetic.jsonl"
    rows = synthesiser.write(path, args.synthetic)
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            texts.append(asl_text(r["title"], r["abstract"], r["authors"]))
    asl = asl_serving(work, texts, args)
    del texts
    data_dir = work / "synthetic"
    pl = open_lens(data_dir, SEQ_LENGTH)
    try:
        ingest_file(pl, path)
        insert_proxies(pl, rows, pool_vectors, 0.0, args.seed)
        build_indexes(pl)
        ids = list(pk_to_id(pl).values())
        latency = time_paperlens_similar(pl, ids, args)
    finally:
        pl.close()
    log(f"paperlens {args.synthetic:,} papers: similar p50 {latency['p50_ms']} ms")
    return {
        "arxiv_sanity": asl,
        "paperlens": {
            "papers": args.synthetic,
            "similar_latency": latency,
            "memory": memory_probe_child("paperlens", data_dir),
        },
    }


def csfcube_speed(work: Path, bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    texts = [asl_text(r["title"], r["abstract"]) for r in bench.corpus]
    return asl_serving(work, texts, args)


# -- output -------------------------------------------------------------------------------


def quality_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="Similar papers on CSFCube dev (24 queries, whole corpus ranked): "
        "arxiv-sanity-lite vs paperlens"
    )
    for col in ("method", "settings", "nDCG@10", "nDCG@20", "MAP"):
        table.add_column(col, justify="left" if col in ("method", "settings") else "right")
    for name, r in results["quality"].items():
        s = r.get("settings")
        settings = (
            f"{s['max_features']:,} features, df {s['min_df']}–{s['max_df']}"
            + (f", C={s['C']}" if "svm" in name else "")
            if s
            else "all-MiniLM-L6-v2 @256"
        )
        table.add_row(name, settings, *(f"{r['all'][m]:.4f}" for m in METRICS))
    return table


#: Paired comparisons shown: (baseline, contender).
PAIRS = (
    ("asl-svm (later)", "paperlens similar (semantic HNSW)"),
    ("asl-svm (later)", "paperlens hybrid (BM25 + semantic RRF)"),
    ("asl-tfidf-cosine (early)", "paperlens similar (semantic HNSW)"),
    ("asl-tfidf-cosine (early)", "paperlens hybrid (BM25 + semantic RRF)"),
)


def paired_table(results: dict[str, Any]) -> Table:
    """Per-query differences (contender - baseline), as quality.py compares lengths."""
    from metrics import paired_difference

    table = Table(
        title="Paired per query (paperlens - arxiv-sanity): mean difference "
        "[95% bootstrap CI] (queries won/lost)"
    )
    for col in ("comparison", "ΔnDCG@10", "ΔMAP"):
        table.add_column(col, justify="left" if col == "comparison" else "right")
    q = results["quality"]
    for base, other in PAIRS:
        a, b = q[base]["per_query"], q[other]["per_query"]
        cells = []
        for metric in ("ndcg@10", "map"):
            d = paired_difference([a[k][metric] for k in a], [b[k][metric] for k in a])
            cells.append(
                f"{d['mean']:+.4f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] "
                f"({d['won']}/{d['lost']})"
            )
        table.add_row(f"{other.split(' (')[0]} vs {base}", *cells)
    return table


def speed_table(results: dict[str, Any]) -> Table:
    table = Table(title="A 'similar papers' request: latency and serving memory")
    for col in ("corpus", "system", "p50 (ms)", "p95 (ms)", "memory loaded (MB)", "notes"):
        table.add_column(col, justify="left" if col in ("corpus", "system", "notes") else "right")
    for corpus, run in results["speed"].items():
        asl, plens = run["arxiv_sanity"], run["paperlens"]
        lat = asl["similar_latency_features_in_memory"]
        table.add_row(
            corpus,
            "arxiv-sanity-lite (SVM, later settings)",
            f"{lat['p50_ms']:,.0f}",
            f"{lat['p95_ms']:,.0f}",
            f"{asl['memory']['loaded_mb']:,.0f}",
            f"tf-idf {asl['tfidf_shape'][0]:,}×{asl['tfidf_shape'][1]:,}, "
            f"{asl['tfidf_matrix_mb']:,.0f} MB; + {asl['features_unpickle_ms']:,.0f} ms "
            "to un-pickle per request",
        )
        lat = plens["similar_latency"]
        table.add_row(
            corpus,
            "paperlens similar (HNSW)",
            f"{lat['p50_ms']:,.1f}",
            f"{lat['p95_ms']:,.1f}",
            f"{plens['memory']['loaded_mb']:,.0f}",
            "lexical + HNSW opened; papers loaded from SQLite",
        )
    return table


def tables(results: dict[str, Any]) -> list[Table]:
    return [quality_table(results), paired_table(results), speed_table(results)]


def main() -> None:
    args = parse_args()
    go_offline()
    if args.memory_probe:
        print(json.dumps(probe(args.memory_probe[0], Path(args.memory_probe[1]))))
        return
    bench = load_bench(args.csfcube)
    results: dict[str, Any] = {
        "benchmark": "arxiv-sanity-lite vs paperlens, similar papers",
        "machine": machine_info(),
        "asl_settings": SETTINGS,
        "requests": args.requests,
        "seed": args.seed,
    }
    started = time.perf_counter()
    with scratch_dir(args.tmp_dir, args.keep_tmp) as work:
        (work / "pool").mkdir()
        quality = asl_quality(bench)
        plens = paperlens_quality(work, bench, args)
        results["quality"] = quality | plens["methods"]
        results["paperlens_embeddings"] = plens["embeddings"]
        speed = {
            f"CSFCube ({len(bench.corpus):,})": {
                "arxiv_sanity": csfcube_speed(work, bench, args),
                "paperlens": {
                    "papers": len(bench.corpus),
                    "similar_latency": plens["similar_latency"],
                    "memory": plens["memory"],
                },
            }
        }
        if args.synthetic:
            speed[f"synthetic ({args.synthetic:,})"] = synthetic_run(work, args)
        results["speed"] = speed
    results["seconds_total"] = rounded(time.perf_counter() - started, 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, results)
    out = console()
    for table in tables(results):
        out.print(table)
    out.print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

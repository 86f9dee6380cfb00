"""Speed at scale: ingest, embed, index builds, query latency, HNSW recall, disk, memory.

Per corpus size (default 10,000 and 100,000 synthetic papers, see ``bench/synth.py``):

* ingest rate through the real JSONL path (``PaperLens.ingest(JsonlSource(...))``);
* lexical (tantivy) and HNSW (usearch) build times via ``PaperLens.index()``, i.e.
  ``sync_lexical`` / ``sync_vectors``, over proxy embeddings stored with
  ``EmbeddingStore.put`` (so ``embed_pending`` finds nothing to do);
* query latency p50/p95 through the ``PaperLens`` facade (results loaded from the
  store, as a front end sees them) for lexical, semantic (with and without query
  encoding), hybrid and similar;
* HNSW recall@10 against exact (numpy) search, for a sweep of ``expansion_search``;
* index size on disk and the process's peak RSS.

Once per run: embedding speed (``embed_pending``) on a real sample at each
``--seq-lengths``, and the real pool's embeddings that the proxies are made from.

    .venv/bin/python bench/speed.py --sizes 10000,100000
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    int_list,
    machine_info,
    make_settings,
    peak_rss_mb,
    percentile_ms,
    rounded,
    scratch_dir,
    write_json,
    write_jsonl,
)
from measure import (
    LookupEncoder,
    Truth,
    disk_usage,
    embed_pool,
    exact_top,
    ingest_file,
    log,
    open_lens,
    set_expansion_search,
    time_calls,
    timed_embed,
    usearch_vectors,
)
from synth import (
    RealPaper,
    Synthesiser,
    Vectors,
    load_pool,
    mean_vectors,
    pool_record,
    proxy_vectors,
    synthetic_number,
)

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from paperlens.embedding import Encoder

MODES = ("lexical", "semantic", "semantic_no_encode", "hybrid", "similar")
PUT_CHUNK = 5000
NOISE_CANDIDATES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Ingest/embed/index/query speed and HNSW recall of paperlens on "
        "synthetic corpora resampled from real abstracts.",
    )
    parser.add_argument(
        "--sizes",
        type=int_list,
        default=[10_000, 100_000],
        help="comma-separated corpus sizes (default: 10000,100000)",
    )
    parser.add_argument(
        "--seq-lengths",
        type=int_list,
        default=[128, 256],
        help="max_seq_length values to measure embedding speed at (default: 128,256)",
    )
    parser.add_argument(
        "--embed-sample",
        type=int,
        default=1000,
        help="real papers embedded through embed_pending per seq length (default: 1000)",
    )
    parser.add_argument(
        "--index-seq-length",
        type=int,
        default=None,
        help="max_seq_length of the embeddings the corpora are indexed with "
        "(default: paperlens's configured default)",
    )
    parser.add_argument(
        "--queries", type=int, default=200, help="timed queries per mode (default: 200)"
    )
    parser.add_argument(
        "--expansion-search",
        type=int_list,
        default=[64, 128, 256, 512],
        help="HNSW expansion_search values for the recall sweep (default: 64,128,256,512)",
    )
    parser.add_argument(
        "--noise",
        default="auto",
        help="expected norm of the Gaussian noise added to proxy vectors, or 'auto' "
        "(default): the candidate whose proxy corpus best matches the real pool's "
        "nearest-neighbour cosines",
    )
    parser.add_argument(
        "--fidelity-sample",
        type=int,
        default=200,
        help="synthetic papers embedded for real to check the proxies (default: 200)",
    )
    parser.add_argument(
        "--pool-limit",
        type=int,
        default=0,
        help="use only this many real papers, picked at random (quick smoke runs; "
        "default: all ~7,200)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DIR / "data",
        help="directory with arxiv-snapshot-sample.jsonl and ml-abstracts-1000.jsonl "
        "(default: ../shared/data from the repo root)",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="CSFCube directory, for its corpus.jsonl (default: ../shared/bench/csfcube-dev)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "speed.json",
        help="where to write the JSON results (default: bench/results/speed.json)",
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="parent of the throwaway data dirs (default: the system temp dir)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the throwaway data dirs")
    return parser.parse_args()


# -- embedding real text ------------------------------------------------------------------


def measure_embedding(
    work: Path, pool: list[RealPaper], sample: int, seq_lengths: Sequence[int], seed: int
) -> dict[str, Any]:
    """Embedding speed on the same random real papers at each seq length."""
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(pool), min(sample, len(pool)), replace=False))
    path = work / "embed-sample.jsonl"
    write_jsonl(path, (pool_record(pool[i]) for i in picked))
    out: dict[str, Any] = {}
    for length in seq_lengths:
        pl = open_lens(work / "embed-sample", length)
        try:
            ingest_file(pl, path)
            out[str(length)] = timed_embed(pl)
        finally:
            pl.close()
        log(f"embed at {length} tokens: {out[str(length)]['papers_per_second']} papers/s")
    return out


def proxy_fidelity(
    pl: PaperLens,
    synth_path: Path,
    rows: np.ndarray,
    pool_vectors: Vectors,
    noise: float,
    sample: int,
    seed: int,
) -> dict[str, float]:
    """Cosine between the proxy vector and the real embedding of the synthetic text,
    and, for scale, between real embeddings of two unrelated synthetic papers."""
    from common import read_jsonl
    from paperlens.store.papers import embedding_text

    rng = np.random.default_rng(seed)
    records = read_jsonl(synth_path)
    picked = rng.choice(len(records), min(sample, len(records)), replace=False)
    texts = [embedding_text(records[i]["title"], records[i]["abstract"]) for i in picked]
    real = pl.encoder.encode(texts)
    means = mean_vectors(pool_vectors, rows[picked])
    noisy = proxy_vectors(pool_vectors, rows[picked], noise, rng)
    return {
        "papers": len(picked),
        "cos_real_vs_mean_of_sources": rounded(float(np.mean(np.sum(real * means, axis=1)))),
        "cos_real_vs_proxy_with_noise": rounded(float(np.mean(np.sum(real * noisy, axis=1)))),
        "cos_proxy_vs_mean_of_sources": rounded(float(np.mean(np.sum(noisy * means, axis=1)))),
        "cos_real_vs_random_other_paper": rounded(
            float(np.mean(np.sum(real * np.roll(real, 1, axis=0), axis=1)))
        ),
    }


# -- one corpus size ----------------------------------------------------------------------


def insert_proxies(
    pl: PaperLens, rows: np.ndarray, pool_vectors: Vectors, noise: float, seed: int
) -> float:
    """Store a proxy vector for every paper under the model's key, with the paper's real
    text hash, so the normal index build takes them as current embeddings."""
    from paperlens.store.papers import text_hash

    rng = np.random.default_rng(seed)
    vectors = proxy_vectors(pool_vectors, rows, noise, rng)
    started = time.perf_counter()
    for batch in pl.papers.changed_since(0, batch_size=PUT_CHUNK):
        pl.embeddings.put(
            pl.model_key,
            [
                (
                    sp.pk,
                    text_hash(sp.paper.title, sp.paper.abstract),
                    vectors[synthetic_number(sp.paper.id)],
                )
                for sp in batch
            ],
        )
    seconds = time.perf_counter() - started
    pending = pl.embeddings.count_pending(pl.model_key)
    if pending:
        raise SystemExit(f"{pending} papers still pending after inserting proxy vectors")
    return seconds


def build_indexes(pl: PaperLens) -> dict[str, float]:
    _ = pl.encoder  # model load is not part of the builds
    report = pl.index()
    if report.embedded:
        raise SystemExit(f"index() embedded {report.embedded} papers: proxies were not current")
    return {
        "lexical_build_seconds": rounded(report.seconds["lexical"], 2),
        "hnsw_build_seconds": rounded(report.seconds["vectors"], 2),
        "lexical_docs": report.lexical_docs,
        "vectors": report.vectors,
    }


def lens_without_model(data_dir: Path, seq_length: int, encoder: LookupEncoder) -> PaperLens:
    from paperlens.core import PaperLens

    class PrecomputedQueries(PaperLens):
        @property
        def encoder(self) -> Encoder:
            return encoder

    return PrecomputedQueries(make_settings(data_dir, seq_length))


def latencies(
    pl: PaperLens, lookup_pl: PaperLens, phrases: list[str], paper_ids: list[str]
) -> dict[str, dict[str, float]]:
    calls: dict[str, tuple[Callable[[str], object], list[str]]] = {
        "lexical": (lambda q: pl.search(q, "lexical"), phrases),
        "semantic": (lambda q: pl.search(q, "semantic"), phrases),
        "semantic_no_encode": (lambda q: lookup_pl.search(q, "semantic"), phrases),
        "hybrid": (lambda q: pl.search(q, "hybrid"), phrases),
        "similar": (lambda pid: pl.similar(pid, k=10), paper_ids),
    }
    return {mode: time_calls(call, inputs) for mode, (call, inputs) in calls.items()}


def exact_truths(
    pks: np.ndarray, matrix: Vectors, queries: Vectors, skips: Sequence[int | None]
) -> list[Truth]:
    truths = []
    for query, top, skip in zip(queries, exact_top(matrix, queries, 11), skips, strict=True):
        kept = [int(r) for r in top if int(pks[r]) != skip][:10]
        floor = float(matrix[kept[-1]] @ query)
        truths.append(Truth({int(pks[r]) for r in kept}, floor))
    return truths


def recall_sweep(
    pl: PaperLens, query_vectors: Vectors, paper_pks: list[int], sweep: Sequence[int]
) -> dict[str, Any]:
    """Recall@10 of the HNSW index against exact search over the same stored vectors,
    for text queries and for "similar" queries (a paper's vector, itself excluded).
    ``..._within_1e-3`` also counts a result whose exact cosine is within 0.001 of the
    10th best (a near-tie, not a real miss)."""
    pks, matrix = _all_vectors(pl)
    row_of = {int(pk): i for i, pk in enumerate(pks)}
    paper_rows = [row_of[pk] for pk in paper_pks]
    no_skip: list[int | None] = [None] * len(query_vectors)
    sets: dict[str, tuple[Vectors, Sequence[int | None]]] = {
        "text_queries": (query_vectors, no_skip),
        "paper_queries": (matrix[paper_rows], paper_pks),
    }
    truths = {name: exact_truths(pks, matrix, v, skip) for name, (v, skip) in sets.items()}
    index = usearch_vectors(pl).index
    configured = index.expansion_search
    out: dict[str, dict[str, float]] = {}
    try:
        for expansion in sweep:
            set_expansion_search(index, expansion)
            row: dict[str, float] = {}
            for name, (vectors, skips) in sets.items():
                found, seconds = _ann_search(pl, vectors, skips)
                row[f"recall@10_{name}"] = rounded(_recall(found, truths[name]))
                row[f"recall@10_{name}_within_1e-3"] = rounded(
                    _tolerant_recall(found, truths[name], vectors, matrix, row_of)
                )
                if name == "text_queries":
                    row["ann_p50_ms"] = percentile_ms(seconds, 50)
                    row["ann_p95_ms"] = percentile_ms(seconds, 95)
                else:
                    row["papers_found_by_own_vector"] = rounded(
                        _self_found_share(pl, vectors, paper_pks)
                    )
            out[str(expansion)] = row
    finally:
        set_expansion_search(index, configured)
    return {"by_expansion_search": out, "corpus_geometry": neighbour_cosines(matrix, paper_rows)}


def _all_vectors(pl: PaperLens) -> tuple[np.ndarray, Vectors]:
    parts = list(pl.embeddings.changed_since(pl.model_key, 0))
    return np.concatenate([p for p, _ in parts]), np.vstack([m for _, m in parts])


def _ann_search(
    pl: PaperLens, vectors: Vectors, skips: Sequence[int | None]
) -> tuple[list[list[int]], list[float]]:
    """Top 10 of ``VectorIndex.search`` per query (its own paper skipped), timed."""
    found, seconds = [], []
    for vector, skip in zip(vectors, skips, strict=True):
        started = time.perf_counter()
        hits = pl.vectors.search(vector, 10 if skip is None else 11)
        seconds.append(time.perf_counter() - started)
        found.append([pk for pk, _ in hits if pk != skip][:10])
    return found, seconds


def _self_found_share(pl: PaperLens, vectors: Vectors, pks: Sequence[int]) -> float:
    """Share of papers HNSW returns in the top 10 for their own vector: a paper missing
    from its own result list is unreachable by graph search (usearch issue #735)."""
    found = []
    for vector, pk in zip(vectors, pks, strict=True):
        found.append(pk in {hit for hit, _ in pl.vectors.search(vector, 10)})
    return float(np.mean(found))


def _recall(found: list[list[int]], truths: list[Truth]) -> float:
    pairs = zip(found, truths, strict=True)
    return float(np.mean([len(t.pks & set(f)) / len(t.pks) for f, t in pairs]))


def _tolerant_recall(
    found: list[list[int]],
    truths: list[Truth],
    queries: Vectors,
    matrix: Vectors,
    row_of: dict[int, int],
) -> float:
    recalls = []
    for got, truth, query in zip(found, truths, queries, strict=True):
        good = sum(float(matrix[row_of[pk]] @ query) >= truth.floor - 1e-3 for pk in got)
        recalls.append(min(good, 10) / 10)
    return float(np.mean(recalls))


def neighbour_cosines(matrix: Vectors, rows: Sequence[int]) -> dict[str, float]:
    """Mean cosine of the 1st and 10th nearest neighbours of some corpus members: the
    corpus's local density, to compare proxy corpora with real ones."""
    scores = matrix[list(rows)] @ matrix.T
    scores[np.arange(len(rows)), list(rows)] = -np.inf
    best = -np.sort(np.partition(-scores, 9, axis=1)[:, :10], axis=1)  # top 10, best first
    return {
        "nn1_cos": rounded(float(best[:, 0].mean())),
        "nn10_cos": rounded(float(best[:, 9].mean())),
    }


def calibrate_noise(
    pool: list[RealPaper], pool_vectors: Vectors, sample: Sequence[int], seed: int
) -> tuple[float, dict[str, Any]]:
    """The noise whose proxy corpus, as large as the real pool and made from it, has
    nearest-neighbour cosines closest to the real pool's own."""
    target = neighbour_cosines(pool_vectors, sample)
    rows = Synthesiser(pool, seed + 2).sources(len(pool))
    tried = {}
    for noise in NOISE_CANDIDATES:
        proxies = proxy_vectors(pool_vectors, rows, noise, np.random.default_rng(seed))
        tried[str(noise)] = neighbour_cosines(proxies, sample)
    best = min(tried, key=lambda n: sum(abs(tried[n][k] - target[k]) for k in target))
    return float(best), {"real_pool": target, "proxy_corpus_by_noise": tried, "chosen": best}


# -- one corpus -----------------------------------------------------------------------------


def measure_queries(
    pl: PaperLens,
    data_dir: Path,
    args: argparse.Namespace,
    phrases: list[str],
    query_vectors: Vectors,
    seq_length: int,
) -> dict[str, Any]:
    """Latency per mode, then the recall sweep (random papers as "similar" queries)."""
    rng = np.random.default_rng(args.seed + 1)
    ids = {sp.pk: sp.paper.id for batch in pl.papers.changed_since(0) for sp in batch}
    paper_pks = [int(pk) for pk in rng.choice(sorted(ids), len(phrases), replace=False)]
    lookup = LookupEncoder(pl.model_key, dict(zip(phrases, query_vectors, strict=True)))
    lookup_pl = lens_without_model(data_dir, seq_length, lookup)
    try:
        latency = latencies(pl, lookup_pl, phrases, [ids[pk] for pk in paper_pks])
    finally:
        lookup_pl.close()
    log("latency p50: " + ", ".join(f"{m} {v['p50_ms']}ms" for m, v in latency.items()))
    sweep = recall_sweep(pl, query_vectors, paper_pks, args.expansion_search)
    log(
        "recall@10: "
        + ", ".join(
            f"ef={e}: {v['recall@10_text_queries']}"
            for e, v in sweep["by_expansion_search"].items()
        )
    )
    return {
        "latency": latency,
        "recall": sweep["by_expansion_search"],
        "corpus_geometry": sweep["corpus_geometry"],
    }


def measure_corpus(
    pl: PaperLens,
    name: str,
    args: argparse.Namespace,
    phrases: list[str],
    query_vectors: Vectors,
    seq_length: int,
) -> dict[str, Any]:
    """Index builds, disk, latency and recall for the corpus ``pl`` holds."""
    out: dict[str, Any] = dict(build_indexes(pl))
    out["expansion_search_in_effect"] = int(usearch_vectors(pl).index.expansion_search)
    log(
        f"{name}: lexical build {out['lexical_build_seconds']}s, "
        f"HNSW build {out['hnsw_build_seconds']}s"
    )
    out["disk"] = disk_usage(pl)
    out |= measure_queries(pl, pl.settings.data_dir, args, phrases, query_vectors, seq_length)
    out["peak_rss_mb"] = rounded(peak_rss_mb(), 1)
    return out


def run_synthetic(
    work: Path,
    size: int,
    args: argparse.Namespace,
    synthesiser: Synthesiser,
    pool_vectors: Vectors,
    noise: float,
    phrases: list[str],
    query_vectors: Vectors,
    seq_length: int,
) -> dict[str, Any]:
    """A synthetic corpus of ``size`` papers in its own data dir under ``work``."""
    synth_path = work / "synthetic.jsonl"
    rows = synthesiser.write(synth_path, size)
    pl = open_lens(work / "corpus", seq_length)
    try:
        ingest = ingest_file(pl, synth_path)
        log(f"{size}: ingested at {ingest['papers_per_second']} papers/s")
        proxy_seconds = insert_proxies(pl, rows, pool_vectors, noise, args.seed)
        out = {"ingest": ingest, "proxy_insert_seconds": rounded(proxy_seconds, 2)}
        out |= measure_corpus(pl, f"{size}", args, phrases, query_vectors, seq_length)
        out["proxy_fidelity"] = proxy_fidelity(
            pl, synth_path, rows, pool_vectors, noise, args.fidelity_sample, args.seed
        )
    finally:
        pl.close()
    return out


def run_real_pool(
    work: Path,
    pool_report: dict[str, Any],
    args: argparse.Namespace,
    phrases: list[str],
    query_vectors: Vectors,
    seq_length: int,
) -> dict[str, Any]:
    """The real pool itself, with its real embeddings: the reference point."""
    pl = open_lens(work / "pool", seq_length)
    try:
        out = {"ingest": pool_report["ingest"]}
        out |= measure_corpus(pl, "real pool", args, phrases, query_vectors, seq_length)
    finally:
        pl.close()
    return out


# -- output -------------------------------------------------------------------------------


def corpus_label(name: str) -> str:
    kind, size = name.split("-")
    return f"{int(size):,} {kind}"


def size_table(results: dict[str, Any]) -> Table:
    corpora = results["corpora"]
    table = Table(title="paperlens speed per corpus (synthetic ones with proxy embeddings)")
    table.add_column("measure")
    for name in corpora:
        table.add_column(corpus_label(name), justify="right")

    def row(label: str, get: Callable[[dict[str, Any]], str]) -> None:
        table.add_row(label, *(get(run) for run in corpora.values()))

    row("ingest (papers/s)", lambda r: f"{r['ingest']['papers_per_second']:,.0f}")
    row("lexical index build (s)", lambda r: f"{r['lexical_build_seconds']:.1f}")
    row("HNSW build (s)", lambda r: f"{r['hnsw_build_seconds']:.1f}")
    for mode in MODES:
        row(f"{mode} p50 / p95 (ms)", partial(_mode_latency, mode))
    configured = str(results["hnsw"]["expansion_search"])
    row(
        f"HNSW recall@10, text queries (ef={configured})",
        lambda r: f"{r['recall'][configured]['recall@10_text_queries']:.3f}",
    )
    row(
        f"HNSW recall@10, similar (ef={configured})",
        lambda r: f"{r['recall'][configured]['recall@10_paper_queries']:.3f}",
    )
    row("database on disk (MB)", lambda r: f"{r['disk']['database_mb']:,.1f}")
    row("lexical index on disk (MB)", lambda r: f"{r['disk']['lexical_index_mb']:,.1f}")
    row("HNSW index on disk (MB)", lambda r: f"{r['disk']['hnsw_index_mb']:,.1f}")
    row("peak RSS so far (MB)", lambda r: f"{r['peak_rss_mb']:,.0f}")
    return table


def _latency(stats: dict[str, float]) -> str:
    return f"{stats['p50_ms']:.1f} / {stats['p95_ms']:.1f}"


def _mode_latency(mode: str, run: dict[str, Any]) -> str:
    return _latency(run["latency"][mode])


def recall_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="HNSW recall@10 vs exact search, by expansion_search "
        "(in brackets: near-ties within 0.001 cosine counted as hits)"
    )
    for col in (
        "corpus",
        "expansion_search",
        "recall@10 text",
        "recall@10 similar",
        "self found",
        "ANN p50 / p95 (ms)",
    ):
        table.add_column(col, justify="right")
    for name, run in results["corpora"].items():
        for expansion, r in run["recall"].items():
            table.add_row(
                corpus_label(name),
                expansion,
                _recall_cell(r, "text_queries"),
                _recall_cell(r, "paper_queries"),
                f"{r['papers_found_by_own_vector']:.3f}",
                f"{r['ann_p50_ms']:.2f} / {r['ann_p95_ms']:.2f}",
            )
    return table


def _recall_cell(r: dict[str, float], queries: str) -> str:
    return f"{r[f'recall@10_{queries}']:.3f} ({r[f'recall@10_{queries}_within_1e-3']:.3f})"


def embed_table(results: dict[str, Any]) -> Table:
    table = Table(title="Embedding speed (embed_pending, all-MiniLM-L6-v2, torch CPU)")
    for col in ("sample", "max_seq_length", "papers", "seconds", "papers/s"):
        table.add_column(col, justify="left" if col == "sample" else "right")
    for length, r in results["embedding"].items():
        table.add_row(
            "random real papers",
            length,
            str(r["papers"]),
            f"{r['seconds']:.0f}",
            f"{r['papers_per_second']:.1f}",
        )
    pool = results["pool"]
    table.add_row(
        "whole real pool",
        str(pool["seq_length"]),
        str(pool["embed"]["papers"]),
        f"{pool['embed']['seconds']:.0f}",
        f"{pool['embed']['papers_per_second']:.1f}",
    )
    return table


def notes(results: dict[str, Any]) -> str:
    synthetic = {n: r for n, r in results["corpora"].items() if "proxy_fidelity" in r}
    fidelity = [
        f"{corpus_label(n)}: {r['proxy_fidelity']['cos_real_vs_proxy_with_noise']:.3f} "
        f"(noise-free mean of sources {r['proxy_fidelity']['cos_real_vs_mean_of_sources']:.3f}; "
        f"two unrelated papers {r['proxy_fidelity']['cos_real_vs_random_other_paper']:.3f})"
        for n, r in synthetic.items()
    ]
    geometry = [f"{corpus_label(n)}: {_geometry(r)}" for n, r in results["corpora"].items()]
    noise = results["synthetic_corpus"]["proxy_noise_norm"]
    return (
        f"proxy noise norm {noise} (calibrated: a proxy corpus the size of the real pool "
        "matches its nearest-neighbour cosines best)\n"
        "cos(proxy, real embedding of the synthetic text) — "
        + "; ".join(fidelity)
        + "\nnearest-neighbour cosine, 1st / 10th — "
        + "; ".join(geometry)
    )


def _geometry(run: dict[str, Any]) -> str:
    g = run["corpus_geometry"]
    return f"{g['nn1_cos']:.3f} / {g['nn10_cos']:.3f}"


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    go_offline()
    from paperlens.config import Settings
    from paperlens.index.vector import HnswParams

    seq_length = args.index_seq_length or Settings().max_seq_length
    pool = load_pool(args.data, args.csfcube)
    if args.pool_limit:
        keep = np.random.default_rng(args.seed).choice(len(pool), args.pool_limit, replace=False)
        pool = [pool[i] for i in sorted(keep)]
    synthesiser = Synthesiser(pool, args.seed)
    phrases = synthesiser.phrases(args.queries)
    results: dict[str, Any] = {
        "benchmark": "paperlens speed",
        "machine": machine_info(),
        "hnsw": asdict(HnswParams()),
        "index_seq_length": seq_length,
        "queries_per_mode": args.queries,
        "seed": args.seed,
        "corpora": {},
    }
    started = time.perf_counter()
    with scratch_dir(args.tmp_dir, args.keep_tmp) as work:
        results["embedding"] = measure_embedding(
            work, pool, args.embed_sample, args.seq_lengths, args.seed
        )
        pool_vectors, results["pool"] = embed_pool(work, pool, seq_length)
        results["pool"]["seq_length"] = seq_length
        log(f"real pool embedded: {results['pool']['embed']['papers_per_second']} papers/s")
        noise, calibration = _noise(args, pool, pool_vectors)
        results["synthetic_corpus"] = {
            "real_pool_papers": len(pool),
            "proxy_noise_norm": noise,
            "noise_calibration": calibration,
            "proxy": "renormalised mean of the 2-3 source abstracts' real embeddings "
            "+ N(0, (noise/sqrt(dim))^2) per coordinate, renormalised",
        }
        query_vectors = _encode_queries(work, phrases, seq_length)
        results["corpora"][f"real-{len(pool)}"] = run_real_pool(
            work, results["pool"], args, phrases, query_vectors, seq_length
        )
        for size in args.sizes:
            size_work = work / f"size-{size}"
            size_work.mkdir()
            results["corpora"][f"synthetic-{size}"] = run_synthetic(
                size_work,
                size,
                args,
                synthesiser,
                pool_vectors,
                noise,
                phrases,
                query_vectors,
                seq_length,
            )
            if not args.keep_tmp:
                shutil.rmtree(size_work, ignore_errors=True)
    results["seconds_total"] = rounded(time.perf_counter() - started, 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, results)
    out = console()
    for table in (embed_table(results), size_table(results), recall_table(results)):
        out.print(table)
    out.print(notes(results))
    out.print(f"results written to {args.out}")


def _noise(
    args: argparse.Namespace, pool: list[RealPaper], pool_vectors: Vectors
) -> tuple[float, dict[str, Any] | None]:
    if args.noise != "auto":
        return float(args.noise), None
    sample = np.random.default_rng(args.seed).choice(
        len(pool), min(args.queries, len(pool)), replace=False
    )
    noise, calibration = calibrate_noise(pool, pool_vectors, sample.tolist(), args.seed)
    log(f"proxy noise calibrated to {noise}")
    return noise, calibration


def _encode_queries(work: Path, phrases: list[str], seq_length: int) -> Vectors:
    pl = open_lens(work / "pool", seq_length)
    try:
        return np.asarray(pl.encoder.encode(phrases), dtype=np.float32)
    finally:
        pl.close()


if __name__ == "__main__":
    main()

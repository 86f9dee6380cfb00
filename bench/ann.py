"""Choosing the dense index's layout for millions of papers: graph precision, links, rerank.

    .venv/bin/python bench/ann.py --sizes 300000 [--configs f16-m32,b1-m16-r200,...]

At 3M papers today's graph (f16 vectors, connectivity 32) is a 3.1 GB file: a server
that maps it has ~1.1 GB resident right after opening and the whole file once queries
have touched it, against a 1 GB budget for the whole server. This bench builds, per
configuration, a usearch HNSW graph over proxy embeddings (the means of 2-3 real
abstract embeddings, as bench/scale.py makes them) whose nodes hold a *compressed* code
of each vector (``b1``: the signs of the vector minus the corpus mean, 48 bytes at 384
dimensions; ``i8``: usearch's 8-bit scalar quantisation, 384 bytes), with fewer links,
and re-ranks the graph's ``fetch`` best candidates exactly against the full vectors,
read with ``os.pread`` from a flat float16 file in key order (page cache, not the
process's RSS). ``f16-*`` configs are plain graphs (no rerank), today's layout.

Per configuration: build seconds on all cores (batches of 4,096 as ``sync_vectors``
feeds the graph) and the reachability check's seconds and re-insertions
(``paperlens.index.vector.repair_reachability``), papers still unreachable after it,
bytes per paper of the graph file and the side file; then, in a fresh child process
(so RSS is its own): RSS after mapping the graph (``view``), after 300 queries, query
p50/p95 (graph search + rerank), and recall@10 against exact search for 200 text
queries (real title phrases encoded by the default encoder) and 200 papers' own vectors
("similar", the paper itself excluded).

Writes ``bench/results/ann.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from common import RESULTS_DIR, int_list, machine_info, rounded, write_json

BATCH = 4_096
QUERIES = 200
SERVE_QUERIES = 300
CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass(frozen=True)
class Config:
    name: str
    dtype: str  # f16 (plain graph), i8 or b1 (compressed graph + rerank)
    connectivity: int
    expansion_add: int
    expansion_search: int
    fetch: int  # candidates reranked exactly (0: no rerank)
    centred: bool = True  # b1: signs of (vector - corpus mean), not of the vector


CONFIGS = {
    c.name: c
    for c in [
        Config("f16-m32", "f16", 32, 256, 256, 0),
        Config("f16-m16", "f16", 16, 128, 256, 0),
        Config("i8-m16-r100", "i8", 16, 128, 256, 100),
        Config("i8-m16-r200", "i8", 16, 128, 256, 200),
        Config("i8-m12-r200", "i8", 12, 128, 256, 200),
        Config("i8-m24-r200", "i8", 24, 128, 256, 200),
        Config("i8-m16-ea64-r200", "i8", 16, 64, 256, 200),
        Config("i8-m16-es512-r400", "i8", 16, 128, 512, 400),
        Config("i8-m24-ea192-r200", "i8", 24, 192, 256, 200),
        Config("i8-m32-ea256-r200", "i8", 32, 256, 256, 200),
        Config("i8-m32-ea128-r200", "i8", 32, 128, 256, 200),
        Config("i8-m24-ea256-r200", "i8", 24, 256, 256, 200),
        Config("b1-m16-r100", "b1", 16, 128, 256, 100),
        Config("b1-m16-r200", "b1", 16, 128, 256, 200),
        Config("b1-m16-r200-raw", "b1", 16, 128, 256, 200, centred=False),
        Config("b1-m24-r200", "b1", 24, 128, 256, 200),
        Config("b1-m12-r200", "b1", 12, 128, 256, 200),
        Config("b1-m16-r400", "b1", 16, 128, 512, 400),
    ]
}


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# -- corpus -------------------------------------------------------------------------------


def pool_vectors(args: argparse.Namespace) -> NDArray[np.float32]:
    """The real pool's embeddings by the default encoder, cached in bench/.cache."""
    from synth import load_pool

    pool = load_pool(args.data, args.csfcube)
    path = CACHE / f"ann-pool-{len(pool)}.npy"
    if path.exists():
        return np.asarray(np.load(path), dtype=np.float32)
    encoder = default_encoder()
    vectors = np.asarray(encoder.encode([f"{p.title}. {p.abstract}" for p in pool]), np.float16)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    np.save(path, vectors)
    return np.asarray(vectors, dtype=np.float32)


def default_encoder() -> Any:
    from paperlens.config import Settings
    from paperlens.embedding import build_encoder

    return build_encoder(Settings(data_dir=Path(tempfile.mkdtemp()), database_url=""))


def proxies(pool: NDArray[np.float32], n: int, seed: int) -> NDArray[np.float32]:
    """Renormalised means of 2-3 random pool vectors (bench/synth.py's rows)."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(pool), size=(n, 3))
    rows[rng.random(n) < 0.5, 2] = -1
    out = np.empty((n, pool.shape[1]), dtype=np.float32)
    for start in range(0, n, 65_536):
        part = rows[start : start + 65_536]
        present = part >= 0
        summed = (pool[np.where(present, part, 0)] * present[..., None]).sum(axis=1)
        out[start : start + len(part)] = summed / np.linalg.norm(summed, axis=1, keepdims=True)
    return out


def exact_top(
    vectors: NDArray[np.float32], queries: NDArray[np.float32], skips: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Exact top-10 keys (row numbers) per query; ``skips`` (-1: none) excluded."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_k = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(vectors), 100_000):
        scores = queries @ vectors[start : start + 100_000].T
        keys = np.arange(start, start + scores.shape[1], dtype=np.int64)
        hit = skips[:, None] == keys[None, :]
        scores[hit] = -np.inf
        top = np.argpartition(-scores, 10, axis=1)[:, :10]
        best_s = np.hstack([best_s, np.take_along_axis(scores, top, axis=1)])
        best_k = np.hstack([best_k, keys[top]])
        order = np.argsort(-best_s, axis=1)[:, :10]
        best_s, best_k = np.take_along_axis(best_s, order, 1), np.take_along_axis(best_k, order, 1)
    return best_k


# -- build --------------------------------------------------------------------------------


def encode(config: Config, vectors: NDArray[np.float32], centre: NDArray[np.float32]) -> Any:
    if config.dtype == "b1":
        shifted = vectors - centre if config.centred else vectors
        return np.packbits(shifted > 0, axis=1)
    return vectors


def new_index(config: Config, ndim: int) -> Any:
    from paperlens.index.vector import usearch_index_class

    Index = usearch_index_class()
    return Index(
        ndim=ndim,
        metric="hamming" if config.dtype == "b1" else "ip",
        dtype=config.dtype,
        connectivity=config.connectivity,
        expansion_add=config.expansion_add,
        expansion_search=config.expansion_search,
    )


def build(config: Config, vectors: NDArray[np.float32], out: Path) -> dict[str, Any]:
    from paperlens.index.vector import repair_reachability

    centre = vectors[:: max(1, len(vectors) // 100_000)].mean(axis=0).astype(np.float32)
    index = new_index(config, vectors.shape[1])
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(vectors), BATCH):
        part = vectors[start : start + BATCH]
        keys = np.arange(start, start + len(part), dtype=np.uint64)
        index.add(keys, encode(config, part, centre), threads=0)
    build_s, build_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    repair = repair_reachability(index)
    check_s, check_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    from paperlens.index.vector import unreachable_keys

    # Stranded nodes go to the delta in the product (VectorIndex._serve_from_delta).
    unreachable = len(set(unreachable_keys(index).tolist()) - set(repair.stranded))
    count_s = time.perf_counter() - started
    index.save(str(out / "graph.usearch"))
    np.save(out / "centre.npy", centre)
    if config.fetch:
        vectors.astype(np.float16).tofile(out / "vectors.f16")
    n = len(vectors)
    return {
        "build_s": rounded(build_s, 1),
        "build_cpu_s": rounded(build_cpu, 1),
        "check_s": rounded(check_s, 1),
        "check_cpu_s": rounded(check_cpu, 1),
        "reinserted": repair.reinserted,
        "check_rounds": repair.rounds,
        "stranded_to_delta": len(repair.stranded),
        "unreachable": unreachable,
        "count_s": rounded(count_s, 1),
        "graph_bytes_per_paper": rounded(os.path.getsize(out / "graph.usearch") / n, 1),
        "side_bytes_per_paper": (
            rounded(os.path.getsize(out / "vectors.f16") / n, 1) if config.fetch else 0
        ),
    }


# -- serve (child process) ---------------------------------------------------------------


def serve(config: Config, out: Path, ndim: int) -> dict[str, Any]:
    queries = np.load(out.parent / "queries.npy")
    truths = np.load(out.parent / "truths.npy")
    skips = np.load(out.parent / "skips.npy")
    before = rss_mb()
    index = new_index(config, ndim)
    index.view(str(out / "graph.usearch"))
    centre = np.load(out / "centre.npy")
    fd = os.open(out / "vectors.f16", os.O_RDONLY) if config.fetch else -1
    opened = rss_mb()
    row_bytes = ndim * 2

    def search(q: NDArray[np.float32], k: int) -> list[int]:
        if not config.fetch:
            return [int(x) for x in index.search(q, k).keys]
        cand = np.sort(
            np.asarray(index.search(encode(config, q[None], centre)[0], config.fetch).keys)
        )
        buf = b"".join(os.pread(fd, row_bytes, int(r) * row_bytes) for r in cand)
        full = np.frombuffer(buf, dtype=np.float16).reshape(len(cand), ndim).astype(np.float32)
        top = np.argsort(-(full @ q))[:k]
        return [int(x) for x in cand[top]]

    for q in queries[:10]:
        search(q, 10)
    found, seconds = [], []
    for i in range(max(SERVE_QUERIES, len(queries))):
        j = i % len(queries)
        t = time.perf_counter()
        hits = search(queries[j], 11)
        seconds.append(time.perf_counter() - t)
        if i < len(queries):
            found.append([h for h in hits if h != skips[j]][:10])
    after = rss_mb()
    rec = [len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truths, strict=True)]
    half = len(rec) // 2
    return {
        "rss_before_mb": rounded(before, 1),
        "rss_open_mb": rounded(opened - before, 1),
        "rss_after_queries_mb": rounded(after - before, 1),
        "p50_ms": rounded(float(np.percentile(seconds, 50)) * 1000, 3),
        "p95_ms": rounded(float(np.percentile(seconds, 95)) * 1000, 3),
        "recall_text": rounded(float(np.mean(rec[:half]))),
        "recall_similar": rounded(float(np.mean(rec[half:]))),
        "peak_rss_mb": rounded(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


# -- driver -------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int_list, default=[300_000])
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument(
        "--csfcube", type=Path, default=repo.parent / "shared" / "bench" / "csfcube-dev"
    )
    parser.add_argument("--work", type=Path, help="keep the graphs here (default: temporary)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ann.json")
    parser.add_argument(
        "--serve", nargs=3, metavar=("CONFIG", "DIR", "NDIM"), help=argparse.SUPPRESS
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.serve:
        name, out, ndim = args.serve
        print(json.dumps(serve(CONFIGS[name], Path(out), int(ndim))))
        return
    from synth import load_pool

    pool = pool_vectors(args)
    from synth import Synthesiser

    phrases = Synthesiser(load_pool(args.data, args.csfcube), args.seed).phrases(QUERIES)
    text = default_encoder().encode(phrases).astype(np.float32)
    results: dict[str, Any] = {
        "benchmark": "dense index layouts: compressed HNSW graph + exact rerank",
        "machine": machine_info(),
        "load_at_start": os.getloadavg(),
        "runs": [],
    }
    if args.out.exists():
        results["runs"] = json.loads(args.out.read_text()).get("runs", [])
    base = args.work or Path(tempfile.mkdtemp(prefix="ann-"))
    for size in args.sizes:
        vectors = proxies(pool, size, args.seed)
        rng = np.random.default_rng(args.seed + 1)
        own = rng.choice(size, QUERIES, replace=False)
        queries = np.vstack([text, vectors[own]]).astype(np.float32)
        skips = np.concatenate([np.full(len(text), -1), own]).astype(np.int64)
        started = time.perf_counter()
        truths = exact_top(vectors, queries, skips)
        print(f"{size:,}: exact truths in {time.perf_counter() - started:.0f} s", flush=True)
        work = base / str(size)
        work.mkdir(parents=True, exist_ok=True)
        np.save(work / "queries.npy", queries)
        np.save(work / "truths.npy", truths)
        np.save(work / "skips.npy", skips)
        for name in args.configs.split(","):
            config = CONFIGS[name]
            out = work / name
            out.mkdir(exist_ok=True)
            load = os.getloadavg()[0]
            row = {"size": size, "config": name, **config.__dict__, "load": rounded(load, 2)}
            row |= build(config, vectors, out)
            child = subprocess.run(
                [sys.executable, __file__, "--serve", name, str(out), str(vectors.shape[1])],
                check=True,
                capture_output=True,
                text=True,
            )
            row |= json.loads(child.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            results["runs"] = [
                r for r in results["runs"] if (r["size"], r["config"]) != (size, name)
            ] + [row]
            write_json(args.out, results)
            for f in out.iterdir():
                f.unlink()
    print(table(results["runs"]))


def table(runs: list[dict[str, Any]]) -> str:
    head = (
        "| papers | config | build CPU s (wall) | check CPU s (wall) | re-inserted / to delta "
        "| unreachable | graph B/paper | rows B/paper | RSS open / after queries (MB) "
        "| p50 / p95 ms | recall@10 text / similar |"
    )
    lines = [head, "| " + " | ".join(["---:"] * 11) + " |"]
    for r in runs:
        lines.append(
            f"| {r['size']:,} | {r['config']} | {r['build_cpu_s']} ({r['build_s']}) "
            f"| {r['check_cpu_s']} ({r['check_s']}) | {r['reinserted']} / {r['stranded_to_delta']} "
            f"| {r['unreachable']} | {r['graph_bytes_per_paper']} | {r['side_bytes_per_paper']} "
            f"| {r['rss_open_mb']} / {r['rss_after_queries_mb']} | {r['p50_ms']} / {r['p95_ms']} "
            f"| {r['recall_text']} / {r['recall_similar']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

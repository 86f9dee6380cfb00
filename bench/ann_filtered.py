"""Filtered semantic search on a built data dir (bench/README.md, section "ann.py"):
p50 of ``Retriever.dense`` for a category filter on each path, and of
``VectorIndex.get_many`` for 20,000 keys.

    python bench/ann_filtered.py DATA_DIR --large cs.CV --small math.AT --mid math.AG --archive cs

* ``exact_large`` / ``exact_small``: categories at most ``EXACT_LIMIT`` papers pass,
  scored exactly (``get_many`` of every passing paper);
* ``overfetch_large``: the large category forced onto the HNSW over-fetch path
  (``EXACT_LIMIT`` lowered below its count), as a category above 20,000 papers takes it;
* ``overfetch_mid``: a category of ~2% forced onto the over-fetch path: 1,000
  candidates for 10 results, as a 60,000-paper category at 3M papers asks;
* ``overfetch_archive``: a whole archive (more than ``EXACT_LIMIT`` papers pass).

Queries are stored papers' vectors with a little noise (no encoder needed). The data
dir is opened read-only in spirit (nothing is written), but use a copy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import make_settings


def p50_ms(call: Callable[[int], object], runs: int) -> float:
    times = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--large", default="cs.CV")
    parser.add_argument("--small", default="math.AT")
    parser.add_argument("--mid", default="math.AG")
    parser.add_argument("--archive", default="cs")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seq-length", type=int, default=256)
    args = parser.parse_args()

    from paperlens.core import PaperLens
    from paperlens.filters import SearchFilters
    from paperlens.search import engine

    pl = PaperLens(make_settings(args.data_dir, args.seq_length))
    try:
        index = pl.vectors
        rng = np.random.default_rng(0)
        rows = getattr(index, "rows", None)
        assert rows is not None, "a compressed (re-ranked) usearch index is expected"
        stored = np.asarray(rows.keys)
        picked = rng.choice(stored, args.queries, replace=False).tolist()
        _, base = index.get_many(picked)
        noisy = base + 0.05 * rng.standard_normal(base.shape).astype(np.float32)
        queries = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
        out: dict[str, object] = {"papers": len(index)}
        filters = {
            "large": SearchFilters(categories=(args.large,)),
            "small": SearchFilters(categories=(args.small,)),
            "mid": SearchFilters(categories=(args.mid,)),
            "archive": SearchFilters(categories=(args.archive,)),
        }
        out["passing"] = {name: pl.lexical.count(f) for name, f in filters.items()}
        latency: dict[str, float] = {}

        def dense(f: SearchFilters) -> Callable[[int], object]:
            return lambda i: pl.retriever.dense(queries[i % len(queries)], f, 10)

        dense(filters["large"])(0)  # warm the page cache and the lexical index
        latency["exact_large"] = p50_ms(dense(filters["large"]), args.queries)
        latency["exact_small"] = p50_ms(dense(filters["small"]), args.queries)
        latency["overfetch_archive"] = p50_ms(dense(filters["archive"]), args.queries)
        limit = engine.EXACT_LIMIT
        engine.EXACT_LIMIT = 100
        try:
            latency["overfetch_large"] = p50_ms(dense(filters["large"]), args.queries)
            latency["overfetch_mid"] = p50_ms(dense(filters["mid"]), args.queries)
        finally:
            engine.EXACT_LIMIT = limit
        sets = [rng.choice(stored, 20_000, replace=False).tolist() for _ in range(20)]
        latency["get_many_20k"] = p50_ms(lambda i: index.get_many(sets[i % 20]), 20)
        out["p50_ms"] = latency
        print(json.dumps(out, indent=2))
    finally:
        pl.close()


if __name__ == "__main__":
    main()

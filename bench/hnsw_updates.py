"""What adding a few papers to a big HNSW index costs: before and after the delta file.

    .venv/bin/python bench/hnsw_updates.py INDEX_FILE [--papers 1,100,10000] [--queries 200]

INDEX_FILE is a saved paperlens usearch index, e.g. the one ``bench/scale.py --work DIR``
leaves in ``DIR/data/index/vectors/``. It is copied to a temporary directory first (so
the page cache holds it, as on a server that has been running). Measured:

* **open**: time and RSS growth to open the index memory-mapped (``VectorIndex``, the
  default now) and loaded into memory (``view=False``, what the server did before);
* **publish N new papers** (N from ``--papers``; their vectors are stored vectors plus a
  little noise, keys past the largest one), as a submission or a day's harvest does:
  *before*: add to the loaded graph and save the whole file (the old ``save``);
  *now*: ``VectorIndex.upsert`` + ``save`` (the delta file alone while it is under 5 % of
  the graph); with the bytes written each way;
* **pick-up**: ``reload()`` in a second (mapped) instance after the publish, as another
  web worker does within 2 s;
* **search**: p50/p95 of ``search(vector, 10)`` over ``--queries`` stored vectors, on the
  mapped index with a delta vs on the loaded graph.

Prints a table and writes ``bench/results/hnsw_updates.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from common import RESULTS_DIR, console, int_list, machine_info, percentile_ms, rounded, write_json
from measure import rss_mb


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path, help="a saved paperlens usearch index file")
    parser.add_argument("--papers", type=int_list, default=[1, 100, 10_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "hnsw_updates.json")
    return parser.parse_args()


def main() -> None:
    from paperlens.index.vector import HnswParams, VectorIndex

    args = parse_args()
    state = json.loads(args.index.with_name(args.index.name + ".json").read_text())
    ndim, model, params = int(state["ndim"]), str(state["model"]), HnswParams()
    rng = np.random.default_rng(args.seed)
    out: dict[str, Any] = {
        "benchmark": "HNSW updates: whole-file save vs delta file",
        "machine": machine_info(),
        "index": {
            "vectors": int(state["count"]),
            "file_mb": rounded(args.index.stat().st_size / 2**20, 1),
        },
        "hnsw": {
            "connectivity": params.connectivity,
            "expansion_add": params.expansion_add,
            "expansion_search": params.expansion_search,
            "dtype": params.dtype,
        },
        "publish": [],
    }
    with tempfile.TemporaryDirectory(prefix="paperlens-hnsw-") as tmp:
        work = Path(tmp)
        for suffix in ("", ".json"):
            shutil.copyfile(f"{args.index}{suffix}", work / f"v.usearch{suffix}")
        path = work / "v.usearch"

        before = rss_mb()
        started = time.perf_counter()
        mapped = VectorIndex(path, ndim, model, params)
        out["open_mapped"] = {
            "seconds": rounded(time.perf_counter() - started, 3),
            "rss_growth_mb": rounded(rss_mb() - before, 1),
        }
        before = rss_mb()
        started = time.perf_counter()
        loaded = VectorIndex(path, ndim, model, params, view=False)
        out["open_loaded"] = {
            "seconds": rounded(time.perf_counter() - started, 3),
            "rss_growth_mb": rounded(rss_mb() - before, 1),
        }
        total = len(mapped)
        keys = np.asarray(mapped.main.keys[: min(total, 50_000)], dtype=np.uint64)
        next_key = int(mapped.main.keys[:].max()) + 1 if total else 1
        reader = VectorIndex(path, ndim, model, params)

        for n in args.papers:
            picks = rng.choice(keys, n, replace=n > len(keys))
            base = mapped.get_many([int(k) for k in picks])[1]
            noisy = base + rng.standard_normal(base.shape).astype(np.float32) * 0.05
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            new_keys = np.arange(next_key, next_key + n, dtype=np.uint64)
            next_key += n

            started = time.perf_counter()  # before: add to the loaded graph, save it all
            loaded.main.add(new_keys, noisy)
            whole = work / "whole.usearch"
            loaded.main.save(str(whole))
            os.replace(whole, work / "whole-done.usearch")
            old_seconds = time.perf_counter() - started
            old_bytes = (work / "whole-done.usearch").stat().st_size
            (work / "whole-done.usearch").unlink()

            started = time.perf_counter()  # now: the delta file
            mapped.upsert(new_keys, noisy)
            mapped.save(seq=int(state["seq"]) + n)
            new_seconds = time.perf_counter() - started
            written = [p for p in work.glob("v.usearch.delta-*")] + [work / "v.usearch.json"]
            wrote_main = mapped.delta_file is None
            new_bytes = sum(p.stat().st_size for p in written) + (
                path.stat().st_size if wrote_main else 0
            )

            started = time.perf_counter()
            picked = reader.reload()
            reload_seconds = time.perf_counter() - started
            out["publish"].append(
                {
                    "papers": n,
                    "before_seconds": rounded(old_seconds, 3),
                    "before_mb_written": rounded(old_bytes / 2**20, 1),
                    "now_seconds": rounded(new_seconds, 4),
                    "now_mb_written": rounded(new_bytes / 2**20, 2),
                    "now_rewrote_main": wrote_main,
                    "delta_vectors_after": len(mapped.delta),
                    "reader_reload_seconds": rounded(reload_seconds, 4),
                    "reader_sees_them": picked and all(int(k) in reader for k in new_keys[:50]),
                }
            )

        queries = mapped.get_many([int(k) for k in rng.choice(keys, args.queries)])[1]
        for name, index in (("mapped_with_delta", reader), ("loaded", loaded)):
            for q in queries[:10]:
                index.search(q, 10)
            times = []
            for q in queries:
                started = time.perf_counter()
                index.search(q, 10)
                times.append(time.perf_counter() - started)
            out[f"search_{name}"] = {
                "p50_ms": percentile_ms(times, 50),
                "p95_ms": percentile_ms(times, 95),
            }
    write_json(args.out, out)
    show(out)
    print(f"results written to {args.out}")


def show(out: dict[str, Any]) -> None:
    table = Table(
        title=f"Adding papers to an HNSW index of {out['index']['vectors']:,} vectors "
        f"({out['index']['file_mb']:,} MB)"
    )
    for column in (
        "new papers",
        "before: s",
        "before: MB written",
        "now: s",
        "now: KB written",
        "reader reload s",
    ):
        table.add_column(column, justify="right")
    for row in out["publish"]:
        table.add_row(
            f"{row['papers']:,}",
            f"{row['before_seconds']:.2f}",
            f"{row['before_mb_written']:,.0f}",
            f"{row['now_seconds']:.3f}",
            f"{row['now_mb_written'] * 1024:,.0f}" + (" (main)" if row["now_rewrote_main"] else ""),
            f"{row['reader_reload_seconds']:.3f}",
        )
    console().print(table)
    other = Table(title="Opening and searching")
    other.add_column("measure")
    other.add_column("value", justify="right")
    for key in ("open_mapped", "open_loaded"):
        other.add_row(
            f"{key}: seconds / RSS growth MB",
            f"{out[key]['seconds']:.2f} / {out[key]['rss_growth_mb']:,.0f}",
        )
    for key in ("search_mapped_with_delta", "search_loaded"):
        other.add_row(
            f"{key}: p50 / p95 ms", f"{out[key]['p50_ms']:.2f} / {out[key]['p95_ms']:.2f}"
        )
    console().print(other)


if __name__ == "__main__":
    main()

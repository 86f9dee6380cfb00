"""Papers no search can reach: usearch's concurrent add() with and without the repair.

    .venv/bin/python bench/hnsw_reach.py WORK [--sizes 20000,100000,300000] [--queries 200]
    .venv/bin/python bench/hnsw_reach.py --index FILE   # a graph built before the check

WORK is a ``bench/scale.py --work DIR`` directory: its ``rows.npy``, ``pool-vectors.npy``
and ``config.json`` give the same proxy embeddings the scale run indexes (means of real
all-MiniLM-L6-v2 abstract embeddings, see bench/scale.py), the first SIZE of them.

usearch's ``add()`` on several threads can leave a node stored but unreachable by any
search (unum-cloud/USearch#735). For each size, the graph (paperlens' ``HnswParams``) is
built on all cores in batches of 4,096 (as ``sync_vectors`` feeds it), two ways:

* **plain**: ``Index.add`` alone, what paperlens did before;
* **checked**: the same, then ``paperlens.index.vector.repair_reachability``, which
  ``VectorIndex`` runs before it publishes a main graph: search every node for its own
  vector (narrowly), re-insert the missed ones on one thread.

With ``--index FILE`` (a saved paperlens usearch index, e.g. the 1M one ``scale.py``
built before the check existed) it loads that graph, counts its unreachable papers, runs
the check on it and counts again.

Measured: build time, the check's time, papers re-inserted, papers whose own vector
does not return them in the top 10 at the default search breadth (no search would ever
show them), and recall@10 against exact search for ``--queries`` held-out papers.
Prints a table and writes ``bench/results/hnsw_reach.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from rich.table import Table

from common import RESULTS_DIR, console, int_list, machine_info, rounded, write_json
from measure import set_expansion_search
from scale_corpus import NOISE_BLOCK, proxy_block

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray
    from usearch.index import Index

    from synth import Vectors

BATCH = 4_096


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work", type=Path, nargs="?", help="a bench/scale.py --work directory")
    parser.add_argument("--index", type=Path, help="check a saved index file instead")
    parser.add_argument("--sizes", type=int_list, default=[20_000, 100_000, 300_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "hnsw_reach.json")
    return parser.parse_args()


def proxies(work: Path, count: int) -> np.ndarray:
    config = json.loads((work / "config.json").read_text())
    rows = np.load(work / "rows.npy")
    pool = np.load(work / "pool-vectors.npy")
    if count > len(rows):
        raise SystemExit(f"{work} holds {len(rows)} papers; asked for {count}")
    blocks = [
        proxy_block(pool, rows, float(config["noise"]), int(config["seed"]), b)
        for b in range(-(-count // NOISE_BLOCK))
    ]
    return np.vstack(blocks)[:count]


def vectors_of(index: Index, keys: NDArray[np.uint64]) -> Vectors:
    """The stored vectors of ``keys`` (all in ``index``) as a float32 matrix."""
    # usearch hints a lookup as the union of its one-key and many-key results.
    got = cast("Sequence[NDArray[Any]]", index.get(keys))
    return np.vstack(got).astype(np.float32)


def unreachable_in(index: Index, chunk: int = 65_536) -> int:
    """Papers whose own (stored) vector does not return them in the top 10 at the
    index's search breadth. Two stages, so that a 1M graph takes minutes, not an hour:
    every paper at expansion 16 (top 4), then the ones missed there at full breadth."""
    from paperlens.index.vector import REACH_CHECK_EF

    keys = np.asarray(index.keys[:], dtype=np.uint64)
    breadth = index.expansion_search
    suspects: list[np.ndarray] = []
    set_expansion_search(index, REACH_CHECK_EF)
    try:
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            vectors = vectors_of(index, part)
            found = index.search(vectors, 4).keys
            suspects.append(part[~(found == part[:, None]).any(axis=1)])
    finally:
        set_expansion_search(index, breadth)
    part = np.concatenate(suspects)
    if len(part) == 0:
        return 0
    vectors = vectors_of(index, part)
    found = index.search(vectors, 10).keys.reshape(len(part), -1)
    return int((~(found == part[:, None]).any(axis=1)).sum())


def check_saved(path: Path, out_path: Path) -> None:
    from usearch.index import Index

    from paperlens.index.vector import HnswParams, repair_reachability

    params = HnswParams()
    index = Index(
        ndim=int(json.loads(path.with_name(path.name + ".json").read_text())["ndim"]),
        metric="ip",
        dtype=params.dtype,
        connectivity=params.connectivity,
        expansion_add=params.expansion_add,
        expansion_search=params.expansion_search,
    )
    started = time.perf_counter()
    index.load(str(path))
    load_s = time.perf_counter() - started
    console().print(f"loaded {len(index):,} vectors in {load_s:.1f} s; counting ...")
    started = time.perf_counter()
    before = unreachable_in(index)
    count_s = time.perf_counter() - started
    console().print(f"unreachable before: {before:,} ({count_s:.0f} s to count)")
    started = time.perf_counter()
    reinserted = repair_reachability(index)
    check_s = time.perf_counter() - started
    after = unreachable_in(index)
    result = {
        "benchmark": "HNSW nodes no search reaches: a saved graph, checked",
        "machine": machine_info(),
        "index": {"file": path.name, "vectors": len(index)},
        "unreachable_before": before,
        "check_s": rounded(check_s, 1),
        "reinserted": reinserted,
        "unreachable_after": after,
        "count_s": rounded(count_s, 1),
    }
    console().print(result)
    write_json(out_path, result)


def measure(vectors: np.ndarray, queries: np.ndarray, repaired: bool) -> dict[str, Any]:
    from usearch.index import Index

    from paperlens.index.vector import HnswParams, repair_reachability

    params = HnswParams()
    index = Index(
        ndim=vectors.shape[1],
        metric="ip",
        dtype=params.dtype,
        connectivity=params.connectivity,
        expansion_add=params.expansion_add,
        expansion_search=params.expansion_search,
    )
    keys = np.arange(len(vectors), dtype=np.uint64)
    started = time.perf_counter()
    for start in range(0, len(vectors), BATCH):
        index.add(keys[start : start + BATCH], vectors[start : start + BATCH])
    seconds = time.perf_counter() - started
    reinserted = repair_reachability(index) if repaired else 0
    check_seconds = time.perf_counter() - started - seconds
    own = index.search(vectors, 10).keys
    unreachable = int((~(own == keys[:, None]).any(axis=1)).sum())
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    got = index.search(queries, 10).keys
    overlap = [len(set(g.tolist()) & set(e.tolist())) for g, e in zip(got, exact, strict=True)]
    recall = np.mean(overlap) / 10
    return {
        "build_s": rounded(seconds, 1),
        "check_s": rounded(check_seconds, 1),
        "reinserted": reinserted,
        "unreachable": unreachable,
        "recall_at_10": rounded(float(recall), 4),
    }


def main() -> None:
    args = parse_args()
    if args.index is not None:
        check_saved(args.index, args.out.with_name("hnsw_reach_saved.json"))
        return
    if args.work is None:
        raise SystemExit("give a bench/scale.py --work directory, or --index FILE")
    every = proxies(args.work, max(args.sizes) + args.queries)
    queries = every[-args.queries :]
    out: dict[str, Any] = {
        "benchmark": "HNSW nodes no search reaches: plain concurrent add vs checked",
        "machine": machine_info(),
        "batch": BATCH,
        "queries": args.queries,
        "sizes": [],
    }
    table = Table(title="usearch HNSW on all cores: papers no search returns")
    columns = ("papers", "graph", "build s", "check s", "re-inserted", "unreachable", "recall@10")
    for column in columns:
        table.add_column(column, justify="left" if column == "graph" else "right")
    for size in args.sizes:
        vectors = every[:size]
        row: dict[str, Any] = {"papers": size}
        for name, repaired in (("plain", False), ("checked", True)):
            row[name] = result = measure(vectors, queries, repaired)
            table.add_row(
                f"{size:,}",
                name,
                f"{result['build_s']:.1f}",
                f"{result['check_s']:.1f}",
                f"{result['reinserted']:,}",
                f"{result['unreachable']:,}",
                f"{result['recall_at_10']:.4f}",
            )
            console().print(f"{size:,} {name}: {result}")
        out["sizes"].append(row)
        write_json(args.out, out)
    console().print(table)


if __name__ == "__main__":
    main()

"""How fast ``paperlens index`` computes "similar" lists ahead, on one thread (the BM25
half on the search side pool, as a request runs it: the code before) and on a thread per
worker (``update_lists(workers=N)``, each list's BM25 half in its own thread: now).

On a ``scale.py`` data dir (``WORK/data``), in one process: each round takes a fresh
batch of ``--lists`` papers (random, seeded) and runs the real
``search.neighbours.update_lists(only=batch)`` once per configuration, into a scratch
:class:`NeighbourIndex` each (the data dir's own lists are not touched), the order of the
configurations turning round by round so drift in the machine's load is shared out.
Round 0 warms the caches (mapped index pages, term vectors) and is not recorded.

Reported per configuration: lists/s (wall clock), lists per CPU-second of this process
(user + system time of all its threads) and CPUs busy (CPU-s over wall-s), with each
round's paired ratio to the single thread and a 95 % bootstrap interval of its mean. The
rows written by every configuration are compared with the single thread's: they must be
equal (same papers, scores and ranks), and the script exits non-zero if any differ.

    python bench/lists_rate.py /work/scale/s200k/data --lists 400 --rounds 4
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from common import (
    console,
    go_offline,
    int_list,
    machine_info,
    markdown_table,
    rounded,
    scratch_dir,
    write_json,
)
from measure import open_lens
from metrics import mean, paired_difference

ONE = "1 thread, BM25 on the side pool (before)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_dir", type=Path, help="a scale.py work dir's data dir (WORK/data)")
    p.add_argument("--lists", type=int, default=400, help="lists per round (default: 400)")
    p.add_argument("--rounds", type=int, default=4, help="recorded rounds (default: 4)")
    p.add_argument(
        "--workers", type=int_list, default=[2], help="thread counts to compare (default: 2)"
    )
    p.add_argument("--seq-length", type=int, default=256)
    p.add_argument(
        "--encoder-backend",
        default="onnx-int8",
        help="the backend the data dir was indexed with (default: onnx-int8)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tmp-dir", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench/results/lists_rate.json"))
    return p.parse_args()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(pl: Any, batch: list[int], workers: int, path: Path) -> tuple[dict[str, Any], Any]:
    """One ``update_lists`` over ``batch`` into a scratch index at ``path``: its
    timings and the rows it wrote (pk -> entries)."""
    from paperlens.index.neighbours import NeighbourIndex
    from paperlens.search.neighbours import update_lists

    scratch = NeighbourIndex(path)
    key = pl.retriever.lists_key()
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    done = update_lists(pl.retriever, pl.papers, scratch, len(batch), only=batch, workers=workers)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    rows = {pk: scratch.get(pk, key) for pk in batch}
    return {
        "lists": done,
        "seconds": rounded(wall, 3),
        "lists_per_second": rounded(done / wall, 1),
        "lists_per_cpu_second": rounded(done / cpu, 1),
        "cpus_busy": rounded(cpu / wall, 2),
    }, rows


def main() -> None:
    args = parse_args()
    go_offline()
    configs = {ONE: 1} | {f"{w} threads" if w > 1 else "1 thread": w for w in args.workers}
    pl = open_lens(args.data_dir, args.seq_length, encoder_backend=args.encoder_backend)
    if pl.settings.search_threads < 1:
        sys.exit("search_threads is 0: the single-thread baseline would not use the side pool")
    pks, _seqs = pl.papers.live_by_recency()
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(np.asarray(pks), (args.rounds + 1) * args.lists, replace=False)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "papers": len(pks),
        "lists_per_round": args.lists,
        "runs": [],
    }
    differ: list[str] = []
    with scratch_dir(args.tmp_dir, args.keep_tmp) as tmp:
        for r in range(args.rounds + 1):
            batch = [int(pk) for pk in picked[r * args.lists : (r + 1) * args.lists]]
            names = list(configs)
            names = names[r % len(names) :] + names[: r % len(names)]
            rows_of: dict[str, Any] = {}
            for name in names:
                run, rows = run_once(
                    pl, batch, configs[name], tmp / f"{r}-{configs[name]}-{name[:3]}"
                )
                rows_of[name] = rows
                if r > 0:
                    results["runs"].append({"config": name, "round": r, **run})
                console().print(f"round {r}{' (warm-up)' if r == 0 else ''}", name, run)
            differ += [f"round {r}: {name}" for name in rows_of if rows_of[name] != rows_of[ONE]]
    pl.close()
    results["differing"] = differ
    results["summary"] = summarise(results["runs"], list(configs))
    write_json(args.out, results)
    table = rate_table(results)
    console().print(table)
    print(markdown_table(table))
    if differ:
        sys.exit(f"lists differ from the single thread's: {', '.join(differ)}")


def summarise(runs: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    by = {n: [r for r in runs if r["config"] == n] for n in names}
    out: dict[str, Any] = {}
    base = [r["lists_per_second"] for r in by[ONE]]
    for name in names:
        rates = [r["lists_per_second"] for r in by[name]]
        out[name] = {
            "lists_per_second": rounded(mean(rates), 1),
            "lists_per_cpu_second": rounded(mean([r["lists_per_cpu_second"] for r in by[name]]), 1),
            "cpus_busy": rounded(mean([r["cpus_busy"] for r in by[name]]), 2),
            "ratio_to_one_thread": paired_difference(
                [1.0] * len(base), [b / a for a, b in zip(base, rates, strict=True)]
            )
            if name != ONE
            else None,
        }
    return out


def rate_table(results: dict[str, Any]) -> Table:
    table = Table(
        title=f"similar lists ahead, {results['papers']:,} papers, "
        f"{results['lists_per_round']} lists a round"
    )
    for col in ("configuration", "lists/s", "lists/CPU-s", "CPUs busy", "ratio to before [95% CI]"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for name, s in results["summary"].items():
        ratio = s["ratio_to_one_thread"]
        shown = "—"
        if ratio is not None:
            low, high = 1 + ratio["ci95_low"], 1 + ratio["ci95_high"]
            shown = f"{1 + ratio['mean']:.2f}x [{low:.2f}, {high:.2f}]"
        table.add_row(
            name,
            f"{s['lists_per_second']:.1f}",
            f"{s['lists_per_cpu_second']:.1f}",
            f"{s['cpus_busy']:.2f}",
            shown,
        )
    return table


if __name__ == "__main__":
    main()

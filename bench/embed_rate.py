"""Embedding rate of the default encoder on the real code path, before and after
concurrent model calls (``Settings.embed_workers``), and query encoding latency.

For each configuration, in one run on the same machine: a fresh data dir, the bundled
sample (2,993 papers, the two files ``paperlens demo`` loads) ingested, the model loaded
first (``lens.encoder``), then ``PaperLens.index()``; the rate is ``IndexReport.
embed_rate`` (papers over the embed step's wall clock, store reads and writes included)
and papers per CPU-second of this process over the same step (user + system time of all
threads, from the embed step's first to its last progress call). On a box shared with
other jobs the wall-clock rate is a floor; papers per CPU-second is the steadier figure,
and 2 x the single-thread papers per CPU-second is what two idle cores could reach.

Configurations: ``before`` = ``embed_workers=1`` (one call at a time, intra-op threads on
every CPU: the behaviour before this setting); ``after`` = the default (one call per
usable CPU, one thread each). Also: single-thread papers per CPU-second on 256 sample
texts, the largest difference between the two configurations' vectors (they must be
bit-identical) and the latency of encoding one short query (3-6 words), both
configurations interleaved.

    python bench/embed_rate.py                 # ~6 min on 2 idle cores
    python bench/embed_rate.py --rounds 2 --out bench/results/embed_rate.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from common import (
    console,
    go_offline,
    machine_info,
    make_settings,
    markdown_table,
    percentile_ms,
    rounded,
    scratch_dir,
    write_json,
)

CONFIGS: dict[str, dict[str, Any]] = {
    "before (1 call at a time, all threads)": {"embed_workers": 1},
    "after (1 call per CPU, 1 thread each)": {},
}
QUERIES = [
    "dark matter halo",
    "graph neural networks for molecules",
    "contrastive sentence embeddings",
    "quantum error correction codes",
    "protein structure prediction with transformers",
    "reinforcement learning for robot grasping",
    "galaxy cluster weak lensing",
    "sparse attention long documents",
]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=1, help="index runs per configuration")
    p.add_argument("--queries", type=int, default=400, help="query encodings per config")
    p.add_argument("--out", type=Path, default=Path("bench/results/embed_rate.json"))
    p.add_argument("--tmp-dir", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    return p.parse_args()


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def index_sample(data_dir: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    """Ingest the sample into ``data_dir`` and index it; the embed step's rates."""
    from paperlens.cli.main import sample_paths
    from paperlens.core import PaperLens
    from paperlens.sources.jsonl import JsonlSource
    from paperlens.sources.snapshot import SnapshotSource

    settings = make_settings(data_dir, 256, encoder_backend="onnx-int8", **overrides)
    lens = PaperLens(settings)
    snapshot, jsonl = sample_paths()
    lens.ingest(SnapshotSource(snapshot))
    lens.ingest(JsonlSource(jsonl))
    encoder = lens.encoder  # the model loaded first: its load time is not embedding
    marks: dict[str, float] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        if phase == "embed":
            marks.setdefault("start", cpu_seconds())
            marks["end"] = cpu_seconds()

    load = os.getloadavg()[0]
    report = lens.index(progress)
    cpu = marks["end"] - marks["start"]
    return {
        "papers": report.embedded,
        "seconds": rounded(report.seconds["embed"], 2),
        "papers_per_s": rounded(report.embed_rate, 1),
        "cpu_seconds": rounded(cpu, 2),
        "papers_per_cpu_s": rounded(report.embedded / cpu, 1),
        "load_start": rounded(load, 2),
        "load_end": rounded(os.getloadavg()[0], 2),
        "workers": getattr(encoder, "workers", None),
        "threads": getattr(encoder, "threads", None),
    }


def sample_texts(limit: int) -> list[str]:
    from paperlens.cli.main import sample_paths
    from paperlens.store.papers import embedding_text

    texts: list[str] = []
    with gzip.open(sample_paths()[0], "rt", encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            texts.append(embedding_text(record["title"], record["abstract"]))
            if len(texts) >= limit:
                break
    return texts


def single_thread_and_identity(data_dir: Path) -> dict[str, Any]:
    """Papers per CPU-second on one thread, and the two configurations' vectors."""
    from paperlens.embedding import build_encoder

    texts = sample_texts(256)
    one = build_encoder(make_settings(data_dir, 256, encoder_backend="onnx-int8"), threads=1)
    started, wall = cpu_seconds(), time.perf_counter()
    one.encode(texts)
    cpu, wall = cpu_seconds() - started, time.perf_counter() - wall
    vectors = []
    for overrides in CONFIGS.values():
        settings = make_settings(data_dir, 256, encoder_backend="onnx-int8", **overrides)
        vectors.append(build_encoder(settings).encode(texts))
    return {
        "texts": len(texts),
        "single_thread_papers_per_cpu_s": rounded(len(texts) / cpu, 1),
        "single_thread_papers_per_s": rounded(len(texts) / wall, 1),
        "projected_2_cores_papers_per_s": rounded(2 * len(texts) / cpu, 1),
        "max_abs_difference_before_after": float(np.abs(vectors[0] - vectors[1]).max()),
    }


def query_latency(data_dir: Path, n: int) -> dict[str, Any]:
    """One short query per call, the configurations interleaved (same load for both)."""
    from paperlens.embedding import build_encoder

    encoders = {
        name: build_encoder(make_settings(data_dir, 256, encoder_backend="onnx-int8", **o))
        for name, o in CONFIGS.items()
    }
    timings: dict[str, list[float]] = {name: [] for name in encoders}
    for encoder in encoders.values():  # warm up
        for q in QUERIES:
            encoder.encode([q])
    load = os.getloadavg()[0]
    for i in range(n):
        for name, encoder in encoders.items():
            started = time.perf_counter()
            encoder.encode([QUERIES[i % len(QUERIES)]])
            timings[name].append(time.perf_counter() - started)
    return {
        "load_start": rounded(load, 2),
        "load_end": rounded(os.getloadavg()[0], 2),
        "queries": n,
        **{
            name: {"p50_ms": percentile_ms(t, 50), "p95_ms": percentile_ms(t, 95)}
            for name, t in timings.items()
        },
    }


def rate_table(results: dict[str, Any]) -> Table:
    table = Table(title="PaperLens.index() on the bundled sample: the embed step")
    for col in ("configuration", "papers", "papers/s", "papers/CPU-s", "load (1 min)"):
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for run in results["runs"]:
        table.add_row(
            run["config"],
            f"{run['papers']:,}",
            f"{run['papers_per_s']:.1f}",
            f"{run['papers_per_cpu_s']:.1f}",
            f"{run['load_start']:.1f} → {run['load_end']:.1f}",
        )
    return table


def main() -> None:
    args = parse_args()
    go_offline()
    results: dict[str, Any] = {"machine": machine_info(), "runs": []}
    with scratch_dir(args.tmp_dir, args.keep_tmp) as tmp:
        for r in range(args.rounds):
            for name, overrides in CONFIGS.items():
                run = index_sample(tmp / f"{r}-{len(results['runs'])}", overrides)
                results["runs"].append({"config": name, "round": r, **run})
                console().print(name, run)
        results["encoder"] = single_thread_and_identity(tmp / "probe")
        console().print(results["encoder"])
        results["query"] = query_latency(tmp / "probe", args.queries)
        console().print(results["query"])
    write_json(args.out, results)
    table = rate_table(results)
    console().print(table)
    print(markdown_table(table))


if __name__ == "__main__":
    main()

"""Embedding rate of the default encoder on the real code path, with one model call at
a time or one per CPU (``Settings.embed_workers``), batch by batch or overlapped
(``embed_pending(overlap=...)``), and query encoding latency.

For each configuration, in one run on the same machine: a fresh data dir, the bundled
sample (2,993 papers, the two files ``paperlens demo`` loads) ingested, the model loaded
first (``lens.encoder``), then ``PaperLens.index()``; the rate is ``IndexReport.
embed_rate`` (papers over the embed step's wall clock, store reads and writes included)
and papers per CPU-second of this process over the same step (user + system time of all
threads, from the embed step's first to its last progress call), with "CPUs busy" (CPU-s
over wall-s in that window, out of 2 on 2 cores) and "model idle" (the share of
workers x time with no model call running: :class:`CallTimeline`). On a box shared with
other jobs the wall-clock rate is a floor; papers per CPU-second is the steadier figure,
and 2 x the single-thread papers per CPU-second is what two idle cores could reach.

Configurations (``--config``, repeatable; default: all three, interleaved per round):
``workers1`` = ``embed_workers=1``, batch by batch (one call at a time, intra-op threads
on every CPU: the behaviour before concurrent calls); ``batchwise`` = one call per usable
CPU, one thread each, batch by batch (store read, encode, store write in turn: before
overlapping); ``overlap`` = the default (the model runs the next batch while this one is
read, tokenised and stored). Also: single-thread papers per CPU-second on the same texts
(``--probe-texts``, default all of them), the largest difference between the
configurations' vectors (they must be bit-identical) and the latency of encoding one
short query (3-6 words), interleaved.

    python bench/embed_rate.py                 # ~5 min on 2 idle cores
    python bench/embed_rate.py --rounds 2 --config batchwise --config overlap
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import threading
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

#: key -> (label, Settings overrides, overlap)
CONFIGS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "workers1": ("1 call at a time, all threads, batch by batch", {"embed_workers": 1}, False),
    "batchwise": ("1 call per CPU, batch by batch", {}, False),
    "overlap": ("1 call per CPU, overlapped (default)", {}, True),
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
    p.add_argument("--config", action="append", choices=list(CONFIGS), help="configurations to run")
    p.add_argument("--probe-texts", type=int, default=4000, help="texts for the 1-thread rate")
    p.add_argument("--out", type=Path, default=Path("bench/results/embed_rate.json"))
    p.add_argument("--tmp-dir", type=Path, default=None)
    p.add_argument("--keep-tmp", action="store_true")
    return p.parse_args()


def cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class CallTimeline:
    """Wraps ``encoder._call`` (an instance attribute: ``encode`` and ``encode_stream``
    reach it through ``self``) to record when each model call starts and ends."""

    def __init__(self, encoder: Any) -> None:
        self.workers: int = getattr(encoder, "workers", 1)
        self.events: list[tuple[float, int]] = []
        self._lock = threading.Lock()
        inner = encoder._call

        def timed(ids: Any) -> Any:
            with self._lock:
                self.events.append((time.perf_counter(), 1))
            try:
                return inner(ids)
            finally:
                with self._lock:
                    self.events.append((time.perf_counter(), -1))

        encoder._call = timed

    def idle_fraction(self) -> float:
        """Worker-time with no model call running, over ``workers`` x the span from the
        first call's start to the last one's end (calls count as running while the
        scheduler has them off a CPU, so on a busy box this includes hand-offs slowed
        by load; on an idle one it is the time the code leaves a worker without work)."""
        events = sorted(self.events)
        running, last, idle = 0, events[0][0], 0.0
        for t, step in events:
            idle += (self.workers - running) * (t - last)
            running, last = running + step, t
        return idle / (self.workers * (events[-1][0] - events[0][0]))


def index_sample(data_dir: Path, overrides: dict[str, Any], overlap: bool) -> dict[str, Any]:
    """Ingest the sample into ``data_dir`` and index it; the embed step's rates."""
    from paperlens.cli.main import sample_paths
    from paperlens.core import PaperLens
    from paperlens.indexer import local_embed
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
            if "start" not in marks:
                marks["start"], marks["wall_start"] = cpu_seconds(), time.perf_counter()
            marks["end"], marks["wall_end"] = cpu_seconds(), time.perf_counter()

    calls = CallTimeline(encoder)
    load = os.getloadavg()[0]
    # The default path when overlapping; the batch-by-batch step otherwise.
    report = lens.index(progress, embed=None if overlap else local_embed(encoder, overlap=False))
    cpu = marks["end"] - marks["start"]
    wall = marks["wall_end"] - marks["wall_start"]
    return {
        "papers": report.embedded,
        "seconds": rounded(report.seconds["embed"], 2),
        "papers_per_s": rounded(report.embed_rate, 1),
        "cpu_seconds": rounded(cpu, 2),
        "papers_per_cpu_s": rounded(report.embedded / cpu, 1),
        "cpus_busy": rounded(cpu / wall, 2),
        "model_idle_pct": rounded(100 * calls.idle_fraction(), 2),
        "load_start": rounded(load, 2),
        "load_end": rounded(os.getloadavg()[0], 2),
        "workers": getattr(encoder, "workers", None),
        "threads": getattr(encoder, "threads", None),
        "overlap": overlap,
    }


def sample_texts(limit: int) -> list[str]:
    """The texts ``index`` embeds (both sample files), up to ``limit``."""
    from paperlens.cli.main import sample_paths
    from paperlens.store.papers import embedding_text

    texts: list[str] = []
    for path in sample_paths():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                texts.append(embedding_text(record["title"], record["abstract"]))
    return texts[:limit]


def single_thread_and_identity(data_dir: Path, probe_texts: int) -> dict[str, Any]:
    """Papers per CPU-second on one thread, and the configurations' vectors."""
    from paperlens.embedding import build_encoder
    from paperlens.indexer import encode_chunks

    texts = sample_texts(probe_texts)
    one = build_encoder(make_settings(data_dir, 256, encoder_backend="onnx-int8"), threads=1)
    started, wall = cpu_seconds(), time.perf_counter()
    one.encode(texts)
    cpu, wall = cpu_seconds() - started, time.perf_counter() - wall
    head = texts[:512]
    vectors = []
    for _label, overrides, overlap in CONFIGS.values():
        settings = make_settings(data_dir, 256, encoder_backend="onnx-int8", **overrides)
        chunks = [head[i : i + 128] for i in range(0, len(head), 128)]
        vectors.append(
            np.vstack(list(encode_chunks(build_encoder(settings), chunks, overlap=overlap)))
        )
    return {
        "texts": len(texts),
        "single_thread_papers_per_cpu_s": rounded(len(texts) / cpu, 1),
        "single_thread_papers_per_s": rounded(len(texts) / wall, 1),
        "projected_2_cores_papers_per_s": rounded(2 * len(texts) / cpu, 1),
        "identity_texts": len(head),
        "max_abs_difference_between_configs": float(
            max(np.abs(v - vectors[0]).max() for v in vectors)
        ),
    }


def query_latency(data_dir: Path, n: int) -> dict[str, Any]:
    """One short query per call, the encoder settings interleaved (same load for both)."""
    from paperlens.embedding import build_encoder

    encoders = {
        label: build_encoder(make_settings(data_dir, 256, encoder_backend="onnx-int8", **o))
        for key, (label, o, _overlap) in CONFIGS.items()
        if key != "overlap"  # the same encoder as batchwise
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
    cols = (
        "configuration",
        "papers",
        "papers/s",
        "papers/CPU-s",
        "CPUs busy",
        "model idle",
        "load (1 min)",
    )
    for col in cols:
        table.add_column(col, justify="left" if col == "configuration" else "right")
    for run in results["runs"]:
        table.add_row(
            run["config"],
            f"{run['papers']:,}",
            f"{run['papers_per_s']:.1f}",
            f"{run['papers_per_cpu_s']:.1f}",
            f"{run['cpus_busy']:.2f}",
            f"{run['model_idle_pct']:.1f} %",
            f"{run['load_start']:.1f} → {run['load_end']:.1f}",
        )
    return table


def main() -> None:
    args = parse_args()
    go_offline()
    results: dict[str, Any] = {"machine": machine_info(), "runs": []}
    with scratch_dir(args.tmp_dir, args.keep_tmp) as tmp:
        chosen = args.config or list(CONFIGS)
        for r in range(args.rounds):
            for key in chosen:
                label, overrides, overlap = CONFIGS[key]
                run = index_sample(tmp / f"{r}-{len(results['runs'])}", overrides, overlap)
                results["runs"].append({"config": label, "round": r, **run})
                console().print(label, run)
        results["encoder"] = single_thread_and_identity(tmp / "probe", args.probe_texts)
        console().print(results["encoder"])
        if args.queries:
            results["query"] = query_latency(tmp / "probe", args.queries)
            console().print(results["query"])
    write_json(args.out, results)
    table = rate_table(results)
    console().print(table)
    print(markdown_table(table))


if __name__ == "__main__":
    main()

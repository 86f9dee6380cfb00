"""Embedding on Ray vs locally: ``paperlens index --ray`` with 1 and 2 workers.

The same N papers of the shared arXiv sample (default 1,000; title + abstract, the
configured ``max_seq_length``) are embedded three times, each into a fresh store:

* **local** — ``PaperLens.index()``: ``embed_pending`` in this process, torch with its
  default threads (one per core);
* **ray-1** and **ray-2** — ``PaperLens.index(embed=RayEmbedder)`` on a local Ray cluster
  started here with ``ray start --head --num-cpus=<cores>`` (on loopback): 1 worker with
  all the cluster's CPUs (torch threads = CPUs), then one worker per CPU (1 thread each).

Reported per run: embed seconds and papers/s (model already loaded: the steady state),
speed-up vs local and vs 1 worker, and the start-up overhead that a run pays once
(local: loading the model; Ray: connecting, starting the workers, which load the model
in parallel). Ray's own head start-up is reported once. The Ray vectors are compared
with the local ones (largest absolute difference, float16 storage).

    .venv/bin/python bench/ray_index.py                # --help for options
    .venv/bin/python bench/ray_index.py --papers 200 --out /tmp/ray-smoke.json
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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
    rounded,
    scratch_dir,
    write_json,
)

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from synth import Vectors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Embedding speed of paperlens index: local vs a local Ray cluster."
    )
    parser.add_argument("--papers", type=int, default=1000, help="papers to embed (1000)")
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DIR / "data" / "arxiv-snapshot-sample.jsonl",
        help="arXiv snapshot JSON lines (default ../shared/data/arxiv-snapshot-sample.jsonl)",
    )
    parser.add_argument(
        "--workers", type=int_list, default=[1, 2], help="Ray worker counts (default 1,2)"
    )
    parser.add_argument(
        "--cpus",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="CPUs the Ray head offers (default: this machine's usable cores)",
    )
    parser.add_argument(
        "--max-seq-length", type=int, default=None, help="tokens per text (default: Settings)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "ray_index.json")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--keep-tmp", action="store_true")
    return parser.parse_args()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def ray_head(cpus: int) -> Iterator[tuple[str, float]]:
    """A Ray head on this machine (``ray start --block`` in its own session), stopped by
    signalling that process; yields its address and how long it took to start."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    temp_dir = Path(tempfile.mkdtemp(prefix="plray-", dir="/tmp"))
    log_path = temp_dir / "head.log"
    started = time.perf_counter()
    with log_path.open("w") as out:
        head = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("ray")),
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                f"--num-cpus={cpus}",
                "--num-gpus=0",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--object-store-memory=200000000",
                f"--temp-dir={temp_dir}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            if head.poll() is not None or time.perf_counter() - started > 180:
                raise RuntimeError(f"ray start failed:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}", time.perf_counter() - started
    finally:
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)
            try:
                head.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait(timeout=10)
        import shutil

        shutil.rmtree(temp_dir, ignore_errors=True)


def fresh_lens(work: Path, name: str, corpus: Path, max_seq_length: int) -> PaperLens:
    from paperlens.core import PaperLens
    from paperlens.sources.snapshot import SnapshotSource

    lens = PaperLens(make_settings(work / name, max_seq_length))
    lens.ingest(SnapshotSource(corpus))
    return lens


def vectors_of(lens: PaperLens) -> dict[int, Vectors]:
    key = lens.model_key
    pks = [int(pk) for batch, _ in lens.embeddings.changed_since(key, 0) for pk in batch]
    return lens.embeddings.get(key, pks)


def run_local(
    work: Path, corpus: Path, max_seq_length: int
) -> tuple[dict[str, Any], dict[int, Vectors]]:
    lens = fresh_lens(work, "local", corpus, max_seq_length)
    started = time.perf_counter()
    _ = lens.encoder  # load the model: the start-up a local run pays
    startup = time.perf_counter() - started
    report = lens.index()
    result = {
        "workers": None,
        "torch_threads": _torch_threads(),
        "startup_seconds": rounded(startup, 2),
        "embedded": report.embedded,
        "embed_seconds": rounded(report.seconds["embed"], 2),
        "papers_per_second": rounded(report.embed_rate, 2),
        "end_to_end_seconds": rounded(startup + sum(report.seconds.values()), 2),
    }
    vectors = vectors_of(lens)
    lens.close()
    return result, vectors


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def run_ray(
    work: Path, corpus: Path, max_seq_length: int, address: str, workers: int
) -> tuple[dict[str, Any], dict[int, Vectors]]:
    from paperlens.embedding.ray import ray_embedder

    lens = fresh_lens(work, f"ray-{workers}", corpus, max_seq_length)
    started = time.perf_counter()
    with ray_embedder(address, lens.settings, workers) as embedder:
        connected = time.perf_counter() - started
        embedder.start()
        report = lens.index(embed=embedder)
        cpus = embedder.cpus_per_worker
        threads = sorted({w.threads for w in embedder.workers})
        hosts = sorted({w.host for w in embedder.workers})
        start_seconds = embedder.start_seconds
    result = {
        "workers": workers,
        "cpus_per_worker": cpus,
        "torch_threads": threads,
        "hosts": len(hosts),
        "connect_seconds": rounded(connected, 2),
        "worker_start_seconds": rounded(start_seconds, 2),
        "startup_seconds": rounded(connected + start_seconds, 2),
        "embedded": report.embedded,
        "embed_seconds": rounded(report.seconds["embed"], 2),
        "papers_per_second": rounded(report.embed_rate, 2),
        "end_to_end_seconds": rounded(time.perf_counter() - started, 2),
    }
    vectors = vectors_of(lens)
    lens.close()
    return result, vectors


def max_difference(a: dict[int, Vectors], b: dict[int, Vectors]) -> float:
    assert a.keys() == b.keys(), "different papers embedded"
    return max(float(np.abs(a[pk] - b[pk]).max()) for pk in a)


def table(results: dict[str, Any]) -> Table:
    runs = results["runs"]
    local = runs["local"]["papers_per_second"]
    one = runs.get("ray-1", {}).get("papers_per_second")
    t = Table(
        title=f"Embedding {results['papers']} papers ({results['model_key']}), "
        f"{results['machine']['cpus_usable']} cores, load "
        f"{results['machine']['load_average_1min_at_start']}→"
        f"{results['machine']['load_average_1min_at_end']}"
    )
    for name in ("run", "workers × threads", "embed s", "papers/s", "vs local", "vs 1 worker"):
        t.add_column(name, justify="left" if name == "run" else "right")
    t.add_column("start-up s", justify="right")
    t.add_column("end-to-end s", justify="right")
    for name, r in runs.items():
        rate = r["papers_per_second"]
        if r["workers"] is None:
            shape = f"1 process × {r['torch_threads']}"
        else:
            shape = f"{r['workers']} × {','.join(map(str, r['torch_threads']))}"
        t.add_row(
            name,
            shape,
            f"{r['embed_seconds']:.1f}",
            f"{rate:.1f}",
            f"{rate / local:.2f}×",
            f"{rate / one:.2f}×" if one and r["workers"] else "—",
            f"{r['startup_seconds']:.1f}",
            f"{r['end_to_end_seconds']:.1f}",
        )
    return t


def main() -> None:
    args = parse_args()
    go_offline()
    # The head started below and this driver share a fresh token (Ray's token auth),
    # whatever ~/.ray holds.
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray reads those when imported, and must be imported before paperlens loads usearch
    # (whose statically linked C++ runtime, loaded first, makes ray.init abort).
    import ray

    from paperlens.config import Settings
    from paperlens.embedding import encoder_key

    max_seq_length = args.max_seq_length or Settings().max_seq_length
    results: dict[str, Any] = {
        "benchmark": "paperlens index --ray",
        "machine": machine_info(),
        "papers": args.papers,
        "max_seq_length": max_seq_length,
        "model_key": encoder_key(make_settings(Path("/nonexistent"), max_seq_length)),
        "ray_version": ray.__version__,
        "ray_cluster_cpus": args.cpus,
        "runs": {},
    }
    with scratch_dir(args.tmp_dir, args.keep_tmp) as work:
        corpus = work / "corpus.jsonl"
        with args.data.open(encoding="utf-8") as src, corpus.open("w", encoding="utf-8") as dst:
            for _, line in zip(range(args.papers), src, strict=False):
                dst.write(line)
        log(f"local: embedding {args.papers} papers ...")
        results["runs"]["local"], local_vectors = run_local(work, corpus, max_seq_length)
        log(f"  {results['runs']['local']['papers_per_second']} papers/s")
        differences = {}
        with ray_head(args.cpus) as (address, head_seconds):
            results["ray_head_start_seconds"] = rounded(head_seconds, 2)
            log(f"Ray head at {address} started in {head_seconds:.1f} s")
            for workers in args.workers:
                log(f"ray-{workers}: embedding {args.papers} papers ...")
                run, vectors = run_ray(work, corpus, max_seq_length, address, workers)
                results["runs"][f"ray-{workers}"] = run
                differences[f"ray-{workers}"] = rounded(max_difference(local_vectors, vectors), 6)
                log(f"  {run['papers_per_second']} papers/s")
        results["max_abs_vector_difference_vs_local"] = differences
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, results)
    out = console()
    out.print(table(results))
    out.print(
        f"Ray head start-up {results['ray_head_start_seconds']:.1f} s (once per cluster); "
        f"largest |vector difference| vs local: {differences}"
    )
    out.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""paperlens at the scale of arXiv: import, index and query SIZE synthetic papers.

    .venv/bin/python bench/scale.py 1000000 [--kill-at 0.5] [--work DIR]

The corpus is synthesised from ~7,200 real titles and abstracts (``bench/synth.py``) and
written, streamed, as an **arXiv bulk-snapshot JSON-lines file** (the format of
``arxiv-metadata-oai-snapshot.json``, arXiv-style ids ``YYMM.NNNNN``). Each phase runs in
a child process of its own, so its peak resident memory (``VmHWM``) is its own:

1. **ingest** — ``PaperLens.ingest(SnapshotSource(path))``, the code path of
   ``paperlens ingest snapshot``: papers/s, peak RSS, RSS along the way. With
   ``--kill-at F`` the first import is killed (SIGKILL) once F of the file is read, and
   re-run: it resumes from its last committed batch; the paper count must then be SIZE.
2. **proxies** — a proxy embedding per paper (the mean of its source abstracts' real
   embeddings, plus calibrated noise; the real pool is embedded once with the bundled
   model and cached in ``bench/.cache``) written with ``EmbeddingStore.put`` in batches,
   under the paper's real text hash, so nothing is left for ``embed_pending``.
3. **lexical** / 4. **vectors** — ``indexer.sync_lexical`` (tantivy) and
   ``indexer.sync_vectors`` (usearch HNSW, default ``HnswParams``; usearch's ``add`` uses
   every core, ``threads=0``): seconds and peak RSS each.
5. **serve** — a fresh ``PaperLens`` opened as a server would, the HNSW index
   memory-mapped (``VectorIndex(view=True)``): RSS after opening each part, latency
   p50/p95 over ``--queries`` queries per mode through the facade (papers loaded from
   the store): lexical, query encoding alone, semantic with and without encoding,
   hybrid with and without encoding, similar (computed afresh, then the same papers
   again from the per-process cache), and semantic with a category filter (a
   large category: HNSW over-fetch; a small one: exact scoring of the passing papers).
   Then HNSW recall@10 against exact search over all stored vectors (numpy, in chunks)
   for ``--recall-queries`` text and "similar" queries.
6. **load** — the HNSW index loaded into memory (``view=False``) instead: its RSS.

Disk: database (with WAL), lexical index, HNSW file. Results: Rich tables and
``bench/results/scale-SIZE.json``, rewritten after every phase. ``--work DIR`` keeps the
work in DIR and skips phases already done there (a long run can be continued; an
interrupted import resumes from its checkpoint). ``--parallel-index`` runs phases 3 and 4
at the same time (to fit a time budget: each then shares the cores, so their rates are
lower bounds; the results record it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    dir_size_mb,
    go_offline,
    machine_info,
    rounded,
    write_json,
)
from measure import cached_pool_vectors, log
from scale_corpus import write_snapshot
from scale_phases import DEFAULT_LISTS, PHASES, encoder_setting, run_child
from scale_report import notes, tables
from synth import RealPaper, Synthesiser, Vectors, load_pool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Import, index and query SIZE synthetic papers (arXiv snapshot format) "
        "with paperlens; peak memory per phase, latency, recall, disk.",
    )
    parser.add_argument("size", type=int, nargs="?", help="number of synthetic papers")
    parser.add_argument(
        "--kill-at",
        type=float,
        default=None,
        help="kill the first import (SIGKILL) once this fraction of the file is read, "
        "then re-run it (resume), and check the paper count",
    )
    parser.add_argument(
        "--queries", type=int, default=300, help="timed queries per mode (default: 300)"
    )
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=200,
        help="text and 'similar' queries each for HNSW recall@10 (default: 200)",
    )
    parser.add_argument(
        "--lists",
        type=int,
        default=DEFAULT_LISTS,
        help="'similar' lists the neighbours phase computes ahead, timed "
        f"(default: {DEFAULT_LISTS:,}, what one `paperlens index` run computes at most)",
    )
    parser.add_argument(
        "--seq-length",
        type=int,
        default=None,
        help="max_seq_length (default: paperlens's configured default)",
    )
    parser.add_argument(
        "--noise",
        default="auto",
        help="proxy noise norm, or 'auto' (calibrated as in speed.py; default)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="work directory to use and keep; phases already done there are skipped "
        "(default: a fresh temporary directory, removed at the end)",
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="parent of the temporary work directory (default: the system temp dir)",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the temporary work directory")
    parser.add_argument(
        "--parallel-index",
        action="store_true",
        help="run the lexical and vectors phases at the same time (each then shares the "
        "cores: their rates are lower bounds)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="JSON results (default: bench/results/scale-SIZE.json)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DIR / "data",
        help="directory with the real sample files (default: ../shared/data)",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="CSFCube directory, for its corpus.jsonl (default: ../shared/bench/csfcube-dev)",
    )
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.size is None and args.phase is None:
        parser.error("SIZE is required")
    return args


# -- the parent ---------------------------------------------------------------------------


def spawn(work: Path, phase: str, kill_after: int | None = None) -> dict[str, Any] | None:
    """Run ``phase`` in a child process, relaying its output. With ``kill_after``, kill
    it (SIGKILL) once it reports that many entries read; returns what it reported."""
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", phase, "--work", str(work)]
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("ENTRIES "):
                done = int(line.split()[1])
                if kill_after is not None and done >= kill_after:
                    child.send_signal(signal.SIGKILL)
                    child.wait()
                    log(f"{phase}: killed (SIGKILL) after {done:,} entries read")
                    return {
                        "killed_after_entries_read": done,
                        "seconds_before_kill": rounded(time.perf_counter() - started, 1),
                    }
                continue
            if not line.startswith("PROGRESS "):
                print(line, end="", flush=True)
        code = child.wait()
    if code != 0:
        raise SystemExit(f"phase {phase} failed with exit code {code}")
    result: dict[str, Any] = json.loads((work / f"phase-{phase}.json").read_text())
    return result


def phase_done(work: Path, phase: str) -> dict[str, Any] | None:
    path = work / f"phase-{phase}.json"
    return json.loads(path.read_text()) if path.exists() else None


def prepare(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The snapshot file, the queries and the children's config (the proxies' pool
    embeddings and noise come later, in :func:`prepare_vectors`: the import needs none)."""
    config_path = work / "config.json"
    if config_path.exists():
        config: dict[str, Any] = json.loads(config_path.read_text())
        if config["size"] != args.size:
            raise SystemExit(f"{work} holds a run of size {config['size']}, not {args.size}")
        if config.get("lists") != args.lists:  # a work dir made before the phase existed
            config["lists"] = args.lists
            write_json(config_path, config)
        return config
    from paperlens.config import Settings

    seq_length = args.seq_length or Settings().max_seq_length
    pool = load_pool(args.data, args.csfcube)
    synthesiser = Synthesiser(pool, args.seed)
    phrases = synthesiser.phrases(args.queries)
    (work / "phrases.json").write_text(json.dumps(phrases))
    log(f"writing {args.size:,} synthetic papers as an arXiv snapshot file")
    snapshot = work / "snapshot.jsonl"
    rows, written = write_snapshot(snapshot, synthesiser, args.size, args.data)
    np.save(work / "rows.npy", rows)
    log(f"snapshot written: {written}")
    config = {
        "size": args.size,
        "seed": args.seed,
        "seq_length": seq_length,
        # What the product serves with (its default); runs made before this key existed
        # used torch (see encoder_setting).
        "encoder_backend": Settings().encoder_backend,
        "pool_papers": len(pool),
        "recall_queries": min(args.recall_queries, len(phrases)),
        "lists": args.lists,
        "queries": len(phrases),
        "categories": sorted({c for p in pool for c in p.categories}),
        "snapshot": str(snapshot),
        "snapshot_written": written,
        "data_dir": str(work / "data"),
        "work": str(work),
    }
    write_json(config_path, config)
    return config


def prepare_vectors(args: argparse.Namespace, work: Path, config: dict[str, Any]) -> None:
    """The real pool's embeddings (cached) and the calibrated proxy noise, for the
    proxies phase; recorded in the config."""
    if "noise" in config:
        return
    pool = load_pool(args.data, args.csfcube)
    pool_vectors, pool_report = cached_pool_vectors(
        work, pool, config["seq_length"], **encoder_setting(config)
    )
    log(f"real pool: {len(pool):,} papers, embeddings {pool_report}")
    np.save(work / "pool-vectors.npy", pool_vectors)
    noise, calibration = choose_noise(args, pool, pool_vectors)
    config |= {"noise": noise, "noise_calibration": calibration, "pool_embeddings": pool_report}
    write_json(work / "config.json", config)


def choose_noise(
    args: argparse.Namespace, pool: list[RealPaper], pool_vectors: Vectors
) -> tuple[float, dict[str, Any] | None]:
    if args.noise != "auto":
        return float(args.noise), None
    from speed import calibrate_noise

    sample = np.random.default_rng(args.seed).choice(len(pool), 200, replace=False)
    noise, calibration = calibrate_noise(pool, pool_vectors, sample.tolist(), args.seed)
    log(f"proxy noise calibrated to {noise}")
    return noise, calibration


def run_ingest(work: Path, config: dict[str, Any], kill_at: float | None) -> dict[str, Any]:
    """The import, killed half-way and resumed when asked; checks the paper count."""
    out: dict[str, Any] = {}
    if kill_at is not None:
        # Half-way through a 1,000-paper batch (entries are reported every 500).
        kill_after = int(kill_at * config["size"]) // 1000 * 1000 + 500
        killed = spawn(work, "ingest", kill_after=kill_after)
        assert killed is not None
        out["killed_run"] = killed | {"kill_at_fraction": kill_at}
    result = spawn(work, "ingest")
    assert result is not None
    out |= result
    out["paper_count_exact"] = result["papers_in_store_after"] == config["size"]
    if not out["paper_count_exact"]:
        log(f"ingest: {result['papers_in_store_after']:,} papers stored, not {config['size']:,}")
    return out


def disk(config: dict[str, Any]) -> dict[str, float]:
    data = Path(config["data_dir"])
    return {
        "snapshot_file_mb": config["snapshot_written"]["file_mb"],
        "database_mb": rounded(dir_size_mb(*data.glob("paperlens.db*")), 1),
        "lexical_index_mb": rounded(dir_size_mb(data / "index" / "lexical"), 1),
        "hnsw_index_mb": rounded(dir_size_mb(data / "index" / "vectors"), 1),
        # The compressed main graph's full vectors (read with pread, never mapped).
        "hnsw_rows_file_mb": rounded(
            dir_size_mb(*(data / "index" / "vectors").glob("*.rows-*")), 1
        ),
    }


def run(args: argparse.Namespace, work: Path, out_path: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "benchmark": "paperlens at scale",
        "machine": machine_info(),
        "size": args.size,
    }
    started = time.perf_counter()
    config = prepare(args, work)
    results["corpus"] = {
        "format": "arXiv bulk snapshot JSON lines (arxiv-metadata-oai-snapshot.json), "
        "ids YYMM.NNNNN from 1501",
        "real_pool_papers": config["pool_papers"],
        **_vector_notes(config),
        "snapshot": config["snapshot_written"],
        "seq_length": config["seq_length"],
    }
    phases: dict[str, Any] = {}
    for phase in PHASES:
        done = phase_done(work, phase)
        if done is not None and (phase != "ingest" or "paper_count_exact" in done):
            log(f"{phase}: already done in {work}")
            phases[phase] = done
            continue
        if args.parallel_index and phase == "lexical" and phase_done(work, "vectors") is None:
            log("lexical and vectors: starting, at the same time (--parallel-index)")
            with ThreadPoolExecutor(2) as pool:
                both = list(pool.map(lambda name: spawn(work, name), ("lexical", "vectors")))
            for name, result in zip(("lexical", "vectors"), both, strict=True):
                assert result is not None
                other = "vectors" if name == "lexical" else "lexical"
                phases[name] = result | {"ran_alongside": other}
                write_json(work / f"phase-{name}.json", phases[name])
                log(f"{name}: done, peak RSS {result['peak_rss_mb']:,} MB")
            continue
        log(f"{phase}: starting")
        if phase == "proxies":
            prepare_vectors(args, work, config)
            results["corpus"] |= _vector_notes(config)
        if phase == "ingest":
            phases[phase] = run_ingest(work, config, args.kill_at)
            write_json(work / "phase-ingest.json", phases[phase])
        else:
            phases[phase] = spawn(work, phase)
        log(f"{phase}: done, peak RSS {phases[phase]['peak_rss_mb']:,} MB")
        results["disk"] = disk(config)
        results["phases"] = phases
        results["phases_done"] = list(phases)
        results["complete"] = len(phases) == len(PHASES)
        results["seconds_total"] = rounded(time.perf_counter() - started, 1)
        results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
        write_json(out_path, results)  # after every phase: a long run's partial results
    results["disk"] = disk(config)
    results["seconds_total"] = rounded(time.perf_counter() - started, 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    return results


def _vector_notes(config: dict[str, Any]) -> dict[str, Any]:
    if "noise" not in config:
        return {}
    return {
        "proxy_noise_norm": config["noise"],
        "proxy": "renormalised mean of the 2-3 source abstracts' real embeddings "
        "+ N(0, (noise/sqrt(dim))^2) per coordinate, renormalised",
        "pool_embeddings": config["pool_embeddings"],
    }


def work_dir(args: argparse.Namespace) -> Iterator[Path]:
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        yield args.work.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="paperlens-scale-", dir=args.tmp_dir))
    try:
        yield path
    finally:
        if args.keep_tmp:
            log(f"kept work directory {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    args = parse_args()
    if args.phase is not None:
        run_child(args.work, args.phase)
        return
    go_offline()
    out_path = args.out or RESULTS_DIR / f"scale-{args.size}.json"
    for work in work_dir(args):
        log(f"work directory {work}")
        results = run(args, work, out_path)
        write_json(out_path, results)
        out = console()
        for table in tables(results):
            out.print(table)
        out.print(notes(results))
        out.print(f"results written to {out_path}")


if __name__ == "__main__":
    main()

"""Peak memory of building the tf-idf term vectors (issue 16), before and after chunking.

Each measurement is a child process, so its peak resident memory (``VmHWM``: heap plus
the pages of mapped files it touched) is its own:

* **build**: ``TermIndex.apply`` over ``size`` synthetic papers (``synth.Synthesiser``,
  generated 1,000 at a time as store batches, one counter per batch, as
  ``PaperStore.changed_since`` yields them), into an empty index: a first build;
* **update**: then ``MAX_SEGMENTS`` small syncs of 500 changed and 100 deleted papers
  each, which makes the index merge its segments once (the old code merged through a
  dict of every live paper).

The store is left out (its batches are bounded either way): what is measured is the
index. ``--src`` picks the paperlens sources the children import, so the same script
measures main's code (``--src /path/to/main/src --label before``) and this branch's
(``--label after``); each call adds its rows to ``bench/results/terms_memory.json``.

    nice -n 10 python bench/terms_memory.py --sizes 50000,200000 --label after \\
        --data ../shared/data --csfcube ../shared/bench/csfcube-dev
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import REPO_ROOT, RESULTS_DIR, int_list, rounded, write_json

BATCH = 1000
CHANGED_PER_UPDATE = 500
DELETED_PER_UPDATE = 100


def vm_hwm_mb() -> float:
    """Peak resident memory of this process (``VmHWM``), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def _papers(args: argparse.Namespace, numbers: list[int], seq: int, deleted: set[int]) -> Any:
    """Store-like records of synthetic papers ``numbers`` (pk = number + 1), all at ``seq``."""
    from paperlens.paper import make_paper
    from paperlens.store.papers import StoredPaper
    from synth import Synthesiser, load_pool

    synthesiser = _papers.__dict__.get("synth")
    if synthesiser is None:
        synthesiser = Synthesiser(load_pool(args.data, args.csfcube), args.seed + seq)
        _papers.__dict__["synth"] = synthesiser
    now = datetime(2024, 1, 1, tzinfo=UTC)
    rows = synthesiser.sources(len(numbers))
    out = []
    for number, row in zip(numbers, rows, strict=True):
        record = synthesiser.record(number, row)
        paper = make_paper(
            id=record["id"], title=record["title"], abstract=record["abstract"], source="bench"
        )
        out.append(StoredPaper(number + 1, seq, number in deleted, now, paper))
    return out


def child(args: argparse.Namespace) -> None:
    """One measurement, printed as JSON on stdout."""
    from paperlens.index import terms
    from paperlens.index.terms import MAX_SEGMENTS, TermIndex

    index = TermIndex(args.dir)
    started = time.perf_counter()
    cpu = time.process_time()
    papers = 0
    if args.phase == "build":
        batches = (args.size + BATCH - 1) // BATCH

        def build() -> Iterator[Any]:
            for b in range(batches):
                numbers = list(range(b * BATCH, min(args.size, (b + 1) * BATCH)))
                yield _papers(args, numbers, b + 1, set())

        # The code before chunking had no ``chunk``: pass it only when asked.
        chunking = {"chunk": args.chunk} if args.chunk else {}
        papers = index.apply(build(), batches, **chunking)
    else:
        seq = index.seq
        step = max(1, args.size // (MAX_SEGMENTS * (CHANGED_PER_UPDATE + DELETED_PER_UPDATE)))
        for u in range(MAX_SEGMENTS):
            seq += 1
            first = u * (CHANGED_PER_UPDATE + DELETED_PER_UPDATE) * step
            numbers = [first + i * step for i in range(CHANGED_PER_UPDATE + DELETED_PER_UPDATE)]
            deleted = set(numbers[CHANGED_PER_UPDATE:])
            batch = _papers(args, numbers, seq, deleted)
            papers += index.apply([batch[i : i + BATCH] for i in range(0, len(batch), BATCH)], seq)
    seconds = time.perf_counter() - started
    segments = len(json.loads((args.dir / "state.json").read_text())["segments"])
    print(
        json.dumps(
            {
                "papers": papers,
                # None: the code before chunking (the whole sync in one segment).
                "chunk": args.chunk or getattr(terms, "CHUNK_PAPERS", None),
                "docs": index.docs,
                "segments": segments,
                "seconds": rounded(seconds, 1),
                "cpu_seconds": rounded(time.process_time() - cpu, 1),
                "papers_per_cpu_s": rounded(papers / max(time.process_time() - cpu, 1e-9), 0),
                "peak_rss_mb": rounded(vm_hwm_mb(), 0),
                "index_mb": rounded(
                    sum(f.stat().st_size for f in args.dir.iterdir()) / 1_000_000, 0
                ),
            }
        )
    )


def run_child(args: argparse.Namespace, phase: str, size: int, work: Path) -> dict[str, Any]:
    env = dict(os.environ)
    src = str(args.src.resolve())
    env["PYTHONPATH"] = os.pathsep.join([src, str(REPO_ROOT / "bench")])
    command = [sys.executable, __file__, "--child", phase, "--size", str(size), "--dir", str(work)]
    command += ["--data", str(args.data), "--csfcube", str(args.csfcube), "--seed", str(args.seed)]
    if args.chunk:
        command += ["--chunk", str(args.chunk)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} {size} failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int_list, default=[50_000, 200_000])
    parser.add_argument("--label", default="after", help="a name for the code measured")
    parser.add_argument("--src", type=Path, default=REPO_ROOT / "src")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--csfcube", type=Path, default=REPO_ROOT.parent / "shared" / "bench" / "csfcube-dev"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chunk", type=int, help="papers per committed segment (default: CHUNK_PAPERS)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "terms_memory.json")
    parser.add_argument("--child", choices=["build", "update"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.phase = args.child
        child(args)
        return
    for name in ("arxiv-snapshot-sample.jsonl", "ml-abstracts-1000.jsonl"):
        if not (args.data / name).is_file():
            parser.error(f"--data: no {name} in {args.data}")
    if not (args.csfcube / "corpus.jsonl").is_file():
        parser.error(f"--csfcube: no corpus.jsonl in {args.csfcube}")
    results = json.loads(args.out.read_text()) if args.out.is_file() else {"runs": []}
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="terms-memory-") as tmp:
            row: dict[str, Any] = {
                "label": args.label,
                "size": size,
                "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "load_average_1min_at_start": rounded(os.getloadavg()[0], 2),
            }
            for phase in ("build", "update"):
                row[phase] = run_child(args, phase, size, Path(tmp))
                print(f"{args.label} {size:,} {phase}: {row[phase]}", flush=True)
        results["runs"] = [
            r for r in results["runs"] if (r["label"], r["size"]) != (args.label, size)
        ] + [row]
        results["runs"].sort(key=lambda r: (r["size"], r["label"] != "before"))
        write_json(args.out, results)


if __name__ == "__main__":
    main()

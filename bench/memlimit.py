"""The server under a memory limit: ``scale.py``'s serve phase again, in a cgroup.

Issue 16 asks for a server at 3M papers in at most 1 GB with the encoder loaded. A
process's RSS counts the file pages it has mapped (the HNSW graph, tantivy's segments,
the term vectors), which the kernel can drop and read again; what matters is whether
the server still answers fast when it may *hold* only so much. So this runs the serve
phase of a finished ``scale.py`` work dir (the same queries, papers and timings) in a
memory cgroup limited to ``--limit-mb`` (cgroup v1 ``memory.limit_in_bytes`` or v2
``memory.max``: page cache the process reads is charged to it), after dropping the page
cache so the files' pages are charged to the group and not left over from the build.
It reports each mode's p50 / p95 with and without the limit (the unlimited figures are
the work dir's own serve phase, or a run of it here with ``--also-unlimited``), the
group's peak usage and the major page faults (reads from disk).

Needs root and a memory cgroup (``/sys/fs/cgroup/memory`` or a v2 hierarchy with the
memory controller); it says so and stops otherwise.

    python bench/memlimit.py --work /tmp/scale-1m --limit-mb 1024 \\
        --out bench/results/memlimit-1000000.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from common import RESULTS_DIR, console, machine_info, rounded, write_json

SCALE = Path(__file__).resolve().with_name("scale.py")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--work", type=Path, required=True, help="a finished scale.py work dir")
    parser.add_argument("--limit-mb", type=int, default=1024, help="the limit (default 1024)")
    parser.add_argument(
        "--also-unlimited",
        action="store_true",
        help="run the serve phase without a limit too (after dropping the cache), "
        "instead of comparing with the work dir's own phase-serve.json",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "memlimit.json")
    return parser.parse_args()


class Cgroup:
    """A memory cgroup of its own (v1 or v2), removed on exit."""

    def __init__(self, limit_bytes: int) -> None:
        v1 = Path("/sys/fs/cgroup/memory")
        v2 = Path("/sys/fs/cgroup")
        name = f"paperlens-bench-{os.getpid()}"
        if (v1 / "memory.limit_in_bytes").exists():
            self.path, self.limit_file, self.peak_file = (
                v1 / name,
                "memory.limit_in_bytes",
                "memory.max_usage_in_bytes",
            )
        elif "memory" in (v2 / "cgroup.controllers").read_text(errors="replace"):
            self.path, self.limit_file, self.peak_file = v2 / name, "memory.max", "memory.peak"
        else:
            raise SystemExit("no memory cgroup here (needs cgroup v1 memory or v2 with memory)")
        try:
            self.path.mkdir()
        except PermissionError as exc:
            raise SystemExit(f"cannot create a cgroup ({exc}): run as root") from exc
        (self.path / self.limit_file).write_text(str(limit_bytes))

    def peak_mb(self) -> float | None:
        path = self.path / self.peak_file
        return rounded(int(path.read_text()) / 2**20, 1) if path.exists() else None

    def close(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


def drop_page_cache() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"cannot drop the page cache ({exc}): run as root") from exc


def serve(work: Path, out: Path, cgroup: Cgroup | None) -> dict[str, Any]:
    """The serve phase in a child (in ``cgroup`` when given); its JSON."""
    command = [sys.executable, str(SCALE), "--phase", "serve", "--work", str(work)]
    # Recall needs every stored vector for the exact truths: not what a server holds.
    env = {**os.environ, "PAPERLENS_BENCH_PHASE_OUT": str(out), "PAPERLENS_BENCH_SKIP_RECALL": "1"}
    if cgroup is not None:
        procs = cgroup.path / "cgroup.procs"
        # The shell joins the group, then becomes the child: every page it reads is
        # charged there from its first instruction.
        command = ["sh", "-c", f'echo $$ > "{procs}" && exec "$0" "$@"', *command]
    code = subprocess.run(command, env=env, check=False).returncode
    if code != 0:  # -9: the kernel's OOM killer, the limit too small for the phase
        return {"failed": True, "exit_code": code, "latency": {}}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def main() -> None:
    args = parse_args()
    work = args.work.resolve()
    if not (work / "phase-serve.json").exists():
        raise SystemExit(f"{work} has no finished serve phase: run scale.py first")
    tmp = work / "memlimit"
    tmp.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "the serve phase under a memory limit",
        "machine": machine_info(),
        "work": str(work),
        "limit_mb": args.limit_mb,
    }
    if args.also_unlimited:
        drop_page_cache()
        unlimited = serve(work, tmp / "unlimited.json", None)
        results["unlimited_source"] = "run here, after dropping the page cache"
    else:
        unlimited = json.loads((work / "phase-serve.json").read_text())
        results["unlimited_source"] = "the work dir's own serve phase"
    cgroup = Cgroup(args.limit_mb * 2**20)
    try:
        drop_page_cache()
        limited = serve(work, tmp / "limited.json", cgroup)
        results["cgroup_peak_mb"] = cgroup.peak_mb()
    finally:
        cgroup.close()
    shutil.rmtree(tmp, ignore_errors=True)
    results["unlimited"] = unlimited
    results["limited"] = limited
    table = Table(title=f"serve phase, {args.limit_mb} MB limit vs none")
    for col in ("mode", "p50 / p95 ms, no limit", f"p50 / p95 ms, {args.limit_mb} MB"):
        table.add_column(col, justify="right")
    for mode, free in unlimited["latency"].items():
        row = limited["latency"].get(mode, {})
        table.add_row(
            mode,
            f"{free.get('p50_ms', '—')} / {free.get('p95_ms', '—')}",
            f"{row.get('p50_ms', '—')} / {row.get('p95_ms', '—')}",
        )
    console().print(table)
    for label, run in (("no limit", unlimited), ("limited", limited)):
        memory = run.get("memory_mb", {})
        console().print(
            f"{label}: RSS after the queries {memory.get('after_queries')} MB "
            f"(file-backed {memory.get('after_queries_file_backed')}, anonymous "
            f"{memory.get('after_queries_anonymous')}), major page faults "
            f"{run.get('major_page_faults', '—')}"
        )
    console().print(f"cgroup peak usage {results['cgroup_peak_mb']} MB")
    write_json(args.out, results)
    console().print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

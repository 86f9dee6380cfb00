"""Helpers shared by the benchmark scripts: offline setup, throwaway data directories,
machine information, peak memory, stable JSON output and Rich tables."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from paperlens.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
SHARED_DIR = REPO_ROOT.parent / "shared"

LIBRARIES = (
    "paperlens",
    "numpy",
    "torch",
    "sentence-transformers",
    "transformers",
    "tokenizers",
    "onnxruntime",
    "model2vec",
    "usearch",
    "tantivy",
    "SQLAlchemy",
)


def go_offline() -> None:
    """Nothing may be downloaded: the bundled model is resolved by paperlens itself."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def int_list(text: str) -> list[int]:
    """``"128,256"`` -> ``[128, 256]`` (for argparse)."""
    return [int(part) for part in text.split(",") if part.strip()]


@contextlib.contextmanager
def scratch_dir(base: Path | None, keep: bool) -> Iterator[Path]:
    """A fresh temporary directory (never the user's data dir), removed afterwards
    unless ``keep``."""
    path = Path(tempfile.mkdtemp(prefix="paperlens-bench-", dir=base))
    try:
        yield path
    finally:
        if keep:
            print(f"kept scratch directory {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def make_settings(data_dir: Path, max_seq_length: int, **overrides: Any) -> Settings:
    """Settings for a bench data dir: every location given explicitly, so neither
    ``PAPERLENS_DATA_DIR`` nor ``PAPERLENS_DATABASE_URL`` can point at real data; the
    encoder backend is ``torch`` unless ``overrides`` names another."""
    from paperlens.config import Settings

    return Settings(
        data_dir=data_dir,
        database_url="",
        max_seq_length=max_seq_length,
        **{"encoder_backend": "torch", **overrides},
    )


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+dirty-src" if dirty else commit


def machine_info() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    import torch

    return {
        "date": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "load_average_1min_at_start": rounded(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu": _cpu_features(),
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "libraries": versions,
    }


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


#: Instruction sets that decide how fast the int8 encoder runs (bench/README.md, "Both
#: cores": the same "AMD EPYC" name embedded at 47 to 163 papers/s on different VMs).
VECTOR_EXTENSIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def _cpu_features() -> dict[str, Any]:
    """The CPU's family and model numbers and which of :data:`VECTOR_EXTENSIONS` it has:
    the model name alone ("AMD EPYC") does not tell the VMs apart."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            name = name.strip()
            if name in ("cpu family", "model", "flags") and name not in found:
                found[name] = value.strip()
            if len(found) == 3:
                break
    flags = set(found.get("flags", "").split())
    return {
        "family": found.get("cpu family"),
        "model": found.get("model"),
        "vector_extensions": [f for f in VECTOR_EXTENSIONS if f in flags],
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_size_mb(*paths: Path) -> float:
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return total / 1_000_000


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Commit-friendly JSON: sorted keys, two-space indent, trailing newline, atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def rounded(value: float, digits: int = 4) -> float:
    return round(float(value), digits)


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    import numpy as np

    return rounded(float(np.percentile(np.asarray(seconds) * 1000, q)), 2)


def console() -> Console:
    """A Rich console of fixed width, so tables pasted into the README do not depend on
    the terminal the run happened in."""
    from rich.console import Console

    return Console(width=120)


def markdown_table(table: Table) -> str:
    """A Rich table as a GitHub Markdown table (its title in bold above it)."""
    headers = [str(col.header) for col in table.columns]
    cells = [[str(c) for c in col.cells] for col in table.columns]
    align = ["---:" if col.justify == "right" else "---" for col in table.columns]
    lines = [f"**{table.title}**", ""] if table.title else []
    lines += ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in zip(*cells, strict=True)]
    return "\n".join(lines)


def replace_section(path: Path, name: str, body: str) -> None:
    """Replace what stands between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8")
    before, rest = text.split(start, 1)
    _old, after = rest.split(end, 1)
    path.write_text(f"{before}{start}\n{body}\n{end}{after}", encoding="utf-8")

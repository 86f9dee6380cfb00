"""Test data drawn from the bundled sample corpus (real arXiv records), and small
builders for crafted files."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

SAMPLE = resources.files("paperlens.sample")


def sample_records(name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Records of a bundled sample file (``arxiv-snapshot-sample`` or ``ml-abstracts-1000``)."""
    out: list[dict[str, Any]] = []
    with gzip.open(str(SAMPLE.joinpath(f"{name}.jsonl.gz")), "rt", encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line))
            if limit is not None and len(out) >= limit:
                break
    return out


def write_jsonl(path: Path, records: Iterable[dict[str, Any] | str]) -> Path:
    """Write records (dicts as JSON, strings verbatim) one a line."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path

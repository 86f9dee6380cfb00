"""The synthetic corpus of ``scale.py``: SIZE papers synthesised from the real pool
(``synth.py``), written as an arXiv bulk-snapshot JSON-lines file with arXiv-style ids, and
their proxy embeddings.

Invariants: paper ``n`` (from 0) has the id ``arxiv_style_id(n)`` and ``arxiv_style_number``
inverts it, so any phase can find a paper's synthetic row from its stored id; the proxy
vector of paper ``n`` depends only on the seed, its source rows and ``n`` (noise is drawn
per ``NOISE_BLOCK``), so the proxies phase and ``hnsw_reach.py`` rebuild the same vectors
block by block, in any order.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np

from common import rounded
from measure import log
from synth import Synthesiser, Vectors, mean_vectors

#: block gathers its 3 source vectors per paper: 8,192 × 3 × 384 float32 = 38 MB.
NOISE_BLOCK = 8_192
#: Ids: ``YYMM.NNNNN`` from January 2015, 99,999 a month (16.7 M papers up to 2912).
FIRST_MONTH = (2015, 1)
PER_MONTH = 99_999


def arxiv_style_id(number: int) -> str:
    """Synthetic paper ``number`` (from 0) as a new-style arXiv id, 99,999 a month.

    >>> arxiv_style_id(0), arxiv_style_id(99_999), arxiv_style_id(2_999_999)
    ('1501.00001', '1502.00001', '1707.00030')
    """
    month, within = divmod(number, PER_MONTH)
    year, month0 = divmod(FIRST_MONTH[1] - 1 + month, 12)
    return f"{(FIRST_MONTH[0] + year) % 100:02d}{month0 + 1:02d}.{within + 1:05d}"


def arxiv_style_number(paper_id: str) -> int:
    """The inverse of :func:`arxiv_style_id`.

    >>> arxiv_style_number(arxiv_style_id(1_234_567))
    1234567
    """
    yymm, within = paper_id.split(".")
    months = (2000 + int(yymm[:2]) - FIRST_MONTH[0]) * 12 + int(yymm[2:]) - FIRST_MONTH[1]
    return months * PER_MONTH + int(within) - 1


def parsed_authors(data_dir: Path) -> dict[str, list[list[str]]]:
    """``authors`` string -> ``authors_parsed`` of the real snapshot sample."""
    out: dict[str, list[list[str]]] = {}
    with (data_dir / "arxiv-snapshot-sample.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                out.setdefault(r["authors"], r["authors_parsed"])
    return out


def snapshot_record(
    synthetic: dict[str, Any], number: int, authors_parsed: dict[str, list[list[str]]]
) -> dict[str, Any]:
    """A synthetic paper (``Synthesiser.record``) in the bulk snapshot's line format."""
    day = datetime.fromisoformat(synthetic["published"]).replace(hour=12, tzinfo=UTC)
    parsed = authors_parsed.get(synthetic["authors"], [])
    return {
        "id": arxiv_style_id(number),
        "submitter": " ".join(reversed(parsed[0][:2])).strip() if parsed else None,
        "authors": synthetic["authors"],
        "title": synthetic["title"],
        "comments": None,
        "journal-ref": None,
        "doi": None,
        "report-no": None,
        "categories": " ".join(synthetic["categories"]),
        "license": None,
        "abstract": synthetic["abstract"],
        "versions": [{"version": "v1", "created": format_datetime(day, usegmt=True)}],
        "update_date": synthetic["published"],
        "authors_parsed": parsed,
    }


def write_snapshot(
    path: Path, synthesiser: Synthesiser, size: int, data_dir: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    """Stream ``size`` synthetic papers to ``path``; returns their source rows."""
    started = time.perf_counter()
    rows = synthesiser.sources(size)
    authors = parsed_authors(data_dir)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for number, row in enumerate(rows):
            record = snapshot_record(synthesiser.record(number, row), number, authors)
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            if number and number % 500_000 == 0:
                log(f"write: {number:,} papers")
    tmp.replace(path)
    seconds = time.perf_counter() - started
    return rows, {
        "seconds": rounded(seconds, 1),
        "file_mb": rounded(path.stat().st_size / 1e6, 1),
    }


def proxy_block(
    pool_vectors: Vectors, rows: np.ndarray, noise: float, seed: int, block: int
) -> Vectors:
    """Proxy vectors of papers ``block * NOISE_BLOCK ...`` (the mean of their sources'
    real embeddings plus Gaussian noise of expected norm ``noise``, renormalised)."""
    part = rows[block * NOISE_BLOCK : (block + 1) * NOISE_BLOCK]
    means = mean_vectors(pool_vectors, part)
    if noise:
        rng = np.random.default_rng([seed, block])
        sigma = noise / np.sqrt(means.shape[1])
        means = means + rng.normal(0.0, sigma, means.shape).astype(np.float32)
        means /= np.linalg.norm(means, axis=1, keepdims=True)
    return means.astype(np.float32)

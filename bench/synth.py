"""A synthetic corpus of any size, resampled from ~7k real titles and abstracts.

Real pool: ``arxiv-snapshot-sample.jsonl`` (2,000), ``ml-abstracts-1000.jsonl`` (1,000)
and the CSFCube corpus (4,203). A synthetic paper is

* the title of one real paper (its first source),
* an abstract made of runs of consecutive sentences from 2–3 real abstracts (about
  ``1/k`` of each source's sentences, in source order),
* its own id ``synth-NNNNNNN``, a first-version date uniform over 2019–2024, the
  categories of its first source (or of a random categorised real paper when that
  source has none), and the authors of a random arXiv record.

Embedding every synthetic paper would take hours on a laptop CPU, so speed runs give
each one a *proxy* vector instead: the renormalised mean of its sources' real
embeddings, plus isotropic Gaussian noise of expected norm ``noise`` (per coordinate
``noise / sqrt(dim)``), renormalised. :func:`proxy_fidelity` measures how close that
is to embedding the synthetic text for real.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

FIRST_DAY = date(2019, 1, 1)
DAYS = (date(2024, 12, 31) - FIRST_DAY).days + 1
MAX_SOURCES = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[$\\])")
_WS = re.compile(r"\s+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]|[A-Za-z]")

Vectors = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class RealPaper:
    id: str
    title: str
    abstract: str
    categories: tuple[str, ...]
    authors: str


def _read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def load_pool(data_dir: Path, csfcube_dir: Path) -> list[RealPaper]:
    """Every real paper with a non-empty abstract, with ids unique across the three files."""
    pool = [
        RealPaper(r["id"], r["title"], r["abstract"], tuple(r["categories"].split()), r["authors"])
        for r in _read(data_dir / "arxiv-snapshot-sample.jsonl")
    ]
    pool += [
        RealPaper(f"ml-{i:04d}", r["title"], r["abstract"], tuple(r["categories"]), "")
        for i, r in enumerate(_read(data_dir / "ml-abstracts-1000.jsonl"))
    ]
    pool += [
        RealPaper(f"csfcube-{r['id']}", r["title"], r["abstract"], (), "")
        for r in _read(csfcube_dir / "corpus.jsonl")
    ]
    return [p for p in pool if p.abstract.strip() and p.title.strip()]


def pool_record(p: RealPaper) -> dict[str, Any]:
    """A real paper as a paperlens JSONL record."""
    return {
        "id": p.id,
        "title": p.title,
        "abstract": p.abstract,
        "categories": list(p.categories),
        "authors": p.authors,
    }


def sentences(text: str) -> list[str]:
    """>>> sentences("A b. C d! e f. G")
    ['A b.', 'C d! e f.', 'G']
    """
    return [s for s in _SENTENCE_END.split(_WS.sub(" ", text).strip()) if s]


class Synthesiser:
    """Makes synthetic papers from a real pool, deterministically for a seed."""

    def __init__(self, pool: list[RealPaper], seed: int) -> None:
        self.pool = pool
        self.rng = np.random.default_rng(seed)
        self._sentences = [sentences(p.abstract) for p in pool]
        self._categorised = [i for i, p in enumerate(pool) if p.categories]
        self._authored = [i for i, p in enumerate(pool) if p.authors]

    def sources(self, n: int) -> NDArray[np.int32]:
        """``(n, 3)`` pool indices, distinct within a row; -1 where a paper has only 2."""
        rows = np.stack(
            [self.rng.choice(len(self.pool), MAX_SOURCES, replace=False) for _ in range(n)]
        ).astype(np.int32)
        rows[self.rng.random(n) < 0.5, MAX_SOURCES - 1] = -1
        return rows

    def abstract(self, row: NDArray[np.int32]) -> str:
        picked = [int(i) for i in row if i >= 0]
        parts: list[str] = []
        for i in picked:
            sents = self._sentences[i]
            take = max(1, round(len(sents) / len(picked)))
            start = int(self.rng.integers(0, len(sents) - take + 1))
            parts += sents[start : start + take]
        return " ".join(parts)

    def record(self, number: int, row: NDArray[np.int32]) -> dict[str, Any]:
        first = self.pool[int(row[0])]
        categories = first.categories or self.pool[self._pick(self._categorised)].categories
        day = FIRST_DAY + timedelta(days=int(self.rng.integers(0, DAYS)))
        return {
            "id": synthetic_id(number),
            "title": first.title,
            "abstract": self.abstract(row),
            "categories": list(categories),
            "authors": self.pool[self._pick(self._authored)].authors,
            "published": day.isoformat(),
        }

    def _pick(self, indices: list[int]) -> int:
        return indices[int(self.rng.integers(0, len(indices)))]

    def write(self, path: Path, n: int) -> NDArray[np.int32]:
        """Write ``n`` synthetic papers as JSONL; returns their source rows."""
        rows = self.sources(n)
        with path.open("w", encoding="utf-8") as fh:
            for number, row in enumerate(rows):
                fh.write(json.dumps(self.record(number, row), ensure_ascii=False) + "\n")
        return rows

    def phrases(self, n: int) -> list[str]:
        """``n`` lower-cased runs of 2–5 consecutive words from real titles: the kind of
        short query a reader types."""
        out: list[str] = []
        while len(out) < n:
            words = _WORD.findall(self.pool[int(self.rng.integers(0, len(self.pool)))].title)
            if len(words) < 2:
                continue
            length = int(self.rng.integers(2, min(5, len(words)) + 1))
            start = int(self.rng.integers(0, len(words) - length + 1))
            out.append(" ".join(words[start : start + length]).lower())
        return out


def synthetic_id(number: int) -> str:
    return f"synth-{number:07d}"


def synthetic_number(paper_id: str) -> int:
    return int(paper_id.removeprefix("synth-"))


def _unit(matrix: Vectors) -> Vectors:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.maximum(norms, 1e-12), dtype=np.float32)


def mean_vectors(pool_vectors: Vectors, rows: NDArray[np.int32]) -> Vectors:
    """Renormalised mean of each row's source vectors (ignoring -1 slots)."""
    present = rows >= 0
    gathered = pool_vectors[np.where(present, rows, 0)] * present[..., None]
    return _unit(gathered.sum(axis=1))


def proxy_vectors(
    pool_vectors: Vectors, rows: NDArray[np.int32], noise: float, rng: np.random.Generator
) -> Vectors:
    """Proxy embeddings for synthetic papers (see the module docstring)."""
    means = mean_vectors(pool_vectors, rows)
    sigma = noise / np.sqrt(means.shape[1])
    return _unit(means + rng.normal(0.0, sigma, means.shape).astype(np.float32))

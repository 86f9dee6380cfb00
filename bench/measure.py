"""Measuring pieces shared by ``speed.py``, ``scale.py`` and ``arxiv_sanity.py``:
logging, opening a bench ``PaperLens``, ingest and embedding rates, the real pool's
embeddings (cached on disk), query timing, exact nearest neighbours and memory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import REPO_ROOT, dir_size_mb, make_settings, percentile_ms, rounded, write_jsonl
from synth import RealPaper, Vectors, pool_record

if TYPE_CHECKING:
    from usearch.index import Index

    from paperlens.core import PaperLens
    from paperlens.index.vector import VectorIndex

#: Untimed calls before each timed series.
WARMUP = 10
#: Where the real pool's embeddings are cached between runs (git-ignored).
CACHE_DIR = REPO_ROOT / "bench" / ".cache"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def open_lens(data_dir: Path, seq_length: int, **overrides: Any) -> PaperLens:
    from paperlens.core import PaperLens

    return PaperLens(make_settings(data_dir, seq_length, **overrides))


def rate(count: int, seconds: float) -> dict[str, float]:
    return {
        "papers": count,
        "seconds": rounded(seconds, 2),
        "papers_per_second": rounded(count / seconds if seconds > 0 else 0.0, 1),
    }


# -- memory -------------------------------------------------------------------------------


def proc_status_mb(field: str, pid: int | str = "self") -> float:
    """A memory field of ``/proc/PID/status`` (``VmRSS``: resident now, ``VmHWM``: peak
    resident), in MB (10^6 bytes; the kernel reports KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return rounded(int(line.split()[1]) * 1024 / 1_000_000, 1)
    raise KeyError(field)


def rss_mb() -> float:
    """Resident memory of this process now."""
    return proc_status_mb("VmRSS")


# -- ingest and embedding -----------------------------------------------------------------


def ingest_file(pl: PaperLens, path: Path) -> dict[str, float]:
    from paperlens.sources.jsonl import JsonlSource

    report = pl.ingest(JsonlSource(path))
    if report.rejected:
        raise SystemExit(f"{path.name}: {report.rejected} rejected, e.g. {report.rejects[:3]}")
    return rate(report.stored, report.seconds)


def stored_pk(pl: PaperLens, paper_id: str) -> int:
    """The store's pk of ``paper_id``, which the bench has just ingested."""
    stored = pl.papers.get(paper_id)
    if stored is None:
        raise SystemExit(f"{paper_id} was not stored")
    return stored.pk


def timed_embed(pl: PaperLens) -> dict[str, float]:
    """``embed_pending`` on what the store holds, model loaded beforehand."""
    from paperlens.indexer import embed_pending

    encoder = pl.encoder
    started = time.perf_counter()
    done = embed_pending(encoder, pl.embeddings)
    return rate(done, time.perf_counter() - started)


def embed_pool(
    work: Path, pool: list[RealPaper], seq_length: int, **overrides: Any
) -> tuple[Vectors, dict[str, Any]]:
    """Every real paper embedded once (the proxies' sources), as a matrix in pool order."""
    path = work / "pool.jsonl"
    write_jsonl(path, (pool_record(p) for p in pool))
    pl = open_lens(work / "pool", seq_length, **overrides)
    try:
        ingested = ingest_file(pl, path)
        embedded = timed_embed(pl)
        pks = {p.id: stored_pk(pl, p.id) for p in pool}
        stored = pl.embeddings.get(pl.model_key, list(pks.values()))
    finally:
        pl.close()
    matrix = np.vstack([stored[pks[p.id]] for p in pool]).astype(np.float32)
    return matrix, {"ingest": ingested, "embed": embedded}


def pool_cache_path(pool: list[RealPaper], model_key: str) -> Path:
    """The cache file for this pool (ids and texts) and model key (model@seq_length)."""
    digest = hashlib.blake2b(model_key.encode(), digest_size=12)
    for p in pool:
        digest.update(f"\x00{p.id}\x00{p.title}\x00{p.abstract}".encode())
    return CACHE_DIR / f"pool-{digest.hexdigest()}.npy"


def cached_pool_vectors(
    work: Path, pool: list[RealPaper], seq_length: int, **overrides: Any
) -> tuple[Vectors, dict[str, Any]]:
    """The real pool's embeddings (as stored by ``embed_pending``, float16 values), from
    ``bench/.cache`` when an earlier run computed them for the same pool and model key,
    else embedded now and cached."""
    from paperlens.embedding import encoder_key

    key = encoder_key(make_settings(work, seq_length, **overrides))
    path = pool_cache_path(pool, key)
    if path.exists():
        matrix = np.load(path)
        if matrix.shape[0] == len(pool):
            return matrix.astype(np.float32), {"cache": str(path.relative_to(REPO_ROOT))}
    matrix, report = embed_pool(work, pool, seq_length, **overrides)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    (CACHE_DIR / ".gitignore").write_text("*\n")
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, matrix)
    tmp.replace(path)
    return matrix, report | {"cache": str(path.relative_to(REPO_ROOT)), "computed": True}


# -- queries ------------------------------------------------------------------------------


def usearch_vectors(pl: PaperLens) -> VectorIndex:
    """``pl``'s dense index as the usearch :class:`VectorIndex` a bench data dir (SQLite)
    always gets: the HNSW search breadth is only adjustable there."""
    from paperlens.index.vector import VectorIndex

    index = pl.vectors
    if not isinstance(index, VectorIndex):
        raise SystemExit(f"expected the usearch vector backend, not {pl.vector_backend}")
    return index


def set_expansion_search(index: Index, expansion: int) -> None:
    """Set the HNSW search breadth of a usearch graph (for every search after)."""
    # usearch defines this setter apart from its getter, so its hints read as read-only.
    index.expansion_search = expansion  # type: ignore[misc]


def disk_usage(pl: PaperLens) -> dict[str, float]:
    data = pl.settings.data_dir
    return {
        "database_mb": rounded(dir_size_mb(*data.glob("paperlens.db*")), 1),
        "lexical_index_mb": rounded(dir_size_mb(pl.settings.index_dir / "lexical"), 1),
        "hnsw_index_mb": rounded(dir_size_mb(pl.settings.index_dir / "vectors"), 1),
    }


class LookupEncoder:
    """An :class:`~paperlens.embedding.Encoder` that returns precomputed query vectors:
    semantic search timed without running the model."""

    def __init__(self, key: str, vectors: dict[str, Vectors]) -> None:
        self._key = key
        self._vectors = vectors
        self._dim = len(next(iter(vectors.values())))

    @property
    def key(self) -> str:
        return self._key

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> Vectors:
        return np.vstack([self._vectors[t] for t in texts])


def time_calls(call: Callable[[str], object], inputs: Sequence[str]) -> dict[str, float]:
    """p50/p95/mean latency of ``call`` over ``inputs``, after ``WARMUP`` untimed calls."""
    for item in inputs[:WARMUP]:
        call(item)
    seconds = []
    for item in inputs:
        started = time.perf_counter()
        call(item)
        seconds.append(time.perf_counter() - started)
    return {
        "queries": len(seconds),
        "p50_ms": percentile_ms(seconds, 50),
        "p95_ms": percentile_ms(seconds, 95),
        "mean_ms": rounded(float(np.mean(seconds)) * 1000, 2),
    }


# -- exact nearest neighbours -------------------------------------------------------------


def exact_top(matrix: Vectors, queries: Vectors, k: int) -> np.ndarray:
    """Row indices of the ``k`` best inner products for each query (brute force)."""
    scores = queries @ matrix.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


@dataclass(frozen=True, slots=True)
class Truth:
    """Exact answer to one query: its 10 nearest pks and the 10th best cosine."""

    pks: set[int]
    floor: float


def chunked_exact_truths(
    chunks: Iterable[tuple[np.ndarray, Vectors]],
    queries: Vectors,
    skips: Sequence[int | None],
    k: int = 10,
) -> list[Truth]:
    """Exact top ``k`` (each query's ``skip`` pk excluded) over ``(pks, matrix)`` chunks,
    keeping only a running top ``k + 1`` per query: memory is one chunk, whatever the
    corpus size."""
    n = len(queries)
    best_scores = np.full((n, k + 1), -np.inf, dtype=np.float32)
    best_pks = np.zeros((n, k + 1), dtype=np.int64)
    for pks, matrix in chunks:
        scores = queries @ matrix.T
        take = min(k + 1, scores.shape[1])
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        all_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        all_pks = np.hstack([best_pks, np.asarray(pks, dtype=np.int64)[top]])
        keep = np.argsort(-all_scores, axis=1, kind="stable")[:, : k + 1]
        best_scores = np.take_along_axis(all_scores, keep, axis=1)
        best_pks = np.take_along_axis(all_pks, keep, axis=1)
    truths = []
    for row_pks, row_scores, skip in zip(best_pks, best_scores, skips, strict=True):
        kept = [(int(p), float(s)) for p, s in zip(row_pks, row_scores, strict=True) if p != skip]
        kept = kept[:k]
        truths.append(Truth({p for p, _ in kept}, kept[-1][1]))
    return truths


def recall_at_10(found: list[list[int]], truths: list[Truth]) -> float:
    pairs = zip(found, truths, strict=True)
    return float(np.mean([len(t.pks & set(f)) / len(t.pks) for f, t in pairs]))

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
   hybrid with and without encoding, similar, and semantic with a category filter (a
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
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    dir_size_mb,
    go_offline,
    machine_info,
    make_settings,
    rounded,
    write_json,
)
from measure import (
    LookupEncoder,
    cached_pool_vectors,
    chunked_exact_truths,
    log,
    open_lens,
    proc_status_mb,
    rate,
    recall_at_10,
    rss_mb,
    time_calls,
)
from synth import RealPaper, Synthesiser, Vectors, load_pool, mean_vectors

#: Papers per ``EmbeddingStore.put`` transaction.
PUT_CHUNK = 5000
#: Papers per proxy block (the noise of paper n depends only on the seed and n). Each
#: block gathers its 3 source vectors per paper: 8,192 × 3 × 384 float32 = 38 MB.
NOISE_BLOCK = 8_192
#: Ids: ``YYMM.NNNNN`` from January 2015, 99,999 a month (16.7 M papers up to 2912).
FIRST_MONTH = (2015, 1)
PER_MONTH = 99_999
PHASES = ("ingest", "proxies", "lexical", "vectors", "serve", "load")
RECALL_EF = (64, 128, 256)
EXACT_CHUNK = 50_000


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


# -- the synthetic snapshot ---------------------------------------------------------------


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


# -- children -----------------------------------------------------------------------------


class Progress:
    """Logs a phase's progress with its resident memory, every ``every`` items, and
    keeps the RSS samples (to show whether memory stays flat)."""

    def __init__(self, phase: str, total: int | None, every: int) -> None:
        self.phase, self.total, self.every = phase, total, every
        self.next = every
        self.started = time.perf_counter()
        self.samples: list[dict[str, float]] = []

    def __call__(self, done: int) -> None:
        if done < self.next:
            return
        self.next = (done // self.every + 1) * self.every
        rss = rss_mb()
        seconds = time.perf_counter() - self.started
        self.samples.append(
            {
                "done": done,
                "rss_mb": rss,
                "rss_anon_mb": proc_status_mb("RssAnon"),  # heap, not mapped files
                "seconds": rounded(seconds, 1),
            }
        )
        of = f" of {self.total:,}" if self.total else ""
        print(f"PROGRESS {self.phase} {done}", flush=True)
        log(f"{self.phase}: {done:,}{of}, {done / seconds:,.0f}/s, RSS {rss:,.0f} MB")


def peak_self_mb() -> float:
    """Peak resident memory of this process (``VmHWM``), in MB. Not ``ru_maxrss``: Linux
    carries that over ``exec`` from the forked copy of the parent, so a child would
    report at least the parent's size."""
    return proc_status_mb("VmHWM")


def child_lens(config: dict[str, Any]) -> Any:
    return open_lens(Path(config["data_dir"]), config["seq_length"])


def phase_ingest(config: dict[str, Any]) -> dict[str, Any]:
    from paperlens.sources.snapshot import SnapshotSource

    pl = child_lens(config)
    try:
        before = pl.papers.count()
        progress = Progress("ingest", config["size"], max(10_000, config["size"] // 20))

        def on_progress(entries: int, _position: str | None) -> None:
            print(f"ENTRIES {entries}", flush=True)  # every 500: the parent may kill here
            progress(entries)

        report = pl.ingest(SnapshotSource(Path(config["snapshot"])), on_progress=on_progress)
        after = pl.papers.count()
    finally:
        pl.close()
    return {
        "papers_in_store_before": before,
        "resumed_from": report.resumed_from,
        "entries_read": report.entries,
        "rejected": report.rejected,
        "rejects": [str(r) for r in report.rejects[:3]],
        "added": report.counts.added,
        "updated": report.counts.updated,
        "unchanged": report.counts.unchanged,
        "papers_in_store_after": after,
        "rss_samples": progress.samples,
        **rate(report.entries, report.seconds),
    }


def stored_keys(pl: Any, batch_size: int) -> Iterator[list[tuple[int, str, str]]]:
    """``(pk, id, text_hash)`` of every live paper, in pk order, in batches: the stored
    text hash is what ``embed_pending`` stores an embedding under."""
    from sqlalchemy import select

    from paperlens.store.papers import papers_t

    after = 0
    while True:
        with pl.engine.connect() as conn:
            rows = conn.execute(
                select(papers_t.c.pk, papers_t.c.id, papers_t.c.text_hash)
                .where(papers_t.c.pk > after, papers_t.c.deleted.is_(False))
                .order_by(papers_t.c.pk)
                .limit(batch_size)
            ).all()
        if not rows:
            return
        yield [(r.pk, r.id, r.text_hash) for r in rows]
        after = rows[-1].pk


def phase_proxies(config: dict[str, Any]) -> dict[str, Any]:
    work = Path(config["work"])
    rows = np.load(work / "rows.npy")
    pool_vectors = np.load(work / "pool-vectors.npy")
    noise, seed = float(config["noise"]), int(config["seed"])
    pl = child_lens(config)
    progress = Progress("proxies", config["size"], max(10_000, config["size"] // 10))
    cached: tuple[int, Vectors] | None = None
    done = 0
    started = time.perf_counter()
    try:
        for batch in stored_keys(pl, PUT_CHUNK):
            put = []
            for pk, paper_id, text_hash in batch:
                block, offset = divmod(arxiv_style_number(paper_id), NOISE_BLOCK)
                if cached is None or cached[0] != block:
                    cached = (block, proxy_block(pool_vectors, rows, noise, seed, block))
                put.append((pk, text_hash, cached[1][offset]))
            pl.embeddings.put(pl.model_key, put)
            done += len(batch)
            progress(done)
        seconds = time.perf_counter() - started
        pending = pl.embeddings.count_pending(pl.model_key)
    finally:
        pl.close()
    if pending:
        raise SystemExit(f"{pending} papers still pending after inserting proxy vectors")
    return {"rss_samples": progress.samples, "pending_after": pending, **rate(done, seconds)}


def phase_lexical(config: dict[str, Any]) -> dict[str, Any]:
    from paperlens.indexer import sync_lexical

    pl = child_lens(config)
    progress = Progress("lexical", config["size"], max(10_000, config["size"] // 10))
    try:
        started = time.perf_counter()
        docs = sync_lexical(pl.papers, pl.lexical, lambda _s, done, _t: progress(done))
        seconds = time.perf_counter() - started
        num_docs = pl.lexical.num_docs()
    finally:
        pl.close()
    return {"docs": docs, "num_docs": num_docs, "rss_samples": progress.samples} | rate(
        docs, seconds
    )


def phase_vectors(config: dict[str, Any]) -> dict[str, Any]:
    from paperlens.indexer import sync_vectors

    pl = child_lens(config)
    progress = Progress("vectors", config["size"], max(10_000, config["size"] // 10))
    try:
        index = pl.vectors  # dimension from the stored embeddings: no model loaded
        started = time.perf_counter()
        added = sync_vectors(pl.papers, pl.embeddings, index, lambda _s, d, _t: progress(d))
        seconds = time.perf_counter() - started
        count = len(index)
        params = {
            "connectivity": index.params.connectivity,
            "expansion_add": index.params.expansion_add,
            "expansion_search": index.params.expansion_search,
            "dtype": index.params.dtype,
        }
    finally:
        pl.close()
    return {
        "vectors": count,
        "hnsw": params,
        "usearch_add_threads": "0 (all cores)",
        "rss_samples": progress.samples,
    } | rate(added, seconds)


def _server_vectors(pl: Any, view: bool) -> Any:
    """The HNSW index of ``pl`` opened memory-mapped (``view``) or loaded, installed in
    ``pl`` as ``PaperLens.vectors`` would open it."""
    from paperlens.index.vector import VectorIndex

    path = pl._vector_path()
    ndim = VectorIndex.saved_ndim(path)
    if ndim is None:
        raise SystemExit(f"no saved HNSW index at {path}")
    pl._vectors = VectorIndex(path, ndim, pl.model_key, pl.hnsw, view=view)
    return pl._vectors


def phase_load(config: dict[str, Any]) -> dict[str, Any]:
    """RSS of a server that loads the HNSW index into memory rather than mapping it."""
    pl = child_lens(config)
    try:
        start = rss_mb()
        started = time.perf_counter()
        index = _server_vectors(pl, view=False)
        seconds = time.perf_counter() - started
        loaded = rss_mb()
        rng = np.random.default_rng(config["seed"] + 5)
        for number in rng.choice(config["size"], 100, replace=False):
            pl.similar(arxiv_style_id(int(number)), k=10)
        after = rss_mb()
        count = len(index)
    finally:
        pl.close()
    return {
        "vectors": count,
        "load_seconds": rounded(seconds, 2),
        "rss_mb_before_load": start,
        "rss_mb_after_load": loaded,
        "rss_mb_after_100_similar": after,
    }


def make_server(config: dict[str, Any]) -> Any:
    """A fresh ``PaperLens`` whose encoder can be swapped for precomputed query vectors."""
    from paperlens.core import PaperLens

    class Server(PaperLens):
        lookup: LookupEncoder | None = None

        @property
        def encoder(self) -> Any:
            return self.lookup if self.lookup is not None else super().encoder

    return Server(make_settings(Path(config["data_dir"]), config["seq_length"]))


def pick_categories(pl: Any, categories: list[str], size: int) -> dict[str, dict[str, Any]]:
    """The most common category (HNSW over-fetch path) and the one nearest 0.5% of the
    corpus (exact scoring of the passing papers), with how many papers pass each."""
    from paperlens.filters import SearchFilters
    from paperlens.search.engine import EXACT_LIMIT

    counts = {c: pl.lexical.count(SearchFilters(categories=(c,))) for c in categories}
    large = max(counts, key=lambda c: counts[c])
    small = min(counts, key=lambda c: abs(counts[c] - 0.005 * size))
    return {
        name: {
            "category": c,
            "passing": counts[c],
            "share": rounded(counts[c] / size),
            "path": "exact" if counts[c] <= EXACT_LIMIT else "hnsw_overfetch",
        }
        for name, c in (("large", large), ("small", small))
    }


def phase_serve(config: dict[str, Any]) -> dict[str, Any]:
    from paperlens.filters import SearchFilters

    work = Path(config["work"])
    phrases: list[str] = json.loads((work / "phrases.json").read_text())
    rng = np.random.default_rng(config["seed"] + 1)
    numbers = rng.choice(config["size"], len(phrases), replace=False)
    paper_ids = [arxiv_style_id(int(n)) for n in numbers]
    memory: dict[str, float] = {"after_start": rss_mb()}
    pl = make_server(config)
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        num_docs = pl.lexical.num_docs()
        out["open_lexical_seconds"] = rounded(time.perf_counter() - started, 3)
        memory["after_opening_lexical"] = rss_mb()
        started = time.perf_counter()
        index = _server_vectors(pl, view=True)
        out["open_hnsw_view_seconds"] = rounded(time.perf_counter() - started, 3)
        memory["after_opening_hnsw_view"] = rss_mb()
        started = time.perf_counter()
        encoder = pl.encoder
        out["model_load_seconds"] = rounded(time.perf_counter() - started, 2)
        memory["after_loading_model"] = rss_mb()
        vectors = np.asarray(encoder.encode(phrases), dtype=np.float32)
        lookup = LookupEncoder(pl.model_key, dict(zip(phrases, vectors, strict=True)))
        out["filters"] = pick_categories(pl, config["categories"], config["size"])
        filtered = {
            name: SearchFilters(categories=(f["category"],)) for name, f in out["filters"].items()
        }

        def with_lookup(call: Callable[[str], object]) -> Callable[[str], object]:
            def run(q: str) -> object:
                pl.lookup = lookup
                try:
                    return call(q)
                finally:
                    pl.lookup = None

            return run

        calls: dict[str, tuple[Callable[[str], object], list[str]]] = {
            "lexical": (lambda q: pl.search(q, "lexical"), phrases),
            "encode_only": (lambda q: encoder.encode([q]), phrases),
            "semantic": (lambda q: pl.search(q, "semantic"), phrases),
            "semantic_no_encode": (with_lookup(lambda q: pl.search(q, "semantic")), phrases),
            "hybrid": (lambda q: pl.search(q, "hybrid"), phrases),
            "hybrid_no_encode": (with_lookup(lambda q: pl.search(q, "hybrid")), phrases),
            "similar": (lambda pid: pl.similar(pid, k=10), paper_ids),
        }
        for name, f in filtered.items():
            calls[f"semantic_filtered_{name}_no_encode"] = (
                with_lookup(lambda q, f=f: pl.search(q, "semantic", filters=f)),
                phrases,
            )
        latency = {}
        for mode, (call, inputs) in calls.items():
            latency[mode] = time_calls(call, inputs)
            log(f"serve: {mode} p50 {latency[mode]['p50_ms']} ms, p95 {latency[mode]['p95_ms']}")
        out["latency"] = latency
        memory["after_queries"] = rss_mb()
        memory["peak_during_queries"] = proc_status_mb("VmHWM")
        out["memory_mb"] = memory
        out["recall"] = measure_recall(pl, index, vectors[: config["recall_queries"]], config, rng)
        out["lexical_docs"] = num_docs
        out["hnsw_vectors"] = len(index)
    finally:
        pl.close()
    return out


def measure_recall(
    pl: Any, index: Any, text_vectors: Vectors, config: dict[str, Any], rng: np.random.Generator
) -> dict[str, Any]:
    """HNSW recall@10 against exact search over every stored vector (read in chunks),
    for text queries and for papers' own vectors (the paper itself excluded)."""
    n = len(text_vectors)
    pks = [pl.paper(arxiv_style_id(int(x))).pk for x in rng.choice(config["size"], n, False)]
    paper_vectors = np.vstack([index.get(pk) for pk in pks]).astype(np.float32)
    queries = np.vstack([text_vectors, paper_vectors])
    skips: list[int | None] = [None] * n + list(pks)
    started = time.perf_counter()
    chunks = pl.embeddings.changed_since(pl.model_key, 0, batch_size=EXACT_CHUNK)
    truths = chunked_exact_truths(chunks, queries, skips)
    exact_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"queries_each": n, "exact_seconds": rounded(exact_seconds, 1)}
    configured = int(index.index.expansion_search)
    for ef in RECALL_EF:
        index.index.expansion_search = ef
        found, seconds = [], []
        for vector, skip in zip(queries, skips, strict=True):
            t = time.perf_counter()
            hits = index.search(vector, 10 if skip is None else 11)
            seconds.append(time.perf_counter() - t)
            found.append([pk for pk, _ in hits if pk != skip][:10])
        out[str(ef)] = {
            "recall@10_text_queries": rounded(recall_at_10(found[:n], truths[:n])),
            "recall@10_paper_queries": rounded(recall_at_10(found[n:], truths[n:])),
            "ann_p50_ms": rounded(float(np.percentile(seconds, 50)) * 1000, 3),
            "ann_p95_ms": rounded(float(np.percentile(seconds, 95)) * 1000, 3),
        }
        log(f"recall@10 ef={ef}: {out[str(ef)]}")
    index.index.expansion_search = configured
    out["expansion_search_configured"] = configured
    return out


PHASE_FUNCTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ingest": phase_ingest,
    "proxies": phase_proxies,
    "lexical": phase_lexical,
    "vectors": phase_vectors,
    "serve": phase_serve,
    "load": phase_load,
}


def run_child(work: Path, phase: str) -> None:
    """Entry point of a child process: run one phase, write its JSON with peak RSS."""
    go_offline()
    config = json.loads((work / "config.json").read_text())
    started = time.perf_counter()
    out = PHASE_FUNCTIONS[phase](config)
    out["wall_seconds"] = rounded(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = peak_self_mb()
    out["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(work / f"phase-{phase}.json", out)


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
        "pool_papers": len(pool),
        "recall_queries": min(args.recall_queries, len(phrases)),
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
    pool_vectors, pool_report = cached_pool_vectors(work, pool, config["seq_length"])
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


# -- output -------------------------------------------------------------------------------

LATENCY_ROWS = (
    ("lexical", "lexical (BM25)"),
    ("encode_only", "query encoding alone"),
    ("semantic", "semantic (encode + HNSW)"),
    ("semantic_no_encode", "semantic, query vector given"),
    ("hybrid", "hybrid (encode + BM25 + HNSW + RRF)"),
    ("hybrid_no_encode", "hybrid, query vector given"),
    ("similar", "similar papers"),
    ("semantic_filtered_large_no_encode", "semantic + large category filter, vector given"),
    ("semantic_filtered_small_no_encode", "semantic + small category filter, vector given"),
)


def _mb(value: float) -> str:
    return f"{value:,.0f}"


def phase_table(results: dict[str, Any]) -> Table:
    size = results["size"]
    table = Table(title=f"Import and index {size:,} synthetic papers: one child process a phase")
    for col in ("phase", "items/s", "seconds", "peak RSS (MB)", "RSS first → last sample (MB)"):
        table.add_column(col, justify="left" if col == "phase" else "right")
    labels = {
        "ingest": "ingest (SnapshotSource)",
        "proxies": "proxy embeddings (EmbeddingStore.put)",
        "lexical": "sync_lexical (tantivy)",
        "vectors": "sync_vectors (usearch HNSW)",
    }
    for phase, label in labels.items():
        r = results.get("phases", {}).get(phase)
        if r is None:
            table.add_row(label, "—", "—", "—", "—")
            continue
        samples = r.get("rss_samples") or []
        trend = f"{_mb(samples[0]['rss_mb'])} → {_mb(samples[-1]['rss_mb'])}" if samples else "—"
        rate, seconds = r["papers_per_second"], r["seconds"]
        if "killed_run" in r:  # both runs: entries read before the kill, then after resuming
            k = r["killed_run"]
            seconds = k["seconds_before_kill"] + r["seconds"]
            rate = (k["killed_after_entries_read"] + r["entries_read"]) / seconds
            label += ", killed + resumed"
        elif r.get("papers_in_store_before"):  # continued from an earlier, stopped run
            label += f", resumed at {r['papers_in_store_before']:,} (this run's rate)"
        if "ran_alongside" in r:
            label += f", alongside {r['ran_alongside']}"
        table.add_row(label, f"{rate:,.0f}", f"{seconds:,.0f}", _mb(r["peak_rss_mb"]), trend)
    return table


def serve_table(results: dict[str, Any]) -> Table:
    serve = results.get("phases", {}).get("serve")
    table = Table(
        title=f"Query latency at {results['size']:,} papers (fresh PaperLens, HNSW "
        "memory-mapped, papers loaded from the store)"
    )
    for col in ("mode", "p50 (ms)", "p95 (ms)"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    if serve is None:
        return table
    filters = serve["filters"]
    for mode, label in LATENCY_ROWS:
        r = serve["latency"].get(mode)
        if r is None:
            continue
        for name, f in filters.items():
            if f"_{name}_" in mode:
                label = label.replace(
                    f"{name} category",
                    f"{name} category ({f['category']}, {f['share']:.1%}, "
                    f"{f['path'].replace('_', ' ')})",
                )
        table.add_row(label, f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}")
    return table


def resource_table(results: dict[str, Any]) -> Table:
    table = Table(title=f"Disk, memory and HNSW recall at {results['size']:,} papers")
    table.add_column("measure")
    table.add_column("value", justify="right")
    d = results.get("disk", {})
    for key, label in (
        ("snapshot_file_mb", "snapshot JSONL file (MB)"),
        ("database_mb", "SQLite database with WAL (MB)"),
        ("lexical_index_mb", "lexical index (MB)"),
        ("hnsw_index_mb", "HNSW index file (MB)"),
    ):
        if key in d:
            table.add_row(label, f"{d[key]:,.0f}")
    phases = results.get("phases", {})
    serve, load = phases.get("serve"), phases.get("load")
    if serve is not None:
        m = serve["memory_mb"]
        table.add_row("server RSS: store + lexical opened (MB)", _mb(m["after_opening_lexical"]))
        table.add_row("  + HNSW memory-mapped (MB)", _mb(m["after_opening_hnsw_view"]))
        table.add_row("  + model loaded (MB)", _mb(m["after_loading_model"]))
        table.add_row("  after all timed queries (MB)", _mb(m["after_queries"]))
        for ef, r in serve["recall"].items():
            if not ef.isdigit():
                continue
            mark = (
                " (configured)" if int(ef) == serve["recall"]["expansion_search_configured"] else ""
            )
            table.add_row(
                f"HNSW recall@10 text / similar, ef={ef}{mark}",
                f"{r['recall@10_text_queries']:.3f} / {r['recall@10_paper_queries']:.3f}",
            )
    if load is not None:
        table.add_row(
            "RSS with HNSW loaded, not mapped: before → after load (MB)",
            f"{_mb(load['rss_mb_before_load'])} → {_mb(load['rss_mb_after_load'])}",
        )
        table.add_row("HNSW load time (s)", f"{load['load_seconds']:.1f}")
    ingest = phases.get("ingest")
    if ingest is not None and "killed_run" in ingest:
        k = ingest["killed_run"]
        table.add_row(
            "resume: killed after entries read / papers committed before resume",
            f"{k['killed_after_entries_read']:,} / {ingest['papers_in_store_before']:,}",
        )
    if ingest is not None:
        table.add_row(
            "papers in store after import (exactly SIZE?)",
            f"{ingest['papers_in_store_after']:,} "
            f"({'yes' if ingest['paper_count_exact'] else 'NO'})",
        )
    return table


def tables(results: dict[str, Any]) -> list[Table]:
    return [phase_table(results), serve_table(results), resource_table(results)]


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


def notes(results: dict[str, Any]) -> str:
    """How the corpus was made, RSS along each build phase, what did not finish."""
    c = results["corpus"]
    phases = results.get("phases", {})
    lines = [
        f"corpus: {results['size']:,} synthetic papers from {c['real_pool_papers']:,} real "
        f"ones, written as an arXiv snapshot file ({c['snapshot']['file_mb']:,.0f} MB in "
        f"{c['snapshot']['seconds']:,.0f} s); proxy noise norm {c.get('proxy_noise_norm')}",
    ]
    for phase in ("ingest", "proxies", "lexical", "vectors"):
        samples = phases.get(phase, {}).get("rss_samples") or []
        if samples:
            trail = ", ".join(f"{s['done'] / 1e3:,.0f}k: {s['rss_mb']:,.0f}" for s in samples)
            lines.append(f"{phase} RSS (MB) by items done — {trail}")
    ingest = phases.get("ingest")
    if ingest and "killed_run" in ingest:
        k = ingest["killed_run"]
        lines.append(
            f"resume: import killed (SIGKILL) after {k['killed_after_entries_read']:,} entries "
            f"read ({k['seconds_before_kill']:,.0f} s); {ingest['papers_in_store_before']:,} "
            f"papers were committed; the re-run resumed from byte/line "
            f"{ingest['resumed_from']}, read {ingest['entries_read']:,} entries, added "
            f"{ingest['added']:,}, updated {ingest['updated']:,}, unchanged "
            f"{ingest['unchanged']:,}; papers in store {ingest['papers_in_store_after']:,}"
        )
    elif ingest and ingest.get("papers_in_store_before"):
        lines.append(
            f"resume: an earlier import process was stopped with "
            f"{ingest['papers_in_store_before']:,} papers committed; this run resumed from "
            f"byte/line {ingest['resumed_from']}, read {ingest['entries_read']:,} entries, "
            f"added {ingest['added']:,}; papers in store {ingest['papers_in_store_after']:,}"
        )
    if any("ran_alongside" in phases.get(p, {}) for p in ("lexical", "vectors")):
        lines.append(
            "lexical and vectors ran at the same time (--parallel-index): each shared the "
            "2 cores with the other, so their rates are lower bounds"
        )
    serve = phases.get("serve")
    if serve:
        f = serve["filters"]
        lines.append(
            "filters: "
            + "; ".join(
                f"{n} = {v['category']} ({v['passing']:,} papers, {v['path']})"
                for n, v in f.items()
            )
            + f"; exact recall over all vectors took {serve['recall']['exact_seconds']:,.0f} s"
        )
    missing = [p for p in PHASES if p not in phases]
    if missing:
        lines.append(f"NOT FINISHED: {', '.join(missing)}")
    lines.append(f"total {results.get('seconds_total', 0) / 60:,.0f} min")
    return "```\n" + "\n".join(lines) + "\n```"


if __name__ == "__main__":
    main()

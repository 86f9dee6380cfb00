"""The phases of ``scale.py``, each run in a child process of its own (``scale.py --phase
NAME --work DIR``) so that its peak resident memory is its own.

A child reads ``DIR/config.json`` (written by the parent), runs one phase and writes
``DIR/phase-NAME.json`` with its results, wall time and peak RSS. While it runs it prints
``PROGRESS done`` lines and, for the import, ``ENTRIES read`` lines (every 500 entries):
the parent relays the rest of the output and may kill an import at such a line.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import go_offline, make_settings, rounded, write_json
from measure import (
    LookupEncoder,
    chunked_exact_truths,
    log,
    open_lens,
    proc_status_mb,
    rate,
    recall_at_10,
    rss_mb,
    set_expansion_search,
    time_calls,
    usearch_vectors,
)
from scale_corpus import NOISE_BLOCK, arxiv_style_id, arxiv_style_number, proxy_block
from synth import Vectors

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from paperlens.embedding import Encoder
    from paperlens.index.vector import VectorIndex

#: The phases, in the order the parent runs them.
PHASES = ("ingest", "proxies", "lexical", "vectors", "terms", "neighbours", "serve", "load")
#: "Similar" lists the ``neighbours`` phase computes ahead (newest papers first), to time
#: the index step; the serve phase's papers get theirs on top.
DEFAULT_LISTS = 20_000
#: Papers per ``EmbeddingStore.put`` transaction.
PUT_CHUNK = 5000
#: HNSW search breadths (``expansion_search``) at which recall@10 is measured.
RECALL_EF = (64, 128, 256)
#: Stored vectors per chunk of the exact (numpy) search.
EXACT_CHUNK = 50_000


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


def encoder_setting(config: dict[str, Any]) -> dict[str, Any]:
    """The run's encoder backend as a ``make_settings`` override: the product default
    recorded when the run began, ``torch`` for runs from before it was recorded."""
    return {"encoder_backend": config.get("encoder_backend", "torch")}


def child_lens(config: dict[str, Any]) -> PaperLens:
    return open_lens(Path(config["data_dir"]), config["seq_length"], **encoder_setting(config))


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


def stored_keys(pl: PaperLens, batch_size: int) -> Iterator[list[tuple[int, str, str]]]:
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
        index = usearch_vectors(pl)  # dimension from the stored embeddings: no model loaded
        started = time.perf_counter()
        added = sync_vectors(pl.papers, pl.embeddings, index, lambda _s, d, _t: progress(d))
        seconds = time.perf_counter() - started
        count = len(index)
        params = asdict(index.params)  # main graph: main_*; the rerank; the delta's
    finally:
        pl.close()
    return {
        "vectors": count,
        "hnsw": params,
        "usearch_add_threads": "0 (all cores)",
        "rss_samples": progress.samples,
    } | rate(added, seconds)


def phase_terms(config: dict[str, Any]) -> dict[str, Any]:
    """The tf-idf term vectors the served "similar" list fuses with the dense cosine
    (``indexer.sync_terms``): without them ``PaperLens.similar`` is dense order alone."""
    from paperlens.indexer import sync_terms

    pl = child_lens(config)
    progress = Progress("terms", config["size"], max(10_000, config["size"] // 10))
    try:
        started = time.perf_counter()
        docs = sync_terms(pl.papers, pl.terms, lambda _s, done, _t: progress(done))
        seconds = time.perf_counter() - started
    finally:
        pl.close()
    return {"docs": docs, "rss_samples": progress.samples} | rate(docs, seconds)


def serve_paper_ids(config: dict[str, Any], count: int) -> list[str]:
    """The papers whose "similar" lists the serve phase asks for."""
    rng = np.random.default_rng(config["seed"] + 1)
    numbers = rng.choice(config["size"], count, replace=False)
    return [arxiv_style_id(int(n)) for n in numbers]


def phase_neighbours(config: dict[str, Any]) -> dict[str, Any]:
    """ "Similar" lists computed ahead, as ``paperlens index`` computes them
    (``search.neighbours.update_lists``): the newest ``lists`` papers' (timed: the cost of
    the index step), then the serve phase's papers' (so it can read them)."""
    from paperlens.embedding.cache import usable_cpus
    from paperlens.search.neighbours import update_lists

    work = Path(config["work"])
    phrases: list[str] = json.loads((work / "phrases.json").read_text())
    budget = int(config.get("lists", DEFAULT_LISTS))
    pl = child_lens(config)
    progress = Progress("neighbours", budget, max(1000, budget // 10))
    try:
        started = time.perf_counter()
        lists = update_lists(
            pl.retriever,
            pl.papers,
            pl.neighbours,
            budget,
            lambda _s, done, _t: progress(done),
            workers=usable_cpus(),
        )
        seconds = time.perf_counter() - started
        wanted = [pl.paper(pid).pk for pid in serve_paper_ids(config, len(phrases))]
        served = update_lists(
            pl.retriever, pl.papers, pl.neighbours, len(wanted), only=wanted, workers=usable_cpus()
        )
        path = pl.settings.index_dir / "neighbours"
        disk_bytes = sum(f.stat().st_size for f in path.glob("*"))
        stored = len(pl.neighbours)
    finally:
        pl.close()
    return {
        "lists": lists,
        "threads": usable_cpus(),
        "serve_papers_lists": served,
        "stored_lists": stored,
        "disk_mb": rounded(disk_bytes / 1e6, 1),
        "bytes_per_list": rounded(disk_bytes / max(1, stored), 1),
        "rss_samples": progress.samples,
    } | rate(lists, seconds)


def estimate_quality(pl: PaperLens, phrases: list[str]) -> dict[str, Any]:
    """How good "about N" is: for each query, the unfiltered lexical search's total as
    served (estimated unless the page came back short) against the counted total."""
    ratios, exact = [], 0
    for q in phrases:
        served = pl.lexical.search(q, limit=10)
        counted = pl.lexical.search(q, limit=10, total="exact").total
        if served.exact:
            exact += 1
            if served.total != counted:
                raise SystemExit(f"an 'exact' total was wrong for {q!r}")
        elif counted:
            ratios.append(served.total / counted)
    r = np.array(ratios) if ratios else np.ones(1)
    worst = float(r[np.argmax(np.abs(np.log(r)))])
    return {
        "queries": len(phrases),
        "exact": exact,
        "estimated": len(ratios),
        "ratio_median": rounded(float(np.median(r)), 3),
        "ratio_p10": rounded(float(np.percentile(r, 10)), 3),
        "ratio_p90": rounded(float(np.percentile(r, 90)), 3),
        "ratio_worst": rounded(worst, 3),
        "served_total_exact_share": rounded(
            sum(pl.search(q, "lexical").total_is_exact for q in phrases) / len(phrases), 3
        ),
    }


def server_vectors(pl: PaperLens, view: bool) -> VectorIndex:
    """The saved HNSW index of ``pl`` opened memory-mapped (``view``) or loaded, and used
    by ``pl`` from now on."""
    from paperlens.search.engine import IndexNotBuilt

    try:
        return pl.open_vectors(view=view)
    except IndexNotBuilt as e:
        raise SystemExit(str(e)) from None


def phase_load(config: dict[str, Any]) -> dict[str, Any]:
    """RSS of a server that loads the HNSW index into memory rather than mapping it."""
    pl = child_lens(config)
    try:
        start = rss_mb()
        started = time.perf_counter()
        index = server_vectors(pl, view=False)
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


class QuerySwitch:
    """Precomputed query vectors that a server made by :func:`make_server` encodes with
    instead of its model while ``lookup`` is set."""

    lookup: LookupEncoder | None = None


def make_server(config: dict[str, Any], switch: QuerySwitch) -> PaperLens:
    """A fresh ``PaperLens`` whose encoder ``switch`` can swap for precomputed vectors."""
    from paperlens.core import PaperLens

    class Server(PaperLens):
        @property
        def encoder(self) -> Encoder:
            return switch.lookup if switch.lookup is not None else super().encoder

    return Server(
        make_settings(Path(config["data_dir"]), config["seq_length"], **encoder_setting(config))
    )


def pick_categories(pl: PaperLens, categories: list[str], size: int) -> dict[str, dict[str, Any]]:
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
    paper_ids = serve_paper_ids(config, len(phrases))
    rng.choice(config["size"], len(phrases), replace=False)  # the rng as it was after
    memory: dict[str, float] = {"after_start": rss_mb()}
    switch = QuerySwitch()
    pl = make_server(config, switch)
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        num_docs = pl.lexical.num_docs()
        out["open_lexical_seconds"] = rounded(time.perf_counter() - started, 3)
        memory["after_opening_lexical"] = rss_mb()
        started = time.perf_counter()
        index = server_vectors(pl, view=True)
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
                switch.lookup = lookup
                try:
                    return call(q)
                finally:
                    switch.lookup = None

            return run

        def cold(call: Callable[[str], object]) -> Callable[[str], object]:
            """Each call with the query-vector cache emptied: the model runs."""

            def run(q: str) -> object:
                pl.retriever.query_vectors.clear()
                return call(q)

            return run

        def uncached_similar(pid: str) -> object:
            """A paper page's list computed on request (no list computed ahead, no
            earlier call's cached list)."""
            pl.retriever.similar_cache.clear()
            pl.retriever.stored_lists = False
            try:
                return pl.similar(pid, k=10)
            finally:
                pl.retriever.stored_lists = True

        def stored_similar(pid: str) -> object:
            """A paper page's list as served when ``paperlens index`` computed it ahead
            (the neighbours phase did, for these papers): one row read, then the papers
            and the reasons."""
            pl.retriever.similar_cache.clear()
            return pl.similar(pid, k=10)

        # In this order: "hybrid_cached" repeats the queries "hybrid" just cached.
        calls: dict[str, tuple[Callable[[str], object], list[str]]] = {
            "lexical": (lambda q: pl.search(q, "lexical"), phrases),
            "bm25_counted": (lambda q: pl.lexical.search(q, limit=10, total="exact"), phrases),
            "bm25_estimated": (lambda q: pl.lexical.search(q, limit=10), phrases),
            "encode_only": (lambda q: encoder.encode([q]), phrases),
            "semantic": (cold(lambda q: pl.search(q, "semantic")), phrases),
            "semantic_no_encode": (with_lookup(lambda q: pl.search(q, "semantic")), phrases),
            "hybrid": (cold(lambda q: pl.search(q, "hybrid")), phrases),
            "hybrid_cached": (lambda q: pl.search(q, "hybrid"), phrases),
            "hybrid_no_encode": (with_lookup(lambda q: pl.search(q, "hybrid")), phrases),
            "similar": (uncached_similar, paper_ids),
            "similar_stored": (stored_similar, paper_ids),
        }
        for name, f in filtered.items():
            calls[f"semantic_filtered_{name}_no_encode"] = (
                with_lookup(partial(pl.search, mode="semantic", filters=f)),
                phrases,
            )
        latency = {}
        for mode, (call, inputs) in calls.items():
            latency[mode] = time_calls(call, inputs)
            log(f"serve: {mode} p50 {latency[mode]['p50_ms']} ms, p95 {latency[mode]['p95_ms']}")
        # Pages viewed again: every list is in the per-process cache (the retrieval is
        # skipped; fetching the papers and naming the shared terms still run).
        pl.retriever.stored_lists = False  # the cache, not the rows
        for pid in paper_ids:
            pl.similar(pid, k=10)
        latency["similar_cached"] = time_calls(lambda pid: pl.similar(pid, k=10), paper_ids)
        pl.retriever.stored_lists = True
        log(f"serve: similar_cached p50 {latency['similar_cached']['p50_ms']} ms")
        out["latency"] = latency
        out["lexical_total_estimate"] = estimate_quality(pl, phrases)
        out["terms_built"] = pl.terms.seq > 0
        memory["after_queries"] = rss_mb()
        # Mapped file pages (the main graph) against private memory (model, heaps);
        # the rows file is read with pread and shows in neither.
        memory["after_queries_file_backed"] = proc_status_mb("RssFile")
        memory["after_queries_anonymous"] = proc_status_mb("RssAnon")
        memory["peak_during_queries"] = proc_status_mb("VmHWM")
        out["memory_mb"] = memory
        if not os.environ.get("PAPERLENS_BENCH_SKIP_RECALL"):  # memlimit.py: latency only
            out["recall"] = measure_recall(
                pl, index, vectors[: config["recall_queries"]], config, rng
            )
        out["lexical_docs"] = num_docs
        out["hnsw_vectors"] = len(index)
    finally:
        pl.close()
    return out


def measure_recall(
    pl: PaperLens,
    index: VectorIndex,
    text_vectors: Vectors,
    config: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    """HNSW recall@10 against exact search over every stored vector (read in chunks),
    for text queries and for papers' own vectors (the paper itself excluded)."""
    n = len(text_vectors)
    pks = [pl.paper(arxiv_style_id(int(x))).pk for x in rng.choice(config["size"], n, False)]
    found_pks, paper_vectors = index.get_many(pks)
    if found_pks != pks:
        raise SystemExit("a paper picked for the recall queries has no HNSW vector")
    queries = np.vstack([text_vectors, paper_vectors])
    skips: list[int | None] = [None] * n + list(pks)
    started = time.perf_counter()
    chunks = pl.embeddings.changed_since(pl.model_key, 0, batch_size=EXACT_CHUNK)
    truths = chunked_exact_truths(chunks, queries, skips)
    exact_seconds = time.perf_counter() - started
    out: dict[str, Any] = {"queries_each": n, "exact_seconds": rounded(exact_seconds, 1)}
    configured = int(index.index.expansion_search)
    for ef in RECALL_EF:
        set_expansion_search(index.index, ef)
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
    set_expansion_search(index.index, configured)
    out["expansion_search_configured"] = configured
    return out


PHASE_FUNCTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ingest": phase_ingest,
    "proxies": phase_proxies,
    "lexical": phase_lexical,
    "vectors": phase_vectors,
    "terms": phase_terms,
    "neighbours": phase_neighbours,
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
    # Pages read from disk (not from the page cache): what a memory limit costs.
    out["major_page_faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    # bench/memlimit.py runs a phase again and keeps the first run's file.
    out_path = os.environ.get("PAPERLENS_BENCH_PHASE_OUT") or work / f"phase-{phase}.json"
    write_json(Path(out_path), out)

"""Query latency with the BM25 half beside the dense half, against both in turn.

    .venv/bin/python bench/hybridlat.py --work /path/to/scale-work-dir [--threads 0,1]

Opens a work directory left by ``bench/scale.py --work DIR`` (its store and indexes, its
query phrases) as a server would (a fresh ``PaperLens``, the HNSW graph memory-mapped)
and measures, in one process and one run:

1. **GIL** — whether tantivy's ``Searcher.search``, usearch's ``Index.search`` and the
   ONNX encoder release the GIL: 200 calls on each of two threads against the same 400
   calls in turn (wall-time ratio: ~0.5 on two idle cores when the GIL is released,
   ~1.0 when it is held), and BM25 on one thread beside encode + HNSW on the other.
2. **latency** — p50/p95 of lexical, semantic, hybrid (query vector cache emptied: the
   model runs), hybrid with a cached vector, "similar" computed afresh and from the
   per-process cache, all through the facade, for **before** (the code before this
   change: both halves in turn, the reasons of "similar" analysed from the text; for
   lexical and semantic search, which did not change, it shows the run's noise) and each
   ``search_threads`` setting given, **interleaved** (each query runs under every
   variant in turn, rotating which goes first), so load changes during the run hit
   every variant alike.
3. **same answers** — every answer (hits, scores, ranks; "similar": with its reason)
   under each variant is compared with "before": they must be equal.
4. **similar, part by part** — the fresh "similar" path split into its steps (sequential),
   to show where its time goes.

The 1-minute load average is recorded at the start and the end: figures from a shared box
are ratios first (same run, same load), absolute values only as an upper bound.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from common import console, go_offline, int_list, machine_info, percentile_ms, rounded, write_json
from measure import log
from scale_corpus import arxiv_style_id
from scale_phases import QuerySwitch, make_server

#: Untimed calls per setting before the timed ones.
WARMUP = 10
#: Calls per thread in the GIL check.
GIL_CALLS = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="a scale.py work directory")
    parser.add_argument(
        "--threads",
        type=int_list,
        default=[0, 1],
        help="search_threads settings to compare, comma-separated (default: 0,1)",
    )
    parser.add_argument("--queries", type=int, default=300, help="queries per mode (300)")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: none)")
    return parser.parse_args()


def load_1min() -> float:
    return rounded(os.getloadavg()[0], 2)


# -- 1. the GIL ---------------------------------------------------------------------------


def in_turn_and_beside(
    first: Callable[[int], object], second: Callable[[int], object]
) -> dict[str, float]:
    """Wall time of GIL_CALLS calls of each of ``first`` and ``second`` one after the other
    against the two on two threads at once."""
    for i in range(WARMUP):
        first(i)
        second(i)
    started = time.perf_counter()
    for i in range(GIL_CALLS):
        first(i)
    for i in range(GIL_CALLS):
        second(i)
    in_turn = time.perf_counter() - started
    barrier = threading.Barrier(2)

    def run(call: Callable[[int], object]) -> None:
        barrier.wait()
        for i in range(GIL_CALLS):
            call(i)

    threads = [threading.Thread(target=run, args=(c,)) for c in (first, second)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    beside = time.perf_counter() - started
    return {
        "in_turn_ms": rounded(in_turn * 1000, 1),
        "two_threads_ms": rounded(beside * 1000, 1),
        "ratio": rounded(beside / in_turn, 2),
    }


def gil_check(pl: Any, phrases: list[str]) -> dict[str, Any]:
    lexical, vectors, encoder = pl.lexical, pl.vectors, pl.encoder
    phrases = [phrases[i % len(phrases)] for i in range(GIL_CALLS)]
    queries = [lexical.text_query(p) for p in phrases]
    qvecs = np.asarray(encoder.encode(phrases), dtype=np.float32)
    searcher = lexical.index.searcher()

    def bm25(i: int) -> object:
        return searcher.search(queries[i], limit=100, count=False)

    def usearch(i: int) -> object:
        return vectors.main.search(qvecs[i], 200)  # the compressed graph, no re-scoring

    def dense(i: int) -> object:
        return vectors.search(qvecs[i], 100)  # + re-scoring (pread, numpy)

    def encode(i: int) -> object:
        return encoder.encode([phrases[i]])

    def python(_i: int) -> object:  # the control: pure Python holds the GIL throughout
        return sum(range(20_000))

    checks = {
        "pure Python (control)": (python, python),
        "tantivy Searcher.search (BM25 top 100)": (bm25, bm25),
        "usearch Index.search (200, 8-bit graph)": (usearch, usearch),
        "VectorIndex.search (HNSW + re-scoring)": (dense, dense),
        "ONNX encode (one query)": (encode, encode),
        "BM25 beside HNSW + re-scoring": (bm25, dense),
        "BM25 beside encode + HNSW": (bm25, lambda i: (encode(i), dense(i))),
    }
    out = {}
    for name, (first, second) in checks.items():
        out[name] = in_turn_and_beside(first, second)
        log(f"gil: {name}: ratio {out[name]['ratio']}")
    return out


# -- 2. and 3. latency, interleaved; same hits --------------------------------------------


#: The variant measured as the code before this change: both halves in turn and the
#: reasons of "similar" analysed from the shown papers' text (:func:`similar_before`).
BEFORE = "before"


def similar_before(pl: Any, paper_id: str, k: int = 10) -> list[Any]:
    """``PaperLens.similar`` as it was before 2026-12-01's change (its body, with the
    reasons analysed from each shown paper's text); run with ``search_threads`` 0 it is
    the old path whole."""
    from dataclasses import replace

    from paperlens.arxiv_ids import title_id
    from paperlens.core import Reason
    from paperlens.search.engine import Ranking
    from paperlens.store.papers import embedding_text

    stored = pl.paper(paper_id)
    own_title = title_id(stored.paper.title)
    text = embedding_text(stored.paper.title, stored.paper.abstract)
    ranking = Ranking(pl.retriever.similar(stored.pk, k + 5, None, text=text), 0)
    results = [r for r in pl._results(ranking) if title_id(r.paper.title) != own_title][:k]
    own = (stored.paper.title, stored.paper.abstract)
    shared = pl.terms.reasons(own, [(r.paper.title, r.paper.abstract) for r in results])
    return [
        replace(r, reason=Reason("terms", "shared: " + ", ".join(terms)) if terms else None)
        for r, terms in zip(results, shared, strict=True)
    ]


def interleaved(
    pl: Any,
    variants: Sequence[str],
    inputs: Sequence[str],
    call: Callable[[str, str], object],
    before: Callable[[str], None] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, list[object]]]:
    """p50/p95 of ``call(variant, item)`` for each variant (``BEFORE`` or a
    ``search_threads`` value), interleaved: each item under every variant in turn,
    rotating which goes first; and what each call returned (to compare). ``before``
    runs untimed before each call."""
    seconds: dict[str, list[float]] = defaultdict(list)
    answers: dict[str, list[object]] = defaultdict(list)
    for n, item in enumerate(list(inputs[:WARMUP]) + list(inputs)):
        shift = n % len(variants)
        for variant in list(variants[shift:]) + list(variants[:shift]):
            pl.retriever.threads = 0 if variant == BEFORE else int(variant)
            if before is not None:
                before(item)
            started = time.perf_counter()
            answer = call(variant, item)
            elapsed = time.perf_counter() - started
            if n >= WARMUP:
                seconds[variant].append(elapsed)
                answers[variant].append(answer)
    stats = {
        v: {
            "p50_ms": percentile_ms(s, 50),
            "p95_ms": percentile_ms(s, 95),
            "mean_ms": rounded(float(np.mean(s)) * 1000, 2),
        }
        for v, s in seconds.items()
    }
    return stats, answers


def latency(
    pl: Any, variants: list[str], phrases: list[str], paper_ids: list[str]
) -> dict[str, Any]:
    retriever = pl.retriever

    def search(mode: str) -> Callable[[str, str], object]:
        def run(_variant: str, query: str) -> object:
            ranking = pl.search(query, mode)
            return [(r.pk, r.score, r.lexical_rank, r.semantic_rank) for r in ranking.results]

        return run

    def similar(variant: str, paper_id: str) -> object:
        old = variant == BEFORE
        results = similar_before(pl, paper_id) if old else pl.similar(paper_id, k=10)
        return [(r.pk, r.score, r.reason.text if r.reason else None) for r in results]

    def no_vector(_q: str) -> None:
        retriever.query_vectors.clear()

    def no_list(_p: str) -> None:
        retriever.similar_cache.clear()

    modes: dict[str, tuple[Sequence[str], Callable[[str, str], object], Any]] = {
        "lexical": (phrases, search("lexical"), None),
        "semantic": (phrases, search("semantic"), no_vector),
        "hybrid": (phrases, search("hybrid"), no_vector),
        "hybrid_cached_vector": (phrases, search("hybrid"), None),
        "similar_fresh": (paper_ids, similar, no_list),
        "similar_cached": (paper_ids, similar, None),
    }
    out: dict[str, Any] = {}
    for mode, (inputs, call, before) in modes.items():
        stats, answers = interleaved(pl, variants, inputs, call, before)
        same = {
            v: sum(a == b for a, b in zip(answers[v], answers[variants[0]], strict=True))
            for v in variants
        }
        out[mode] = {"by_variant": stats, "same_as_first": same, "calls": len(inputs)}
        log(
            f"latency: {mode}: "
            + "; ".join(f"{v}: p50 {x['p50_ms']} p95 {x['p95_ms']}" for v, x in stats.items())
            + f"; same answers {same}"
        )
    return out


# -- 4. similar, part by part -------------------------------------------------------------


def similar_parts(pl: Any, paper_ids: list[str]) -> dict[str, dict[str, float]]:
    """The fresh "similar" path (sequential) step by step, as ``PaperLens.similar`` and
    ``Retriever._similar`` take them."""
    from paperlens.arxiv_ids import title_id
    from paperlens.filters import SearchFilters
    from paperlens.search.engine import (
        SIMILAR_CANDIDATES,
        SIMILAR_LEXICAL_CANDIDATES,
        SIMILAR_LEXICAL_TERMS,
        Ranking,
    )
    from paperlens.store.papers import embedding_text

    retriever, terms, lexical = pl.retriever, pl.terms, pl.lexical
    retriever.threads = 0
    times: dict[str, list[float]] = defaultdict(list)

    @contextmanager
    def clock(name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        times[name].append(time.perf_counter() - started)

    none = SearchFilters()
    for n, pid in enumerate(paper_ids):
        with clock("store: the paper"):
            stored = pl.paper(pid)
        text = embedding_text(stored.paper.title, stored.paper.abstract)
        pk = stored.pk
        with clock("index seqs (cache key)"):
            retriever.index_seqs()
        with clock("terms.vector (the paper's)"):
            query = terms.vector(pk)
        with clock("BM25 query built (8 terms)"):
            worded = lexical.terms_query(text, SIMILAR_LEXICAL_TERMS)
        with clock("vectors.get (the paper's)"):
            vector = pl.vectors.get(pk)
        with clock("HNSW + re-scoring (101)"):
            ranked = retriever.dense(vector, none, SIMILAR_CANDIDATES + 1)
        kept = [(p, s) for p, s in ranked if p != pk][:SIMILAR_CANDIDATES]
        with clock("BM25 search (top 100)"):
            found = lexical.search(worded, none, limit=SIMILAR_LEXICAL_CANDIDATES, total="none")
        near = {p for p, _ in kept}
        extra = [p for p, _ in found.hits if p not in near and p != pk]
        with clock("vectors.get_many (BM25 extras)"):
            got, matrix = pl.vectors.get_many(extra)
        kept += zip(got, (matrix @ vector).tolist(), strict=True)
        with clock("terms.cosine (all candidates)"):
            terms.cosine(query, [p for p, _ in kept])
        retriever.similar_cache.clear()
        with clock("= Retriever.similar (whole)"):
            hits = retriever.similar(pk, 15, text=text)
        with clock("store: the 15 hits' papers"):
            results = pl._results(Ranking(hits, 0))
        own = title_id(stored.paper.title)
        results = [r for r in results if title_id(r.paper.title) != own][:10]
        others = [(r.paper.title, r.paper.abstract) for r in results]
        mine = (stored.paper.title, stored.paper.abstract)
        with clock("terms.reasons (shown, from the text)"):
            terms.reasons(mine, others)
        with clock("terms.reasons (shown, from the index)"):
            terms.reasons(mine, others, pks=[r.pk for r in results])
        retriever.similar_cache.clear()
        with clock("= PaperLens.similar (whole, fresh)"):
            pl.similar(pid, k=10)
        if n < WARMUP:
            for v in times.values():
                v.pop()
    return {
        name: {"p50_ms": percentile_ms(s, 50), "p95_ms": percentile_ms(s, 95)}
        for name, s in times.items()
    }


def main() -> None:
    args = parse_args()
    go_offline()
    config: dict[str, Any] = json.loads((args.work / "config.json").read_text())
    phrases: list[str] = json.loads((args.work / "phrases.json").read_text())[: args.queries]
    rng = np.random.default_rng(config["seed"] + 1)
    numbers = rng.choice(config["size"], len(phrases), replace=False)
    paper_ids = [arxiv_style_id(int(n)) for n in numbers]
    pl = make_server(config, QuerySwitch())
    # What is timed here is "similar" computed on request: a work dir whose neighbours
    # phase stored lists would otherwise serve some of them from there.
    pl.retriever.stored_lists = False
    results: dict[str, Any] = {
        "benchmark": "hybrid and similar latency, BM25 beside the dense half",
        "machine": machine_info(),
        "size": config["size"],
        "search_threads": args.threads,
        "load_1min_start": load_1min(),
    }
    try:
        pl.open_vectors(view=True)
        pl.search(phrases[0], "hybrid")  # opens everything, loads the model
        results["gil"] = gil_check(pl, phrases)
        results["load_1min_after_gil"] = load_1min()
        variants = [BEFORE, *(str(t) for t in args.threads)]
        results["variants"] = variants
        results["latency"] = latency(pl, variants, phrases, paper_ids)
        results["load_1min_after_latency"] = load_1min()
        results["similar_parts"] = similar_parts(pl, paper_ids)
        results["load_1min_end"] = load_1min()
    finally:
        pl.close()
    if args.out:
        write_json(args.out, results)
    out = console()
    for table in report(results):
        out.print(table)


def report(results: dict[str, Any]) -> list[Table]:
    loads = ", ".join(
        f"{results[k]}"
        for k in ("load_1min_start", "load_1min_after_gil", "load_1min_after_latency")
    )
    gil = Table(title=f"GIL: two threads against in turn ({GIL_CALLS} calls each)")
    for column in ("calls", "in turn ms", "two threads ms", "ratio"):
        gil.add_column(column, justify="left" if column == "calls" else "right")
    for name, row in results["gil"].items():
        gil.add_row(name, str(row["in_turn_ms"]), str(row["two_threads_ms"]), str(row["ratio"]))
    variants = results["variants"]
    lat = Table(title=f"{results['size']:,} papers, p50 / p95 ms (1-min load {loads})")
    lat.add_column("mode")
    for v in variants:
        lat.add_column(v if v == BEFORE else f"search_threads={v}", justify="right")
    lat.add_column("same answers", justify="right")
    for mode, row in results["latency"].items():
        cells = [
            f"{row['by_variant'][v]['p50_ms']} / {row['by_variant'][v]['p95_ms']}" for v in variants
        ]
        same = min(row["same_as_first"].values())
        lat.add_row(mode, *cells, f"{same}/{row['calls']}")
    parts = Table(title="similar, fresh, part by part (in turn), ms")
    for column in ("step", "p50", "p95"):
        parts.add_column(column, justify="left" if column == "step" else "right")
    for name, row in results["similar_parts"].items():
        parts.add_row(name, str(row["p50_ms"]), str(row["p95_ms"]))
    return [gil, lat, parts]


if __name__ == "__main__":
    main()

"""The tables and notes ``scale.py`` prints, also rendered into ``bench/README.md`` by
``report.py``. They read only a ``scale-SIZE.json`` results dict, so a partial run (some
phases missing) still renders.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from scale_phases import PHASES

LATENCY_ROWS = (
    ("lexical", "lexical (BM25; total estimated unless filtered)"),
    ("bm25_counted", "BM25 alone, every match counted (before 2026-12-01)"),
    ("bm25_estimated", "BM25 alone, total estimated"),
    ("encode_only", "query encoding alone"),
    ("semantic", "semantic (encode + HNSW)"),
    ("semantic_no_encode", "semantic, query vector given"),
    ("hybrid", "hybrid (encode + BM25 + HNSW + RRF)"),
    ("hybrid_cached", "hybrid, query vector cached (a repeated query)"),
    ("hybrid_no_encode", "hybrid, query vector given"),
    ("similar", "similar papers (list computed afresh)"),
    ("similar_cached", "similar papers, the same papers again (list cached)"),
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
        "terms": "sync_terms (tf-idf term vectors)",
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
        ("hnsw_index_mb", "HNSW index files (MB)"),
        ("hnsw_rows_file_mb", "  of which the rows file, read with pread (MB)"),
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
        if "after_queries_file_backed" in m:
            table.add_row(
                "    of which mapped files / private (MB)",
                f"{_mb(m['after_queries_file_backed'])} / {_mb(m['after_queries_anonymous'])}",
            )
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


def notes(results: dict[str, Any]) -> str:
    """How the corpus was made, RSS along each build phase, what did not finish."""
    c = results["corpus"]
    phases = results.get("phases", {})
    lines = [
        f"corpus: {results['size']:,} synthetic papers from {c['real_pool_papers']:,} real "
        f"ones, written as an arXiv snapshot file ({c['snapshot']['file_mb']:,.0f} MB in "
        f"{c['snapshot']['seconds']:,.0f} s); proxy noise norm {c.get('proxy_noise_norm')}",
    ]
    for phase in ("ingest", "proxies", "lexical", "vectors", "terms"):
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
        e = serve.get("lexical_total_estimate")
        if e:
            lines.append(
                f"lexical totals: {e['exact']} of {e['queries']} queries exact (short page); "
                f"the other {e['estimated']} estimated at {e['ratio_median']:.2f}× the counted "
                f"total (median; p10 {e['ratio_p10']:.2f}, p90 {e['ratio_p90']:.2f}, worst "
                f"{e['ratio_worst']:.2f}); served totals exact for "
                f"{e['served_total_exact_share']:.0%}"
            )
    missing = [p for p in PHASES if p not in phases]
    if missing:
        lines.append(f"NOT FINISHED: {', '.join(missing)}")
    lines.append(f"total {results.get('seconds_total', 0) / 60:,.0f} min")
    return "```\n" + "\n".join(lines) + "\n```"

"""The shared-service backend measured: PostgreSQL full-text search against the embedded
tantivy BM25 on CSFCube, and pgvector's HNSW against usearch's on the same vectors.

The CSFCube corpus (see bench/quality.py, whose loading, ranking and scoring this
reuses) is imported into a throwaway PostgreSQL database and indexed with
``PaperLens.index()`` (pgvector backend); a usearch index is built from the same stored
embeddings. Then:

* lexical quality: for each of the 24 query papers the whole corpus less the query
  paper is ranked by
  - PostgreSQL FTS: ``to_tsvector('english', title || ' ' || abstract)`` (a stored
    generated column under a GIN index), the query the paper's own lexemes OR-ed,
    ordered by ``ts_rank_cd`` or ``ts_rank``; and a variant with the title weighted A
    and the abstract B (tantivy boosts the title too);
  - tantivy BM25, exactly as quality.py does (``LexicalIndex.terms_query``);
  scored with nDCG@10, nDCG@20 and MAP (bench/metrics.py);
* dense: for ``--dense-queries`` corpus papers, the 10 nearest others from pgvector and
  from usearch against exact cosine over the same vectors (recall@10), with latency;
* latency p50/p95 of every ranking above.

A PostgreSQL 18 + pgvector server is started in the scratch directory
(scripts/postgres.py) unless ``--database-url`` names one (a fresh database is created on
it and dropped afterwards).

    .venv/bin/python bench/postgres.py                # --help for all options
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    peak_rss_mb,
    percentile_ms,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import RELEVANT, mean
from quality import (
    METRICS,
    Bench,
    lexical_ranking,
    load_bench,
    pk_to_id,
    score,
    summarise,
    write_ingest_file,
)

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from paperlens.index.vector import DenseIndex

#: The lexical methods compared, in table order.
LEXICAL = ("tantivy BM25", "pg ts_rank_cd", "pg ts_rank", "pg ts_rank_cd, title A")
#: Column -> how it ranks; the first three over the plain vector, the last weighted.
FTS_RANKINGS = {
    "pg ts_rank_cd": ("tsv", "ts_rank_cd"),
    "pg ts_rank": ("tsv", "ts_rank"),
    "pg ts_rank_cd, title A": ("tsv_weighted", "ts_rank_cd"),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="PostgreSQL FTS vs tantivy BM25 (nDCG/MAP on CSFCube) and pgvector vs "
        "usearch HNSW (recall@10 against exact, latency) on the same corpus.",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="directory with corpus.jsonl, queries.jsonl and qrels.tsv "
        "(default: ../shared/bench/csfcube-dev from the repo root)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server (with pgvector) to create the scratch database on "
        "(default: start one in the scratch directory)",
    )
    parser.add_argument(
        "--seq-length", type=int, default=128, help="embedding max_seq_length (default 128)"
    )
    parser.add_argument(
        "--dense-queries",
        type=int,
        default=1000,
        help="corpus papers used as dense queries (default 1000)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "postgres.json",
        help="where to write the JSON results (default: bench/results/postgres.json)",
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="parent of the scratch dir")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch dir")
    return parser.parse_args()


# -- the server and the database ----------------------------------------------------------


@contextmanager
def postgres_server(url: str, scratch: Path) -> Iterator[str]:
    """``url``, or a server started in ``scratch`` for the run."""
    if url:
        yield url
        return
    script = REPO_ROOT / "scripts" / "postgres.py"
    pgdata = scratch / "pgdata"
    started = subprocess.run(
        [sys.executable, str(script), "start", str(pgdata)],
        capture_output=True,
        text=True,
        check=True,
    )
    try:
        yield started.stdout.strip().splitlines()[-1]
    finally:
        subprocess.run([sys.executable, str(script), "stop", str(pgdata)], check=False)


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    from paperlens.store.db import normalise_url

    admin_url = make_url(normalise_url(server_url))
    name = f"paperlens_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def server_versions(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {
            "postgresql": str(conn.execute(text("SHOW server_version")).scalar()),
            "pgvector": str(
                conn.execute(
                    text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                ).scalar()
            ),
        }


# -- lexical: PostgreSQL full-text search --------------------------------------------------


def add_fts(engine: Engine) -> float:
    """Stored tsvector columns (plain, and title-weighted) under GIN indexes; seconds."""
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE papers ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                "(to_tsvector('english', title || ' ' || abstract)) STORED, "
                "ADD COLUMN tsv_weighted tsvector GENERATED ALWAYS AS "
                "(setweight(to_tsvector('english', title), 'A') || "
                "setweight(to_tsvector('english', abstract), 'B')) STORED"
            )
        )
        conn.execute(text("CREATE INDEX papers_tsv_gin ON papers USING gin (tsv)"))
        conn.execute(
            text("CREATE INDEX papers_tsv_weighted_gin ON papers USING gin (tsv_weighted)")
        )
        conn.execute(text("ANALYZE papers"))
    return time.perf_counter() - started


def fts_ranking(engine: Engine, pk: int, column: str, rank: str, depth: int) -> list[int]:
    """The corpus ranked for paper ``pk``: its own lexemes OR-ed (already normalised,
    so the query is built as a tsquery literal rather than stemmed again)."""
    sql = f"""
        WITH q AS (
            SELECT array_to_string(
                ARRAY(SELECT quote_literal(l) FROM unnest(tsvector_to_array(tsv)) AS l), ' | '
            )::tsquery AS query
            FROM papers WHERE pk = :pk
        )
        SELECT p.pk FROM papers p, q
        WHERE p.{column} @@ q.query AND p.pk <> :pk
        ORDER BY {rank}(p.{column}, q.query) DESC, p.pk
        LIMIT :depth
    """
    with engine.connect() as conn:
        return [int(r[0]) for r in conn.execute(text(sql), {"pk": pk, "depth": depth})]


# -- runs ---------------------------------------------------------------------------------


def timed(fn: Callable[[], list[int]], seconds: list[float]) -> list[int]:
    started = time.perf_counter()
    out = fn()
    seconds.append(time.perf_counter() - started)
    return out


def lexical_quality(pl: PaperLens, bench: Bench) -> dict[str, Any]:
    ids = pk_to_id(pl)
    depth = len(ids) - 1
    per_method: dict[str, dict[str, dict[str, float]]] = {m: {} for m in LEXICAL}
    latency: dict[str, list[float]] = {m: [] for m in LEXICAL}
    returned: dict[str, list[int]] = {m: [] for m in LEXICAL}
    for q in bench.queries:
        pk = pl.paper(q.paper_id).pk
        rankings = {
            "tantivy BM25": timed(
                partial(lexical_ranking, pl, q.paper_id, depth), latency["tantivy BM25"]
            )
        }
        for method, (column, rank) in FTS_RANKINGS.items():
            rankings[method] = timed(
                partial(fts_ranking, pl.engine, pk, column, rank, depth), latency[method]
            )
        for method, ranking in rankings.items():
            returned[method].append(len(ranking))
            per_method[method][q.qid] = score([ids[p] for p in ranking], bench.qrels[q.qid])
    return {
        "depth": depth,
        "methods": {
            m: {
                **summarise(per_method[m], bench.queries),
                "latency_ms": {
                    "p50": percentile_ms(latency[m], 50),
                    "p95": percentile_ms(latency[m], 95),
                },
                "mean_returned": rounded(mean([float(n) for n in returned[m]]), 1),
            }
            for m in LEXICAL
        },
    }


#: The dense indexes compared, in table order.
DENSE = ("pgvector", "pgvector, HNSW forced", "usearch")


def _no_seqscan(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
    dbapi_connection.commit()


def dense_comparison(pl: PaperLens, usearch: DenseIndex, queries: int) -> dict[str, Any]:
    """pgvector as the product runs it (the planner may prefer an exact scan of a small
    table), pgvector with its HNSW index forced, and usearch, against exact search."""
    from sqlalchemy import event

    from paperlens.index.pgvector import PgVectorIndex
    from paperlens.store.db import create_db_engine

    pgvector = pl.vectors
    forced_engine = create_db_engine(pl.settings.resolved_database_url)
    event.listen(forced_engine, "connect", _no_seqscan)
    forced = PgVectorIndex(forced_engine, pgvector.ndim, pgvector.model, pl.hnsw)
    pks = sorted(pk_to_id(pl))
    found, matrix = pgvector.get_many(pks)
    assert found == pks, "every paper should have a vector"
    rng = np.random.default_rng(0)
    chosen = rng.choice(len(pks), size=min(queries, len(pks)), replace=False)
    out: dict[str, Any] = {"queries": len(chosen), "papers": len(pks)}
    recall: dict[str, list[float]] = {name: [] for name in DENSE}
    latency: dict[str, list[float]] = {name: [] for name in DENSE}
    indexes = dict(zip(DENSE, (pgvector, forced, usearch), strict=True))
    for i in chosen:
        vector = matrix[i]
        scores = matrix @ vector
        scores[i] = -np.inf
        exact = {pks[j] for j in np.argsort(-scores, kind="stable")[:10]}
        for name, index in indexes.items():
            started = time.perf_counter()
            hits = index.search(vector, 11)
            latency[name].append(time.perf_counter() - started)
            top = [pk for pk, _ in hits if pk != pks[i]][:10]
            recall[name].append(len(exact & set(top)) / 10)
    forced_engine.dispose()
    for name in recall:
        out[name] = {
            "recall@10": rounded(mean(recall[name])),
            "latency_ms": {
                "p50": percentile_ms(latency[name], 50),
                "p95": percentile_ms(latency[name], 95),
            },
        }
    return out


# -- output -------------------------------------------------------------------------------


def lexical_table(results: dict[str, Any]) -> Table:
    lex = results["lexical"]
    table = Table(
        title=f"Lexical similar-paper ranking, CSFCube dev ({results['queries']} queries, "
        f"{lex['depth']:,} papers ranked)"
    )
    for col in ("method", "nDCG@10", "nDCG@20", "MAP", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method in LEXICAL:
        m = lex["methods"][method]
        table.add_row(
            method,
            *(f"{m['all'][k]:.4f}" for k in METRICS),
            f"{m['latency_ms']['p50']:.1f}",
            f"{m['latency_ms']['p95']:.1f}",
        )
    return table


def dense_table(results: dict[str, Any]) -> Table:
    d = results["dense"]
    table = Table(
        title=f"Dense top-10 ({d['queries']:,} corpus papers as queries, {d['papers']:,} "
        "vectors, HNSW M=32 ef_construction=256 ef_search=128)"
    )
    for col in ("index", "recall@10 vs exact", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "index" else "right")
    for name in DENSE:
        m = d[name]
        table.add_row(
            name,
            f"{m['recall@10']:.4f}",
            f"{m['latency_ms']['p50']:.2f}",
            f"{m['latency_ms']['p95']:.2f}",
        )
    return table


TABLES = (lexical_table, dense_table)


def notes(results: dict[str, Any]) -> str:
    """One paragraph: versions, build times, and the load the run saw."""
    server = results.get("server", {})
    build = results.get("index_seconds", {})
    load = results["machine"]
    return (
        f"PostgreSQL {server.get('postgresql', '?')}, pgvector {server.get('pgvector', '?')}; "
        f"embedding {build.get('embed', 0):.0f} s, tantivy {build.get('lexical', 0):.1f} s, "
        f"pgvector table + HNSW {build.get('vectors', 0):.1f} s, usearch "
        f"{build.get('usearch', 0):.1f} s, tsvector columns + GIN "
        f"{results.get('fts_index_seconds', 0):.1f} s. 1-minute load average "
        f"{load.get('load_average_1min_at_start', '?')} at start, "
        f"{load.get('load_average_1min_at_end', '?')} at end: latencies are inflated by "
        "other jobs on the box, pgvector's (several round trips to the server per query) "
        "more than usearch's (in process)."
    )


def main() -> None:
    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    results: dict[str, Any] = {
        "benchmark": "csfcube-dev: PostgreSQL FTS vs tantivy BM25, pgvector vs usearch",
        "machine": machine_info(),
        "corpus_papers": len(bench.corpus),
        "queries": len(bench.queries),
        "relevant_from_grade": RELEVANT,
        "max_seq_length": args.seq_length,
    }
    started = time.perf_counter()
    with (
        scratch_dir(args.tmp_dir, args.keep_tmp) as scratch,
        postgres_server(args.database_url, scratch) as server,
        scratch_database(server) as url,
    ):
        from paperlens.config import Settings
        from paperlens.core import PaperLens
        from paperlens.index.vector import VectorIndex
        from paperlens.indexer import sync_vectors
        from paperlens.sources.jsonl import JsonlSource

        data_dir = scratch / "data"
        settings = Settings(
            data_dir=data_dir,
            database_url=url,
            max_seq_length=args.seq_length,
            vector_backend="pgvector",
            encoder_backend="torch",
        )
        pl = PaperLens(settings)
        try:
            results["server"] = server_versions(pl.engine)
            source = scratch / "csfcube-corpus.jsonl"
            write_ingest_file(bench.corpus, source)
            pl.ingest(JsonlSource(source))
            _ = pl.encoder
            report = pl.index()
            results["index_seconds"] = {k: rounded(v, 2) for k, v in report.seconds.items()}
            print(f"indexed {report.embedded} papers ({time.perf_counter() - started:.0f}s)")
            results["fts_index_seconds"] = rounded(add_fts(pl.engine), 2)
            usearch = VectorIndex(data_dir / "usearch.idx", pl.vectors.ndim, pl.model_key, pl.hnsw)
            build = time.perf_counter()
            sync_vectors(pl.papers, pl.embeddings, usearch)
            results["index_seconds"]["usearch"] = rounded(time.perf_counter() - build, 2)
            results["lexical"] = lexical_quality(pl, bench)
            results["dense"] = dense_comparison(pl, usearch, args.dense_queries)
        finally:
            pl.close()
    results["seconds_total"] = rounded(time.perf_counter() - started, 1)
    results["peak_rss_mb"] = rounded(peak_rss_mb(), 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, results)
    out = console()
    out.print(lexical_table(results))
    out.print(dense_table(results))
    out.print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

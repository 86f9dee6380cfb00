"""paperlens, arxiv-sanity-lite's approach and PostgreSQL (FTS + pgvector) side by side, on
the same synthetic corpus and the same proxy vectors, in one run (issue 16).

For each ``--sizes`` N one corpus is made (``synth.py``: titles and resampled abstracts of
~7k real papers, authors of real records; proxy embeddings as in ``speed.py`` and
``scale.py``, rounded to float16 once so that every system indexes *the same* vectors) and
served three ways:

* **paperlens** as served: SQLite store, tantivy BM25, usearch HNSW (default
  ``HnswParams``), through the ``PaperLens`` facade: ``search(q, "lexical")``,
  ``search(q, "semantic")`` and ``search(q, "hybrid")`` with the query vector given (a
  lookup encoder: no model runs in the timed path), ``similar(id, k=10)``.
* **arxiv-sanity-lite's approach** (``arxiv_sanity.py``'s code): ``compute.py``'s tf-idf
  features (later settings) pickled; its ``search_rank`` (``serve.py`` at commit c5b5c78:
  for every paper, count each lower-cased query word as a substring of the author names
  ×5, the title ×10 and the summary ×1; sort by that score), and its ``svm_rank(pid=...)``
  "similar" (a ``LinearSVC`` fitted per request). Its ``serve.py`` reads the papers from a
  SQLite dict and un-pickles the features on every request; here both are held in
  memory (favourable to it), and the un-pickling is timed separately.
* **PostgreSQL 18 + pgvector** (a server started in the work directory by
  ``scripts/postgres.py``): one table with ``halfvec(384)`` embeddings (as paperlens's
  pgvector backend stores them), a stored ``tsvector`` (title weighted A, abstract B)
  under GIN, and an HNSW index (``halfvec_cosine_ops``, the same m / ef_construction /
  ef_search as usearch). Keyword: ``websearch_to_tsquery('english', q)`` ranked by
  ``ts_rank``; semantic: ``ORDER BY embedding <=> q LIMIT 10``; hybrid: reciprocal rank
  fusion (k=60) of the two top-100 lists in one SQL statement; similar: the paper's own
  vector as the query. Queries go over one psycopg connection on the server's Unix socket.

Reported per size: build time per system and step, p50/p95 latency per operation and
its ratio to paperlens, recall@10 of each HNSW against exact search over the same float16
vectors (text-query vectors and papers' own vectors), overlap@10 of the keyword lists
between systems (no relevance judgements exist for synthetic papers: overlap says how
alike the lists are, not which is better), memory (``VmRSS``/``VmHWM`` of the serving
process; for PostgreSQL the postmaster and its children's RSS and PSS from ``/proc``, and
``shared_buffers``), and disk.

Each step runs in a child process of its own (its peak memory is its own) and writes
``WORK/N/step-NAME.json``; a run given the same ``--work`` skips the steps already done,
so an interrupted 1M run resumes. The paperlens and PostgreSQL builds run at the same
time (their build times inflate each other); the serving steps run one at a time.

    .venv/bin/python bench/side_by_side.py                      # 100k, ~20 min on 2 cores
    .venv/bin/python bench/side_by_side.py --sizes 1000000 --work /tmp/sbs-1m
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    SHARED_DIR,
    dir_size_mb,
    go_offline,
    int_list,
    machine_info,
    percentile_ms,
    rounded,
    write_json,
)
from measure import (
    LookupEncoder,
    chunked_exact_truths,
    log,
    open_lens,
    proc_status_mb,
    rss_mb,
    usearch_vectors,
)
from scale_corpus import NOISE_BLOCK, proxy_block
from synth import Synthesiser, load_pool, synthetic_id, synthetic_number

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from paperlens.embedding import Encoder

#: The encoder's max_seq_length the pool was embedded at (as scale.py).
SEQ_LENGTH = 256
#: Operations timed, in table order.
OPERATIONS = ("keyword", "semantic", "hybrid", "similar")
#: Table rows: the operations, and PostgreSQL's FTS with any word matching (as BM25 does;
#: ``websearch_to_tsquery`` needs every word), compared with paperlens's keyword search.
ROWS = ("keyword", "keyword_or", "semantic", "hybrid", "similar")
BASE_OF = {op: op for op in OPERATIONS} | {"keyword_or": "keyword"}
LABELS = {op: op for op in OPERATIONS} | {"keyword_or": "keyword, any word (PostgreSQL)"}
#: Build steps, in the order they run.
STEPS = (
    "papers",
    "asl_build",
    "asl_serve",
    "vectors",
    "paperlens_build",
    "pg_build",
    "paperlens_serve",
    "pg_serve",
)
#: Exact top-10 is computed over this many stored vectors at a time.
EXACT_CHUNK = 50_000
#: Reciprocal rank fusion constant, and each list's depth, of the PostgreSQL hybrid.
RRF_K = 60
HYBRID_DEPTH = 100


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="paperlens vs arxiv-sanity-lite's approach vs PostgreSQL FTS + pgvector "
        "on the same synthetic corpus: build time, latency, recall, memory, disk.",
    )
    parser.add_argument(
        "--sizes", type=int_list, default=[100_000], help="corpus sizes (default: 100000)"
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="work directory, kept and resumed (default: a fresh temporary one, removed)",
    )
    parser.add_argument("--queries", type=int, default=200, help="timed queries per operation")
    parser.add_argument(
        "--asl-search-queries",
        type=int,
        default=20,
        help="timed arxiv-sanity searches (a full scan each; default 20)",
    )
    parser.add_argument(
        "--asl-similar-requests",
        type=int,
        default=8,
        help="timed arxiv-sanity SVM 'similar' requests (seconds each; default 8)",
    )
    parser.add_argument(
        "--noise",
        type=float,
        default=0.0,
        help="proxy noise norm (default 0.0, what speed.py's calibration chose)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DIR / "data",
        help="the real sample files (default: ../shared/data)",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="CSFCube directory (default: ../shared/bench/csfcube-dev)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "side_by_side.json",
        help="JSON results (default: bench/results/side_by_side.json)",
    )
    parser.add_argument(
        "--until", choices=STEPS, help="stop after this step (resume later with --work)"
    )
    parser.add_argument(
        "--sequential-builds",
        action="store_true",
        help="build paperlens, then PostgreSQL, each with the whole box (default: both at "
        "once, to fit a time box; PostgreSQL's parallel HNSW build then takes most of the "
        "CPU, and at 1M paperlens's import starved)",
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    return parser.parse_args()


# -- helpers ------------------------------------------------------------------------------


def timed_series(call: Callable[[Any], object], inputs: Sequence[Any], warmup: int = 5) -> Any:
    """p50/p95 of ``call`` over ``inputs`` after ``warmup`` untimed calls; the outputs."""
    for item in inputs[:warmup]:
        call(item)
    seconds, outputs = [], []
    for item in inputs:
        started = time.perf_counter()
        outputs.append(call(item))
        seconds.append(time.perf_counter() - started)
    stats = {
        "queries": len(seconds),
        "p50_ms": percentile_ms(seconds, 50),
        "p95_ms": percentile_ms(seconds, 95),
    }
    return stats, outputs


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def vectors_path(work: Path) -> Path:
    return work / "vectors-f16.npy"


def exact_truths(work: Path, queries: np.ndarray, skips: Sequence[int | None]) -> list[set[str]]:
    """Exact top-10 ids (cosine; the vectors are unit length) over every paper's float16
    vector, each query's ``skip`` row excluded."""
    matrix = np.load(vectors_path(work), mmap_mode="r")

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for start in range(0, matrix.shape[0], EXACT_CHUNK):
            part = np.asarray(matrix[start : start + EXACT_CHUNK], dtype=np.float32)
            yield np.arange(start, start + len(part)), part

    truths = chunked_exact_truths(chunks(), queries.astype(np.float32), skips)
    return [{synthetic_id(n) for n in t.pks} for t in truths]


def recall(found: list[list[str]], truths: list[set[str]]) -> float:
    pairs = zip(found, truths, strict=True)
    return rounded(float(np.mean([len(t & set(f[:10])) / 10 for f, t in pairs])))


def papers_of(work: Path) -> Iterator[dict[str, Any]]:
    with (work / "papers.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


# -- the corpus ---------------------------------------------------------------------------


def step_papers(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The papers (JSONL) with their source rows, the query phrases and the papers asked
    for "similar". Needs no embeddings, so arxiv-sanity can run before they exist."""
    size, seed = config["size"], config["seed"]
    pool = load_pool(Path(config["data"]), Path(config["csfcube"]))
    synthesiser = Synthesiser(pool, seed)
    started = time.perf_counter()
    rows = synthesiser.write(work / "papers.jsonl", size)
    written = time.perf_counter() - started
    np.save(work / "rows.npy", rows)
    phrases = synthesiser.phrases(config["queries"])
    rng = np.random.default_rng(seed + 1)
    similar = [int(n) for n in rng.choice(size, config["queries"], replace=False)]
    (work / "queries.json").write_text(json.dumps({"phrases": phrases, "similar": similar}))
    return {
        "papers_file_mb": rounded((work / "papers.jsonl").stat().st_size / 1e6, 1),
        "write_seconds": rounded(written, 1),
        "pool_papers": len(pool),
    }


def step_vectors(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The papers' float16 proxy vectors (row n = paper n) and the query phrases' real
    embeddings (bundled model, 256 tokens), rounded to float16 as well."""
    from measure import cached_pool_vectors

    size, seed = config["size"], config["seed"]
    pool = load_pool(Path(config["data"]), Path(config["csfcube"]))
    (work / "pool").mkdir(exist_ok=True)
    started = time.perf_counter()
    pool_vectors, pool_report = cached_pool_vectors(work / "pool", pool, SEQ_LENGTH)
    pool_seconds = time.perf_counter() - started
    rows = np.load(work / "rows.npy")
    out = np.lib.format.open_memmap(
        vectors_path(work), mode="w+", dtype=np.float16, shape=(size, pool_vectors.shape[1])
    )
    for block in range(0, (size + NOISE_BLOCK - 1) // NOISE_BLOCK):
        part = proxy_block(pool_vectors, rows, config["noise"], seed, block)
        out[block * NOISE_BLOCK : block * NOISE_BLOCK + len(part)] = part.astype(np.float16)
    out.flush()
    del out
    phrases = load_json(work / "queries.json")["phrases"]
    lens = open_lens(work / "encoder", SEQ_LENGTH)
    try:
        query_vectors = np.asarray(lens.encoder.encode(phrases), dtype=np.float32)
    finally:
        lens.close()
    np.save(work / "query-vectors.npy", query_vectors.astype(np.float16).astype(np.float32))
    return {"pool_embeddings": pool_report, "pool_seconds": rounded(pool_seconds, 1)}


def queries_of(work: Path) -> tuple[list[str], np.ndarray, list[int]]:
    q = load_json(work / "queries.json")
    return q["phrases"], np.load(work / "query-vectors.npy"), q["similar"]


# -- paperlens ----------------------------------------------------------------------------


def step_paperlens_build(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Import the JSONL, store the proxy vectors under each paper's text hash (what
    ``embed_pending`` would store), then build tantivy and usearch as ``index`` does."""
    from sqlalchemy import select

    from paperlens.indexer import sync_lexical, sync_vectors
    from paperlens.sources.jsonl import JsonlSource
    from paperlens.store.papers import papers_t

    vectors = np.load(vectors_path(work), mmap_mode="r")
    pl = open_lens(work / "paperlens", SEQ_LENGTH)
    seconds: dict[str, float] = {}
    try:
        started = time.perf_counter()
        report = pl.ingest(JsonlSource(work / "papers.jsonl"))
        seconds["ingest"] = time.perf_counter() - started
        if report.rejected:
            raise SystemExit(f"{report.rejected} papers rejected: {report.rejects[:3]}")
        started = time.perf_counter()
        after = 0
        while True:
            with pl.engine.connect() as conn:
                batch = conn.execute(
                    select(papers_t.c.pk, papers_t.c.id, papers_t.c.text_hash)
                    .where(papers_t.c.pk > after)
                    .order_by(papers_t.c.pk)
                    .limit(5000)
                ).all()
            if not batch:
                break
            rows = [
                (r.pk, r.text_hash, np.asarray(vectors[synthetic_number(r.id)], np.float32))
                for r in batch
            ]
            pl.embeddings.put(pl.model_key, rows)
            after = batch[-1].pk
        seconds["store_vectors"] = time.perf_counter() - started
        started = time.perf_counter()
        docs = sync_lexical(pl.papers, pl.lexical)
        seconds["tantivy"] = time.perf_counter() - started
        index = usearch_vectors(pl)
        started = time.perf_counter()
        added = sync_vectors(pl.papers, pl.embeddings, index)
        seconds["usearch_hnsw"] = time.perf_counter() - started
        hnsw = {
            "connectivity": index.params.connectivity,
            "expansion_add": index.params.expansion_add,
            "expansion_search": index.params.expansion_search,
            "dtype": index.params.dtype,
        }
    finally:
        pl.close()
    data = work / "paperlens"
    return {
        "papers": report.stored,
        "lexical_docs": docs,
        "vectors": added,
        "hnsw": hnsw,
        "seconds": {k: rounded(v, 1) for k, v in seconds.items()},
        "disk_mb": {
            "database": rounded(dir_size_mb(*data.glob("paperlens.db*")), 1),
            "tantivy": rounded(dir_size_mb(data / "index" / "lexical"), 1),
            "usearch": rounded(dir_size_mb(data / "index" / "vectors"), 1),
        },
    }


def step_paperlens_serve(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """A fresh ``PaperLens`` as a server opens it (HNSW memory-mapped), queried through
    the facade with the query vectors given; then the bare HNSW's recall@10."""
    from common import make_settings
    from paperlens.core import PaperLens
    from paperlens.embedding import encoder_key

    phrases, query_vectors, similar = queries_of(work)
    settings = make_settings(work / "paperlens", SEQ_LENGTH)
    lookup = LookupEncoder(encoder_key(settings), dict(zip(phrases, query_vectors, strict=True)))
    memory: dict[str, float] = {"start": rss_mb()}

    class Server(PaperLens):
        @property
        def encoder(self) -> Encoder:
            return lookup

    pl = Server(settings)
    out: dict[str, Any] = {}
    try:
        pl.lexical.num_docs()
        index = pl.open_vectors(view=True)
        memory["opened"] = rss_mb()
        ids = [synthetic_id(n) for n in similar]

        def top(results: Any) -> list[str]:
            return [r.paper.id for r in results]

        calls: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
            "keyword": (lambda q: top(pl.search(q, "lexical").results), phrases),
            "semantic": (lambda q: top(pl.search(q, "semantic").results), phrases),
            "hybrid": (lambda q: top(pl.search(q, "hybrid").results), phrases),
            "similar": (lambda pid: top(pl.similar(pid, k=10)), ids),
        }
        latency, lists = {}, {}
        for name, (call, inputs) in calls.items():
            latency[name], lists[name] = timed_series(call, inputs)
            log(f"paperlens {name}: {latency[name]}")
        memory["after_queries"] = rss_mb()
        memory["peak"] = proc_status_mb("VmHWM")
        out["latency"] = latency
        (work / "lists-paperlens.json").write_text(json.dumps(lists))
        # The bare ANN, as the facade asks it, against exact search over the same vectors.
        pks = {pid: pl.paper(pid).pk for pid in ids}
        found_pks, own = index.get_many(list(pks.values()))
        if found_pks != list(pks.values()):
            raise SystemExit("a paper asked for 'similar' has no HNSW vector")
        queries = np.vstack([query_vectors, own.astype(np.float32)])
        hits = [index.search(v, 11) for v in queries]
        pk_to_id = _ids_of(pl, {pk for h in hits for pk, _ in h})
        found = [[pk_to_id[pk] for pk, _ in h] for h in hits]
        n = len(phrases)
        found = found[:n] + [
            [x for x in f if x != pid] for f, pid in zip(found[n:], ids, strict=True)
        ]
        (work / "ann-paperlens.json").write_text(json.dumps(found))
    finally:
        pl.close()
    out["memory_mb"] = memory
    return out


def _ids_of(pl: PaperLens, pks: set[int]) -> dict[int, str]:
    from sqlalchemy import select

    from paperlens.store.papers import papers_t

    with pl.engine.connect() as conn:
        rows = conn.execute(select(papers_t.c.pk, papers_t.c.id).where(papers_t.c.pk.in_(pks)))
        return {int(r.pk): str(r.id) for r in rows}


# -- arxiv-sanity-lite --------------------------------------------------------------------


def step_asl_build(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """compute.py: tf-idf features of title + abstract + authors, pickled; and the papers
    its search reads (id, title, summary, author names)."""
    from arxiv_sanity import SETTINGS, asl_features, asl_text, matrix_mb

    papers = list(papers_of(work))
    texts = [asl_text(p["title"], p["abstract"], p["authors"]) for p in papers]
    started = time.perf_counter()
    vectorizer, x = asl_features(texts, SETTINGS["later"])
    features = {
        "pids": [p["id"] for p in papers],
        "x": x,
        "vocab": vectorizer.vocabulary_,
        "idf": vectorizer.idf_,
    }
    with (work / "features.p").open("wb") as fh:
        pickle.dump(features, fh)
    tfidf = time.perf_counter() - started
    db = {
        p["id"]: {
            "title": p["title"],
            "summary": p["abstract"],
            "authors": [{"name": a.strip()} for a in p["authors"].split(",")],
        }
        for p in papers
    }
    with (work / "papers.p").open("wb") as fh:
        pickle.dump(db, fh)
    return {
        "seconds": {"tfidf_features": rounded(tfidf, 1)},
        "tfidf_shape": list(x.shape),
        "tfidf_matrix_mb": matrix_mb(x),
        "disk_mb": {
            "features.p": rounded((work / "features.p").stat().st_size / 1e6, 1),
            "papers": rounded((work / "papers.p").stat().st_size / 1e6, 1),
        },
    }


def asl_search_rank(pdb: dict[str, dict[str, Any]], q: str) -> list[str]:
    """serve.py's ``search_rank`` (c5b5c78): substring counts of each query word in the
    authors (×5), title (×10) and summary (×1); every paper scored, best first."""
    qs = q.lower().strip().split()

    def match(s: str) -> int:
        s = s.lower()
        return sum(s.count(qp) for qp in qs)

    pairs = []
    for pid, p in pdb.items():
        score = 0.0
        score += 5.0 * match(" ".join(a["name"] for a in p["authors"]))
        score += 10.0 * match(p["title"])
        score += 1.0 * match(p["summary"])
        if score > 0:
            pairs.append((score, pid))
    pairs.sort(reverse=True)
    return [pid for _, pid in pairs]


def step_asl_serve(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    import sklearn.svm  # noqa: F401 - loaded before the baseline, as a server would be

    from arxiv_sanity import SETTINGS, svm_rank

    asked_for = load_json(work / "queries.json")
    phrases, similar = asked_for["phrases"], asked_for["similar"]
    memory: dict[str, float] = {"start": rss_mb()}
    started = time.perf_counter()
    with (work / "features.p").open("rb") as fh:
        features = pickle.load(fh)  # our own file
    unpickle = time.perf_counter() - started
    with (work / "papers.p").open("rb") as fh:
        pdb = pickle.load(fh)  # our own file
    memory["opened"] = rss_mb()
    x, pids = features["x"], features["pids"]
    row_of = {pid: i for i, pid in enumerate(pids)}
    c = SETTINGS["later"]["C"]
    latency, lists = {}, {}
    latency["keyword"], lists["keyword"] = timed_series(
        lambda q: asl_search_rank(pdb, q)[:10], phrases[: config["asl_search_queries"]], 2
    )
    log(f"arxiv-sanity keyword: {latency['keyword']}")
    asked = [synthetic_id(n) for n in similar[: config["asl_similar_requests"]]]
    latency["similar"], lists["similar"] = timed_series(
        lambda pid: [pids[i] for i in svm_rank(x, row_of[pid], c)[:11] if pids[i] != pid][:10],
        asked,
        1,
    )
    log(f"arxiv-sanity similar: {latency['similar']}")
    memory["after_queries"] = rss_mb()
    memory["peak"] = proc_status_mb("VmHWM")
    (work / "lists-asl.json").write_text(json.dumps(lists))
    return {
        "latency": latency,
        "features_unpickle_ms": rounded(unpickle * 1000, 1),
        "memory_mb": memory,
    }


# -- PostgreSQL ---------------------------------------------------------------------------


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def server_memory_mb(pgdata: Path) -> dict[str, float]:
    """RSS and PSS summed over the postmaster and its children. RSS counts the shared
    buffers once per process that touched them; PSS shares them out, so its sum is the
    server's real footprint."""
    root = postmaster_pid(pgdata)
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                pids.append(int(entry.name))
    rss = pss = 0.0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024 / 1e6
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024 / 1e6
        except OSError:
            continue
    return {"processes": len(pids), "rss_sum": rounded(rss, 1), "pss_sum": rounded(pss, 1)}


def vector_text(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.5g}" for x in np.asarray(v, dtype=np.float32).tolist()) + "]"


def paperlens_hnsw() -> dict[str, Any]:
    """paperlens's HNSW settings, which pgvector's index is given too."""
    from paperlens.index.vector import HnswParams

    p = HnswParams()
    return {
        "connectivity": p.connectivity,
        "expansion_add": p.expansion_add,
        "expansion_search": p.expansion_search,
    }


def step_pg_build(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Load and index PostgreSQL on the server the parent started."""
    import psycopg

    url, pgdata = config["pg_url"], Path(config["pgdata"])
    hnsw = paperlens_hnsw()
    vectors = np.load(vectors_path(work), mmap_mode="r")
    ndim = vectors.shape[1]
    seconds: dict[str, float] = {}
    out: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        out["versions"] = {
            "postgresql": conn.execute("SHOW server_version").fetchone()[0],  # type: ignore[index]
            "pgvector": conn.execute(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
            ).fetchone()[0],  # type: ignore[index]
        }
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("shared_buffers", "work_mem", "max_parallel_maintenance_workers")
        }
        conn.execute("DROP TABLE IF EXISTS papers")
        conn.execute(
            f"CREATE TABLE papers (id text PRIMARY KEY, title text NOT NULL, "
            f"abstract text NOT NULL, authors text NOT NULL, embedding halfvec({ndim}) NOT NULL)"
        )
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY papers (id, title, abstract, authors, embedding) FROM STDIN") as copy,
        ):
            for p in papers_of(work):
                v = vectors[synthetic_number(p["id"])]
                copy.write_row((p["id"], p["title"], p["abstract"], p["authors"], vector_text(v)))
        seconds["copy_load"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute(
            "ALTER TABLE papers ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
            "(setweight(to_tsvector('english', title), 'A') || "
            "setweight(to_tsvector('english', abstract), 'B')) STORED"
        )
        seconds["tsvector_column"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("CREATE INDEX papers_tsv ON papers USING gin (tsv)")
        seconds["gin"] = time.perf_counter() - started
        # The graph is built fast only while it fits in maintenance_work_mem.
        conn.execute(f"SET maintenance_work_mem = '{config['pg_maintenance_work_mem']}'")
        started = time.perf_counter()
        conn.execute(
            "CREATE INDEX papers_hnsw ON papers USING hnsw (embedding halfvec_cosine_ops) "
            f"WITH (m = {int(hnsw['connectivity'])}, "
            f"ef_construction = {int(hnsw['expansion_add'])})"
        )
        seconds["hnsw"] = time.perf_counter() - started
        conn.execute("VACUUM ANALYZE papers")
        disk = {
            name: rounded(
                conn.execute(f"SELECT {fn}('{rel}')").fetchone()[0] / 1e6,  # type: ignore[index]
                1,
            )
            for name, fn, rel in (
                ("table_with_toast", "pg_table_size", "papers"),
                ("gin", "pg_relation_size", "papers_tsv"),
                ("hnsw", "pg_relation_size", "papers_hnsw"),
                ("primary_key", "pg_relation_size", "papers_pkey"),
            )
        }
        memory: dict[str, Any] = {"after_build": server_memory_mb(pgdata)}
        log(f"pg built: {seconds}")
    disk["data_directory"] = rounded(dir_size_mb(pgdata), 1)
    return out | {
        "seconds": {k: rounded(v, 1) for k, v in seconds.items()},
        "settings": settings | {"maintenance_work_mem_build": config["pg_maintenance_work_mem"]},
        "hnsw": {
            "m": hnsw["connectivity"],
            "ef_construction": hnsw["expansion_add"],
            "ef_search": hnsw["expansion_search"],
        },
        "disk_mb": disk,
        "memory_mb": memory,
    }


def step_pg_serve(work: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Query PostgreSQL (one connection, ``hnsw.ef_search`` as usearch's)."""
    import psycopg

    pgdata = Path(config["pgdata"])
    with psycopg.connect(config["pg_url"], autocommit=True) as conn:
        conn.execute(f"SET hnsw.ef_search = {int(paperlens_hnsw()['expansion_search'])}")
        out = pg_queries(conn, work)
        out["memory_mb"] = {
            "after_queries": server_memory_mb(pgdata),
            "client_peak": proc_status_mb("VmHWM"),
        }
    return out


KEYWORD_SQL = """
    SELECT id FROM papers, websearch_to_tsquery('english', %(q)s) AS query
    WHERE tsv @@ query ORDER BY ts_rank(tsv, query) DESC, id LIMIT 10
"""
#: Any of the query's words, as BM25 matches them: every matching row is ranked.
KEYWORD_OR_SQL = """
    SELECT id FROM papers,
        (SELECT replace(plainto_tsquery('english', %(q)s)::text, '&', '|')::tsquery AS query) q
    WHERE tsv @@ query ORDER BY ts_rank(tsv, query) DESC, id LIMIT 10
"""
SEMANTIC_SQL = "SELECT id FROM papers ORDER BY embedding <=> %(v)s::halfvec LIMIT %(k)s"
HYBRID_SQL = f"""
    WITH lex AS (
        SELECT id, row_number() OVER (ORDER BY ts_rank(tsv, query) DESC, id) AS r
        FROM papers, websearch_to_tsquery('english', %(q)s) AS query
        WHERE tsv @@ query ORDER BY ts_rank(tsv, query) DESC, id LIMIT {HYBRID_DEPTH}
    ), sem AS (
        SELECT id, row_number() OVER () AS r FROM (
            SELECT id FROM papers ORDER BY embedding <=> %(v)s::halfvec LIMIT {HYBRID_DEPTH}
        ) s
    )
    SELECT coalesce(lex.id, sem.id) AS id,
           coalesce(1.0 / ({RRF_K} + lex.r), 0) + coalesce(1.0 / ({RRF_K} + sem.r), 0) AS score
    FROM lex FULL OUTER JOIN sem ON lex.id = sem.id
    ORDER BY score DESC, id LIMIT 10
"""
#: pgvector's documented form: the paper's vector as a scalar subquery (an InitPlan
#: parameter), so the HNSW index orders the rows (a join would force an exact scan).
SIMILAR_SQL = """
    SELECT id FROM papers WHERE id <> %(id)s
    ORDER BY embedding <=> (SELECT embedding FROM papers WHERE id = %(id)s) LIMIT 10
"""


def pg_queries(conn: Any, work: Path) -> dict[str, Any]:
    phrases, query_vectors, similar = queries_of(work)
    texts = {q: vector_text(v) for q, v in zip(phrases, query_vectors, strict=True)}
    ids = [synthetic_id(n) for n in similar]

    def run(sql: str, params: dict[str, Any]) -> list[str]:
        return [str(r[0]) for r in conn.execute(sql, params).fetchall()]

    calls: dict[str, tuple[Callable[[Any], object], Sequence[Any]]] = {
        "keyword": (lambda q: run(KEYWORD_SQL, {"q": q}), phrases),
        "keyword_or": (lambda q: run(KEYWORD_OR_SQL, {"q": q}), phrases),
        "semantic": (lambda q: run(SEMANTIC_SQL, {"v": texts[q], "k": 10}), phrases),
        "hybrid": (lambda q: run(HYBRID_SQL, {"q": q, "v": texts[q]}), phrases),
        "similar": (lambda pid: run(SIMILAR_SQL, {"id": pid}), ids),
    }
    latency, lists = {}, {}
    for name, (call, inputs) in calls.items():
        latency[name], lists[name] = timed_series(call, inputs)
        log(f"pg {name}: {latency[name]}")
    (work / "lists-pg.json").write_text(json.dumps(lists))
    (work / "ann-pg.json").write_text(json.dumps(lists["semantic"] + lists["similar"]))
    plan = conn.execute("EXPLAIN " + SEMANTIC_SQL, {"v": texts[phrases[0]], "k": 10}).fetchall()
    similar_plan = conn.execute("EXPLAIN " + SIMILAR_SQL, {"id": ids[0]}).fetchall()
    return {
        "latency": latency,
        "semantic_plan_uses_hnsw": any("papers_hnsw" in str(r[0]) for r in plan),
        "similar_plan_uses_hnsw": any("papers_hnsw" in str(r[0]) for r in similar_plan),
        "keyword_empty_results": sum(1 for x in lists["keyword"] if not x),
        "keyword_or_empty_results": sum(1 for x in lists["keyword_or"] if not x),
    }


# -- the run ------------------------------------------------------------------------------

STEP_FUNCTIONS: dict[str, Callable[[Path, dict[str, Any]], dict[str, Any]]] = {
    "papers": step_papers,
    "vectors": step_vectors,
    "paperlens_build": step_paperlens_build,
    "paperlens_serve": step_paperlens_serve,
    "asl_build": step_asl_build,
    "asl_serve": step_asl_serve,
    "pg_build": step_pg_build,
    "pg_serve": step_pg_serve,
}


def run_step(work: Path, step: str) -> None:
    """In a child process: one step; its JSON with wall time and peak RSS."""
    go_offline()
    config = load_json(work / "config.json")
    started = time.perf_counter()
    out = STEP_FUNCTIONS[step](work, config)
    out["wall_seconds"] = rounded(time.perf_counter() - started, 1)
    out["peak_rss_mb"] = proc_status_mb("VmHWM")
    out["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(work / f"step-{step}.json", out)


def spawn(work: Path, step: str) -> dict[str, Any]:
    path = work / f"step-{step}.json"
    if path.exists():
        log(f"{step}: done before, kept")
        return load_json(path)
    log(f"{step}: started (load {os.getloadavg()[0]:.2f})")
    command = [sys.executable, str(Path(__file__).resolve()), "--work", str(work), "--step", step]
    subprocess.run(command, check=True)
    return load_json(path)


def spawn_together(work: Path, names: Sequence[str]) -> dict[str, Any]:
    """Run steps as concurrent children; their results once all have finished."""
    todo = [n for n in names if not (work / f"step-{n}.json").exists()]
    log(f"{', '.join(todo) or 'nothing'}: started together (load {os.getloadavg()[0]:.2f})")
    script = str(Path(__file__).resolve())
    children = [
        subprocess.Popen([sys.executable, script, "--work", str(work), "--step", n]) for n in todo
    ]
    failed = [n for n, c in zip(todo, children, strict=True) if c.wait() != 0]
    if failed:
        raise SystemExit(f"step(s) failed: {', '.join(failed)}")
    return {n: load_json(work / f"step-{n}.json") for n in names}


def start_postgres(pgdata: Path) -> str:
    script = REPO_ROOT / "scripts" / "postgres.py"
    done = subprocess.run(
        [sys.executable, str(script), "start", str(pgdata)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"PostgreSQL did not start: {done.stderr.strip()[-500:]}")
    return done.stdout.strip().splitlines()[-1]


def stop_postgres(pgdata: Path) -> None:
    script = REPO_ROOT / "scripts" / "postgres.py"
    subprocess.run([sys.executable, str(script), "stop", str(pgdata)], check=False)


def mean_length(lists: list[list[str]]) -> float:
    return rounded(float(np.mean([len(x) for x in lists])), 2)


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    n = min(len(a), len(b))
    return rounded(float(np.mean([len(set(a[i][:10]) & set(b[i][:10])) / 10 for i in range(n)])))


def run_size(args: argparse.Namespace, root: Path, size: int) -> dict[str, Any]:
    work = root / str(size)
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.json"
    config = load_json(config_path) if config_path.exists() else {}
    config |= {
        "size": size,
        "seed": args.seed,
        "noise": args.noise,
        "queries": args.queries,
        "asl_search_queries": args.asl_search_queries,
        "asl_similar_requests": args.asl_similar_requests,
        "builds": "sequential" if args.sequential_builds else "together",
        "data": str(args.data.resolve()),
        "csfcube": str(args.csfcube.resolve()),
        "pgdata": str(work / "pgdata"),
        # Enough for the whole graph of 1M 384-d halfvecs with m=32 (pgvector warns and
        # slows down once the graph no longer fits).
        "pg_maintenance_work_mem": "1GB" if size <= 200_000 else "4GB",
    }
    write_json(config_path, config)
    steps: dict[str, Any] = {}
    for step in STEPS[: STEPS.index("vectors") + 1]:
        steps[step] = spawn(work, step)
        if step == args.until:
            raise SystemExit(f"stopped after {step}, as asked")
    pgdata = work / "pgdata"
    config["pg_url"] = start_postgres(pgdata)
    write_json(config_path, config)
    try:
        # The two builds run at the same time (each one's build time is inflated by the
        # other) unless asked otherwise; the serving steps run one at a time.
        if args.sequential_builds:
            for step in ("paperlens_build", "pg_build"):
                steps[step] = spawn(work, step)
        else:
            steps |= spawn_together(work, ("paperlens_build", "pg_build"))
        for step in ("paperlens_serve", "pg_serve"):
            steps[step] = spawn(work, step)
    finally:
        stop_postgres(pgdata)
    if steps["paperlens_build"]["hnsw"]["connectivity"] != paperlens_hnsw()["connectivity"]:
        raise SystemExit("paperlens built its HNSW with other settings than pgvector's")
    built, served = steps.pop("pg_build"), steps.pop("pg_serve")
    steps["pg"] = built | served | {"memory_mb": built["memory_mb"] | served["memory_mb"]}
    return summarise(work, steps, size)


def summarise(work: Path, steps: dict[str, Any], size: int) -> dict[str, Any]:
    phrases, query_vectors, similar = queries_of(work)
    n = len(phrases)
    truths = exact_truths(
        work,
        np.vstack(
            [query_vectors, np.load(vectors_path(work), mmap_mode="r")[similar].astype(np.float32)]
        ),
        [None] * n + list(similar),
    )
    ann_pl = json.loads((work / "ann-paperlens.json").read_text())
    ann_pg = json.loads((work / "ann-pg.json").read_text())
    recalls = {
        name: {
            "text_queries": recall(found[:n], truths[:n]),
            "paper_queries": recall(found[n:], truths[n:]),
        }
        for name, found in (("paperlens usearch", ann_pl), ("pgvector", ann_pg))
    }
    lists = {
        name: json.loads((work / f"lists-{name}.json").read_text())
        for name in ("paperlens", "asl", "pg")
    }
    served_semantic = lists["paperlens"]["semantic"] + lists["paperlens"]["similar"]
    recalls["paperlens served lists"] = {
        "text_queries": recall(served_semantic[:n], truths[:n]),
        "paper_queries": recall(served_semantic[n:], truths[n:]),
    }
    keyword = {
        "paperlens vs PostgreSQL": overlap(lists["paperlens"]["keyword"], lists["pg"]["keyword"]),
        "paperlens vs arxiv-sanity": overlap(
            lists["paperlens"]["keyword"], lists["asl"]["keyword"]
        ),
        "PostgreSQL vs arxiv-sanity": overlap(lists["pg"]["keyword"], lists["asl"]["keyword"]),
        "paperlens vs PostgreSQL (any word)": overlap(
            lists["paperlens"]["keyword"], lists["pg"]["keyword_or"]
        ),
    }
    similar_overlap = {
        "paperlens vs arxiv-sanity SVM": overlap(
            lists["paperlens"]["similar"], lists["asl"]["similar"]
        ),
        "paperlens vs pgvector": overlap(lists["paperlens"]["similar"], lists["pg"]["similar"]),
    }
    latency = {
        "paperlens": steps["paperlens_serve"]["latency"],
        "arxiv-sanity": steps["asl_serve"]["latency"],
        "PostgreSQL": steps["pg"]["latency"],
    }
    ratios = {
        system: {
            op: rounded(ops[op]["p50_ms"] / latency["paperlens"][BASE_OF[op]]["p50_ms"], 2)
            for op in ROWS
            if op in ops
        }
        for system, ops in latency.items()
    }
    return {
        "size": size,
        "steps": steps,
        "latency": latency,
        "p50_ratio_to_paperlens": ratios,
        "recall@10_vs_exact": recalls,
        "keyword_overlap@10": keyword,
        "keyword_results_per_query": {
            name: rounded(float(np.mean([len(x) for x in lists[name]["keyword"]])), 2)
            for name in lists
        }
        | {
            "pg (any word)": rounded(float(np.mean([len(x) for x in lists["pg"]["keyword_or"]])), 2)
        },
        "similar_overlap@10": similar_overlap,
    }


# -- output -------------------------------------------------------------------------------

SYSTEMS = ("paperlens", "arxiv-sanity", "PostgreSQL")


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for size_key, r in results["sizes"].items():
        s = r["steps"]
        pl, asl, pg = s["paperlens_build"], s["asl_build"], s["pg"]
        lines += [
            f"**{int(size_key):,} papers** (load average at start "
            f"{r.get('load_average_1min_at_start', '?')}, at end "
            f"{r.get('load_average_1min_at_end', '?')})",
            "",
            "| operation | paperlens p50 / p95 ms | arxiv-sanity p50 / p95 ms | "
            "PostgreSQL p50 / p95 ms | arxiv-sanity ÷ paperlens | PostgreSQL ÷ paperlens |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for op in ROWS:
            cells = []
            for system in SYSTEMS:
                m = r["latency"][system].get(op)
                cells.append(f"{m['p50_ms']:,} / {m['p95_ms']:,}" if m else "—")
            ratios = [r["p50_ratio_to_paperlens"][system].get(op) for system in SYSTEMS[1:]]
            lines.append(
                f"| {LABELS[op]} | "
                + " | ".join(cells)
                + " | "
                + " | ".join(f"{x:,}×" if x is not None else "—" for x in ratios)
                + " |"
            )
        rec = r["recall@10_vs_exact"]
        ko = r["keyword_overlap@10"]
        mem_pg = pg["memory_mb"]["after_queries"]
        lines += [
            "",
            "| | paperlens | arxiv-sanity | PostgreSQL |",
            "| --- | ---: | ---: | ---: |",
            "| build (s) | "
            + f"{sum(pl['seconds'].values()):,.0f} ("
            + ", ".join(f"{k} {v:,}" for k, v in pl["seconds"].items())
            + ") | "
            + f"{asl['seconds']['tfidf_features']:,} (tf-idf + pickle) | "
            + f"{sum(pg['seconds'].values()):,.0f} ("
            + ", ".join(f"{k} {v:,}" for k, v in pg["seconds"].items())
            + ") |",
            "| HNSW recall@10 vs exact, text / paper queries | "
            f"{rec['paperlens usearch']['text_queries']} / "
            f"{rec['paperlens usearch']['paper_queries']} | — (no ANN) | "
            f"{rec['pgvector']['text_queries']} / {rec['pgvector']['paper_queries']} |",
            "| memory (MB) | "
            f"RSS {s['paperlens_serve']['memory_mb']['after_queries']:,} "
            f"(peak {s['paperlens_serve']['memory_mb']['peak']:,}) | "
            f"RSS {s['asl_serve']['memory_mb']['after_queries']:,} "
            f"(peak {s['asl_serve']['memory_mb']['peak']:,}) | "
            f"server PSS {mem_pg['pss_sum']:,} (RSS sum {mem_pg['rss_sum']:,} over "
            f"{mem_pg['processes']} processes; shared_buffers "
            f"{pg['settings']['shared_buffers']}) |",
            "| disk (MB) | "
            + " + ".join(f"{k} {v:,}" for k, v in pl["disk_mb"].items())
            + " | "
            + " + ".join(f"{k} {v:,}" for k, v in asl["disk_mb"].items())
            + " | "
            + ", ".join(f"{k} {v:,}" for k, v in pg["disk_mb"].items())
            + " |",
            "",
            "Keyword results per query (of 10): "
            + "; ".join(f"{k} {v}" for k, v in r["keyword_results_per_query"].items())
            + f"; PostgreSQL found nothing for {pg['keyword_empty_results']} of "
            f"{r['latency']['PostgreSQL']['keyword']['queries']} queries "
            f"({pg['keyword_or_empty_results']} with any word). "
            "Keyword overlap@10 (share of one system's top 10 in the other's): "
            + "; ".join(f"{k} {v}" for k, v in ko.items())
            + ". Similar overlap@10: "
            + "; ".join(f"{k} {v}" for k, v in r["similar_overlap@10"].items())
            + ".",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    if args.step:
        run_step(args.work, args.step)
        return
    go_offline()
    import shutil
    import tempfile

    root = args.work or Path(tempfile.mkdtemp(prefix="paperlens-sbs-"))
    results: dict[str, Any] = {
        "benchmark": "side by side: paperlens, arxiv-sanity-lite's approach, PostgreSQL",
        "machine": machine_info(),
        "seed": args.seed,
        "noise": args.noise,
        "queries": args.queries,
        "sizes": {},
    }
    started = time.perf_counter()
    try:
        for size in args.sizes:
            load_start = rounded(os.getloadavg()[0], 2)
            r = run_size(args, root, size)
            r["load_average_1min_at_start"] = load_start
            r["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
            results["sizes"][str(size)] = r
            results["seconds_total"] = rounded(time.perf_counter() - started, 1)
            write_json(args.out, results)
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    text = markdown(results)
    print(text)
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

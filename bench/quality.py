"""Similar-paper quality on CSFCube (query by example), for lexical, semantic and hybrid.

The corpus is imported through paperlens's own JSONL ingest path into a throwaway data
dir and indexed with ``PaperLens.index()``, once per ``max_seq_length``. For each query
paper the **whole corpus less the query paper** is ranked three ways:

* lexical: BM25 with the paper's title + abstract as the query
  (``LexicalIndex.terms_query``, its default term cap);
* semantic: dense nearest neighbours of the paper's stored embedding
  (``Retriever.dense`` over the HNSW index, asked for every paper);
* hybrid: reciprocal-rank fusion of the two full lists
  (``paperlens.search.fusion.reciprocal_rank_fusion``).

* served: the list the product serves, ``PaperLens.similar(id, k=SERVED_K)`` (dense
  neighbours re-ranked by dense + tf-idf cosine, ``search/engine.py``), so that what
  readers see is measured directly; relevant papers beyond ``SERVED_K`` count as missed.

and scored with nDCG@10, nDCG@20 (graded) and MAP (relevance >= 2), overall and per
facet. See bench/README.md.

Beside that whole-corpus protocol, **CSFCube's own** (its ``eval_scripts/ranking_eval.py``):
only each query's judged pool is ranked (in each method's order), MAP with grade >= 2
and NDCG%20 = linear-gain nDCG at 20 % of the pool size (``metrics.csfcube_pool_metrics``),
per facet, printed beside the published SciFACE figures (theirs: the CSFCube test
queries; ours: the dev split, the 24 queries of CSFCube's ``fold1_dev``).

    .venv/bin/python bench/quality.py --seq-lengths 128,256
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import os
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    int_list,
    machine_info,
    make_settings,
    peak_rss_mb,
    read_jsonl,
    rounded,
    scratch_dir,
    write_json,
    write_jsonl,
)
from metrics import (
    RELEVANT,
    average_precision,
    csfcube_pool_metrics,
    mean,
    ndcg_at_k,
    paired_difference,
)

if TYPE_CHECKING:
    from paperlens.core import PaperLens

FACETS = ("background", "method", "result")
METHODS = ("lexical", "semantic", "hybrid", "served")
#: How deep the served list is asked for (the API's most).
SERVED_K = 100
#: Published CSFCube figures (NDCG%20 / MAP, in %) for comparison; None: not reported.
#: SciFACE (arXiv 2604.16329, 2026), facet-specific cross-encoders: background and
#: method NDCG%20 as quoted in issue 13; its other figures could not be looked up here.
PUBLISHED: dict[str, dict[str, dict[str, float | None]]] = {
    "SciFACE (test split)": {
        "background": {"ndcg%20": 70.63, "map": None},
        "method": {"ndcg%20": 49.06, "map": None},
        "result": {"ndcg%20": None, "map": None},
    },
}
POOL_METRICS = ("ndcg%20", "map")
#: Brute-force cosine over the same stored vectors: shows what HNSW costs, if anything.
EXACT = "semantic_exact"
METRICS = ("ndcg@10", "ndcg@20", "map")
SCORES = (*METRICS, "pool_ndcg%20", "pool_map")


@dataclass(frozen=True, slots=True)
class Query:
    qid: str
    paper_id: str
    facet: str


@dataclass(frozen=True, slots=True)
class Bench:
    corpus: list[dict[str, Any]]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]  # qid -> paper id -> grade (query paper removed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Similar-paper quality (nDCG@10/20, MAP) on CSFCube for lexical, "
        "semantic and hybrid ranking, at one or more embedding max_seq_length values.",
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="directory with corpus.jsonl, queries.jsonl and qrels.tsv "
        "(default: ../shared/bench/csfcube-dev from the repo root)",
    )
    parser.add_argument(
        "--seq-lengths",
        type=int_list,
        default=[128, 256],
        help="comma-separated max_seq_length values to embed with (default: 128,256)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS_DIR / "quality.json",
        help="where to write the JSON results (default: bench/results/quality.json)",
    )
    parser.add_argument(
        "--tmp-dir",
        type=Path,
        default=None,
        help="parent of the throwaway data dir (default: the system temp dir)",
    )
    parser.add_argument(
        "--backend",
        default="onnx-int8",
        help="encoder backend (default: onnx-int8, the product's default)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="reuse this data dir (ingested and indexed by an earlier --keep-tmp run) "
        "instead of a throwaway one",
    )
    parser.add_argument("--keep-tmp", action="store_true", help="keep the throwaway data dir")
    return parser.parse_args()


# -- loading ------------------------------------------------------------------------------


def load_bench(path: Path) -> Bench:
    corpus = read_jsonl(path / "corpus.jsonl")
    queries = [
        Query(q["qid"], q["paper_id"], q["facet"]) for q in read_jsonl(path / "queries.jsonl")
    ]
    own_paper = {q.qid: q.paper_id for q in queries}
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    with (path / "qrels.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            # The query paper is never ranked, so it cannot count in the ideal ranking.
            if row["paper_id"] != own_paper.get(row["query_id"]):
                qrels[row["query_id"]][row["paper_id"]] = int(row["relevance"])
    return Bench(corpus, queries, dict(qrels))


def write_ingest_file(corpus: list[dict[str, Any]], path: Path) -> None:
    """CSFCube records as paperlens JSONL: plain string ids, the year as a date."""
    write_jsonl(
        path,
        (
            {
                "id": str(r["id"]),
                "title": r["title"],
                "abstract": r["abstract"],
                "published": f"{int(r['year']):04d}-01-01",
            }
            for r in corpus
        ),
    )


def ingest_corpus(data_dir: Path, bench: Bench, seq_length: int) -> dict[str, Any]:
    from paperlens.core import PaperLens
    from paperlens.sources.jsonl import JsonlSource

    source_path = data_dir / "csfcube-corpus.jsonl"
    write_ingest_file(bench.corpus, source_path)
    pl = PaperLens(make_settings(data_dir, seq_length))
    try:
        report = pl.ingest(JsonlSource(source_path))
    finally:
        pl.close()
    if report.rejected or report.stored != len(bench.corpus):
        raise SystemExit(
            f"ingest stored {report.stored} of {len(bench.corpus)} papers "
            f"({report.rejected} rejected: {report.rejects[:3]})"
        )
    return {"papers": report.stored, "seconds": rounded(report.seconds, 2)}


# -- ranking ------------------------------------------------------------------------------


def pk_to_id(pl: PaperLens) -> dict[int, str]:
    return {sp.pk: sp.paper.id for batch in pl.papers.changed_since(0) for sp in batch}


def lexical_ranking(pl: PaperLens, paper_id: str, depth: int) -> list[int]:
    from paperlens.store.papers import embedding_text

    stored = pl.paper(paper_id)
    query = pl.lexical.terms_query(embedding_text(stored.paper.title, stored.paper.abstract))
    hits = pl.lexical.search(query, limit=depth + 1).hits
    return [pk for pk, _ in hits if pk != stored.pk][:depth]


def semantic_ranking(pl: PaperLens, paper_id: str, depth: int) -> list[int]:
    """Dense neighbours alone (HNSW), as "similar papers" were served before fusion."""
    from paperlens.filters import SearchFilters

    pk = pl.paper(paper_id).pk
    vector = pl.vectors.get(pk)
    if vector is None:
        raise SystemExit(f"{paper_id} has no vector in the HNSW index")
    ranked = pl.retriever.dense(vector, SearchFilters(), depth + 1)
    return [p for p, _ in ranked if p != pk][:depth]


def exact_semantic_ranking(pl: PaperLens, paper_id: str, depth: int, pks: list[int]) -> list[int]:
    """Brute-force cosine ranking over the index's own vectors (the HNSW check)."""
    pk = pl.paper(paper_id).pk
    found, matrix = pl.vectors.get_many(pks)
    own = pl.vectors.get(pk)
    if own is None:
        raise SystemExit(f"{paper_id} has no vector in the HNSW index")
    scores = matrix @ own
    order = np.argsort(-scores, kind="stable")
    return [found[i] for i in order if found[i] != pk][:depth]


def hybrid_ranking(lexical: list[int], semantic: list[int], depth: int) -> list[int]:
    from paperlens.search.fusion import reciprocal_rank_fusion

    return [pk for pk, _ in reciprocal_rank_fusion([lexical, semantic])][:depth]


def score(ranking: list[str], qrels: dict[str, int]) -> dict[str, float]:
    """Both protocols: whole corpus (nDCG@10/20, MAP) and CSFCube's pool (NDCG%20, MAP
    as ``pool_ndcg%20`` and ``pool_map``)."""
    pool = csfcube_pool_metrics(ranking, qrels)
    return {
        "ndcg@10": ndcg_at_k(ranking, qrels, 10),
        "ndcg@20": ndcg_at_k(ranking, qrels, 20),
        "map": average_precision(ranking, qrels),
        "pool_ndcg%20": pool["ndcg%20"],
        "pool_map": pool["ap"],
    }


def served_ranking(pl: PaperLens, paper_id: str) -> list[int]:
    """What readers get: ``PaperLens.similar`` (the page, the API and the CLI call it)."""
    return [r.pk for r in pl.similar(paper_id, k=SERVED_K)]


def summarise(per_query: dict[str, dict[str, float]], queries: list[Query]) -> dict[str, Any]:
    """Means over all queries and per facet, with the number of queries in each."""
    groups: dict[str, list[str]] = {"all": [q.qid for q in queries]}
    for facet in FACETS:
        groups[facet] = [q.qid for q in queries if q.facet == facet]
    return {
        name: {
            "queries": len(qids),
            **{m: rounded(mean([per_query[q][m] for q in qids])) for m in SCORES},
        }
        for name, qids in groups.items()
    }


# -- one embedding configuration -----------------------------------------------------------


def index_at(
    data_dir: Path, seq_length: int, backend: str = "torch"
) -> tuple[PaperLens, dict[str, Any]]:
    """Open the store at ``seq_length`` with the ``backend`` encoder and build what is
    missing (the lexical index is built on the first call only; each length and backend
    gets its own embeddings and HNSW index)."""
    from paperlens.core import PaperLens

    pl = PaperLens(make_settings(data_dir, seq_length, encoder_backend=backend))
    if pl.papers.current_seq() <= min(pl.lexical.seq, pl.terms.seq) and pl.stats()["vectors"]:
        return pl, {"model_key": pl.model_key, "reused": str(data_dir)}
    _ = pl.encoder  # load the model outside the timed embedding step
    report = pl.index()
    embed = {
        "model_key": pl.model_key,
        "papers": report.embedded,
        "seconds": rounded(report.seconds["embed"], 2),
        "papers_per_second": rounded(report.embed_rate, 2),
        "hnsw_build_seconds": rounded(report.seconds["vectors"], 2),
    }
    return pl, embed


def evaluate(pl: PaperLens, bench: Bench, lexical: dict[str, list[int]]) -> dict[str, Any]:
    ids = pk_to_id(pl)
    depth = len(ids) - 1
    all_pks = sorted(ids)
    per_method: dict[str, dict[str, dict[str, float]]] = {m: {} for m in (*METHODS, EXACT)}
    agreement: list[float] = []
    returned: list[int] = []
    for q in bench.queries:
        semantic = semantic_ranking(pl, q.paper_id, depth)
        returned.append(len(semantic))
        exact = exact_semantic_ranking(pl, q.paper_id, depth, all_pks)
        agreement.append(len(set(exact[:20]) & set(semantic[:20])) / 20)
        rankings = {
            "lexical": lexical[q.paper_id],
            "semantic": semantic,
            "hybrid": hybrid_ranking(lexical[q.paper_id], semantic, depth),
            "served": served_ranking(pl, q.paper_id),
            "semantic_exact": exact,
        }
        for method, ranking in rankings.items():
            per_method[method][q.qid] = score([ids[pk] for pk in ranking], bench.qrels[q.qid])
    return {
        "depth": depth,
        "semantic_hnsw_vs_exact_overlap@20": rounded(mean(agreement)),
        "semantic_hnsw_fewest_returned": min(returned),
        "methods": {m: summarise(per_method[m], bench.queries) for m in (*METHODS, EXACT)},
        "per_query": {
            m: {qid: {k: rounded(v) for k, v in s.items()} for qid, s in per_method[m].items()}
            for m in METHODS
        },
    }


def token_lengths(bench: Bench) -> list[int]:
    """Word pieces (with [CLS]/[SEP]) in each paper's embedded text, untruncated."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from paperlens.embedding import resolve_model
    from paperlens.store.papers import embedding_text

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # "longer than the maximum": we count, not encode
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    texts = [embedding_text(r["title"], r["abstract"]) for r in bench.corpus]
    return [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]


def truncation(lengths: list[int], seq_length: int) -> dict[str, float]:
    over = sum(n > seq_length for n in lengths)
    return {
        "texts_truncated_share": rounded(over / len(lengths)),
        "tokens_dropped_share": rounded(
            sum(max(0, n - seq_length) for n in lengths) / sum(lengths)
        ),
    }


# -- output -------------------------------------------------------------------------------


def overall_table(results: dict[str, Any]) -> Table:
    table = Table(title="Similar-paper quality, CSFCube dev (24 queries, whole corpus ranked)")
    for col in ("method", "max_seq_length", "nDCG@10", "nDCG@20", "MAP"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for method, length, summary in _rows(results):
        s = summary["all"]
        cells = [f"{s[m]:.4f}" for m in METRICS]
        table.add_row(method, length, *cells)
    return table


def facet_table(results: dict[str, Any]) -> Table:
    table = Table(title="Per facet (nDCG@10 / nDCG@20 / MAP)")
    table.add_column("method")
    table.add_column("max_seq_length", justify="right")
    rows = _rows(results)
    for facet in FACETS:
        table.add_column(f"{facet} ({rows[0][2][facet]['queries']} queries)", justify="right")
    for method, length, summary in rows:
        cells = [
            f"{summary[f]['ndcg@10']:.3f} / {summary[f]['ndcg@20']:.3f} / {summary[f]['map']:.3f}"
            for f in FACETS
        ]
        table.add_row(method, length, *cells)
    return table


def _rows(results: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Lexical once (it does not depend on the embedding), then each dense method per length."""
    runs = results["runs"]
    first = next(iter(runs.values()))
    rows = [("lexical", "—", first["methods"]["lexical"])]
    for method in ("semantic", "hybrid", "served"):
        label = f"served (similar, k={SERVED_K})" if method == "served" else method
        rows += [(label, length, run["methods"][method]) for length, run in runs.items()]
    return rows


def compare_lengths(runs: dict[str, Any]) -> dict[str, Any]:
    """Each seq length against the previous one, per dense method, query by query."""
    lengths = list(runs)
    out: dict[str, Any] = {}
    for before, after in itertools.pairwise(lengths):
        for method in ("semantic", "hybrid"):
            a, b = runs[before]["per_query"][method], runs[after]["per_query"][method]
            out[f"{method} {before}->{after}"] = {
                metric: paired_difference([a[q][metric] for q in a], [b[q][metric] for q in a])
                for metric in ("ndcg@20", "map")
            }
    return out


def compare_table(results: dict[str, Any]) -> Table:
    table = Table(
        title="max_seq_length, paired per query: mean difference [95% bootstrap CI] "
        "(queries won/lost)"
    )
    for col in ("method, lengths", "ΔnDCG@20", "ΔMAP"):
        table.add_column(col, justify="left" if col.startswith("method") else "right")
    for name, diff in results["seq_length_comparison"].items():
        table.add_row(name, *(diff_cell(diff[m]) for m in ("ndcg@20", "map")))
    return table


def diff_cell(d: dict[str, float]) -> str:
    return (
        f"{d['mean']:+.4f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] ({d['won']}/{d['lost']})"
    )


def pool_table(results: dict[str, Any]) -> Table:
    """CSFCube's own protocol per facet, beside the published figures (in %)."""
    table = Table(
        title="CSFCube protocol (judged pool ranked; NDCG%20 / MAP in %). Ours: dev split "
        "(fold1_dev, 24 queries); published: test split"
    )
    table.add_column("method")
    table.add_column("max_seq_length", justify="right")
    for facet in (*FACETS, "all"):
        table.add_column(facet, justify="right")
    for method, length, summary in _rows(results):
        cells = [
            f"{100 * summary[f]['pool_ndcg%20']:.2f} / {100 * summary[f]['pool_map']:.2f}"
            for f in (*FACETS, "all")
        ]
        table.add_row(method, length, *cells)
    for name, facets in PUBLISHED.items():
        cells = []
        for f in FACETS:
            got = [facets[f][m] for m in POOL_METRICS]
            cells.append(" / ".join("—" if v is None else f"{v:.2f}" for v in got))
        table.add_row(name, "—", *cells, "—")
    return table


def embed_table(results: dict[str, Any]) -> Table:
    table = Table(title="Embedding the corpus (4,203 papers, all-MiniLM-L6-v2)")
    for col in (
        "max_seq_length",
        "papers/s",
        "seconds",
        "texts truncated",
        "tokens dropped",
        "HNSW top-20 = exact",
    ):
        table.add_column(col, justify="right")
    for length, run in results["runs"].items():
        e = run["embedding"]
        if "papers_per_second" not in e:
            continue  # embedded by an earlier run (--data-dir)
        table.add_row(
            length,
            f"{e['papers_per_second']:.1f}",
            f"{e['seconds']:.0f}",
            f"{e['texts_truncated_share']:.1%}",
            f"{e['tokens_dropped_share']:.1%}",
            f"{run['semantic_hnsw_vs_exact_overlap@20']:.3f}",
        )
    return table


def main() -> None:
    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    lengths = token_lengths(bench)
    results: dict[str, Any] = {
        "benchmark": "csfcube-dev similar papers",
        "machine": machine_info(),
        "corpus_papers": len(bench.corpus),
        "queries": len(bench.queries),
        "relevant_from_grade": RELEVANT,
        "rank_depth": "whole corpus less the query paper",
        "token_lengths": {
            "median": int(statistics.median(lengths)),
            "p90": int(np.percentile(lengths, 90)),
            "max": max(lengths),
        },
        "runs": {},
    }
    started = time.perf_counter()
    results["encoder_backend"] = args.backend
    reuse = contextlib.nullcontext(args.data_dir) if args.data_dir else None
    with reuse or scratch_dir(args.tmp_dir, args.keep_tmp) as data_dir:
        if not (data_dir / "paperlens.db").exists():
            results["ingest"] = ingest_corpus(data_dir, bench, args.seq_lengths[0])
        lexical: dict[str, list[int]] = {}
        for seq_length in args.seq_lengths:
            pl, embed = index_at(data_dir, seq_length, args.backend)
            print(f"max_seq_length {seq_length}: {embed.get('papers_per_second')} papers/s")
            try:
                depth = pl.lexical.num_docs() - 1
                for q in bench.queries:
                    lexical.setdefault(q.paper_id, lexical_ranking(pl, q.paper_id, depth))
                run = evaluate(pl, bench, lexical)
            finally:
                pl.close()
            run["embedding"] = embed | truncation(lengths, seq_length)
            results["runs"][str(seq_length)] = run
            print(f"max_seq_length {seq_length}: done ({time.perf_counter() - started:.0f}s)")
    results["seq_length_comparison"] = compare_lengths(results["runs"])
    results["seconds_total"] = rounded(time.perf_counter() - started, 1)
    results["peak_rss_mb"] = rounded(peak_rss_mb(), 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, results)
    out = console()
    tables = (overall_table, facet_table, pool_table, compare_table, embed_table)
    for table in (make(results) for make in tables):
        out.print(table)
    out.print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

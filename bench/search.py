"""Keyword search relevance on the CSFCube corpus, with a query set of our own.

``bench/search_queries.jsonl``: 24 keyword queries of the kind a reader types (topics
picked from the corpus's titles before any ranking was seen), each judged on a pool:
the union of the top 10 of lexical, semantic and hybrid search as shipped before this
tuning (404 papers in all), graded from title and abstract: 2 = about the query's topic,
1 = related (a neighbouring task or a part of it), 0 = not. Papers outside the pool
count as 0, which favours the pooled systems a little (state it when comparing).

Rows: lexical (BM25, title boost as configured), semantic, and hybrid, fused as
``w / (k + lexical rank) + (1 - w) / (k + dense rank)`` over the top ``FUSION_DEPTH`` of
each. The grid (title boost, k, w) is chosen by cross-validation over queries
(``FOLDS`` folds; best mean nDCG@10 + MAP on the training folds, scored on the held-out
one); "tuned" is the best on all queries (in-sample). Paired bootstrap intervals compare
each with hybrid as shipped before (boost 2.5, k = 60, w = 0.5).

    .venv/bin/python bench/search.py --data-dir DIR   # a kept bench/quality.py dir
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    make_settings,
    read_jsonl,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import average_precision, mean, ndcg_at_k, paired_difference
from quality import ingest_corpus, load_bench

if TYPE_CHECKING:
    from paperlens.core import PaperLens

QUERIES = REPO_ROOT / "bench" / "search_queries.jsonl"
FOLDS = 4
BOOSTS = (1.0, 2.5, 4.0)
RRF_KS = (10, 30, 60)
WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7)
BEFORE = (2.5, 60, 0.5)
SHOWN = ("ndcg@10", "map")

Config = tuple[float, int, float]  # title boost, RRF k, lexical weight


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse an indexed data dir")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "search.json")
    return parser.parse_args()


def score(ranking: list[str], judged: dict[str, int]) -> dict[str, float]:
    return {"ndcg@10": ndcg_at_k(ranking, judged, 10), "map": average_precision(ranking, judged)}


def fuse(lexical: list[int], dense: list[int], k: int, w: float) -> list[int]:
    scores: dict[int, float] = {}
    for weight, ranking in ((w, lexical), (1 - w, dense)):
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + weight / (k + rank)
    return sorted(scores, key=lambda pk: -scores[pk])


def rankings(pl: PaperLens, queries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per query: the lexical list at each title boost and the dense list (pks)."""
    from paperlens.filters import SearchFilters
    from paperlens.index import lexical as lexical_module
    from paperlens.search.engine import FUSION_DEPTH

    saved = lexical_module.TITLE_BOOST
    out: dict[str, Any] = {}
    try:
        for q in queries:
            lexical = {}
            for boost in BOOSTS:
                lexical_module.TITLE_BOOST = boost
                lexical[boost] = [
                    pk for pk, _ in pl.lexical.search(q["query"], limit=FUSION_DEPTH).hits
                ]
            vector = pl.retriever.embed_query(q["query"])
            dense = [pk for pk, _ in pl.retriever.dense(vector, SearchFilters(), FUSION_DEPTH)]
            out[q["qid"]] = {"lexical": lexical, "dense": dense}
    finally:
        lexical_module.TITLE_BOOST = saved
    return out


def main() -> None:
    args = parse_args()
    go_offline()
    queries = read_jsonl(QUERIES)
    started = time.perf_counter()
    reuse = contextlib.nullcontext(args.data_dir) if args.data_dir else None
    with reuse or scratch_dir(args.tmp_dir, False) as data_dir:
        from paperlens.core import PaperLens

        if not (data_dir / "paperlens.db").exists():
            ingest_corpus(data_dir, load_bench(args.csfcube), 256)
        pl = PaperLens(make_settings(data_dir, 256, encoder_backend="onnx-int8"))
        pl.index()
        ids = {sp.pk: sp.paper.id for b in pl.papers.changed_since(0) for sp in b}
        lists = rankings(pl, queries)
        pl.close()
    judged = {q["qid"]: q["judgments"] for q in queries}
    qids = [q["qid"] for q in queries]

    def per_query(make: Any) -> dict[str, dict[str, float]]:
        return {q: score([ids[pk] for pk in make(lists[q])], judged[q]) for q in qids}

    grid: list[Config] = list(itertools.product(BOOSTS, RRF_KS, WEIGHTS))
    per_config = {
        c: per_query(lambda r, c=c: fuse(r["lexical"][c[0]], r["dense"], c[1], c[2])) for c in grid
    }

    def objective(c: Config, subset: list[str]) -> float:
        return mean([per_config[c][q]["ndcg@10"] + per_config[c][q]["map"] for q in subset])

    best_all = max(grid, key=lambda c: objective(c, qids))
    held_out: dict[str, dict[str, float]] = {}
    chosen = []
    for f in range(FOLDS):
        fold = qids[f::FOLDS]
        train = [q for q in qids if q not in fold]
        best = max(grid, key=lambda c: objective(c, train))
        chosen.append(list(best))
        held_out |= {q: per_config[best][q] for q in fold}
    before = per_config[BEFORE]
    rows = {
        "lexical (title boost 2.5)": per_query(lambda r: r["lexical"][2.5]),
        "semantic": per_query(lambda r: r["dense"]),
        "hybrid before (boost 2.5, k 60, w 0.5)": before,
        f"hybrid tuned on all (boost {best_all[0]}, k {best_all[1]}, w {best_all[2]})": per_config[
            best_all
        ],
        f"hybrid held-out ({FOLDS}-fold CV)": held_out,
    }
    results: dict[str, Any] = {
        "benchmark": "keyword search on CSFCube: own query set, hybrid re-tuned by CV",
        "machine": machine_info(),
        "queries": len(qids),
        "judged": sum(len(j) for j in judged.values()),
        "grid": {"boosts": BOOSTS, "rrf_ks": RRF_KS, "weights": WEIGHTS},
        "folds": chosen,
        "tuned": list(best_all),
        "rows": {
            name: {m: rounded(mean([p[q][m] for q in qids])) for m in SHOWN}
            for name, p in rows.items()
        },
        "paired_vs_before": {
            name: {
                m: paired_difference([before[q][m] for q in qids], [p[q][m] for q in qids])
                for m in SHOWN
            }
            for name, p in rows.items()
            if p is not before
        },
        "seconds_total": rounded(time.perf_counter() - started, 1),
    }
    write_json(args.out, results)
    out = console()
    table = Table(title=f"Keyword search, own query set ({len(qids)} queries): nDCG@10 / MAP")
    for col in ("list", "nDCG@10", "MAP", "ΔnDCG@10 vs before", "ΔMAP vs before"):
        table.add_column(col, justify="left" if col == "list" else "right")
    for name, s in results["rows"].items():
        d = results["paired_vs_before"].get(name)
        cells = [
            f"{d[m]['mean']:+.3f} [{d[m]['ci95_low']:+.3f}, {d[m]['ci95_high']:+.3f}] "
            f"({d[m]['won']}/{d[m]['lost']})"
            if d
            else "—"
            for m in SHOWN
        ]
        table.add_row(name, f"{s['ndcg@10']:.3f}", f"{s['map']:.3f}", *cells)
    out.print(table)
    out.print(f"chosen per fold (boost, k, w): {chosen}")
    out.print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

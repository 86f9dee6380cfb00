"""Choosing the "similar papers" ranking on CSFCube dev, by cross-validation.

The served list (``PaperLens.similar``) fuses two cosines: the dense one (MiniLM, the
stored embeddings) and a tf-idf one over title + abstract (``paperlens.index.terms``).
Its settings are chosen here over a grid:

* tf-idf: title weight (a title term counts this many abstract terms) and ``max_df``;
* fusion: weighted sum ``w * dense + (1 - w) * tf-idf`` of the raw cosines, or weighted
  reciprocal-rank fusion ``w / (k + dense rank) + (1 - w) / (k + tf-idf rank)``.

Every configuration ranks the whole corpus less the query paper (exact dense cosine,
the same vectors the HNSW index holds). **Cross-validation**: the 24 dev queries come
from 17 papers, some with two facets, so folds are made of papers (a paper's queries
never sit on both sides): ``FOLDS`` folds; for each, the configuration with the best
mean nDCG@20 + MAP on the other folds is scored on it. The held-out figure is the mean
over all queries of those out-of-fold scores; "tuned" is the best configuration chosen
on all 24 queries and scored on them (in-sample, optimistic). The gap between the two
is how much tuning on 24 queries flatters the figure.

Paired differences (bootstrap 95% intervals over queries, ``metrics.paired_difference``)
compare each row with today's list before this change (dense only). The served row is
``PaperLens.similar(id, k=100)`` with the shipped constants, measured directly.

    .venv/bin/python bench/similar.py --data-dir DIR   # DIR: a kept bench/quality.py dir
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    make_settings,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import mean, paired_difference
from quality import FACETS, SERVED_K, Bench, ingest_corpus, load_bench, score, served_ranking

if TYPE_CHECKING:
    from paperlens.core import PaperLens

SEQ_LENGTH = 256
FOLDS = 4
TITLE_WEIGHTS = (1.0, 2.0, 3.0, 4.0)
MAX_DFS = (0.1, 0.3, 1.0)
WEIGHTS = tuple(round(0.1 * i, 1) for i in range(11))
RRF_KS = (10, 60)
SHOWN = ("ndcg@20", "map", "pool_ndcg%20", "pool_map")

Config = tuple[float, float, str, float, int]  # title weight, max_df, fusion, w, rrf k


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse an indexed data dir")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "similar.json")
    return parser.parse_args()


def open_indexed(data_dir: Path, bench: Bench) -> PaperLens:
    from paperlens.core import PaperLens

    if not (data_dir / "paperlens.db").exists():
        ingest_corpus(data_dir, bench, SEQ_LENGTH)
    pl = PaperLens(make_settings(data_dir, SEQ_LENGTH, encoder_backend="onnx-int8"))
    pl.index()
    return pl


def term_scores(
    pl: PaperLens, work: Path, title_weight: float, query_pks: list[int], pks: list[int]
) -> dict[float, np.ndarray]:
    """tf-idf cosine of each query paper with every paper, per ``max_df`` (rows: queries)."""
    from paperlens.index.terms import TermIndex

    index = TermIndex(work / f"terms-{title_weight}")
    index.title_weight = title_weight
    if index.seq < pl.papers.current_seq():
        index.apply(pl.papers.changed_since(index.seq), pl.papers.current_seq())
    out = {}
    for max_df in MAX_DFS:
        index.max_df = max_df
        rows = []
        for pk in query_pks:
            vector = index.vector(pk)
            rows.append(index.cosine(vector, pks) if vector else np.zeros(len(pks)))
        out[max_df] = np.vstack(rows)
    return out


def ranks(scores: np.ndarray) -> np.ndarray:
    r = np.empty(len(scores), dtype=np.float64)
    r[np.argsort(-scores, kind="stable")] = np.arange(1, len(scores) + 1)
    return r


def fused(dense: np.ndarray, lexical: np.ndarray, config: Config) -> np.ndarray:
    _tw, _df, kind, w, k = config
    if kind == "weighted":
        return w * dense + (1 - w) * lexical
    return w / (k + ranks(dense)) + (1 - w) / (k + ranks(lexical))


def configs() -> list[Config]:
    out: list[Config] = []
    for tw, df in itertools.product(TITLE_WEIGHTS, MAX_DFS):
        out += [(tw, df, "weighted", w, 0) for w in WEIGHTS]
        out += [(tw, df, "rrf", w, k) for w in (0.3, 0.5, 0.7) for k in RRF_KS]
    return out


def objective(per_query: dict[str, dict[str, float]], qids: list[str]) -> float:
    return mean([per_query[q]["ndcg@20"] + per_query[q]["map"] for q in qids])


def summary(per_query: dict[str, dict[str, float]], bench: Bench) -> dict[str, Any]:
    groups = {"all": [q.qid for q in bench.queries]}
    groups |= {f: [q.qid for q in bench.queries if q.facet == f] for f in FACETS}
    return {
        g: {m: rounded(mean([per_query[q][m] for q in qids])) for m in SHOWN}
        for g, qids in groups.items()
    }


def folds_of(bench: Bench) -> list[list[str]]:
    papers = sorted({q.paper_id for q in bench.queries})
    fold_of = {p: i % FOLDS for i, p in enumerate(papers)}
    return [[q.qid for q in bench.queries if fold_of[q.paper_id] == f] for f in range(FOLDS)]


def main() -> None:
    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    started = time.perf_counter()
    reuse = contextlib.nullcontext(args.data_dir) if args.data_dir else None
    with reuse or scratch_dir(args.tmp_dir, False) as data_dir:
        pl = open_indexed(data_dir, bench)
        ids = {sp.pk: sp.paper.id for b in pl.papers.changed_since(0) for sp in b}
        pks = sorted(ids)
        at = {pk: i for i, pk in enumerate(pks)}
        found, matrix = pl.vectors.get_many(pks)
        if list(found) != pks:
            raise SystemExit("some papers have no vector in the index")
        matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        query_pks = [pl.paper(q.paper_id).pk for q in bench.queries]
        dense = np.vstack([matrix @ matrix[at[pk]] for pk in query_pks])
        with scratch_dir(args.tmp_dir, False) as work:
            lexical = {tw: term_scores(pl, work, tw, query_pks, pks) for tw in TITLE_WEIGHTS}

        def evaluate(rank_scores: Callable[[int], np.ndarray]) -> dict[str, dict[str, float]]:
            per: dict[str, dict[str, float]] = {}
            for j, (q, pk) in enumerate(zip(bench.queries, query_pks, strict=True)):
                s = rank_scores(j).astype(np.float64)
                s[at[pk]] = -np.inf
                order = np.argsort(-s, kind="stable")[:-1]
                per[q.qid] = score([ids[pks[i]] for i in order], bench.qrels[q.qid])
            return per

        grid = configs()

        def fused_scores(c: Config) -> Callable[[int], np.ndarray]:
            return lambda j: fused(dense[j], lexical[c[0]][c[1]][j], c)

        per_config = {c: evaluate(fused_scores(c)) for c in grid}
        dense_only = evaluate(lambda j: dense[j])
        served = {
            q.qid: score([ids[pk] for pk in served_ranking(pl, q.paper_id)], bench.qrels[q.qid])
            for q in bench.queries
        }
        pl.close()
    all_qids = [q.qid for q in bench.queries]
    best_all = max(grid, key=lambda c: objective(per_config[c], all_qids))
    held_out: dict[str, dict[str, float]] = {}
    chosen = []
    for fold in folds_of(bench):
        train = [q for q in all_qids if q not in fold]
        best = max(grid, key=lambda c: objective(per_config[c], train))
        chosen.append({"held_out": fold, "config": list(best)})
        held_out |= {q: per_config[best][q] for q in fold}
    best_lexical = max(
        (c for c in grid if c[2] == "weighted" and c[3] == 0.0),
        key=lambda c: objective(per_config[c], all_qids),
    )
    rows = {
        "dense only (before)": dense_only,
        f"tf-idf only (tuned: title x{best_lexical[0]}, max_df {best_lexical[1]})": per_config[
            best_lexical
        ],
        f"fused, tuned on all 24 ({_describe(best_all)})": per_config[best_all],
        f"fused, held-out ({FOLDS}-fold CV by paper)": held_out,
        f"served: PaperLens.similar, k={SERVED_K}": served,
    }

    def diff(after: dict[str, dict[str, float]]) -> dict[str, Any]:
        return {
            m: paired_difference(
                [dense_only[q][m] for q in all_qids], [after[q][m] for q in all_qids]
            )
            for m in SHOWN
        }

    results = {
        "benchmark": "csfcube-dev similar papers: tf-idf + dense fusion, chosen by CV",
        "machine": machine_info(),
        "grid": {
            "title_weights": TITLE_WEIGHTS,
            "max_dfs": MAX_DFS,
            "weights": WEIGHTS,
            "rrf_ks": RRF_KS,
            "configs": len(grid),
        },
        "folds": chosen,
        "tuned_config": list(best_all),
        "rows": {name: summary(per, bench) for name, per in rows.items()},
        "paired_vs_dense_only": {
            name: diff(per) for name, per in rows.items() if per is not dense_only
        },
        "per_query": {name: per for name, per in rows.items()},
        "seconds_total": rounded(time.perf_counter() - started, 1),
    }
    write_json(args.out, results)
    out = console()
    for table in tables(results):
        out.print(table)
    out.print(f"results written to {args.out}")


def _describe(c: Config) -> str:
    tw, df, kind, w, k = c
    fusion = f"{w} dense + {round(1 - w, 1)} tf-idf" if kind == "weighted" else f"RRF k={k}, w={w}"
    return f"title x{tw}, max_df {df}, {fusion}"


def tables(results: dict[str, Any]) -> list[Table]:
    main_t = Table(
        title="Similar papers on CSFCube dev: whole corpus (nDCG@20 / MAP) · "
        "CSFCube protocol (NDCG%20 / MAP, %)"
    )
    main_t.add_column("list")
    for g in ("all", *FACETS):
        main_t.add_column(g, justify="right")
    for name, s in results["rows"].items():
        main_t.add_row(
            name,
            *(
                f"{s[g]['ndcg@20']:.3f} / {s[g]['map']:.3f} · "
                f"{100 * s[g]['pool_ndcg%20']:.1f} / {100 * s[g]['pool_map']:.1f}"
                for g in ("all", *FACETS)
            ),
        )
    diff_t = Table(
        title="Paired per query vs dense only: mean difference [95% bootstrap CI] (won/lost)"
    )
    diff_t.add_column("list")
    for m in SHOWN:
        diff_t.add_column(f"Δ{m}", justify="right")
    for name, d in results["paired_vs_dense_only"].items():
        diff_t.add_row(
            name,
            *(
                f"{d[m]['mean']:+.3f} [{d[m]['ci95_low']:+.3f}, {d[m]['ci95_high']:+.3f}] "
                f"({d[m]['won']}/{d[m]['lost']})"
                for m in SHOWN
            ),
        )
    fold_t = Table(title="Configuration chosen on each training split")
    fold_t.add_column("held-out queries", justify="right")
    fold_t.add_column("chosen")
    for f in results["folds"]:
        fold_t.add_row(str(len(f["held_out"])), _describe(tuple(f["config"])))
    return [main_t, diff_t, fold_t]


if __name__ == "__main__":
    main()

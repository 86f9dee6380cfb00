"""Which candidates the served "similar papers" list re-scores, on CSFCube dev.

``Retriever.similar`` re-scores a candidate set by ``0.2 dense + 0.8 tf-idf`` cosine
(bench/similar.py chose the fusion). The set is the paper's ``SIMILAR_CANDIDATES``
nearest dense neighbours plus, optionally, the BM25 matches of a query made of its first
``SIMILAR_LEXICAL_TERMS`` analysed terms (``SIMILAR_LEXICAL_CANDIDATES`` matches). The BM25
query is most of the cost at scale
(bench/README.md, "scale"), so this bench measures what each candidate set is worth:
every row is ``PaperLens.similar(id, k=SERVED_K)`` with the two constants set, scored
on the whole corpus (nDCG@20, MAP) and paired per query against the reference row
(bootstrap 95% intervals, ``metrics.paired_difference``). Nothing is tuned on the
queries beyond picking a row, so there is no held-out split here. Candidate counts
below ``k`` mean nothing here: the served list always takes at least ``k`` (+5) of each.

    .venv/bin/python bench/similar_candidates.py --data-dir DIR   # an indexed CSFCube dir
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rich.table import Table

from common import RESULTS_DIR, SHARED_DIR, console, go_offline, machine_info, rounded, write_json
from metrics import mean, paired_difference
from quality import SERVED_K, load_bench, score
from similar import open_indexed

#: (label, dense candidates, BM25 query terms, BM25 candidates); the first row is the
#: reference.
VARIANTS: tuple[tuple[str, int, int, int], ...] = (
    ("dense 100 + BM25 100 of 64 terms (before)", 100, 64, 100),
    ("dense 100 + BM25 100 of 8 terms (served)", 100, 8, 100),
    ("dense 100 + BM25 100 of 32 terms", 100, 32, 100),
    ("dense 100 + BM25 100 of 16 terms", 100, 16, 100),
    ("dense 100 + BM25 100 of 4 terms", 100, 4, 100),
    ("dense 100 only", 100, 0, 0),
    ("dense 200 only", 200, 0, 0),
    ("dense 400 only", 400, 0, 0),
    ("dense 200 + BM25 100 of 8 terms", 200, 8, 100),
)
SHOWN = ("ndcg@20", "map")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--data-dir", type=Path, required=True, help="indexed data dir")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "similar_candidates.json")
    return parser.parse_args()


def main() -> None:
    import paperlens.search.engine as engine

    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    pl = open_indexed(args.data_dir, bench)
    saved = (
        engine.SIMILAR_CANDIDATES,
        engine.SIMILAR_LEXICAL_TERMS,
        engine.SIMILAR_LEXICAL_CANDIDATES,
    )
    per_variant: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    try:
        for label, depth, terms, lexical in VARIANTS:
            engine.SIMILAR_CANDIDATES = depth
            engine.SIMILAR_LEXICAL_TERMS, engine.SIMILAR_LEXICAL_CANDIDATES = terms, lexical
            pl.retriever.similar_cache.clear()
            started = time.perf_counter()
            per_variant[label] = {
                q.qid: score(
                    [r.paper.id for r in pl.similar(q.paper_id, k=SERVED_K)], bench.qrels[q.qid]
                )
                for q in bench.queries
            }
            seconds[label] = rounded((time.perf_counter() - started) / len(bench.queries) * 1000)
    finally:
        (
            engine.SIMILAR_CANDIDATES,
            engine.SIMILAR_LEXICAL_TERMS,
            engine.SIMILAR_LEXICAL_CANDIDATES,
        ) = saved
        pl.close()
    qids = [q.qid for q in bench.queries]
    reference = per_variant[VARIANTS[0][0]]
    results: dict[str, Any] = {
        "benchmark": "csfcube-dev similar papers: candidate sets of the served list",
        "machine": machine_info(),
        "served_k": SERVED_K,
        "rows": {
            label: {m: rounded(mean([per[q][m] for q in qids])) for m in SHOWN}
            | {"ms_per_call_small_corpus": seconds[label]}
            for label, per in per_variant.items()
        },
        "paired_vs_reference": {
            label: {
                m: paired_difference([reference[q][m] for q in qids], [per[q][m] for q in qids])
                for m in SHOWN
            }
            for label, per in per_variant.items()
            if per is not reference
        },
        "per_query": per_variant,
    }
    write_json(args.out, results)
    table = Table(title="Similar-paper candidate sets on CSFCube dev (whole corpus, k=100)")
    for column in ("candidates", "nDCG@20", "MAP", "ΔnDCG@20 [95% CI] (won/lost)", "ΔMAP"):
        table.add_column(column)
    for label, row in results["rows"].items():
        d = results["paired_vs_reference"].get(label)
        cells = (
            [
                f"{d[m]['mean']:+.4f} [{d[m]['ci95_low']:+.4f}, {d[m]['ci95_high']:+.4f}] "
                f"({d[m]['won']}/{d[m]['lost']})"
                for m in SHOWN
            ]
            if d
            else ["reference", "reference"]
        )
        table.add_row(label, f"{row['ndcg@20']:.3f}", f"{row['map']:.3f}", *cells)
    console().print(table)
    console().print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

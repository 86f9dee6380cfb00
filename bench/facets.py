"""Facet-aware similarity on CSFCube dev, the rhetorical-role labeler, and what the
sentence index costs.

Three parts (all by default; pick with ``--only``):

* ``labeler``: accuracy and per-role F1 of :mod:`paperlens.rhetoric` on the hand-labelled
  sample ``bench/data/rhetorical-roles.jsonl`` (40 abstracts from the bundled ML sample,
  311 sentences; the first 20 abstracts were read while writing the cue phrases
  ("tune"), the other 20 were not ("heldout")).
* ``quality``: CSFCube dev through the product's own ingest and indexer (sentence index
  on), whole corpus less the query paper ranked for each query by (a) the similar-papers
  ranking (``Retriever.similar``: dense + tf-idf cosine; "dense" in the JSON), (b) the
  weighted RRF of the facet lists (:func:`paperlens.search.facets.fuse`), the rest of
  that ranking after it, and (c) what is served (``PaperLens.similar_by_facet`` with the
  shipped defaults, ``SERVED_K`` deep). nDCG@20 and MAP (grade >= 2), per
  facet. Settings (pool, weights, RRF k) are chosen by 4-fold cross-validation
  over the 24 queries (folds stratified by facet): "held-out" scores each query with
  the setting chosen on the other folds; "tuned" with the one best on all 24 (optimistic).
  Paired bootstrap intervals against dense.
* ``cost``: sentence-index build time per 1k papers against the whole-paper embed step,
  and its disk bytes per paper, on the first ``--cost-papers`` CSFCube papers, uncached.

Embeddings are cached by text in ``--cache`` (default: the system temp dir) so re-runs
skip the model; the cost part never uses the cache.

    nice -n 10 .venv/bin/python bench/facets.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    SHARED_DIR,
    go_offline,
    machine_info,
    make_settings,
    percentile_ms,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import average_precision, mean, ndcg_at_k, paired_difference
from quality import SERVED_K, Bench, Query, load_bench, pk_to_id, write_ingest_file

if TYPE_CHECKING:
    from paperlens.core import PaperLens
    from paperlens.embedding import Encoder
    from paperlens.search.facets import FacetParams

FACETS = ("background", "method", "result")
LABELS = REPO_ROOT / "bench" / "data" / "rhetorical-roles.jsonl"
POOLS = (100, 200, 400)
#: Weights of the BM25, facet-BM25, max-sim and facet-dense lists tried (dense: always 1).
WEIGHTS = (0.0, 0.5, 1.0)
RRF_KS = (20, 60)
FOLDS = 4


class CachingEncoder:
    """The real encoder behind a text -> vector cache kept in one ``.npz`` file."""

    def __init__(self, inner: Encoder, path: Path) -> None:
        self.inner = inner
        self.path = path
        self.cache: dict[str, NDArray[np.float32]] = {}
        self.misses = 0
        if path.exists():
            data = np.load(path, allow_pickle=True)
            self.cache = dict(zip(data["texts"].tolist(), data["vecs"], strict=True))

    @property
    def key(self) -> str:
        return self.inner.key

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.misses += len(missing)
            for t, v in zip(missing, self.inner.encode(missing), strict=True):
                self.cache[t] = v
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([self.cache[t] for t in texts]).astype(np.float32)

    def save(self) -> None:
        if self.misses:
            texts = np.array(list(self.cache), dtype=object)
            np.savez(self.path, texts=texts, vecs=np.vstack(list(self.cache.values())))


# -- labeler ------------------------------------------------------------------------------


def labeler() -> dict[str, Any]:
    from paperlens.rhetoric import ROLES, label_sentences

    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines()]
    abstracts: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        abstracts[(r["split"], r["abstract"])].append(r)
    out: dict[str, Any] = {}
    for split in ("tune", "heldout"):
        gold: list[str] = []
        pred: list[str] = []
        for (s, _), sentences in sorted(abstracts.items()):
            if s != split:
                continue
            sentences.sort(key=lambda r: r["index"])
            gold += [r["role"] for r in sentences]
            pred += label_sentences([r["sentence"] for r in sentences])
        per_role: dict[str, Any] = {}
        for role in ROLES:
            tp = sum(g == p == role for g, p in zip(gold, pred, strict=True))
            fp = sum(p == role != g for g, p in zip(gold, pred, strict=True))
            fn = sum(g == role != p for g, p in zip(gold, pred, strict=True))
            f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
            per_role[role] = {"support": tp + fn, "f1": rounded(f1, 3)}
        # The facets the ranking uses (objective counts as background).
        fold = {"objective": "background"}
        facet_gold = [fold.get(g, g) for g in gold]
        facet_pred = [fold.get(p, p) for p in pred]
        out[split] = {
            "sentences": len(gold),
            "accuracy": rounded(mean([g == p for g, p in zip(gold, pred, strict=True)]), 3),
            "facet_accuracy": rounded(
                mean([g == p for g, p in zip(facet_gold, facet_pred, strict=True)]), 3
            ),
            "roles": per_role,
        }
    return out


# -- quality ------------------------------------------------------------------------------


def open_lens(data_dir: Path, cache: Path | None) -> PaperLens:
    from paperlens.core import PaperLens
    from paperlens.embedding import build_encoder

    settings = make_settings(data_dir, 256, encoder_backend="onnx-int8", sentence_index=True)
    pl = PaperLens(settings)
    if cache is not None:
        # Bench-only: the lens's encoder slot takes the caching wrapper.
        pl._encoder = CachingEncoder(build_encoder(settings), cache)
    return pl


def score(ranking: list[str], qrels: dict[str, int]) -> dict[str, float]:
    return {"ndcg@20": ndcg_at_k(ranking, qrels, 20), "map": average_precision(ranking, qrels)}


def facet_ranking(lists: dict[str, list[int]], dense: list[int], params: FacetParams) -> list[int]:
    """The product's fused facet list for ``params``, then the rest of the dense list
    (so the whole corpus is ranked). ``lists`` were drawn at the largest pool: the
    max-sim list is cut to the dense list's top ``pool`` first (with weight 1 a
    candidate's max-sim does not depend on the others, so this is the list a smaller
    pool gives)."""
    from paperlens.search.facets import fuse

    top = set(dense[: params.pool])
    cut = {**lists, "maxsim": [pk for pk in lists["maxsim"] if pk in top]}
    fused = [pk for pk, _ in fuse(cut, params)]
    seen = set(fused)
    return fused + [pk for pk in dense if pk not in seen]


def summarise(per_query: dict[str, dict[str, float]], queries: list[Query]) -> dict[str, Any]:
    groups = {"all": [q.qid for q in queries]}
    groups.update({f: [q.qid for q in queries if q.facet == f] for f in FACETS})
    return {
        name: {m: rounded(mean([per_query[q][m] for q in qids])) for m in ("ndcg@20", "map")}
        for name, qids in groups.items()
    }


def quality(bench: Bench, data_dir: Path, cache: Path) -> dict[str, Any]:
    from paperlens.facets import parse_facet
    from paperlens.search.facets import DEFAULT, FacetParams
    from paperlens.sources.jsonl import JsonlSource

    source = data_dir / "csfcube-corpus.jsonl"
    write_ingest_file(bench.corpus, source)
    pl = open_lens(data_dir, cache)
    try:
        pl.ingest(JsonlSource(source))
        pl.index()
        encoder = pl.encoder
        if isinstance(encoder, CachingEncoder):
            encoder.save()
        ids = pk_to_id(pl)
        depth = len(ids) - 1
        grid = [
            FacetParams(
                pool, dense=1.0, lexical=lx, facet_lexical=fx, maxsim=mx, facet_dense=fd, rrf_k=k
            )
            for pool, lx, fx, mx, fd, k in itertools.product(
                POOLS, WEIGHTS, WEIGHTS, WEIGHTS, WEIGHTS, RRF_KS
            )
        ]
        pl.facets.collect_all = True
        dense_scores: dict[str, dict[str, float]] = {}
        grid_scores: dict[FacetParams, dict[str, dict[str, float]]] = {g: {} for g in grid}
        for q in bench.queries:
            stored = pl.paper(q.paper_id)
            dense = [h.pk for h in pl.retriever.similar(stored.pk, depth)]
            qrels = bench.qrels[q.qid]
            dense_scores[q.qid] = score([ids[p] for p in dense], qrels)
            lists, *_ = pl.facets.lists(stored, parse_facet(q.facet), max(POOLS))
            for g in grid:
                ranking = facet_ranking(lists, dense, g)
                grid_scores[g][q.qid] = score([ids[p] for p in ranking], qrels)
        # What a reader gets: the served call (default settings), 100 results deep
        # (relevant papers past 100 count as missed, as quality.py's served row).
        pl.facets.collect_all = False
        served: dict[str, dict[str, float]] = {}
        for q in bench.queries:
            got = pl.similar_by_facet(q.paper_id, parse_facet(q.facet), SERVED_K)
            served[q.qid] = score([m.paper.id for m in got], bench.qrels[q.qid])
        # What a reader waits for: the served call (default settings, 10 results).
        if isinstance(encoder, CachingEncoder):  # the facet passage is embedded, uncached
            pl._encoder = encoder.inner
        latency: list[float] = []
        for _ in range(3):
            for q in bench.queries:
                started = time.perf_counter()
                pl.similar_by_facet(q.paper_id, parse_facet(q.facet), 10)
                latency.append(time.perf_counter() - started)
    finally:
        pl.close()
    qids = [q.qid for q in bench.queries]
    return {
        **cross_validate(bench.queries, dense_scores, grid_scores),
        "served": summarise(served, bench.queries),
        "served_params": {"pool": DEFAULT.pool, "rrf_k": DEFAULT.rrf_k, **DEFAULT.weights()},
        "served_vs_dense": {
            m: paired_difference([dense_scores[q][m] for q in qids], [served[q][m] for q in qids])
            for m in ("ndcg@20", "map")
        },
        "similar_by_facet_ms": {
            "p50": percentile_ms(latency, 50),
            "p95": percentile_ms(latency, 95),
            "papers": len(ids),
        },
    }


def folds(queries: list[Query]) -> list[list[str]]:
    """``FOLDS`` folds, each holding a share of every facet's queries (round robin)."""
    out: list[list[str]] = [[] for _ in range(FOLDS)]
    for facet in FACETS:
        for i, q in enumerate(q for q in queries if q.facet == facet):
            out[i % FOLDS].append(q.qid)
    return out


def cross_validate(
    queries: list[Query],
    dense: dict[str, dict[str, float]],
    grid: dict[FacetParams, dict[str, dict[str, float]]],
) -> dict[str, Any]:
    def best(qids: Sequence[str]) -> FacetParams:
        # Ties: the smaller pool (cheaper), then the grid's order.
        return max(grid, key=lambda g: (mean([grid[g][q]["ndcg@20"] for q in qids]), -g.pool))

    def described(g: FacetParams) -> dict[str, Any]:
        return {"pool": g.pool, "rrf_k": g.rrf_k, **g.weights()}

    held_out: dict[str, dict[str, float]] = {}
    chosen: list[dict[str, Any]] = []
    for fold in folds(queries):
        train = [q.qid for q in queries if q.qid not in fold]
        g = best(train)
        chosen.append(described(g))
        for qid in fold:
            held_out[qid] = grid[g][qid]
    tuned_params = best([q.qid for q in queries])
    tuned = grid[tuned_params]
    qids = [q.qid for q in queries]

    def diff(after: dict[str, dict[str, float]], metric: str, facet: str) -> dict[str, float]:
        sel = [q.qid for q in queries if facet in ("all", q.facet)]
        d = paired_difference([dense[q][metric] for q in sel], [after[q][metric] for q in sel])
        return {k: rounded(v) for k, v in d.items()}

    return {
        "queries": len(qids),
        "grid": len(grid),
        "tuned_params": described(tuned_params),
        "fold_params": chosen,
        "dense": summarise(dense, queries),
        "facet_tuned": summarise(tuned, queries),
        "facet_heldout": summarise(held_out, queries),
        "heldout_vs_dense": {
            f: {m: diff(held_out, m, f) for m in ("ndcg@20", "map")} for f in ("all", *FACETS)
        },
        "tuned_vs_dense": {
            f: {m: diff(tuned, m, f) for m in ("ndcg@20", "map")} for f in ("all", *FACETS)
        },
    }


# -- cost ---------------------------------------------------------------------------------


def cost(bench: Bench, data_dir: Path, papers: int) -> dict[str, Any]:
    from paperlens.sources.jsonl import JsonlSource

    source = data_dir / "cost-corpus.jsonl"
    write_ingest_file(bench.corpus[:papers], source)
    pl = open_lens(data_dir, None)
    try:
        pl.ingest(JsonlSource(source))
        _ = pl.encoder  # load the model outside the timed steps
        started = time.perf_counter()
        report = pl.index()
        total = time.perf_counter() - started
        index = pl.sentences
        rows = index.live_rows
        disk = index.disk_bytes()
        return {
            "papers": papers,
            "sentences": rows,
            "sentences_per_paper": rounded(rows / papers, 2),
            "embed_seconds_per_1k": rounded(report.seconds["embed"] / papers * 1000, 1),
            "sentence_seconds_per_1k": rounded(report.seconds["sentences"] / papers * 1000, 1),
            "index_seconds_per_1k": rounded(total / papers * 1000, 1),
            "disk_bytes_per_paper": rounded(disk / papers, 0),
            "disk_gb_at_1m": rounded(disk / papers * 1e6 / 1e9, 2),
        }
    finally:
        pl.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("labeler", "quality", "cost"), action="append")
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "paperlens-facets-cache.npz"
    )
    parser.add_argument("--cost-papers", type=int, default=1000)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args()
    go_offline()
    parts = args.only or ["labeler", "quality", "cost"]
    # Parts not run this time keep their last figures.
    out = RESULTS_DIR / "facets.json"
    results: dict[str, Any] = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    results.update(benchmark="facet-aware similarity", machine=machine_info())
    if "labeler" in parts:
        results["labeler"] = labeler()
        print(json.dumps(results["labeler"], indent=1))
    bench = load_bench(args.csfcube) if {"quality", "cost"} & set(parts) else None
    if bench is not None and "quality" in parts:
        with scratch_dir(args.tmp_dir, False) as data_dir:
            results["quality"] = quality(bench, data_dir, args.cache)
        print(json.dumps({k: v for k, v in results["quality"].items()}, indent=1))
    if bench is not None and "cost" in parts:
        with scratch_dir(args.tmp_dir, False) as data_dir:
            results["cost"] = cost(bench, data_dir, args.cost_papers)
        print(json.dumps(results["cost"], indent=1))
    write_json(out, results)


if __name__ == "__main__":
    main()

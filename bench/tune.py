"""Does domain adaptation of the bundled model on the corpus's own papers help the served
similar list on CSFCube dev? (issue 13, item 5)

Two steps, each runnable alone (the second reuses the first's model directories):

* ``train``: fine-tune all-MiniLM-L6-v2 with ``paperlens.embedding.tune`` (in-batch
  negatives over (title, abstract) and (sentence, rest of abstract) pairs; no CSFCube
  label is used) on either **all** 4,203 papers (transductive: a reader tuning on their
  own library, evaluation texts included) or the **unjudged** papers only (held out:
  neither a query paper nor any judged candidate of any query is seen in training);
* ``eval``: one data dir, the corpus ingested once; for each model (the bundled one,
  then each tuned directory) ``PaperLens.index()`` with ``model`` set to it on the
  product's default backend (int8 ONNX, 256 tokens: a tuned directory is exported and
  quantized by ``paperlens.embedding.onnx_encoder`` like any local model), then per
  query the **served list** (``PaperLens.similar(k=100)``: dense + tf-idf fusion) and
  dense-only (exact cosine, whole corpus), scored as bench/quality.py does. Paired per
  query against the bundled model (95 % bootstrap over the 24 queries), overall and per
  facet.

    python bench/tune.py train --papers unjudged --out DIR/heldout --max-steps 40
    python bench/tune.py eval --data-dir DIR/data --model heldout=DIR/heldout
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from common import RESULTS_DIR, SHARED_DIR, go_offline, machine_info, make_settings, rounded
from metrics import mean, paired_difference
from quality import FACETS, Bench, ingest_corpus, load_bench, score, served_ranking

SEQ_LENGTH = 256
SHOWN = ("ndcg@20", "map", "pool_ndcg%20", "pool_map")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    sub = parser.add_subparsers(dest="step", required=True)
    train = sub.add_parser("train", help="fine-tune the bundled model on the corpus")
    train.add_argument("--papers", choices=("all", "unjudged"), default="all")
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--max-steps", type=int, default=None)
    train.add_argument("--max-seconds", type=float, default=None)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--max-seq-length", type=int, default=128)
    train.add_argument("--threads", type=int, default=2)
    ev = sub.add_parser("eval", help="served list with each model, paired vs the bundled")
    ev.add_argument("--data-dir", type=Path, required=True)
    ev.add_argument(
        "--model", action="append", default=[], help="LABEL=DIR of a tuned model (repeatable)"
    )
    ev.add_argument("--out", type=Path, default=RESULTS_DIR / "tune.json")
    return parser.parse_args()


def judged_papers(bench: Bench) -> set[str]:
    """Every query paper and every judged candidate of every query."""
    return {q.paper_id for q in bench.queries} | {p for qr in bench.qrels.values() for p in qr}


def train(args: argparse.Namespace, bench: Bench) -> None:
    from paperlens.embedding import resolve_model
    from paperlens.embedding.tune import TuneConfig, training_pairs, tune

    judged = judged_papers(bench)
    papers = [r for r in bench.corpus if args.papers == "all" or str(r["id"]) not in judged]
    pairs = training_pairs([(r["title"], r["abstract"]) for r in papers])
    config = TuneConfig(
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        max_steps=args.max_steps,
        max_seconds=args.max_seconds,
    )
    facts = tune(
        resolve_model("bundled"),
        pairs,
        args.out,
        config,
        threads=args.threads,
        notify=lambda m: print(m, flush=True),
    )
    facts |= {"papers": args.papers, "corpus_papers": len(papers), "config": asdict(config)}
    (args.out / "tune-facts.json").write_text(json.dumps(facts, indent=2, default=str) + "\n")
    print(json.dumps(facts, default=str))


def evaluate_model(data_dir: Path, bench: Bench, model: str) -> dict[str, Any]:
    """Index the corpus with ``model`` (int8 ONNX, 256 tokens) and score the served list
    and dense-only ranking of every query."""
    from paperlens.core import PaperLens

    pl = PaperLens(make_settings(data_dir, SEQ_LENGTH, encoder_backend="onnx-int8", model=model))
    try:
        started, cpu = time.perf_counter(), time.process_time()
        _ = pl.encoder
        load = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}
        report = pl.index()
        stored = [sp for b in pl.papers.changed_since(0) for sp in b if not sp.deleted]
        pks = [sp.pk for sp in stored]
        ids = {sp.pk: sp.paper.id for sp in stored}
        found, matrix = pl.vectors.get_many(pks)
        per: dict[str, dict[str, dict[str, float]]] = {"served": {}, "dense": {}}
        for q in bench.queries:
            pk = pl.paper(q.paper_id).pk
            served = served_ranking(pl, q.paper_id)
            per["served"][q.qid] = score([ids[p] for p in served], bench.qrels[q.qid])
            sims = matrix @ matrix[list(found).index(pk)]
            order = [found[i] for i in np.argsort(-sims, kind="stable") if found[i] != pk]
            per["dense"][q.qid] = score([ids[p] for p in order], bench.qrels[q.qid])
        return {
            "model_key": pl.model_key,
            "encoder_load": {k: rounded(v, 1) for k, v in load.items()},
            "embedded": report.embedded,
            "embed_seconds": rounded(report.seconds["embed"], 1),
            "papers_per_second": rounded(report.embed_rate, 1),
            "per_query": per,
        }
    finally:
        pl.close()


def summary(per_query: dict[str, dict[str, float]], bench: Bench) -> dict[str, Any]:
    groups = {"all": [q.qid for q in bench.queries]}
    groups |= {f: [q.qid for q in bench.queries if q.facet == f] for f in FACETS}
    return {
        g: {m: rounded(mean([per_query[q][m] for q in qs])) for m in SHOWN}
        for g, qs in groups.items()
    }


def run_eval(args: argparse.Namespace, bench: Bench) -> None:
    args.data_dir.mkdir(parents=True, exist_ok=True)
    if not (args.data_dir / "paperlens.db").exists():
        ingest_corpus(args.data_dir, bench, SEQ_LENGTH)
    models: list[tuple[str, str]] = [("bundled", "all-MiniLM-L6-v2")]
    for spec in args.model:
        label, _, path = spec.partition("=")
        if not path or label == "bundled":
            raise SystemExit(f"--model {spec!r}: give LABEL=DIR (LABEL not 'bundled')")
        models.append((label, path))
    runs: dict[str, Any] = {}
    for label, model in models:
        started = time.perf_counter()
        runs[label] = evaluate_model(args.data_dir, bench, model)
        # The key names the model's path: keep machine paths out of the results.
        runs[label]["model_key"] = runs[label]["model_key"].replace(model, label)
        runs[label]["seconds"] = rounded(time.perf_counter() - started, 1)
        print(label, json.dumps({k: v for k, v in runs[label].items() if k != "per_query"}))
    base = runs["bundled"]["per_query"]
    results: dict[str, Any] = {
        "benchmark": "csfcube-dev similar papers: bundled vs domain-adapted encoder",
        "machine": machine_info(),
        "models": {},
    }
    for label, run in runs.items():
        entry: dict[str, Any] = {k: v for k, v in run.items() if k != "per_query"}
        facts = Path(dict(models)[label]) / "tune-facts.json"
        if facts.is_file():  # written by the train step next to the model
            entry["training"] = json.loads(facts.read_text())
        for ranking in ("served", "dense"):
            per = run["per_query"][ranking]
            entry[ranking] = summary(per, bench)
            if label != "bundled":
                entry[f"{ranking}_vs_bundled"] = {
                    group: {
                        m: paired_difference(
                            [
                                base[ranking][q.qid][m]
                                for q in bench.queries
                                if group in ("all", q.facet)
                            ],
                            [per[q.qid][m] for q in bench.queries if group in ("all", q.facet)],
                        )
                        for m in ("ndcg@20", "map")
                    }
                    for group in ("all", *FACETS)
                }
        entry["per_query"] = run["per_query"]
        results["models"][label] = entry
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for label, entry in results["models"].items():
        for ranking in ("served", "dense"):
            s = entry[ranking]
            print(
                f"{label:10} {ranking:6} "
                + " | ".join(f"{g} {s[g]['ndcg@20']:.3f}/{s[g]['map']:.3f}" for g in s)
            )
            for group, d in entry.get(f"{ranking}_vs_bundled", {}).items():
                print(
                    f"    {group:10} "
                    + "  ".join(
                        f"Δ{m} {x['mean']:+.3f} [{x['ci95_low']:+.3f}, {x['ci95_high']:+.3f}] "
                        f"({x['won']}/{x['lost']})"
                        for m, x in d.items()
                    )
                )
    print(f"results written to {args.out}")


def main() -> None:
    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    if args.step == "train":
        train(args, bench)
    else:
        run_eval(args, bench)


if __name__ == "__main__":
    main()

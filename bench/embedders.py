"""Encoder options on this CPU: papers per second and what each costs in quality.

Options (``--options``): torch at max_seq_length 128 and 256 (sentence-transformers, the
default backend), onnx fp32 at 256, onnx-int8 at 128 and 256, and model2vec (a 256-d
static distillation of the bundled model). For each one:

* **prepare**: the derived model is made once, offline, from the bundled model
  (``paperlens.embedding.prepare``: ONNX export, int8 quantization, distillation), timed;
* **speed**: the encoder is loaded (timed separately), warmed up on 16 texts, then
  ``encode`` runs over the same ``--speed-papers`` CSFCube papers (title + abstract,
  ``embedding_text``), repeated until at least 3 s have passed; papers/s and the 1-minute
  load average before and after are recorded;
* **fidelity**: cosine of each option's vectors for those papers to the torch vectors at
  the same length (and int8's to onnx fp32);
* **quality**: the CSFCube protocol of bench/quality.py, reused as is (``load_bench``,
  ``ingest_corpus``, ``index_at`` — which embeds all 4,203 papers with
  ``PaperLens.index()`` — and ``evaluate``): semantic and hybrid nDCG@10/20 and MAP over
  the whole corpus, plus a paired per-query comparison with torch@256. Torch rows are
  taken from ``--reuse-quality`` (bench/results/quality.json) when that file has the
  length: the same code computes them, so rerunning would only repeat it (``--no-reuse``
  reruns them).

Install size is each distribution's files as installed (``importlib.metadata``).

    .venv/bin/python bench/embedders.py
    .venv/bin/python bench/embedders.py --options model2vec,onnx-int8@128 --speed-papers 128
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

import quality
from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    make_settings,
    peak_rss_mb,
    rounded,
    scratch_dir,
    write_json,
)
from metrics import paired_difference

MODEL = "all-MiniLM-L6-v2"
#: name -> (backend, max_seq_length); model2vec reads whole texts (no length).
OPTIONS: dict[str, tuple[str, int]] = {
    "torch@128": ("torch", 128),
    "torch@256": ("torch", 256),
    "onnx@256": ("onnx", 256),
    "onnx-int8@128": ("onnx-int8", 128),
    "onnx-int8@256": ("onnx-int8", 256),
    "model2vec": ("model2vec", 256),
}
#: Fidelity: each option's vectors against these (same texts).
REFERENCE = {
    "onnx@256": "torch@256",
    "onnx-int8@128": "torch@128",
    "onnx-int8@256": "torch@256",
}
BASELINE = "torch@256"
#: What each path needs at run time, and what preparing a derived model needs once.
INSTALL_PATHS = {
    "torch (runtime)": [
        "torch",
        "transformers",
        "sentence-transformers",
        "tokenizers",
        "safetensors",
    ],
    "onnx / onnx-int8 (runtime)": ["onnxruntime", "tokenizers"],
    "model2vec (runtime)": ["model2vec", "tokenizers", "safetensors"],
    "prepare (export, quantize, distill; once)": [
        "torch",
        "transformers",
        "onnx",
        "onnxruntime",
        "model2vec",
        "skeletoken",
    ],
}
MIN_SPEED_SECONDS = 3.0
THREE_MILLION = 3_000_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Papers/s and CSFCube quality for each encoder backend and length."
    )
    parser.add_argument(
        "--csfcube",
        type=Path,
        default=SHARED_DIR / "bench" / "csfcube-dev",
        help="directory with corpus.jsonl, queries.jsonl and qrels.tsv",
    )
    parser.add_argument(
        "--options",
        default=",".join(OPTIONS),
        help=f"comma-separated options (default: all of {', '.join(OPTIONS)})",
    )
    parser.add_argument(
        "--speed-papers",
        type=int,
        default=512,
        help="papers in the speed sample (the first N of CSFCube; default 512)",
    )
    parser.add_argument("--no-quality", action="store_true", help="measure speed only")
    parser.add_argument(
        "--reuse-quality",
        type=Path,
        default=RESULTS_DIR / "quality.json",
        help="bench/quality.py results whose torch runs stand in for torch@N quality",
    )
    parser.add_argument("--no-reuse", action="store_true", help="rerun torch quality too")
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "embedders.json", help="JSON results"
    )
    parser.add_argument("--tmp-dir", type=Path, default=None, help="parent of the scratch dir")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the scratch dir")
    args = parser.parse_args()
    args.options = [o.strip() for o in args.options.split(",") if o.strip()]
    unknown = [o for o in args.options if o not in OPTIONS]
    if unknown:
        parser.error(f"unknown options {unknown}; choose from {', '.join(OPTIONS)}")
    return args


# -- measuring -------------------------------------------------------------------------------


def install_sizes() -> dict[str, Any]:
    def mb(dist: str) -> float | None:
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            return None
        total = 0
        for f in files:
            path = Path(str(f.locate()))
            if path.is_file():
                total += path.stat().st_size
        return rounded(total / 1_000_000, 1)

    dists = sorted({d for names in INSTALL_PATHS.values() for d in names})
    sizes = {d: mb(d) for d in dists}
    paths = {
        name: rounded(sum(sizes[d] or 0 for d in names), 1) for name, names in INSTALL_PATHS.items()
    }
    return {"distributions_mb": sizes, "paths_mb": paths, "paths": INSTALL_PATHS}


def prepare(option: str, models_dir: Path) -> dict[str, Any]:
    from paperlens.embedding import prepare as prepare_model
    from paperlens.embedding import resolve_model

    backend, _length = OPTIONS[option]
    started = time.perf_counter()
    path = prepare_model(backend, MODEL, models_dir, dims=256, notify=print)
    seconds = time.perf_counter() - started
    if path is None:
        model_path = Path(resolve_model(MODEL)) / "model.safetensors"
        return {"prepare_seconds": 0.0, "model_mb": rounded(model_path.stat().st_size / 1e6, 1)}
    files = [f for f in path.iterdir() if f.suffix in (".onnx", ".safetensors")]
    return {
        "prepare_seconds": rounded(seconds, 1),
        "model_mb": rounded(sum(f.stat().st_size for f in files) / 1e6, 1),
    }


def speed(option: str, data_dir: Path, texts: list[str]) -> tuple[dict[str, Any], np.ndarray]:
    """Load the encoder, warm it up, then papers/s over ``texts`` (at least 3 s)."""
    from paperlens.embedding import build_encoder

    backend, length = OPTIONS[option]
    settings = make_settings(data_dir, length, encoder_backend=backend)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    encoder = build_encoder(settings)
    load_seconds = time.perf_counter() - started
    encoder.encode(texts[:16])
    done, passes = 0, 0
    vectors = np.zeros((0, encoder.dim), dtype=np.float32)
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    while passes == 0 or time.perf_counter() - started < MIN_SPEED_SECONDS:
        vectors = encoder.encode(texts)
        done += len(texts)
        passes += 1
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    return {
        "key": encoder.key,
        "dim": encoder.dim,
        "load_seconds": rounded(load_seconds, 2),
        "sample_papers": len(texts),
        "passes": passes,
        "seconds": rounded(seconds, 2),
        "papers_per_second": rounded(done / seconds, 1),
        # Robust to other jobs on the box: what one fully available core does.
        "cpu_seconds": rounded(cpu, 2),
        "papers_per_cpu_second": rounded(done / cpu, 1),
        "hours_for_3m_papers": rounded(THREE_MILLION / (done / seconds) / 3600, 1),
        "load_average_1min_before": rounded(load_before, 2),
        "load_average_1min_after": rounded(os.getloadavg()[0], 2),
    }, vectors


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def fidelity(vectors: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = [*REFERENCE.items(), ("onnx-int8@256", "onnx@256")]
    for option, reference in pairs:
        if option in vectors and reference in vectors:
            cos = (vectors[option] * vectors[reference]).sum(axis=1)
            out[f"{option} vs {reference}"] = {
                "mean_cosine": rounded(float(cos.mean()), 5),
                "min_cosine": rounded(float(cos.min()), 5),
            }
    return out


def run_quality(
    option: str, data_dir: Path, bench: quality.Bench, lexical: dict[str, list[int]]
) -> dict[str, Any]:
    backend, length = OPTIONS[option]
    pl, embed = quality.index_at(data_dir, length, backend)
    print(f"{option}: embedded the corpus at {embed['papers_per_second']} papers/s")
    try:
        depth = pl.lexical.num_docs() - 1
        for q in bench.queries:
            lexical.setdefault(q.paper_id, quality.lexical_ranking(pl, q.paper_id, depth))
        run = quality.evaluate(pl, bench, lexical)
    finally:
        pl.close()
    run["embedding"] = embed
    return run


def reused_quality(path: Path, option: str) -> dict[str, Any] | None:
    backend, length = OPTIONS[option]
    if backend != "torch" or not path.exists():
        return None
    previous = json.loads(path.read_text(encoding="utf-8"))
    run = previous.get("runs", {}).get(str(length))
    if run is None:
        return None
    return {**run, "reused_from": f"{path.name} ({previous['machine']['date'][:10]})"}


def compare_with_baseline(runs: dict[str, Any]) -> dict[str, Any]:
    """Each option against torch@256, query by query (semantic and hybrid)."""
    base = runs.get(BASELINE)
    out: dict[str, Any] = {}
    if base is None:
        return out
    for option, run in runs.items():
        if option == BASELINE:
            continue
        for method in ("semantic", "hybrid"):
            a, b = base["per_query"][method], run["per_query"][method]
            out[f"{method}: {option} - {BASELINE}"] = {
                m: paired_difference([a[q][m] for q in a], [b[q][m] for q in a])
                for m in ("ndcg@20", "map")
            }
    return out


# -- output ---------------------------------------------------------------------------------


def speed_table(results: dict[str, Any]) -> Table:
    table = Table(
        title=f"Encoder speed on this machine ({results['speed_sample_papers']} CSFCube papers, "
        "title + abstract, model loaded first)"
    )
    for col in (
        "option",
        "dims",
        "prepare s (once)",
        "model MB",
        "load s",
        "papers/s",
        "papers/CPU-s",
        "3M papers (CPU-h)",
        "corpus papers/s",
        "load avg",
    ):
        table.add_column(col, justify="left" if col == "option" else "right")
    for option, o in _in_order(results):
        s = o.get("speed")
        if s is None:
            continue
        q = o.get("quality") or {}
        corpus_rate = q.get("embedding", {}).get("papers_per_second")
        corpus = "—" if corpus_rate is None else f"{corpus_rate:,.1f}"
        if q.get("reused_from"):
            corpus += "*"
        table.add_row(
            option,
            str(s["dim"]),
            f"{o['prepare']['prepare_seconds']:.0f}",
            f"{o['prepare']['model_mb']:.0f}",
            f"{s['load_seconds']:.1f}",
            f"{s['papers_per_second']:,.1f}",
            f"{s['papers_per_cpu_second']:,.1f}",
            f"{THREE_MILLION / s['papers_per_cpu_second'] / 3600:,.1f}",
            corpus,
            f"{s['load_average_1min_before']:.1f}→{s['load_average_1min_after']:.1f}",
        )
    return table


def quality_table(results: dict[str, Any]) -> Table:
    table = Table(title="CSFCube dev, whole corpus ranked (24 queries): nDCG@10 / nDCG@20 / MAP")
    for col in ("option", "cosine to torch", "semantic", "hybrid", "ΔMAP semantic vs torch@256"):
        table.add_column(col, justify="left" if col == "option" else "right")
    comparison = results.get("comparison_with_torch_256", {})
    lexical_row: list[str] | None = None
    for option, o in _in_order(results):
        q = o.get("quality")
        if q is None:
            continue
        if lexical_row is None:
            lexical_row = ["lexical (BM25)", "—", _cell(q["methods"]["lexical"]["all"]), "—", "—"]
        fid = results["fidelity"]
        cos = next((v for k, v in fid.items() if k.startswith(f"{option} vs torch")), None)
        diff = comparison.get(f"semantic: {option} - {BASELINE}", {}).get("map")
        table.add_row(
            option + (" *" if q.get("reused_from") else ""),
            "—" if cos is None else f"{cos['mean_cosine']:.4f} (min {cos['min_cosine']:.3f})",
            _cell(q["methods"]["semantic"]["all"]),
            _cell(q["methods"]["hybrid"]["all"]),
            "—" if diff is None else quality.diff_cell(diff),
        )
    if lexical_row is not None:
        table.add_row(*lexical_row)
    return table


def _in_order(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Options in the order of ``OPTIONS``, whatever order they ran in."""
    return sorted(results["options"].items(), key=lambda item: list(OPTIONS).index(item[0]))


def _cell(s: dict[str, float]) -> str:
    return f"{s['ndcg@10']:.3f} / {s['ndcg@20']:.3f} / {s['map']:.3f}"


def install_table(results: dict[str, Any]) -> Table:
    sizes = results["install"]
    table = Table(title="Installed size (site-packages, MB)")
    table.add_column("path")
    table.add_column("distributions")
    table.add_column("MB", justify="right")
    for name, dists in sizes["paths"].items():
        parts = ", ".join(f"{d} {sizes['distributions_mb'][d] or 0:.0f}" for d in dists)
        table.add_row(name, parts, f"{sizes['paths_mb'][name]:,.0f}")
    return table


TABLES = (speed_table, quality_table, install_table)
NOTE = (
    "\\* torch quality rows and their corpus papers/s are reused from "
    "`results/quality.json` (same protocol and code). papers/CPU-s is papers per second "
    "of process CPU time (all threads): it depends much less than papers/s on other jobs "
    "on the box. 3M papers (CPU-h) is 3,000,000 / papers/CPU-s / 3600: the hours of one "
    "core a 3-million-paper import spends embedding (divide by the cores given to it)."
)


def main() -> None:
    args = parse_args()
    go_offline()
    from paperlens.store.papers import embedding_text

    bench = quality.load_bench(args.csfcube)
    texts = [embedding_text(r["title"], r["abstract"]) for r in bench.corpus]
    sample = texts[: args.speed_papers]
    results: dict[str, Any] = {
        "benchmark": "encoder options: speed, fidelity, csfcube-dev quality",
        "machine": machine_info(),
        "model": MODEL,
        "speed_sample_papers": len(sample),
        "corpus_papers": len(bench.corpus),
        "quality_protocol": "bench/quality.py (index_at + evaluate), whole corpus ranked",
        "install": install_sizes(),
        "options": {},
        "fidelity": {},
    }
    vectors: dict[str, np.ndarray] = {}
    lexical: dict[str, list[int]] = {}
    started = time.perf_counter()
    with scratch_dir(args.tmp_dir, args.keep_tmp) as data_dir:
        if not args.no_quality:
            results["ingest"] = quality.ingest_corpus(data_dir, bench, 256)
        for option in args.options:
            entry: dict[str, Any] = {"backend": OPTIONS[option][0]}
            entry["prepare"] = prepare(option, data_dir / "models")
            entry["speed"], vectors[option] = speed(option, data_dir, sample)
            print(f"{option}: {entry['speed']['papers_per_second']} papers/s")
            if not args.no_quality:
                reused = None if args.no_reuse else reused_quality(args.reuse_quality, option)
                entry["quality"] = reused or run_quality(option, data_dir, bench, lexical)
            results["options"][option] = entry
            results["fidelity"] = fidelity(vectors)
            runs = {o: e["quality"] for o, e in results["options"].items() if "quality" in e}
            results["comparison_with_torch_256"] = compare_with_baseline(runs)
            results["seconds_total"] = rounded(time.perf_counter() - started, 1)
            write_json(args.out, _without_per_query(results))  # partial results survive
    results["peak_rss_mb"] = rounded(peak_rss_mb(), 1)
    results["machine"]["load_average_1min_at_end"] = rounded(os.getloadavg()[0], 2)
    write_json(args.out, _without_per_query(results))
    out = console()
    for make in TABLES:
        out.print(make(results))
    out.print(NOTE.replace("\\*", "*"))
    out.print(f"results written to {args.out}")


def _without_per_query(results: dict[str, Any]) -> dict[str, Any]:
    """The JSON keeps the summaries (per-query scores are in the comparison)."""
    slim = dict(results)
    slim["options"] = {
        o: {
            **e,
            **(
                {"quality": {k: v for k, v in e["quality"].items() if k != "per_query"}}
                if "quality" in e
                else {}
            ),
        }
        for o, e in results["options"].items()
    }
    return slim


if __name__ == "__main__":
    main()

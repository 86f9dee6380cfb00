"""Variants of the served "similar papers" ranking on CSFCube dev, each cross-validated.

The served list (``PaperLens.similar``) scores a candidate by ``0.2 * dense cosine +
0.8 * tf-idf cosine`` (bench/similar.py chose that). This script measures ideas that
could improve it, each as a small *family* of settings that includes "no change", so
that cross-validation may also choose to leave the list as it is:

* ``weights``: the served fusion, dense weight 0.1 / 0.2 / 0.3 (the reference family);
* ``z-score``: CombSUM of z-normalised scores (per query over the ranked papers) instead
  of raw cosines, dense weight 0.2 … 0.6;
* ``centred dense``: the dense cosine after subtracting the corpus mean vector (MiniLM's
  vectors share a large common direction);
* ``PRF``: pseudo-relevance feedback, ``s'(d) = s(d) + g * mean_{t in top k} s(t, d)``
  over the fused score (Rocchio in both spaces at once), k 3 … 20, g 0.25 … 2;
* ``sentence max-sim``: ``(1 - a) * s + a * mean over the query's sentences of the best
  cosine with the candidate's sentences`` (the sentence vectors of the opt-in sentence
  index: same encoder, same splitter);
* ``title dense``: ``(1 - a) * s + a * cosine of the two titles' embeddings`` (a second
  vector per paper, which the product does not store).

Every setting ranks the whole corpus less the query paper (exact dense cosine over the
stored vectors; tf-idf from the product's ``TermIndex`` at its shipped settings).
Cross-validation as in bench/similar.py: 4 folds of papers (a paper's queries never
straddle train and test), objective mean nDCG@20 + MAP on the training folds; "held-out"
is each query scored with the setting chosen without it; "tuned" the best on all 24
(optimistic). Paired differences (95 % bootstrap over queries) are against the served
setting (0.2 dense + 0.8 tf-idf, whole corpus).

Sentence and title vectors come from the real encoder through bench/facets.py's text
cache (``--cache``), so a re-run does not embed again.

    python bench/similar_variants.py --data-dir DIR   # DIR: an indexed CSFCube data dir
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rich.table import Table

from common import (
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    rounded,
    scratch_dir,
    write_json,
)
from facets import CachingEncoder
from metrics import mean, paired_difference
from quality import load_bench, score
from similar import FOLDS, SHOWN, open_indexed, summary

Matrix = NDArray[np.float64]
#: A setting: family name and its parameters.
Setting = tuple[str, tuple[float, ...]]

#: The served setting, the reference of every paired difference.
SERVED_W = 0.2
PRF_KS = (3, 5, 8, 10, 20)
PRF_GAINS = (0.25, 0.5, 1.0, 1.5, 2.0)
MIX = (0.0, 0.05, 0.1, 0.2, 0.3)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse an indexed data dir")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument(
        "--cache", type=Path, default=None, help="text -> vector cache (bench/facets.py's)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "similar-variants.json")
    return parser.parse_args()


def unit(rows: Matrix) -> Matrix:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.where(norms > 0, norms, 1.0))


def zscore(rows: Matrix) -> Matrix:
    return np.asarray((rows - rows.mean(1, keepdims=True)) / rows.std(1, keepdims=True))


def families() -> dict[str, list[tuple[float, ...]]]:
    def grid(*settings: tuple[float, ...]) -> list[tuple[float, ...]]:
        return list(settings)

    out = {
        "weights": grid(*((w,) for w in (0.1, 0.2, 0.3))),
        "z-score": grid((0.0,), *((w,) for w in (0.2, 0.3, 0.4, 0.5, 0.6))),
        "centred dense": grid(*((c, w) for c in (0.0, 1.0) for w in (0.1, 0.2, 0.3))),
        "PRF": grid((0.0, 0.0), *((float(k), g) for k in PRF_KS for g in PRF_GAINS)),
        "sentence max-sim": grid(*((a,) for a in MIX)),
        "title dense": grid(*((a,) for a in MIX)),
    }
    return out


def main() -> None:
    args = parse_args()
    go_offline()
    bench = load_bench(args.csfcube)
    started = time.perf_counter()
    reuse = contextlib.nullcontext(args.data_dir) if args.data_dir else None
    with reuse or scratch_dir(args.tmp_dir, False) as data_dir:
        pl = open_indexed(data_dir, bench)
        from paperlens.embedding import build_encoder
        from paperlens.rhetoric import split_sentences
        from paperlens.text import strip_latex

        stored = [sp for b in pl.papers.changed_since(0) for sp in b if not sp.deleted]
        stored.sort(key=lambda sp: sp.pk)
        pks = [sp.pk for sp in stored]
        ids = {sp.pk: sp.paper.id for sp in stored}
        at = {pk: i for i, pk in enumerate(pks)}
        found, vectors = pl.vectors.get_many(pks)
        if list(found) != pks:
            raise SystemExit("some papers have no vector in the index")
        dense_m = unit(vectors.astype(np.float64))
        centred_m = unit(dense_m - dense_m.mean(0))
        rows = np.array([at[pl.paper(q.paper_id).pk] for q in bench.queries])
        terms = pl.terms
        lex_cache: dict[int, NDArray[np.float64]] = {}

        def lexical(i: int) -> NDArray[np.float64]:
            """tf-idf cosine of paper row ``i`` with every paper (shipped settings)."""
            if i not in lex_cache:
                vec = terms.vector(pks[i])
                lex_cache[i] = (
                    terms.cosine(vec, pks).astype(np.float64) if vec else np.zeros(len(pks))
                )
            return lex_cache[i]

        encoder = CachingEncoder(build_encoder(pl.settings), args.cache) if args.cache else None
        embed = encoder.encode if encoder is not None else pl.encoder.encode
        titles = unit(embed([strip_latex(sp.paper.title) for sp in stored]).astype(np.float64))
        split = [split_sentences(sp.paper.abstract) for sp in stored]
        owner = np.repeat(np.arange(len(stored)), [len(s) for s in split])
        sentences = unit(embed([s for ss in split for s in ss]).astype(np.float64))
        if encoder is not None:
            encoder.save()
        pl.close()

    dense = dense_m[rows] @ dense_m.T
    centred = centred_m[rows] @ centred_m.T
    lex = np.vstack([lexical(int(i)) for i in rows])
    title_sim = titles[rows] @ titles.T
    maxsim = np.zeros_like(dense)
    for j, i in enumerate(rows):
        mine = sentences[owner == i]
        top_sim = np.full((len(mine), len(pks)), -1.0)
        sims = mine @ sentences.T
        for a in range(len(mine)):
            np.maximum.at(top_sim[a], owner, sims[a])
        maxsim[j] = top_sim.mean(0) if len(mine) else 0.0

    def fused_rows(paper_rows: Sequence[int], w: float) -> Matrix:
        d = dense_m[list(paper_rows)] @ dense_m.T
        lx = np.vstack([lexical(int(i)) for i in paper_rows])
        return np.asarray(w * d + (1 - w) * lx)

    def scores(family: str, p: tuple[float, ...]) -> Matrix:
        base: Matrix = np.asarray(SERVED_W * dense + (1 - SERVED_W) * lex)
        if family == "weights":
            return np.asarray(p[0] * dense + (1 - p[0]) * lex)
        if family == "z-score":
            return (
                base if p[0] == 0 else np.asarray(p[0] * zscore(dense) + (1 - p[0]) * zscore(lex))
            )
        if family == "centred dense":
            d = centred if p[0] else dense
            return np.asarray(p[1] * d + (1 - p[1]) * lex)
        if family == "PRF":
            k, g = int(p[0]), p[1]
            if k == 0:
                return base
            masked = base.copy()
            masked[np.arange(len(rows)), rows] = -np.inf
            top = np.argsort(-masked, axis=1, kind="stable")[:, :k]
            feedback = np.vstack([fused_rows(top[j], SERVED_W).mean(0) for j in range(len(rows))])
            return np.asarray(base + g * feedback)
        if family == "sentence max-sim":
            return np.asarray((1 - p[0]) * base + p[0] * maxsim)
        if family == "title dense":
            return np.asarray((1 - p[0]) * base + p[0] * title_sim)
        raise ValueError(family)

    def evaluate(s: Matrix) -> dict[str, dict[str, float]]:
        per: dict[str, dict[str, float]] = {}
        for j, q in enumerate(bench.queries):
            row = s[j].astype(np.float64).copy()
            row[rows[j]] = -np.inf
            order = np.argsort(-row, kind="stable")[:-1]
            per[q.qid] = score([ids[pks[i]] for i in order], bench.qrels[q.qid])
        return per

    qids = [q.qid for q in bench.queries]
    papers = sorted({q.paper_id for q in bench.queries})
    fold_of = {p: i % FOLDS for i, p in enumerate(papers)}
    folds = [[q.qid for q in bench.queries if fold_of[q.paper_id] == f] for f in range(FOLDS)]
    reference = evaluate(scores("weights", (SERVED_W,)))

    def objective(per: dict[str, dict[str, float]], among: Sequence[str]) -> float:
        return mean([per[q]["ndcg@20"] + per[q]["map"] for q in among])

    out_families: dict[str, Any] = {}
    per_query: dict[str, Any] = {"served setting (0.2 dense + 0.8 tf-idf)": reference}
    for family, grid in families().items():
        per_setting = {p: evaluate(scores(family, p)) for p in grid}
        held: dict[str, dict[str, float]] = {}
        chosen: list[list[float]] = []
        for fold in folds:
            train = [q for q in qids if q not in fold]
            best = max(grid, key=lambda p: objective(per_setting[p], train))
            chosen.append(list(best))
            held |= {q: per_setting[best][q] for q in fold}
        tuned = max(grid, key=lambda p: objective(per_setting[p], qids))

        def diff(after: dict[str, dict[str, float]]) -> dict[str, Any]:
            return {
                m: paired_difference([reference[q][m] for q in qids], [after[q][m] for q in qids])
                for m in SHOWN
            }

        out_families[family] = {
            "grid": [list(p) for p in grid],
            "folds": chosen,
            "tuned": list(tuned),
            "held_out": summary(held, bench),
            "tuned_scores": summary(per_setting[tuned], bench),
            "held_out_vs_served": diff(held),
            "tuned_vs_served": diff(per_setting[tuned]),
        }
        per_query[f"{family}, held-out"] = held
    results = {
        "benchmark": "csfcube-dev similar papers: variants of the served fusion, each by CV",
        "machine": machine_info(),
        "served": summary(reference, bench),
        "families": out_families,
        "per_query": per_query,
        "seconds_total": rounded(time.perf_counter() - started, 1),
    }
    write_json(args.out, results)
    console().print(table(results))
    console().print(f"results written to {args.out}")


def _ci(d: dict[str, Any]) -> str:
    interval = f"[{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}]"
    return f"{d['mean']:+.3f} {interval} ({d['won']}/{d['lost']})"


def table(results: dict[str, Any]) -> Table:
    t = Table(
        title="Variants of the served list, CSFCube dev, whole corpus: held-out nDCG@20 / MAP "
        "(4-fold CV by paper); paired vs the served setting"
    )
    for col in ("family", "held-out all", "method", "tuned all", "Δ nDCG@20", "Δ MAP", "folds"):
        t.add_column(col)
    s = results["served"]
    t.add_row(
        "served (0.2 dense + 0.8 tf-idf)",
        f"{s['all']['ndcg@20']:.3f} / {s['all']['map']:.3f}",
        f"{s['method']['ndcg@20']:.3f}",
        "",
        "",
        "",
        "",
    )
    for name, f in results["families"].items():
        h, tu, d = f["held_out"], f["tuned_scores"], f["held_out_vs_served"]
        t.add_row(
            name,
            f"{h['all']['ndcg@20']:.3f} / {h['all']['map']:.3f}",
            f"{h['method']['ndcg@20']:.3f}",
            f"{tu['all']['ndcg@20']:.3f} / {tu['all']['map']:.3f} {tuple(f['tuned'])}",
            _ci(d["ndcg@20"]),
            _ci(d["map"]),
            " ".join(str(tuple(c)) for c in f["folds"]),
        )
    return t


if __name__ == "__main__":
    main()

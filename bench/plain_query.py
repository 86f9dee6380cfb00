"""Plain-query forms for BM25 top-k (issue 16): speed on a big index, relevance on CSFCube.

A plain query (no syntax) was one flat OR of term queries (each word over title ×2.5,
abstract and authors), which tantivy prunes with block-max WAND. This script times
other forms against it on a copy of a ``scale.py`` lexical index, each query under
every form in turn in one process (best of ``--repeats`` timings per query; p50/p95 over
the phrases), at pages of 10 and of 100 (hybrid fuses the top 100), and scores the same
forms on the keyword-search set of ``search.py`` (lexical and hybrid nDCG@10 / MAP,
paired bootstrap against that form). It chose ``no_stop``, shipped on 2026-12-02.

Forms:

* ``or`` — the flat OR of every word, the plain query before 2026-12-02 (each form runs
  through ``LexicalIndex.search(query, total="none")``);
* ``and_fill`` — every word required (each word a Should over its fields, the words
  Must); a page the AND query leaves short is filled from the OR query's page (the AND
  hits first, then OR hits not among them). Timed with the fallback;
* ``and_rerun`` — the same AND query, but a short page is replaced by the OR page
  (the OR page exactly for those queries). Same cost as ``and_fill``; ranked apart;
* ``and_content`` — as ``and_fill``, but function words (:data:`STOP`) stay optional
  (Should) in the first query;
* ``no_authors`` — the flat OR over title and abstract only (an upper bound on what
  dropping author look-ups for words that are not names could save);
* ``no_stop`` — the flat OR without English function words (``of``, ``a``, ``for``…,
  ``FUNCTION_WORDS``) when the query has another word: ``LexicalIndex.search(text)``
  since 2026-12-02;
* ``no_common`` — the flat OR without words found in more than 20% of the papers
  (``doc_freq``, the largest over title and abstract), when another word is left;
* ``dismax`` — each word a ``disjunction_max_query`` over its fields (tie 0.1), the words
  Should (scores a word by its best field, not the sum);
* ``msm2`` — the flat OR with ``minimum_number_should_match=2`` (two of the term
  clauses: a word in two fields counts).

    python bench/plain_query.py --index COPY_OF/data/index/lexical \\
        --phrases /work/scale/200k/phrases.json --csf-data /tmp/csf   # ~2 min

The CSFCube data dir is built (ingest + index, int8 encoder) when it holds no database.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tantivy
from rich.table import Table

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    SHARED_DIR,
    console,
    go_offline,
    machine_info,
    make_settings,
    percentile_ms,
    read_jsonl,
    rounded,
    write_json,
)
from metrics import average_precision, mean, ndcg_at_k, paired_difference
from paperlens.index.lexical import FUNCTION_WORDS, TITLE_BOOST, LexicalIndex

QUERIES = REPO_ROOT / "bench" / "search_queries.jsonl"
LIMITS = (10, 100)
STOP = FUNCTION_WORDS
#: ``no_common``: a word in more than this share of the papers is dropped.
COMMON = 0.2
Hits = list[tuple[int, float]]
#: A form: (index, text, limit) -> (hits, whether a second query ran).
Form = Callable[[LexicalIndex, str, int], tuple[Hits, bool]]


def word_groups(
    idx: LexicalIndex, text: str, fields: tuple[str, ...] = ("title", "abstract", "authors")
) -> list[list[tantivy.Query]]:
    """Per word, its term (or phrase) queries over ``fields``, as ``_plain_query`` makes
    them (a repeated word counted once)."""
    groups: list[list[tantivy.Query]] = []
    seen: set[tuple[str, ...]] = set()
    for word in text.split():
        stems, folded = idx._stem.analyze(word), idx._fold.analyze(word)
        group: list[tantivy.Query] = []
        for field, tokens, boost in (
            ("title", stems, TITLE_BOOST),
            ("abstract", stems, 1.0),
            ("authors", folded, 1.0),
        ):
            if field not in fields or not tokens or (field, *tokens) in seen:
                continue
            seen.add((field, *tokens))
            if len(tokens) == 1:
                q = tantivy.Query.term_query(idx.schema, field, tokens[0])
            else:
                words: list[str | tuple[int, str]] = list(tokens)
                q = tantivy.Query.phrase_query(idx.schema, field, words)
            if boost != 1.0:
                q = tantivy.Query.boost_query(q, boost)
            group.append(q)
        if group:
            groups.append(group)
    return groups


def flat(groups: list[list[tantivy.Query]], msm: int | None = None) -> tantivy.Query:
    clauses = [(tantivy.Occur.Should, q) for g in groups for q in g]
    return tantivy.Query.boolean_query(clauses, msm)


def all_words(groups: list[list[tantivy.Query]]) -> tantivy.Query:
    clauses = [
        (
            tantivy.Occur.Must,
            g[0]
            if len(g) == 1
            else tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in g]),
        )
        for g in groups
    ]
    return tantivy.Query.boolean_query(clauses)


def run(idx: LexicalIndex, query: tantivy.Query, limit: int) -> Hits:
    """As ``LexicalIndex.search`` runs a query (wrapped in Must, nothing counted)."""
    return idx.search(query, limit=limit, total="none").hits


def every_word(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    """The plain query before 2026-12-02: every word, function words included."""
    groups = word_groups(idx, text)
    return (run(idx, flat(groups), limit) if groups else []), False


def shipped(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    return idx.search(text, limit=limit, total="none").hits, False


def content_words(idx: LexicalIndex, text: str) -> tantivy.Query:
    """The words Must, function words (:data:`STOP`) Should: scored as the OR query."""
    clauses = []
    for word in dict.fromkeys(text.split()):
        groups = word_groups(idx, word)
        if not groups:
            continue
        occur = tantivy.Occur.Should if word.lower() in STOP else tantivy.Occur.Must
        clauses.append((occur, all_words(groups)))
    if all(occur == tantivy.Occur.Should for occur, _ in clauses):
        clauses = [(tantivy.Occur.Must, q) for _, q in clauses]
    return tantivy.Query.boolean_query(clauses)


def and_first(fill: bool, stop: bool = False) -> Form:
    def form(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
        groups = word_groups(idx, text)
        if not groups:
            return [], False
        hits = run(idx, content_words(idx, text) if stop else all_words(groups), limit)
        if len(hits) >= limit or len(groups) == 1:
            return hits, False
        wide = run(idx, flat(groups), limit)
        if not fill:
            return wide, True
        have = {pk for pk, _ in hits}
        return (hits + [h for h in wide if h[0] not in have])[:limit], True

    return form


def no_authors(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    groups = word_groups(idx, text, ("title", "abstract"))
    return (run(idx, flat(groups), limit) if groups else []), False


def no_common(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    """Words in more than :data:`COMMON` of the papers (largest df over the fields)
    dropped when another word is left."""
    searcher = idx.index.searcher()
    n = max(1, int(searcher.num_docs))
    kept = []
    for word in text.split():
        df = max(
            [
                searcher.doc_freq(f, t)
                for f in ("title", "abstract")
                for t in idx._stem.analyze(word)
            ]
            + [0]
        )
        if df <= COMMON * n:
            kept.append(word)
    groups = word_groups(idx, " ".join(kept) if kept else text)
    return (run(idx, flat(groups), limit) if groups else []), False


def dismax(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    groups = word_groups(idx, text)
    if not groups:
        return [], False
    words = [tantivy.Query.disjunction_max_query(g, 0.1) for g in groups]
    query = tantivy.Query.boolean_query([(tantivy.Occur.Should, q) for q in words])
    return run(idx, query, limit), False


def msm2(idx: LexicalIndex, text: str, limit: int) -> tuple[Hits, bool]:
    groups = word_groups(idx, text)
    n = sum(len(g) for g in groups)
    return (run(idx, flat(groups, 2 if n > 1 else None), limit) if groups else []), False


FORMS: dict[str, Form] = {
    "or": every_word,
    "and_fill": and_first(fill=True),
    "and_rerun": and_first(fill=False),
    "and_content": and_first(fill=True, stop=True),
    "no_authors": no_authors,
    "no_stop": shipped,
    "no_common": no_common,
    "dismax": dismax,
    "msm2": msm2,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--index", type=Path, required=True, help="a COPY of a lexical index")
    parser.add_argument("--phrases", type=Path, required=True)
    parser.add_argument("--csf-data", type=Path, default=None, help="CSFCube data dir")
    parser.add_argument("--csfcube", type=Path, default=SHARED_DIR / "bench" / "csfcube-dev")
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--first", type=int, default=0, help="only the first N phrases")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "plain_query.json")
    return parser.parse_args()


def overlap(a: Hits, b: Hits, k: int) -> float:
    top = {pk for pk, _ in b[:k]}
    return len({pk for pk, _ in a[:k]} & top) / len(top) if top else 1.0


def timings(idx: LexicalIndex, phrases: list[str], forms: list[str], repeats: int) -> Any:
    """Per limit and form: p50/p95, second queries run, overlap with ``or``."""
    out: dict[str, Any] = {}
    for limit in LIMITS:
        best: dict[str, list[float]] = {f: [] for f in forms}
        fallbacks = dict.fromkeys(forms, 0)
        overlaps: dict[str, list[float]] = {f: [] for f in forms}
        same: dict[str, int] = dict.fromkeys(forms, 0)
        for i, text in enumerate(phrases):
            order = forms[i % len(forms) :] + forms[: i % len(forms)]  # rotate who goes first
            page: dict[str, Hits] = {}
            times: dict[str, float] = dict.fromkeys(forms, float("inf"))
            for _ in range(repeats):
                for f in order:
                    t0 = time.perf_counter()
                    hits, second = FORMS[f](idx, text, limit)
                    times[f] = min(times[f], time.perf_counter() - t0)
                    page[f] = hits
                    fallbacks[f] += second
            for f in forms:
                best[f].append(times[f])
                overlaps[f].append(overlap(page[f], page["or"], limit))
                same[f] += [pk for pk, _ in page[f]] == [pk for pk, _ in page["or"]]
        base = statistics.median(best["or"])
        stop = [any(w.lower() in STOP for w in p.split()) for p in phrases]
        out[str(limit)] = {
            f: {
                "p50_ms": percentile_ms(best[f], 50),
                "p95_ms": percentile_ms(best[f], 95),
                "p50_ms_with_function_word": percentile_ms(
                    [t for t, s in zip(best[f], stop, strict=True) if s], 50
                ),
                "p50_ms_without": percentile_ms(
                    [t for t, s in zip(best[f], stop, strict=True) if not s], 50
                ),
                "phrases_with_function_word": sum(stop),
                "speedup_p50": rounded(base / statistics.median(best[f]), 2),
                "second_query": fallbacks[f] // repeats,
                f"overlap@{limit}": rounded(mean(overlaps[f]), 3),
                "same_page": same[f],
            }
            for f in forms
        }
    return out


def relevance(data_dir: Path, csfcube: Path, forms: list[str]) -> Any:
    """search.py's query set per form: lexical to depth 100, the lexical page of 10 (what
    a reader sees: forms whose order depends on the page size differ there; its MAP is
    over 10 papers) and hybrid (the depth-100 lists fused as served)."""
    from paperlens.core import PaperLens
    from paperlens.filters import SearchFilters
    from paperlens.search.engine import FUSION_DEPTH, HYBRID_RRF_K
    from paperlens.search.fusion import reciprocal_rank_fusion
    from quality import ingest_corpus, load_bench

    queries = read_jsonl(QUERIES)
    if not (data_dir / "paperlens.db").exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        ingest_corpus(data_dir, load_bench(csfcube), 256)
    pl = PaperLens(make_settings(data_dir, 256, encoder_backend="onnx-int8"))
    try:
        pl.index()
        ids = {sp.pk: sp.paper.id for b in pl.papers.changed_since(0) for sp in b}
        per: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for q in queries:
            vector = pl.retriever.embed_query(q["query"])
            dense = [pk for pk, _ in pl.retriever.dense(vector, SearchFilters(), FUSION_DEPTH)]
            for f in forms:
                lex = [pk for pk, _ in FORMS[f](pl.lexical, q["query"], FUSION_DEPTH)[0]]
                page = [pk for pk, _ in FORMS[f](pl.lexical, q["query"], 10)[0]]
                fused = [pk for pk, _ in reciprocal_rank_fusion([lex, dense], k=HYBRID_RRF_K)]
                for mode, ranking in (
                    ("lexical", lex),
                    ("lexical page of 10", page),
                    ("hybrid", fused),
                ):
                    ranked = [ids[pk] for pk in ranking]
                    per.setdefault(mode, {}).setdefault(f, {})[q["qid"]] = {
                        "ndcg@10": ndcg_at_k(ranked, q["judgments"], 10),
                        "map": average_precision(ranked, q["judgments"]),
                    }
    finally:
        pl.close()
    qids = [q["qid"] for q in queries]
    return {
        mode: {
            f: {
                m: {
                    "mean": rounded(mean([scores[f][q][m] for q in qids])),
                    "vs_or": paired_difference(
                        [scores["or"][q][m] for q in qids], [scores[f][q][m] for q in qids]
                    ),
                }
                for m in ("ndcg@10", "map")
            }
            for f in forms
        }
        for mode, scores in per.items()
    }


def main() -> None:
    args = parse_args()
    go_offline()
    forms = [f for f in args.forms.split(",") if f]
    if forms[0] != "or":
        forms = ["or", *[f for f in forms if f != "or"]]
    phrases: list[str] = json.loads(args.phrases.read_text(encoding="utf-8"))
    phrases = phrases[: args.first] if args.first else phrases
    idx = LexicalIndex(args.index)
    for text in phrases[: args.warmup]:
        for f in forms:
            FORMS[f](idx, text, 100)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "benchmark": "plain-query forms for BM25 top-k: latency on a scale.py index, relevance",
        "machine": machine_info(),
        "index_docs": idx.num_docs(),
        "phrases": len(phrases),
        "repeats": args.repeats,
        "load_before": list(__import__("os").getloadavg()),
        "latency": timings(idx, phrases, forms, args.repeats),
    }
    results["load_after_timing"] = list(__import__("os").getloadavg())
    results["timing_seconds"] = rounded(time.perf_counter() - started, 1)
    write_json(args.out, results)
    out = console()
    for limit, rows in results["latency"].items():
        table = Table(title=f"{results['index_docs']:,} papers, page of {limit}")
        cols = ("form", "p50 ms", "p95 ms", "×p50 vs or", "p50 w/ / w/o fn word", "2nd query")
        for col in (*cols, "overlap", "same"):
            table.add_column(col, justify="left" if col == "form" else "right")
        for f, r in rows.items():
            table.add_row(
                f,
                f"{r['p50_ms']:.2f}",
                f"{r['p95_ms']:.2f}",
                f"{r['speedup_p50']:.2f}",
                f"{r['p50_ms_with_function_word']:.2f} / {r['p50_ms_without']:.2f}",
                str(r["second_query"]),
                f"{r[f'overlap@{limit}']:.3f}",
                str(r["same_page"]),
            )
        out.print(table)
    if args.csf_data is not None:
        results["relevance"] = relevance(args.csf_data, args.csfcube, forms)
        write_json(args.out, results)
        table = Table(title="search.py queries: nDCG@10 / MAP, Δ vs or [95% CI] (won/lost)")
        for col in ("mode", "form", "nDCG@10", "MAP", "ΔnDCG@10", "ΔMAP"):
            table.add_column(col, justify="left" if col in ("mode", "form") else "right")
        for mode, rows in results["relevance"].items():
            for f, r in rows.items():
                deltas = [
                    f"{d['mean']:+.3f} [{d['ci95_low']:+.3f}, {d['ci95_high']:+.3f}] "
                    f"({d['won']}/{d['lost']})"
                    for d in (r["ndcg@10"]["vs_or"], r["map"]["vs_or"])
                ]
                table.add_row(
                    mode, f, f"{r['ndcg@10']['mean']:.3f}", f"{r['map']['mean']:.3f}", *deltas
                )
        out.print(table)
    out.print(f"results written to {args.out}")


if __name__ == "__main__":
    main()

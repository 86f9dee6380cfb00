"""Which sentence of an abstract to show as its one-line extract.

There is no reference summary for most papers, so this measures agreement with the one
short human-written summary every paper has: its **title**. For each abstract every
method picks one sentence; the score is ROUGE-1 F1 and ROUGE-L F1 (stop words kept,
lower-cased words) between that sentence and the title, averaged. ``oracle`` is the
best sentence per abstract by ROUGE-1 (the ceiling of any one-sentence choice), and
``hit@oracle`` how often a method picked that same sentence.

The papers are the bundled arXiv snapshot sample (2,000 records, 2007), not the
1,000-abstract sample the tf-idf weights come from. Run:

    python bench/summaries.py [--limit N]

Results: bench/README.md ("Extract sentence").
"""

from __future__ import annotations

import argparse
import gzip
from importlib import resources

import orjson

from paperlens.summaries import score_sentences, sentences, words

METHODS = ("lead", "centroid", "cue-centroid", "cue-lead")


def rouge1(a: list[str], b: list[str]) -> float:
    from collections import Counter

    ca, cb = Counter(a), Counter(b)
    overlap = sum((ca & cb).values())
    if not overlap:
        return 0.0
    p, r = overlap / len(a), overlap / len(b)
    return 2 * p * r / (p + r)


def rouge_l(a: list[str], b: list[str]) -> float:
    if not a or not b:
        return 0.0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if not lcs:
        return 0.0
    p, r = lcs / len(a), lcs / len(b)
    return 2 * p * r / (p + r)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument(
        "--sample",
        default="arxiv-snapshot-sample.jsonl.gz",
        help="a bundled sample: arxiv-snapshot-sample.jsonl.gz (2007, mostly physics) or "
        "ml-abstracts-1000.jsonl.gz (recent ML; also the tf-idf weights' source)",
    )
    args = parser.parse_args()
    sample = resources.files("paperlens") / "sample" / args.sample
    records = []
    with sample.open("rb") as raw, gzip.open(raw) as lines:
        for line in lines:
            r = orjson.loads(line)
            if len(sentences(r["abstract"])) >= 3:
                records.append(r)
    if args.limit:
        records = records[: args.limit]
    totals = {m: [0.0, 0.0, 0] for m in (*METHODS, "oracle")}
    for r in records:
        title = words(r["title"])
        sents = sentences(r["abstract"])
        r1 = [rouge1(words(s), title) for s in sents]
        best = max(range(len(sents)), key=lambda i: r1[i])
        picks = {"oracle": best}
        for m in METHODS:
            scored = score_sentences(r["abstract"], m)
            picks[m] = max(range(len(scored)), key=lambda i: (scored[i][0], -i))
        for m, i in picks.items():
            totals[m][0] += r1[i]
            totals[m][1] += rouge_l(words(sents[i]), title)
            totals[m][2] += i == best
    n = len(records)
    print(f"{n} abstracts with 3 or more sentences")
    print("| method | ROUGE-1 F1 vs title | ROUGE-L F1 vs title | hit@oracle |")
    print("|---|---|---|---|")
    for m, (a, b, hits) in totals.items():
        print(f"| {m} | {a / n:.3f} | {b / n:.3f} | {hits / n:.1%} |")


if __name__ == "__main__":
    main()

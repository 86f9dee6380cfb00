"""A one-sentence extract and key phrases of an abstract, for papers Hugging Face gave
no AI summary or keywords for.

Both are *extractive*: the sentence is one of the abstract's own sentences and the
phrases are words of the abstract, so pages label them "Extract" / "Key phrases",
never as AI output.

- :func:`extract_sentence` picks, by default (``cue-lead``), the first sentence with a
  contribution cue ("we propose", "we introduce", "this paper", ...), else the first
  sentence. ``bench/summaries.py`` compares it with the lead sentence and tf-idf
  centroid selection by ROUGE against titles: it agrees best on recent ML abstracts
  and is second to the lead sentence on 2007 physics; figures in bench/README.md.
- :func:`key_phrases` scores candidate phrases (runs of non-stop words, 1-3 words) by
  tf-idf, with document frequencies from the bundled 1,000-abstract sample
  (``paperlens/sample/ml-abstracts-1000.jsonl.gz``), read once.
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from importlib import resources

import orjson

from paperlens.text import strip_latex

_ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "cf.", "Fig.", "Eq.", "resp.", "approx.")
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
#: URLs and scheme-like tokens (``https://...``, ``github.com/x``, ``javascript:x``):
#: never key phrases.
_URLISH = re.compile(r"\S*(?:://|www\.|\.(?:com|org|io|net|ai|co)\b|[a-z]+:\S)\S*", re.I)
_STOP_WORDS = """
    see nothing code codes available release released github project page website
    a an the and or but if then of in on for to from by with without within into onto
    over under between among across through via as at is are was were be been being
    this that these those it its we our us they their them he she his her you your i my
    can could may might must should would will shall do does did done has have had
    having not no nor so such than too very also more most less least much many few
    each every any all both either neither which who whom whose what when where why how
    while whereas although though however thus therefore hence moreover furthermore
    further first second third one two three new novel propose proposed proposes
    present presents presented show shows shown demonstrate demonstrates introduce
    introduces based using use used uses paper work approach method methods results
    result study task tasks problem problems achieve achieves state-of-the-art existing
    different various well large significant significantly experiments experimental
    performance model models data et al only other often recently including include
    includes effective efficient
"""
STOP = frozenset(_STOP_WORDS.split())
CUES = (
    "we propose",
    "we introduce",
    "we present",
    "this paper",
    "we develop",
    "here we",
    "in this work",
    "we show",
)
#: Bonus for a contribution cue and penalty for the opening sentence (see bench/summaries.py).
CUE_BONUS = 0.15
LEAD_PENALTY = 0.05
MAX_SENTENCE_CHARS = 400


def sentences(text: str) -> list[str]:
    """The abstract's sentences (abbreviations like "e.g." and "et al." do not end one)."""
    plain = strip_latex(text).strip()
    if not plain:
        return []
    protected = plain
    for i, abbr in enumerate(_ABBREVIATIONS):
        protected = protected.replace(abbr, abbr.replace(".", f"\x00{i}\x00"))
    parts = _SPLIT.split(protected)
    out = []
    for part in parts:
        for i, abbr in enumerate(_ABBREVIATIONS):
            part = part.replace(abbr.replace(".", f"\x00{i}\x00"), abbr)
        part = part.strip()
        if part:
            out.append(part)
    return out


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@cache
def _document_frequencies() -> tuple[Counter[str], int]:
    counts: Counter[str] = Counter()
    docs = 0
    sample = resources.files("paperlens") / "sample" / "ml-abstracts-1000.jsonl.gz"
    with sample.open("rb") as raw, gzip.open(raw) as lines:
        for line in lines:
            record = orjson.loads(line)
            counts.update(set(words(f"{record.get('title', '')} {record.get('abstract', '')}")))
            docs += 1
    return counts, docs


def idf(word: str) -> float:
    counts, docs = _document_frequencies()
    return math.log((docs + 1) / (counts.get(word, 0) + 1)) + 1.0


def _vector(tokens: Sequence[str]) -> dict[str, float]:
    tf = Counter(t for t in tokens if t not in STOP and len(t) > 1)
    return {t: n * idf(t) for t, n in tf.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def score_sentences(abstract: str, method: str = "cue-lead") -> list[tuple[float, str]]:
    """Each sentence with its score under ``method``: ``cue-lead`` (the default),
    ``lead``, ``centroid`` or ``cue-centroid``."""
    found = sentences(abstract)
    if method == "lead":
        return [(1.0 if i == 0 else 0.0, s) for i, s in enumerate(found)]
    if method == "cue-lead":
        cued = [i for i, s in enumerate(found) if any(c in s.lower() for c in CUES)]
        pick = cued[0] if cued else 0
        return [(1.0 if i == pick else 0.0, s) for i, s in enumerate(found)]
    whole = _vector(words(abstract))
    scored = []
    for i, s in enumerate(found):
        score = _cosine(_vector(words(s)), whole)
        if method == "cue-centroid":
            low = s.lower()
            if any(cue in low for cue in CUES):
                score += CUE_BONUS
            if i == 0 and len(found) > 2:
                score -= LEAD_PENALTY
        if len(s) > MAX_SENTENCE_CHARS:
            score -= 1.0  # a run-on "sentence" (lists, bad splitting) is no summary
        scored.append((score, s))
    return scored


def extract_sentence(abstract: str, method: str = "cue-lead") -> str | None:
    """The abstract's most representative sentence (None for an empty abstract)."""
    scored = score_sentences(abstract, method)
    if not scored:
        return None
    best = max(range(len(scored)), key=lambda i: (scored[i][0], -i))
    return scored[best][1]


def key_phrases(title: str, abstract: str, k: int = 6) -> list[str]:
    """Up to ``k`` key phrases of the paper (1-3 words), best first, none contained in
    a better one."""
    text = _URLISH.sub(" ", strip_latex(f"{title}. {abstract}"))
    candidates: Counter[str] = Counter()
    for chunk in re.split(r"[.,;:!?()\[\]{}\"']", text):
        run: list[str] = []
        for w in [*words(chunk), ""]:
            if w and w not in STOP and len(w) > 2 and not w.isdigit():
                run.append(w)
                continue
            for n in (1, 2, 3):
                for i in range(len(run) - n + 1):
                    candidates[" ".join(run[i : i + n])] += 1
            run = []
    title_words = set(words(title))
    scored: list[tuple[float, str]] = []
    for phrase, tf in candidates.items():
        parts = phrase.split()
        weight = sum(idf(p) for p in parts) / len(parts) * (1 + 0.5 * (len(parts) - 1))
        bonus = 1.5 if all(p in title_words for p in parts) else 1.0
        scored.append((tf * weight * bonus, phrase))
    scored.sort(key=lambda x: (-x[0], x[1]))
    chosen: list[str] = []
    for _score, phrase in scored:
        if any(phrase in c or c in phrase for c in chosen):
            continue
        chosen.append(phrase)
        if len(chosen) == k:
            break
    return chosen

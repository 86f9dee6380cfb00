"""Split an abstract into sentences and label each with its rhetorical role.

Roles: ``background``, ``objective``, ``method``, ``result``. The labeler is rules, not
a trained model: cue phrases weighted by hand, plus the sentence's position in the
abstract (abstracts run background -> objective -> method -> result), smoothed so that a
role, once left, is seldom taken up again. Its accuracy on a hand-labelled sample is in
bench/README.md ("Rhetorical roles"); ``bench/facets.py --labeler`` measures it.

Invariants the sentence index relies on:

- :func:`split_sentences` is deterministic: the same abstract always gives the same
  sentences in the same order, so the index stores only vectors and roles, and the
  sentence text is split again from the stored abstract when shown.
- LaTeX is stripped first (:func:`paperlens.text.strip_latex`), as for embeddings.
- Every abstract with any text gives at least one sentence.

Facets (what a reader asks for) map onto roles: ``background`` = background + objective
(CSFCube's convention), ``method`` = method, ``result`` = result.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Final, Literal

from paperlens.text import normalise_whitespace, strip_latex

Role = Literal["background", "objective", "method", "result"]
Facet = Literal["background", "method", "result"]

ROLES: Final[tuple[Role, ...]] = ("background", "objective", "method", "result")
FACETS: Final[tuple[Facet, ...]] = ("background", "method", "result")
#: The roles whose sentences stand for each facet.
FACET_ROLES: Final[dict[Facet, frozenset[Role]]] = {
    "background": frozenset({"background", "objective"}),
    "method": frozenset({"method"}),
    "result": frozenset({"result"}),
}
#: Sentences longer than this are cut (a run-on abstract without full stops).
MAX_SENTENCE_CHARS = 600
#: Fragments shorter than this join the sentence before them ("(ii)", "Fig. 2.").
MIN_SENTENCE_CHARS = 25

# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = (
    "e.g",
    "i.e",
    "et al",
    "vs",
    "cf",
    "fig",
    "figs",
    "eq",
    "eqs",
    "sec",
    "ref",
    "refs",
    "approx",
    "resp",
    "no",
    "dr",
    "prof",
    "st",
    "al",
)
_ABBREV_RE = re.compile(r"(?:\b(?:" + "|".join(re.escape(a) for a in _ABBREVIATIONS) + r"))$", re.I)
# A candidate break: end punctuation, optional closing quote/bracket, whitespace, then
# something that can start a sentence.
_BREAK_RE = re.compile(r"([.!?])([\"')\]]*)\s+(?=[A-Z0-9(\[\"'])")


def split_sentences(abstract: str) -> list[str]:
    """The abstract's sentences, LaTeX stripped and whitespace normalised."""
    return list(_split(abstract))


@functools.lru_cache(maxsize=4096)  # a paper page splits its neighbours' abstracts again
def _split(abstract: str) -> tuple[str, ...]:
    text = normalise_whitespace(strip_latex(abstract))
    if not text:
        return ()
    pieces: list[str] = []
    start = 0
    for m in _BREAK_RE.finditer(text):
        end = m.end(2)
        before = text[start : m.start(1)]
        # "e.g. Foo", "et al. 2020", a single capital ("J. Smith") or a number ("Sec. 3.")
        abbreviated = _ABBREV_RE.search(before) and not re.search(r"\b[A-Z]{2,}$", before)
        if m.group(1) == "." and (abbreviated or re.search(r"\b[A-Z]$", before)):
            continue
        pieces.append(text[start:end].strip())
        start = m.end()
    pieces.append(text[start:].strip())
    sentences: list[str] = []
    for piece in pieces:
        if not piece:
            continue
        if sentences and len(piece) < MIN_SENTENCE_CHARS:
            sentences[-1] = f"{sentences[-1]} {piece}"
        else:
            sentences.append(piece)
    if len(sentences) > 1 and len(sentences[0]) < MIN_SENTENCE_CHARS:
        sentences[1] = f"{sentences[0]} {sentences[1]}"
        del sentences[0]
    return tuple(s[:MAX_SENTENCE_CHARS] for s in sentences)


# Cue phrases: (pattern, role, weight). Matched case-insensitively anywhere in a sentence;
# weights add up per role. Written while reading the labelled sample's tuning half.
_CUES: Final[tuple[tuple[str, Role, float], ...]] = (
    # result
    (
        r"\b(?:results?|experiments?|experimental(?:ly)?|empirical(?:ly)?|evaluations?)\b.{0,60}"
        r"\b(?:show|demonstrate|indicate|suggest|reveal|confirm|verify)",
        "result",
        3.0,
    ),
    (
        r"\b(?:we|our \w+) (?:show|demonstrate|find|observe|found|report|obtain|achieve)",
        "result",
        1.5,
    ),
    (
        r"\boutperform|\bsurpass|\bstate[- ]of[- ]the[- ]art (?:results|performance|accuracy)",
        "result",
        2.5,
    ),
    (
        r"\b(?:achiev|improv|reduc|increas|boost)\w* .{0,40}(?:\d+(?:\.\d+)? ?%|\d+x|by \d)",
        "result",
        2.5,
    ),
    (r"\bsignificant(?:ly)? (?:better|improv|outperform|faster|higher|lower)", "result", 2.5),
    (
        r"\b(?:competitive|comparable|superior|favorabl[ey]|better) "
        r"(?:performance|results|accuracy)",
        "result",
        2.0,
    ),
    (r"\b(?:on|across) (?:\w+ ){0,4}(?:benchmarks?|datasets?|tasks)\b", "result", 1.0),
    (r"\bexperiments? (?:on|with)\b", "result", 1.5),
    (r"\b(?:ablation|empirically|extensive experiments|evaluated? (?:on|it|our))", "result", 1.5),
    (
        r"\bcode (?:is|and \w+ (?:are|is)) (?:publicly )?(?:available|released)|github\.com",
        "result",
        2.0,
    ),
    (r"\bfindings?\b|\bwe conclude|\bin conclusion|\bthis (?:suggests|indicates)", "result", 1.5),
    (r"\bresults? (?:in|show)|\bleads? to (?:a |an )?(?:\w+ )?(?:improvement|gain)", "result", 1.0),
    # method
    (
        r"\b(?:we|this paper|this work|the paper) (?:also |then |further |first )?"
        r"(?:propose|present|introduce|develop|design|describe|formulate|devise|build|construct)",
        "method",
        3.0,
    ),
    (
        r"\b(?:employs|uses|leverages|adopts|integrates|combines|consists|learns|encodes|computes|"
        r"optimi[sz]es|exploits|extracts|aggregates|captures)\b",
        "method",
        1.5,
    ),
    (
        r"\b(?:our|the proposed) (?:method|approach|model|framework|algorithm|system|technique|"
        r"architecture)",
        "method",
        1.0,
    ),
    (
        r"\b(?:we|it) (?:also |then |first )?(?:use|employ|leverage|adopt|train|apply|"
        r"combine|extend|model|exploit|incorporate|utili[sz]e|learn|compute|derive|define|represent|encode|augment|"
        r"optimi[sz]e|extract|integrate)",
        "method",
        2.0,
    ),
    (
        r"\b(?:consists? of|composed of|is based on|based on|relies on|by (?:using|combining|"
        r"introducing|leveraging|learning|training|modeling|exploiting))",
        "method",
        1.5,
    ),
    (
        r"\b(?:specifically|concretely|in particular|to this end|to do so|to address|to tackle|"
        r"to achieve this|to overcome)\b",
        "method",
        1.5,
    ),
    (
        r"\b(?:module|encoder|decoder|loss|objective function|regulari[sz]|attention|layer|"
        r"graph|network|pipeline|algorithm|procedure|architecture|mechanism|strategy)\b",
        "method",
        0.5,
    ),
    (
        r"\b(?:first|then|finally|next|moreover|additionally|furthermore),? (?:we|the|a|an|it)\b",
        "method",
        1.0,
    ),
    (
        r"\b(?:key idea|main idea|idea is|intuition|inspired by|we cast|we frame|we treat|"
        r"we reformulate)",
        "method",
        2.0,
    ),
    # objective
    (
        r"\b(?:in this (?:paper|work|study|article)|this (?:paper|work|study|article))\b.{0,40}"
        r"\b(?:investigat|stud|explor|examin|address|focus|consider|tackl|aim|analy[sz])",
        "objective",
        3.0,
    ),
    (
        r"\b(?:we|this paper|this work) (?:investigate|study|explore|examine|address|focus on|"
        r"consider|tackle|aim|ask|seek|analy[sz]e)",
        "objective",
        2.5,
    ),
    (
        r"\b(?:the (?:goal|aim|purpose|objective) of|our (?:goal|aim|objective) is)",
        "objective",
        3.0,
    ),
    (r"\bin this (?:paper|work|study|article)\b", "objective", 0.5),
    # background
    (
        r"\b(?:has|have) (?:been|become|shown|attracted|gained|received|emerged|achieved|made)",
        "background",
        2.0,
    ),
    (
        r"\b(?:recent(?:ly)?|existing|previous|prior|traditional|conventional|current|"
        r"most|many|popular|widely)\b",
        "background",
        1.0,
    ),
    (
        r"\b(?:however|unfortunately|despite|although|yet|remains?|challeng\w*|limited|"
        r"suffer|difficult|struggle|lack|bottleneck|costly|expensive)\b",
        "background",
        1.2,
    ),
    (
        r"\b(?:is|are) (?:a|an|the) (?:\w+ ){0,3}(?:problem|task|challenge|paradigm|technique|"
        r"approach|tool|area|field)\b",
        "background",
        1.5,
    ),
    (r"\b(?:is|are) (?:widely|commonly|increasingly|often|typically|usually) ", "background", 2.0),
    (
        r"\b(?:plays? an? (?:important|crucial|key|central|vital) role|is (?:crucial|essential|"
        r"important|fundamental|critical))",
        "background",
        2.0,
    ),
    (
        r"\b(?:little|few) (?:work|attention|research|is known)|open (?:problem|question)",
        "background",
        2.0,
    ),
)
_CUE_RES = tuple((re.compile(p, re.I), role, w) for p, role, w in _CUES)

# Prior by relative position (0 = first sentence, 1 = last): background opens, results
# close, method and objective sit between.
_POSITION_PRIOR: Final[dict[Role, tuple[float, float, float]]] = {
    # role: (weight at start, middle, end)
    "background": (2.0, 0.2, -1.0),
    "objective": (0.3, 0.4, -1.0),
    "method": (-1.0, 1.0, 0.0),
    "result": (-2.0, 0.0, 1.6),
}
#: Cost of going back to an earlier role in the smoothing pass (background after method).
_BACKTRACK = 1.2


def _prior(role: Role, pos: float) -> float:
    start, middle, end = _POSITION_PRIOR[role]
    if pos <= 0.5:
        return start + (middle - start) * pos * 2
    return middle + (end - middle) * (pos - 0.5) * 2


def role_scores(sentence: str, index: int, count: int) -> dict[Role, float]:
    """Each role's score for the sentence at ``index`` of ``count`` (higher = likelier)."""
    pos = index / (count - 1) if count > 1 else 0.0
    scores: dict[Role, float] = {r: _prior(r, pos) for r in ROLES}
    for pattern, role, weight in _CUE_RES:
        if pattern.search(sentence):
            scores[role] += weight
    return scores


def label_sentences(sentences: Sequence[str]) -> list[Role]:
    """The role of each sentence of one abstract: cue and position scores, then a
    Viterbi pass that charges for moving back to an earlier role."""
    n = len(sentences)
    if n == 0:
        return []
    scores = [role_scores(s, i, n) for i, s in enumerate(sentences)]
    order = {r: i for i, r in enumerate(ROLES)}
    best: list[dict[Role, float]] = [dict(scores[0])]
    back: list[dict[Role, Role]] = [{}]
    for i in range(1, n):
        row: dict[Role, float] = {}
        ptr: dict[Role, Role] = {}
        for r in ROLES:
            prev_role = max(
                ROLES,
                key=lambda p: best[i - 1][p] - (_BACKTRACK if order[p] > order[r] else 0.0),
            )
            cost = _BACKTRACK if order[prev_role] > order[r] else 0.0
            row[r] = best[i - 1][prev_role] - cost + scores[i][r]
            ptr[r] = prev_role
        best.append(row)
        back.append(ptr)
    last: Role = max(ROLES, key=lambda r: best[-1][r])
    path = [last]
    for i in range(n - 1, 0, -1):
        last = back[i][last]
        path.append(last)
    return path[::-1]


def facet_of(role: Role) -> Facet:
    return "background" if role in ("background", "objective") else role  # type: ignore[return-value]


def label_abstract(abstract: str) -> list[tuple[str, Role]]:
    """``(sentence, role)`` for each sentence of ``abstract``."""
    sentences = split_sentences(abstract)
    return list(zip(sentences, label_sentences(sentences), strict=True))

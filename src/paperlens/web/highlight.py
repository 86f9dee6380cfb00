"""Query-term highlighting and abstract snippets, safe for HTML.

The text is split at matches *before* anything is escaped, every piece is escaped on
its own, and only then are the escaped matches wrapped in ``<mark>``: a term can never
match inside an entity such as ``&amp;``, and nothing from a paper reaches the page
unescaped. Matches inside ``$...$`` math are left alone so KaTeX can still render it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

#: Words of the query syntax, not terms to look for.
_SYNTAX_WORDS = {"and", "or", "not", "title", "abstract", "authors"}
_WORD = re.compile(r"\w+", re.UNICODE)
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", re.DOTALL)
#: Suffixes dropped so ``networks`` also marks ``network`` and ``networking``.
_SUFFIXES = ("ings", "ing", "ies", "es", "ed", "s")
MAX_TERMS = 32
MIN_TERM = 2


def stem(word: str) -> str:
    """A crude English stem: long enough to stay specific, short enough to catch
    plural and verb forms (the index stems properly; this only decides what to mark)."""
    w = word.lower()
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


def query_terms(query: str) -> list[str]:
    """The words of a query worth marking, stemmed, without duplicates or syntax."""
    terms: list[str] = []
    for word in _WORD.findall(query):
        if len(word) < MIN_TERM or word.lower() in _SYNTAX_WORDS:
            continue
        s = stem(word)
        if s not in terms:
            terms.append(s)
    return terms[:MAX_TERMS]


def _pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})\w*", re.IGNORECASE | re.UNICODE)


def _math_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _MATH.finditer(text)]


def _inside(spans: Iterable[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def highlight(text: str, terms: Sequence[str]) -> Markup:
    """``text`` escaped for HTML, with whole words starting with a term in ``<mark>``."""
    pattern = _pattern(terms)
    if pattern is None:
        return escape(text)
    math = _math_spans(text)
    out: list[Markup] = []
    last = 0
    for m in pattern.finditer(text):
        if _inside(math, m.start(), m.end()):
            continue
        out.append(escape(text[last : m.start()]))
        out.append(Markup("<mark>{}</mark>").format(escape(m.group(0))))
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def snippet(text: str, terms: Sequence[str], width: int = 280) -> str:
    """At most about ``width`` characters of ``text`` around its first match (or its
    start), cut at spaces and never inside math, with ``…`` where text was cut."""
    if len(text) <= width:
        return text
    pattern = _pattern(terms)
    first = pattern.search(text) if pattern else None
    start = 0
    if first is not None and first.start() > width // 3:
        start = first.start() - width // 3
    end = min(len(text), start + width)
    for s, e in _math_spans(text):
        if s < start < e:
            start = s
        if s < end < e:
            end = e if e - start <= width * 2 else s
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < start + 30 else start
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return f"{prefix}{text[start:end].strip()}{suffix}"

"""Citations of papers in the three formats reference managers import: BibTeX (LaTeX,
Zotero, JabRef), RIS (EndNote, Mendeley, Zotero) and CSL-JSON (Zotero, Pandoc,
citeproc). One module formats them all; the paper page, the API, collection exports and
``paperlens cite`` call :func:`render`.

Invariants (the tests parse every output back with real parsers: bibtexparser and
pybtex, rispy, citeproc-py and the CSL-JSON schema):

- **BibTeX** never breaks the file, whatever a title or name holds. ``& % # _ $`` are
  escaped outside math, math (``$...$``, ``\\(...\\)``) and LaTeX commands are kept,
  every brace BibTeX would pair wrongly becomes a command that draws it, and words
  whose capitals a style must not lower-case (``LoRA``, ``BERT``, ``GPT``; in a
  sentence-case title every capitalised word after the first) are wrapped in braces.
  The writer is this module's own: no BibTeX library escapes this way (pylatexenc
  would escape the ``$`` of math and the backslash of ``\\emph``), and the format
  around the values is a few lines. Text stays UTF-8, which biber, bibtexparser and
  Zotero read.
- **RIS** is written by ``rispy``; every value is one line (the record is normalised).
- **CSL-JSON** follows the CSL 1.0.2 input schema; an arXiv preprint is an
  ``article`` (CSL's type for preprints), a paper with a journal reference an
  ``article-journal``.
- Each paper gets the same key in all three formats (``cite_key``: first author's
  family name, year, first long title word), unique within one export.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import rispy
from rispy.writer import RisWriter

from paperlens.arxiv_ids import abs_url, is_arxiv_id
from paperlens.paper import Paper

CiteFormat = Literal["bibtex", "ris", "csl-json"]


@dataclass(frozen=True, slots=True)
class FormatInfo:
    name: CiteFormat
    label: str
    extension: str
    media_type: str


FORMATS: dict[str, FormatInfo] = {
    "bibtex": FormatInfo("bibtex", "BibTeX", "bib", "application/x-bibtex; charset=utf-8"),
    "ris": FormatInfo("ris", "RIS", "ris", "application/x-research-info-systems; charset=utf-8"),
    "csl-json": FormatInfo(
        "csl-json", "CSL-JSON", "json", "application/vnd.citationstyles.csl+json; charset=utf-8"
    ),
}
#: File extensions of the per-paper downloads (``/paper/{id}/cite.bib``).
BY_EXTENSION: dict[str, FormatInfo] = {f.extension: f for f in FORMATS.values()}


def cite_format(raw: str) -> CiteFormat:
    """``raw`` as a format name; ``ValueError`` naming the choices otherwise."""
    found = FORMATS.get(raw.strip().lower())
    if found is None:
        raise ValueError(f"format must be bibtex, ris or csl-json, not {raw[:40]!r}")
    return found.name


def render(papers: Iterable[Paper], fmt: CiteFormat) -> str:
    """``papers`` in ``fmt`` as text (CSL-JSON: a JSON array)."""
    listed = list(papers)
    if fmt == "bibtex":
        return bibtex(listed)
    if fmt == "ris":
        return ris(listed)
    return orjson.dumps(csl_json(listed), option=orjson.OPT_INDENT_2).decode() + "\n"


# -- names --------------------------------------------------------------------------------

_PARTICLES = {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "le", "la"}
_SUFFIXES = {"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"}
_CORPORATE = re.compile(r"\b(collaboration|consortium|team|group|project|committee)\b", re.I)


@dataclass(frozen=True, slots=True)
class Name:
    """A person's name split for citations; ``literal`` for an organisation or a name
    that cannot be split (it is then kept whole)."""

    given: str = ""
    family: str = ""
    suffix: str = ""
    literal: str = ""


def split_name(name: str) -> Name:
    """``"Ada Lovelace"`` -> given ``Ada``, family ``Lovelace``; ``"Lovelace, Ada"`` too;
    lower-case particles (``van der``) and suffixes (``Jr.``) go where CSL puts them."""
    name = " ".join(name.split())
    if not name or _CORPORATE.search(name) or name.count(",") > 2:
        return Name(literal=name)
    if "," in name:
        family, _, rest = name.partition(",")
        given, _, suffix = rest.partition(",")
        return Name(given.strip(), family.strip(), suffix.strip())
    words = name.split()
    suffix = ""
    if len(words) > 2 and words[-1].lower() in _SUFFIXES:
        suffix = words.pop()
    if len(words) == 1:
        return Name(family=words[0], suffix=suffix)
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in _PARTICLES:
        start -= 1
    return Name(" ".join(words[:start]), " ".join(words[start:]), suffix)


def _outside_url(p: Paper, keys: Sequence[str] = ("abs", "url")) -> str | None:
    """The first of the paper's ``keys`` links that is http(s): a source may give any
    ``url`` (``javascript:...``), which must not reach a reference manager as a link."""
    for key in keys:
        url = p.links.get(key, "")
        if url.lower().startswith(("https://", "http://")) and not _CONTROL.search(url):
            return url
    return None


# -- keys ---------------------------------------------------------------------------------


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def cite_key(p: Paper, taken: set[str]) -> str:
    """``lovelace2021lora``: unique within ``taken`` (which it extends)."""
    first = split_name(p.authors[0]) if p.authors else Name()
    # An organisation is keyed by its first word that is not an article ("ATLAS").
    words = [w for w in first.literal.split() if w.lower() not in ("the", "a")]
    last = _ascii_word(first.family or (words[0] if words else ""))
    year = str(p.published.year) if p.published else ""
    words = [w for w in (_ascii_word(w) for w in p.title.split()) if len(w) > 3]
    base = f"{last or 'anon'}{year}{words[0] if words else ''}" or "paper"
    key, n = base, 0
    while key in taken:
        n += 1
        key = f"{base}{chr(ord('a') + n - 1) if n <= 26 else n}"
    taken.add(key)
    return key


def keyed(papers: Sequence[Paper]) -> list[tuple[str, Paper]]:
    taken: set[str] = set()
    return [(cite_key(p, taken), p) for p in papers]


# -- BibTeX -------------------------------------------------------------------------------

_MATH = re.compile(r"(\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\])", re.S)
_SPECIAL = re.compile(r"(?<!\\)([&%#_$])")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: TeX primitives and macros that read or write files, run code or redefine things: a
#: hostile title holding one would act when the reader's LaTeX compiles the
#: bibliography (``\input{/etc/passwd}`` prints a local file into their PDF). Their
#: backslash is drawn instead; ``^^5c`` (TeX's spelling of a backslash) is broken too.
_UNSAFE_COMMAND = re.compile(
    r"\\(?=(?:input|include|includeonly|InputIfFileExists|IfFileExists|openin|openout|"
    r"closein|closeout|read|readline|write|immediate|message|catcode|def|edef|gdef|xdef|"
    r"let|futurelet|csname|expandafter|special|directlua|latelua|usepackage|"
    r"RequirePackage|newcommand|renewcommand|providecommand|newenvironment|"
    r"renewenvironment|makeatletter|lstinputlisting|verbatiminput|shipout|output|"
    r"everypar|everymath|jobname|pdffilesize|pdffiledump|pdfshellescape)(?![A-Za-z]))"
)
_HATS = re.compile(r"\^(?=\^)")


def bibtex_escape(text: str) -> str:
    """``text`` safe inside a braced BibTeX field: ``& % # _ $`` escaped outside math,
    ``~ ^`` spelt out, math (``$...$``) and LaTeX commands kept (but those of
    :data:`_UNSAFE_COMMAND`, which lose their backslash), and every brace that
    has no partner made a command (``\\textbraceleft{}`` in text, ``\\lbrace{}`` in
    math). BibTeX pairs braces whether or not a backslash precedes them, so ``\\{``
    does not hide one; an unpaired brace would end the field early or swallow the rest
    of the file."""
    parts: list[tuple[str, bool]] = []  # (text, is math)
    for n, part in enumerate(_MATH.split(" ".join(_CONTROL.sub("", text).split()))):
        if n % 2:
            part = _HATS.sub("^{}", _UNSAFE_COMMAND.sub(r"\\backslash{}", part))
            parts.append((part, True))
            continue
        part = _UNSAFE_COMMAND.sub(r"\\textbackslash{}", part)
        part = _SPECIAL.sub(r"\\\1", part)
        part = part.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")
        parts.append((part, False))
    # Pair braces as BibTeX does, over the whole value (a group may hold math).
    open_at: list[tuple[int, int]] = []
    unpaired: set[tuple[int, int]] = set()
    for n, (part, _math) in enumerate(parts):
        for i, ch in enumerate(part):
            if ch == "{":
                open_at.append((n, i))
            elif ch == "}":
                if open_at:
                    open_at.pop()
                else:
                    unpaired.add((n, i))
    unpaired.update(open_at)
    last, last_math = parts[-1] if parts else ("", False)
    if not last_math and (len(last) - len(last.rstrip("\\"))) % 2:
        # A lone final backslash would escape the brace that closes the field.
        parts[-1] = (last[:-1] + r"\textbackslash{}", False)
    if not unpaired:
        return "".join(part for part, _ in parts)
    out: list[str] = []
    for n, (part, math) in enumerate(parts):
        chars = list(part)
        for i in sorted((i for m, i in unpaired if m == n), reverse=True):
            word = (
                ("lbrace" if chars[i] == "{" else "rbrace")
                if math
                else ("textbraceleft" if chars[i] == "{" else "textbraceright")
            )
            # "\{" is one brace to LaTeX: replace the backslash with it.
            start = i - 1 if i and chars[i - 1] == "\\" else i
            chars[start : i + 1] = [f"\\{word}{{}}"]
        out.append("".join(chars))
    return "".join(out)


_WORD = re.compile(r"[^\W_]+")
_COMMAND = re.compile(r"\\(?:[A-Za-z]+|.)", re.S)


def _sentence_case(title: str) -> bool:
    """Whether most longer words after the first start in lower case: then a capital
    marks a proper noun (``Gaussian``) that a style must keep."""
    words = [w for w in _WORD.findall(_MATH.sub(" ", title))[1:] if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) * 2 < len(words)


def protect_capitals(escaped: str, proper_nouns: bool = False) -> str:
    """Wrap in braces each word of ``escaped`` (a :func:`bibtex_escape` result) at the
    top level, outside math and command names, that has a capital after its first
    letter (``{LoRA}``, ``{GPT}``-4) or, with ``proper_nouns``, any capital (except
    the very first word). Styles that lower-case titles then leave them alone."""
    out: list[str] = []
    depth, i, math, first = 0, 0, False, True
    while i < len(escaped):
        ch = escaped[i]
        if ch == "\\":
            m = _COMMAND.match(escaped, i)
            assert m is not None
            out.append(m.group())
            i = m.end()
            continue
        if ch == "$":
            run = 2 if escaped.startswith("$$", i) else 1
            math = not math
            out.append("$" * run)
            i += run
            continue
        if ch in "{}":
            depth += 1 if ch == "{" else -1
        elif depth == 0 and not math and (m := _WORD.match(escaped, i)):
            word = m.group()
            caps = any(c.isupper() for c in word[1:]) or (
                proper_nouns and not first and word[0].isupper()
            )
            out.append("{" + word + "}" if caps else word)
            first = False
            i = m.end()
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def bibtex_title(title: str) -> str:
    return protect_capitals(bibtex_escape(title), proper_nouns=_sentence_case(title))


def bibtex_name(name: str) -> str:
    """One name of an ``author`` list: a top-level ``and`` would split it, and an
    organisation's name is braced so that it is not read as given and family names."""
    escaped = bibtex_escape(name)
    if split_name(name).literal:
        return "{" + escaped + "}"
    return re.sub(r"(?i)(?<=\s)and(?=\s)", "{and}", escaped)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def bibtex_entry(p: Paper, taken: set[str] | None = None, key: str | None = None) -> str:
    """One ``@misc`` (an arXiv preprint, as arXiv itself exports it) or ``@article``
    (a paper with a journal reference) entry."""
    fields: list[tuple[str, str]] = [
        ("title", "{" + bibtex_title(p.title) + "}"),
        ("author", "{" + " and ".join(bibtex_name(a) for a in p.authors) + "}"),
    ]
    if p.published:
        fields.append(("year", str(p.published.year)))
        fields.append(("month", _MONTHS[p.published.month - 1]))  # a macro: no braces
    if is_arxiv_id(p.id):
        fields += [("eprint", "{" + p.id + "}"), ("archivePrefix", "{arXiv}")]
        if p.primary_category:
            fields.append(("primaryClass", "{" + bibtex_escape(p.primary_category) + "}"))
        fields.append(("url", "{" + abs_url(p.id) + "}"))
    elif url := _outside_url(p):
        fields.append(("url", "{" + bibtex_escape(url) + "}"))
    if p.doi:
        fields.append(("doi", "{" + bibtex_escape(p.doi) + "}"))
    if p.journal_ref:
        fields.append(("journal", "{" + bibtex_escape(p.journal_ref) + "}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields if value != "{}")
    kind = "article" if p.journal_ref else "misc"
    return f"@{kind}{{{key or cite_key(p, set() if taken is None else taken)},\n{body}\n}}\n"


def bibtex(papers: Sequence[Paper]) -> str:
    return "\n".join(bibtex_entry(p, key=k) for k, p in keyed(papers))


# -- RIS ----------------------------------------------------------------------------------


def _ris_name(name: str) -> str:
    n = split_name(name)
    if n.literal or not n.given:
        return n.literal or n.family
    return f"{n.family}, {n.given}" + (f", {n.suffix}" if n.suffix else "")


def ris_record(p: Paper, key: str) -> dict[str, Any]:
    """One record for ``rispy``: ``JOUR`` with a journal reference, else ``UNPB``
    (unpublished work: what a preprint is to RIS)."""
    record: dict[str, Any] = {
        "type_of_reference": "JOUR" if p.journal_ref else "UNPB",
        "id": key,
        "title": p.title,
        "authors": [_ris_name(a) for a in p.authors] or None,
        "abstract": p.abstract or None,
        "keywords": list(p.categories) or None,
        "doi": p.doi,
        "journal_name": p.journal_ref,
    }
    if p.published:
        record["year"] = str(p.published.year)
        record["date"] = p.published.strftime("%Y/%m/%d/")
    urls = [abs_url(p.id)] if is_arxiv_id(p.id) else []
    for key in ("abs", "pdf", "url"):
        url = _outside_url(p, (key,))
        if url and url not in urls:
            urls.append(url)
    if urls:
        record["urls"] = urls
    if is_arxiv_id(p.id):
        record["publisher"] = "arXiv"
        record["note"] = f"arXiv:{p.id}" + (
            f" [{p.primary_category}]" if p.primary_category else ""
        )
    # One line per value: no control characters (the record has no line breaks).
    return {
        k: ([_CONTROL.sub("", x) for x in v] if isinstance(v, list) else _CONTROL.sub("", v))
        for k, v in record.items()
        if v
    }


class _RisWriter(RisWriter):  # type: ignore[misc]
    """rispy's writer without its ``1.`` numbering line before each record, which
    plain RIS (and EndNote) does not have."""

    def set_header(self, count: int) -> str:
        return ""


def ris(papers: Sequence[Paper]) -> str:
    if not papers:
        return ""
    records = [ris_record(p, k) for k, p in keyed(papers)]
    out: str = rispy.dumps(records, implementation=_RisWriter)
    return out


# -- CSL-JSON -----------------------------------------------------------------------------


def _csl_name(name: str) -> dict[str, str]:
    n = split_name(name)
    if n.literal:
        return {"literal": n.literal}
    out = {"family": n.family}
    if n.given:
        out["given"] = n.given
    if n.suffix:
        out["suffix"] = n.suffix
    return out


def csl_item(p: Paper, key: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": key,
        "type": "article-journal" if p.journal_ref else "article",
        "title": p.title,
    }
    if p.authors:
        item["author"] = [_csl_name(a) for a in p.authors]
    if p.published:
        d = p.published
        item["issued"] = {"date-parts": [[d.year, d.month, d.day]]}
    if p.abstract:
        item["abstract"] = p.abstract
    if p.doi:
        item["DOI"] = p.doi
    if p.journal_ref:
        item["container-title"] = p.journal_ref
    if is_arxiv_id(p.id):
        item["URL"] = abs_url(p.id)
        item["number"] = f"arXiv:{p.id}"
        item["publisher"] = "arXiv"
        item["genre"] = "Preprint"
    elif url := _outside_url(p):
        item["URL"] = url
    if p.categories:
        item["keyword"] = ", ".join(p.categories)
    return item


def _without_control(value: Any) -> Any:
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, list):
        return [_without_control(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_control(v) for k, v in value.items()}
    return value


def csl_json(papers: Sequence[Paper]) -> list[dict[str, Any]]:
    """CSL-JSON items; control characters are dropped (JSON would carry them escaped,
    and a reader would show them)."""
    return [_without_control(csl_item(p, k)) for k, p in keyed(papers)]

"""A reader's draft ("papers like my draft"): pasted text or an uploaded PDF, checked and
reduced to the text paperlens compares.

Nothing here stores anything: a draft lives only for the request that brought it (the
lens never writes it to the database, the indexes or a log). Bad input is refused with
:class:`paperlens.errors.Invalid` and a message a person can act on:

- empty or too-short text, or text over :data:`MAX_DRAFT_CHARS` (pasted; a PDF's text
  is cut to its abstract, or its first :data:`PDF_TEXT_CHARS` characters);
- a PDF over :data:`MAX_PDF_BYTES` (front ends enforce this while reading the upload,
  before the whole body is in memory), not a PDF, broken, encrypted, or with no text
  layer (a scan), or too complex to read within :data:`PDF_SECONDS` (pypdf runs in a
  child Python that is killed then);
- text that does not look like English is accepted with a warning: the model was
  trained on English, so results may be poor (:func:`english_warning`, a cheap
  stop-word count, no language model).
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass

from paperlens.errors import Invalid
from paperlens.text import clean_user_text, normalise_whitespace

#: Pasted drafts longer than this are refused (an abstract is ~1,500 characters; a
#: few pages of introduction still fit).
MAX_DRAFT_CHARS = 20_000
#: Fewer characters than this say too little to compare.
MIN_DRAFT_CHARS = 40
#: Uploaded PDFs larger than this are refused.
MAX_PDF_BYTES = 20 * 1024 * 1024
#: Pages of a PDF read at most (the abstract is on the first ones).
PDF_PAGES = 3
#: Wall-clock seconds a PDF's text may take to read (in a child Python, then killed).
PDF_SECONDS = 10.0
#: A PDF's text is cut to this when no abstract is found in it.
PDF_TEXT_CHARS = 4_000

_FUNCTION_WORDS = (
    "the of and to in a is we that for this on with by are as an be our from which it "
    "can these at or not their its has have using based show"
)
_STOPWORDS = frozenset(_FUNCTION_WORDS.split())
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Draft:
    """The text to compare and what the reader should know about it."""

    text: str
    #: Warnings to show beside the results ("not English", "cut to the abstract").
    notes: tuple[str, ...] = ()
    source: str = "text"  # "text" or "pdf"


def english_warning(text: str) -> str | None:
    """A warning when ``text`` does not look like English: fewer than 8 % of its words
    are common English function words (English abstracts run at 25-40 %), or most of
    its letters are outside Latin script."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return None
    letters = "".join(words)
    latin = sum(1 for ch in letters if ch.isascii() or "\u00c0" <= ch <= "\u024f")
    share = sum(1 for w in words if w in _STOPWORDS) / len(words)
    if latin / len(letters) < 0.5 or (len(words) >= 8 and share < 0.08):
        return (
            "This text does not look like English; paperlens's model was trained on "
            "English, so these results may be poor."
        )
    return None


def from_text(text: str) -> Draft:
    """A pasted draft, checked (see the module docstring)."""
    if len(text) > MAX_DRAFT_CHARS * 2:  # before any work on a huge paste
        raise Invalid(
            f"the draft is too long: paste at most {MAX_DRAFT_CHARS:,} characters "
            "(the abstract is enough)"
        )
    cleaned = clean_user_text(text, multiline=True).strip()
    if not cleaned:
        raise Invalid("the draft is empty: paste an abstract or upload a PDF")
    if len(cleaned) > MAX_DRAFT_CHARS:
        raise Invalid(
            f"the draft is too long ({len(cleaned):,} characters): paste at most "
            f"{MAX_DRAFT_CHARS:,} (the abstract is enough)"
        )
    if len(cleaned) < MIN_DRAFT_CHARS:
        raise Invalid(
            f"the draft is too short to compare: give at least {MIN_DRAFT_CHARS} "
            "characters (a title and a few sentences)"
        )
    warning = english_warning(cleaned)
    return Draft(normalise_whitespace(cleaned), (warning,) if warning else ())


_ABSTRACT_START = re.compile(r"\babstract\b[\s.:\u2014-]*", re.I)
_ABSTRACT_END = re.compile(
    r"\b(?:(?:1|I)\.?\s+)?introduction\b|\bkeywords?\b|\bindex terms\b|\bccs concepts\b", re.I
)


def abstract_of(text: str) -> tuple[str, bool]:
    """The abstract of a paper's full text when it can be found (``True``), else the
    text's beginning (``False``)."""
    start = _ABSTRACT_START.search(text)
    if start:
        end = _ABSTRACT_END.search(text, start.end())
        stop = end.start() if end else start.end() + PDF_TEXT_CHARS
        found = text[start.end() : stop].strip()
        if len(found) >= MIN_DRAFT_CHARS:
            return found[:PDF_TEXT_CHARS], True
    return text[:PDF_TEXT_CHARS], False


_DAMAGED = "the PDF could not be read (it looks damaged): paste its abstract instead"


def _pdf_text(data: bytes) -> str:
    """The text layer of the first :data:`PDF_PAGES` pages (pypdf; may take long)."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs every quirk of a damaged file as a warning; the reader gets one message.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Invalid(
                "the PDF is encrypted (password-protected): upload an unprotected copy "
                "or paste its abstract"
            )
        return " ".join(page.extract_text() or "" for page in reader.pages[:PDF_PAGES])
    except Invalid:
        raise
    # PyPdfError, not only PdfReadError: a stream that inflates past pypdf's limits (a
    # decompression bomb) raises LimitReachedError, which is no PdfReadError.
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, OSError) as exc:
        raise Invalid(_DAMAGED) from exc


def pdf_text_main() -> None:
    """The child's side of :func:`_read_pdf_bounded`: a PDF on stdin, JSON on stdout."""
    data = sys.stdin.buffer.read()
    try:
        answer = {"text": _pdf_text(data)}
    except Invalid as exc:
        answer = {"invalid": str(exc)}
    except Exception:  # anything else pypdf trips on: a damaged file to the reader
        answer = {"invalid": _DAMAGED}
    sys.stdout.write(json.dumps(answer))


def _read_pdf_bounded(data: bytes, seconds: float) -> str:
    """:func:`_pdf_text` in a child Python killed after ``seconds``: a 15 KB PDF can
    hold content that keeps pypdf busy for minutes (a form drawn thousands of times),
    and a thread cannot be stopped. A fresh interpreter over this one's ``sys.path``
    (no fork of a server with threads, no re-import of ``__main__``)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    command = [sys.executable, "-c", "from paperlens.drafts import pdf_text_main as m; m()"]
    try:
        done = subprocess.run(  # noqa: S603 (a fixed command; the PDF goes in on stdin)
            command, input=data, capture_output=True, timeout=seconds, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        raise Invalid(
            "the PDF is too complex to read in time: paste its abstract instead"
        ) from None
    try:
        answer = json.loads(done.stdout)
    except ValueError:  # the child died (out of memory, killed)
        raise Invalid(_DAMAGED) from None
    if "text" not in answer:
        raise Invalid(str(answer.get("invalid", _DAMAGED)))
    return str(answer["text"])


def from_pdf(data: bytes) -> Draft:
    """The abstract (or the beginning) of an uploaded PDF's text layer."""
    if len(data) > MAX_PDF_BYTES:
        raise Invalid(f"the PDF is too large: at most {MAX_PDF_BYTES // (1024 * 1024)} MB")
    if not data:
        raise Invalid("the uploaded file is empty")
    if not data[:1024].lstrip().startswith(b"%PDF-"):
        raise Invalid("the uploaded file is not a PDF")
    pages = _read_pdf_bounded(data, PDF_SECONDS)
    text = normalise_whitespace(clean_user_text(pages, multiline=True))
    if len(text) < MIN_DRAFT_CHARS:
        raise Invalid(
            "the PDF has no text layer (a scan?): paste its abstract instead, or run it "
            "through OCR first"
        )
    abstract, found = abstract_of(text)
    notes = [] if found else ["No abstract found in the PDF: its first page was compared."]
    warning = english_warning(abstract)
    if warning:
        notes.append(warning)
    return Draft(abstract, tuple(notes), "pdf")

"""Text normalisation: whitespace for display, LaTeX stripping for indexing, and the
cleaning every piece of text a reader types goes through before it is stored.

arXiv titles and abstracts carry hard line breaks and LaTeX (``\\'a``, ``$k$``,
``\\emph{...}``). We keep LaTeX in stored records (the web UI renders math) and strip
it only for the text that search indexes and embeds.

``pylatexenc`` does this fully but is far too slow for a full arXiv import; the
compiled regular expressions below cover what arXiv metadata actually uses (accents,
Greek letters, font and formatting macros, inline math) many times faster: measured in
bench/README.md (section "Measured by hand").
"""

from __future__ import annotations

import functools
import re
import unicodedata

_WS = re.compile(r"\s+")


def normalise_whitespace(text: str) -> str:
    """Collapse runs of whitespace (arXiv's hard line breaks included) to one space."""
    return _WS.sub(" ", text).strip()


# C0 controls but tab and newline, DEL, C1 controls, the bidi embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069: they reorder the text shown after them, e.g.
# to disguise a name or a link), and lone surrogates (no UTF-8 form, so no database
# can store them).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NEWLINES = re.compile(r"\r\n?")


def clean_user_text(text: str, multiline: bool = False) -> str:
    """What a reader typed, safe to store and show: control characters (NUL breaks
    PostgreSQL text), bidi overrides and isolates and lone surrogates removed, and
    surrounding whitespace trimmed. ``multiline`` text (notes) keeps its tabs and line
    breaks (``\\r\\n`` becomes ``\\n``); one-line text (names) gets one space for every run
    of whitespace. Lengths are the caller's to check, on the cleaned text."""
    text = _NEWLINES.sub("\n", text)
    if not multiline:
        text = text.replace("\t", " ").replace("\n", " ")
    text = _UNSAFE.sub("", text)
    return text.strip() if multiline else normalise_whitespace(text)


# Combining marks for LaTeX accent macros: \'a -> á, \"o -> ö, \c{c} -> ç ...
_ACCENTS = {
    "'": "\u0301",
    "`": "\u0300",
    "^": "\u0302",
    '"': "\u0308",
    "~": "\u0303",
    "=": "\u0304",
    ".": "\u0307",
    "u": "\u0306",
    "v": "\u030c",
    "H": "\u030b",
    "c": "\u0327",
    "k": "\u0328",
    "r": "\u030a",
    "d": "\u0323",
    "b": "\u0331",
}
_LETTERS = {
    "ss": "ß",
    "o": "ø",
    "O": "Ø",
    "ae": "æ",
    "AE": "Æ",
    "oe": "œ",
    "OE": "Œ",
    "aa": "å",
    "AA": "Å",
    "l": "ł",
    "L": "Ł",
    "i": "ı",
    "j": "ȷ",
}
_GREEK = {
    name: unicodedata.lookup(
        f"GREEK {'CAPITAL' if name[0].isupper() else 'SMALL'} LETTER "
        + name.upper().replace("LAMBDA", "LAMDA")
    )
    for name in [
        "alpha",
        "beta",
        "gamma",
        "delta",
        "epsilon",
        "zeta",
        "eta",
        "theta",
        "iota",
        "kappa",
        "lambda",
        "mu",
        "nu",
        "xi",
        "omicron",
        "pi",
        "rho",
        "sigma",
        "tau",
        "upsilon",
        "phi",
        "chi",
        "psi",
        "omega",
        "Gamma",
        "Delta",
        "Theta",
        "Lambda",
        "Xi",
        "Pi",
        "Sigma",
        "Upsilon",
        "Phi",
        "Psi",
        "Omega",
    ]
}
_GREEK.update({"varepsilon": "ε", "vartheta": "ϑ", "varphi": "φ", "varrho": "ϱ", "ell": "ℓ"})

# {\'a}, \'{a}, \'a, \c{c}, \c c
_ACCENT_RE = re.compile(
    r"(\{)?\\([`'^\"~=.]|[uvHckrdb](?=[\s{]))\s*"
    r"(?:\{\s*(\\?[A-Za-z])\s*\}|(\\?[A-Za-z]))(?(1)\})"
)
_LETTER_RE = re.compile(r"(\{)?\\(ss|ae|AE|oe|OE|aa|AA|[oOlLij])(?![A-Za-z])(?(1)\})")
_COMMAND_RE = re.compile(r"\\([A-Za-z]+)\*?")
_ESCAPED_RE = re.compile(r"\\([%&$#_{}])")
_MATH_PUNCT_RE = re.compile(r"[{}$^_~]|\\\\|\\[,;:! ]")


def _accent(m: re.Match[str]) -> str:
    mark, letter = m.group(2), m.group(3) or m.group(4)
    letter = {"\\i": "i", "\\j": "j"}.get(letter, letter)
    return unicodedata.normalize("NFC", letter + _ACCENTS[mark])


def decode_accents(text: str) -> str:
    """Turn LaTeX accent and special-letter macros into Unicode (``Bal\\'azs`` -> ``Balázs``)."""
    if "\\" not in text:
        return text
    text = _ACCENT_RE.sub(_accent, text)
    return _LETTER_RE.sub(lambda m: _LETTERS[m.group(2)], text)


_MATH_SPAN = re.compile(r"(\$\$.+?\$\$|\$.+?\$|\\\(.+?\\\)|\\\[.+?\\\])", re.DOTALL)


def decode_text_accents(text: str) -> str:
    """Decode accent macros outside math only (``M\\'enage $\\hat{x}$`` keeps its math),
    so titles and abstracts read naturally while KaTeX still gets the formulas."""
    if "\\" not in text:
        return text
    parts = _MATH_SPAN.split(text)
    return "".join(p if i % 2 else decode_accents(p) for i, p in enumerate(parts))


def _command(m: re.Match[str]) -> str:
    name = m.group(1)
    greek = _GREEK.get(name)
    return f" {greek} " if greek else " "


def strip_latex(text: str) -> str:
    """Plain text for indexing: accents decoded, Greek letters kept as letters, other
    macros and math punctuation dropped, whitespace collapsed."""
    if "\\" not in text and "$" not in text and "{" not in text:
        return normalise_whitespace(text)
    text = decode_accents(text)
    text = _ESCAPED_RE.sub(r"\1", text.replace("\\\\", " "))
    text = _COMMAND_RE.sub(_command, text)
    text = _MATH_PUNCT_RE.sub(" ", text)
    return normalise_whitespace(text)


def fold(text: str) -> str:
    """Lower-case, accent-free form for matching names (``Balázs`` -> ``balazs``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


# -- author names --------------------------------------------------------------------------

_NAME_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})
#: Longest author key kept (names longer than this are cut: they are not names).
AUTHOR_KEY_CHARS = 200


def _name_tokens(name: str) -> list[str]:
    """The folded words of a person's name in "given names, surname" order: LaTeX
    accents decoded and then dropped, case folded, punctuation (dots, hyphens, commas)
    gone, and a "Surname, Given" form turned round. A trailing ``Jr``/``III`` is dropped."""
    text = decode_accents(name)
    if "," in text:
        surname, _, given = text.partition(",")
        given_words = [w for w in given.split(",") if fold(w).strip(" .") not in _NAME_SUFFIXES]
        text = f"{' '.join(given_words)} {surname}"
    tokens = _NAME_PUNCT.sub(" ", fold(text)).split()
    while len(tokens) > 2 and tokens[-1] in _NAME_SUFFIXES:
        tokens.pop()
    return tokens


def author_key(name: str) -> str:
    """The one key a name is looked up by: ``"Balázs Kégl"``, ``"Bal\\'azs K\\'egl"``,
    ``"KÉGL, Balázs"`` and ``"Balazs Kegl"`` all give ``"balazs kegl"``. Only spellings of
    the same full name meet here; ``"B. Kegl"`` is a different key (see
    :func:`author_variant`). Empty for a name with no letters or digits."""
    return " ".join(_name_tokens(name))[:AUTHOR_KEY_CHARS]


def author_variant(name: str) -> str:
    """Surname and first initial (``"J. Smith"``, ``"John Smith"``, ``"Smith, John A."``
    -> ``"smith j"``): names sharing it are *possibly* the same person, offered as such
    and never merged."""
    tokens = _name_tokens(name)
    if not tokens:
        return ""
    if len(tokens) == 1:
        return tokens[0][:AUTHOR_KEY_CHARS]
    return f"{tokens[-1]} {tokens[0][0]}"[:AUTHOR_KEY_CHARS]


@functools.lru_cache(maxsize=65536)
def author_keys(name: str) -> tuple[str, str]:
    """``(author_key(name), author_variant(name))`` at the cost of one folding (ingest
    computes both for every name it stores; names repeat across papers, so the last
    65,536 are remembered)."""
    tokens = _name_tokens(name)
    if not tokens:
        return "", ""
    key = " ".join(tokens)[:AUTHOR_KEY_CHARS]
    variant = tokens[0] if len(tokens) == 1 else f"{tokens[-1]} {tokens[0][0]}"
    return key, variant[:AUTHOR_KEY_CHARS]

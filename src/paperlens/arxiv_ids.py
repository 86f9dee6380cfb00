"""arXiv identifiers: parse every form a researcher or a feed may give, and derive
stable ids for records that have none.

Accepted forms: ``2106.09685``, ``2106.09685v2``, ``arXiv:2106.09685``,
``https://arxiv.org/abs/2106.09685v2``, ``https://arxiv.org/pdf/2106.09685.pdf``,
``oai:arXiv.org:2106.09685``, and old-style ``hep-th/9901001`` (with the same
prefixes). The canonical id has no version.
"""

from __future__ import annotations

import hashlib
import re

from paperlens.errors import Invalid
from paperlens.text import fold, normalise_whitespace

_NEW = r"(?P<new>\d{4}\.\d{4,5})"
_OLD = r"(?P<old>[a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})"
# re.ASCII: \d must not match other scripts' digits ("٢١٠٦.٠٩٦٨٥" is not an arXiv id,
# and must never be sent to arXiv as one).
_ID_RE = re.compile(rf"^(?:{_NEW}|{_OLD})(?:v(?P<version>\d+))?$", re.ASCII)
_PREFIXES = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/|oai:arxiv\.org:|arxiv:)",
    re.IGNORECASE,
)

TITLE_ID_PREFIX = "title-"


class BadArxivId(Invalid):
    """Raised for text that is not an arXiv identifier in any accepted form."""


def parse_arxiv_id(text: str) -> tuple[str, int | None]:
    """Return ``(canonical id, version or None)``; raise :class:`BadArxivId` otherwise."""
    raw = text.strip()
    s = _PREFIXES.sub("", raw)
    s = s.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if s.lower().endswith(".pdf"):
        s = s[:-4]
    m = _ID_RE.match(s)
    if not m:
        raise BadArxivId(f"not an arXiv id: {raw!r}")
    canonical = m.group("new") or m.group("old")
    if m.group("new"):
        month = int(canonical[2:4])
        if not 1 <= month <= 12:
            raise BadArxivId(f"not an arXiv id (month {month:02d}): {raw!r}")
        # Four-digit numbers until December 2014, five from January 2015.
        digits = 5 if int(canonical[:4]) >= 1501 else 4
        if len(canonical.split(".")[1]) != digits:
            raise BadArxivId(
                f"not an arXiv id (ids of {canonical[:4]} have {digits} digits): {raw!r}"
            )
    version = int(m.group("version")) if m.group("version") else None
    return canonical, version


def is_arxiv_id(text: str) -> bool:
    try:
        parse_arxiv_id(text)
    except BadArxivId:
        return False
    return True


def abs_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/abs/{arxiv_id}"


def pdf_url(arxiv_id: str) -> str:
    return f"https://arxiv.org/pdf/{arxiv_id}"


def title_id(title: str) -> str:
    """A stable id for a record without one: ``title-`` and 16 hex digits of a hash of
    the folded, whitespace-normalised title. Re-importing the same title (whatever its
    case, accents or line breaks) gives the same id, so the import stays idempotent."""
    key = normalise_whitespace(fold(title))
    return TITLE_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]

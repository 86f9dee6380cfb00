"""What a subscription may hold, checked before anything is stored or mailed.

Every message here is meant for the reader (a form error, an API ``detail``, a CLI line).
An address goes through :mod:`email_validator` (syntax only: no DNS at subscription
time) after a check for line breaks and other control characters, so nothing a reader
types can add a header to a mail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email

from paperlens.errors import Invalid
from paperlens.text import clean_user_text

FREQUENCIES = ("daily", "weekly")
#: ``updates`` lists revisions of older papers matching the saved searches: off unless
#: chosen (see :mod:`paperlens.digest.gather`).
SECTIONS = ("trending", "for_you", "searches", "updates", "authors")
DEFAULT_SECTIONS = ("trending", "searches")
MAX_SEARCHES = 10
MAX_SEARCH_QUERY = 300
MAX_SEARCH_CATEGORIES = 10
MAX_CATEGORY_CHARS = 64
MAX_AUTHOR_CHARS = 200
MAX_EMAIL_CHARS = 254


class InvalidSubscription(Invalid):
    """A subscription request that cannot be accepted; ``str()`` says why."""


def _has_control(text: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 or ch in "\u2028\u2029\x85" for ch in text)


def clean_email(raw: str) -> str:
    """The normalised, lower-cased address; :class:`InvalidSubscription` when it is not
    one address (line breaks, several addresses, a display name, bad syntax)."""
    text = raw.strip()
    if not text:
        raise InvalidSubscription("Enter an email address.")
    if _has_control(text):
        raise InvalidSubscription(
            "That email address contains a line break or another control character; "
            "enter one plain address like name@example.org."
        )
    if len(text) > MAX_EMAIL_CHARS:
        raise InvalidSubscription(f"That email address is too long (at most {MAX_EMAIL_CHARS}).")
    if any(ch in text for ch in ',;<>"()[]\\ '):
        raise InvalidSubscription(
            "Enter one plain address like name@example.org, without a name, "
            "brackets, spaces or a second address."
        )
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidSubscription(f"That is not a valid email address: {exc}") from None
    return result.normalized.lower()


def clean_tz(raw: str | None) -> str:
    name = (raw or "").strip() or "UTC"
    if _has_control(name) or len(name) > 64 or name not in _zones():
        raise InvalidSubscription(
            f"Unknown time zone {name[:64]!r}: use an IANA name such as Europe/Paris or UTC."
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSubscription(f"Unknown time zone {name[:64]!r}.") from None
    return name


_ZONES: frozenset[str] | None = None


def _zones() -> frozenset[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones()) | {"UTC"}
    return _ZONES


def clean_frequency(raw: str | None) -> str:
    value = (raw or "weekly").strip().lower()
    if value not in FREQUENCIES:
        raise InvalidSubscription(f"Frequency must be daily or weekly, not {value[:20]!r}.")
    return value


#: ``collection:<pk>``: "for you" from one of the account's collections.
COLLECTION_SECTION = re.compile(r"collection:[1-9][0-9]{0,11}")
MAX_COLLECTION_SECTIONS = 10


def collection_sections(sections: Sequence[str]) -> list[int]:
    """The collections named by ``collection:<pk>`` sections, in order."""
    return [int(s.split(":", 1)[1]) for s in sections if COLLECTION_SECTION.fullmatch(s)]


def clean_sections(raw: Sequence[str] | None) -> list[str]:
    if raw is None:
        return list(DEFAULT_SECTIONS)
    chosen = {s.strip().lower() for s in raw if s.strip()}
    per_collection = [
        s for s in dict.fromkeys(x.strip().lower() for x in raw) if COLLECTION_SECTION.fullmatch(s)
    ]
    if len(per_collection) > MAX_COLLECTION_SECTIONS:
        raise InvalidSubscription(
            f"Choose at most {MAX_COLLECTION_SECTIONS} collections for the digest."
        )
    chosen -= set(per_collection)
    unknown = sorted(chosen - set(SECTIONS))
    if unknown:
        raise InvalidSubscription(
            f"Unknown digest section {unknown[0][:30]!r}: choose from {', '.join(SECTIONS)}."
        )
    if not chosen and not per_collection:
        raise InvalidSubscription("Choose at least one thing for the digest to hold.")
    return [s for s in SECTIONS if s in chosen] + per_collection


@dataclass(frozen=True, slots=True)
class SavedSearch:
    """A keyword alert: new papers matching ``query`` (BM25) and the filters."""

    query: str = ""
    categories: tuple[str, ...] = ()
    author: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "categories": list(self.categories), "author": self.author}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedSearch:
        return cls(
            str(data.get("query", "")),
            tuple(str(c) for c in data.get("categories", ())),
            str(data.get("author", "")),
        )

    @property
    def label(self) -> str:
        parts = [f"“{self.query}”"] if self.query else []
        if self.categories:
            parts.append("in " + ", ".join(self.categories))
        if self.author:
            parts.append(f"by {self.author}")
        return " ".join(parts)


def clean_search(query: str, categories: str | list[str] = "", author: str = "") -> SavedSearch:
    """A saved search from what a reader typed; categories may be one space- or
    comma-separated string."""
    if isinstance(categories, str):
        categories = categories.replace(",", " ").split()
    for text in (query, author, *categories):
        if _has_control(text):
            raise InvalidSubscription("A saved search cannot contain line breaks.")
    # Line breaks are refused above (a saved search is one line); what else
    # clean_user_text removes (bidi overrides, C1 controls) goes silently.
    q = clean_user_text(query)
    if len(q) > MAX_SEARCH_QUERY:
        raise InvalidSubscription(f"A saved search is at most {MAX_SEARCH_QUERY} characters.")
    cats = tuple(dict.fromkeys(clean_user_text(c) for c in categories if clean_user_text(c)))
    if len(cats) > MAX_SEARCH_CATEGORIES or any(len(c) > MAX_CATEGORY_CHARS for c in cats):
        raise InvalidSubscription(
            f"A saved search has at most {MAX_SEARCH_CATEGORIES} categories "
            f"of {MAX_CATEGORY_CHARS} characters."
        )
    who = clean_user_text(author)[:MAX_AUTHOR_CHARS]
    if not q and not cats and not who:
        raise InvalidSubscription("A saved search needs words, a category or an author.")
    return SavedSearch(q, cats, who)


def clean_searches(searches: list[SavedSearch]) -> list[SavedSearch]:
    unique = list(dict.fromkeys(searches))
    if len(unique) > MAX_SEARCHES:
        raise InvalidSubscription(f"At most {MAX_SEARCHES} saved searches per subscription.")
    return unique

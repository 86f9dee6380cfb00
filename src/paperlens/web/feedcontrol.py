"""The daily feed's controls, read the same way by the home page, ``/api/v1/daily`` and
the Atom/RSS feed: ``category`` (repeatable, or several in one value split by spaces or
commas; ``all`` or an empty value: every category), ``sort`` (``newest``, ``votes``,
``stars`` or ``citations``), ``hide`` (``1``: leave out what the reader marked read or "not
interested"; only for a signed-in reader) and ``code`` (``1``: only papers that link a
code repository; the API calls it ``has_code``).

Without a ``category`` parameter a signed-in reader sees the categories they follow
(settings page); ``category=all`` shows everything to them. "Read" is the read mark of
the library (the note form on a collection page, ``PATCH /api/v1/library/papers/{id}``);
opening a paper does not mark it. Bad values raise ``ValueError`` with a message for
people: the API answers 400, the page shows it over the unfiltered feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from paperlens.accounts import User, clean_categories
from paperlens.core import FEED_SORTS
from paperlens.web.security import clean_text

ALL = "all"
_YES = {"1", "true", "yes", "on"}
_NO = {"", "0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class FeedControl:
    categories: tuple[str, ...] = ()
    sort: str = "newest"
    hide: bool = False
    #: The categories are the reader's followed ones (no ``category`` was given).
    followed: bool = False
    #: ``category=all`` was asked (links must carry it to keep overriding the default).
    explicit_all: bool = False
    #: Only papers that link a code repository.
    has_code: bool = False

    def pairs(self, *, with_hide: bool = True) -> list[tuple[str, str]]:
        """Query pairs that ask for this control again (for links: days, pages, feeds)."""
        out: list[tuple[str, str]] = []
        if self.explicit_all:
            out.append(("category", ALL))
        elif self.categories and not self.followed:
            out.append(("category", " ".join(self.categories)))
        if self.sort != "newest":
            out.append(("sort", self.sort))
        if self.hide and with_hide:
            out.append(("hide", "1"))
        if self.has_code:
            out.append(("code", "1"))
        return out


def parse_categories(raw: Sequence[str] | None, user: User | None) -> FeedControl:
    """The categories part of a control (``sort`` and ``hide`` left at defaults)."""
    if raw is None:
        if user is not None and user.categories:
            return FeedControl(tuple(user.categories), followed=True)
        return FeedControl()
    words = [w for value in raw for w in clean_text(value, 2000).replace(",", " ").split()]
    if not words or ALL in (w.lower() for w in words):
        return FeedControl(explicit_all=True)
    return FeedControl(tuple(clean_categories(words)))


def parse_sort(raw: str | None) -> str:
    value = (raw or "newest").strip().lower()
    if value not in FEED_SORTS:
        raise ValueError(f"sort must be one of {', '.join(FEED_SORTS)}, not {(raw or '')[:40]!r}")
    return value


def parse_hide(raw: str | None, user: User | None) -> bool:
    value = (raw or "").strip().lower()
    if value in _NO:
        return False
    if value not in _YES:
        raise ValueError(f"hide must be 1 or 0, not {(raw or '')[:40]!r}")
    if user is None:
        raise ValueError("hide needs a signed-in reader: log in to hide what you have read")
    return True


def parse_code(raw: str | None) -> bool:
    value = (raw or "").strip().lower()
    if value in _NO:
        return False
    if value not in _YES:
        raise ValueError(f"code must be 1 or 0, not {(raw or '')[:40]!r}")
    return True


def feed_control(
    categories: Sequence[str] | None,
    sort: str | None,
    hide: str | None,
    user: User | None,
    code: str | None = None,
) -> FeedControl:
    """All the controls; ``categories`` is ``None`` when the parameter is absent."""
    cats = parse_categories(categories, user)
    return FeedControl(
        cats.categories,
        parse_sort(sort),
        parse_hide(hide, user),
        cats.followed,
        cats.explicit_all,
        parse_code(code),
    )

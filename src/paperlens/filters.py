"""Search filters shared by every retrieval mode and every index.

A plain value with no behaviour beyond checking itself, so the indexes (which apply
the filters) and the retrieval layer above them can both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from paperlens.errors import Invalid


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Restrict results to a first-version date range (inclusive), any of some
    categories (``cs.LG``, or a whole archive such as ``cs``), and an author (every
    word of ``author`` must appear in one paper's author list, accents ignored), and
    papers with code."""

    since: date | None = None
    until: date | None = None
    categories: tuple[str, ...] = ()
    author: str | None = None
    #: Only papers that link a code repository (GitHub, GitLab; see paperlens.links).
    has_code: bool = False

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise Invalid(f"since ({self.since}) is after until ({self.until})")

    @property
    def active(self) -> bool:
        return bool(self.since or self.until or self.categories or self.author or self.has_code)

"""What goes into one digest: the sections a reader chose, filled for a time window.

- ``trending``: the community's trending papers of the day (daily digests) or the
  week (weekly digests);
- ``for_you``: recommendations for the reader's account (subscriptions made from an
  account only), among papers first published since the window's start;
- ``searches``: each saved search (BM25 over title, abstract and authors, with its
  category and author filters), keeping the papers *new* in the window;
- ``collection:<pk>``: recommendations from one of the reader's collections (its own
  model, as on the "for you" page's collection switch), one section each;
- ``authors`` (accounts only): papers *new* in the window by the authors the reader
  follows (:mod:`paperlens.authors`);
- ``updates`` (off unless the reader asks): each saved search's papers *revised* in the
  window, listed as "updated".

"New" means first published, not newly stored: a bulk import, a backfill or a new
version of an old paper is not news. The window ``[start, end)`` runs from the end of
the previous digest (or the reader's confirmation, see :mod:`paperlens.digest.sender`)
to now, and the rule is

    a paper is new in ``[start, end)`` when it was stored in the window
    (``start <= added_at < end``) and first published (``Paper.published``, its first
    version) no earlier than ``start - grace``.

The grace (``Settings.digest_grace_hours``, 48 by default) covers late harvests: a paper
published the evening before a daily digest and harvested after it still appears, once,
in the next one. Each paper is stored once, so the windows, which follow each other
without gap or overlap, list it at most once; a paper harvested more than the grace
after its publication is never "new". A paper without a first-version date is never new
(nothing tells it from a backfill).

A paper is *updated* in ``[start, end)`` when it is not new there, has a newer version
than its first (``version > 1``, or ``updated`` after ``published``), the store first
held that version inside the window (``start <= revised_at < end``) and the version
itself is recent (``updated >= start - grace``): a snapshot holding an old paper's
version 3 from 2009 is not an update either.

Sections share the mail's paper budget round-robin, and a paper appears once (in the
first section that has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, Protocol

from paperlens.digest.compose import DigestItem, Section, item_of
from paperlens.digest.subscriptions import Subscription
from paperlens.digest.validation import SavedSearch, collection_sections
from paperlens.paper import Paper

#: Most results of one saved search looked at for new papers.
SEARCH_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Found:
    paper: Paper
    #: When the store first held the paper.
    added_at: datetime | None
    note: str = ""
    #: When the store first held the paper's newest version (see ``PaperRow.revised_at``).
    revised_at: datetime | None = None


class DigestSources(Protocol):
    """Where the papers come from. The digest package knows nothing of the lens:
    ``paperlens.core.LensSources`` implements this over ``PaperLens``, and tests may
    give any other implementation."""

    def trending(
        self, window: Literal["day", "week"], limit: int, now: datetime
    ) -> list[Found]: ...

    def recommend(self, user_pk: int, since: datetime, limit: int) -> list[Found]:
        """Recommendations among papers first published on or after ``since``."""
        ...

    def recommend_collection(
        self, user_pk: int, collection_pk: int, since: datetime, limit: int
    ) -> tuple[str, list[Found]] | None:
        """The collection's name and its own recommendations (as ``recommend``);
        ``None`` when it is no longer the reader's (deleted)."""
        ...

    def search(
        self, search: SavedSearch, limit: int, published_since: datetime | None = None
    ) -> list[Found]:
        """The best ``limit`` matches of ``search`` (first published on or after the UTC
        day of ``published_since`` when given), with ``revised_at`` filled in."""
        ...

    def followed(self, user_pk: int, since: datetime, limit: int) -> list[Found]:
        """Papers by the authors the reader follows, stored on or after ``since``."""
        ...


@dataclass(frozen=True, slots=True)
class Window:
    """A digest's window ``[start, end)`` and the grace for late harvests (the rules
    are in the module docstring)."""

    start: datetime
    end: datetime
    grace: timedelta

    @property
    def published_from(self) -> datetime:
        """The earliest first-version date a new paper may have."""
        return self.start - self.grace

    def _holds(self, stored: datetime | None) -> bool:
        return stored is not None and self.start <= stored < self.end

    def is_new(self, found: Found) -> bool:
        published = found.paper.published
        return (
            published is not None
            and published >= self.published_from
            and self._holds(found.added_at)
        )

    def is_update(self, found: Found) -> bool:
        paper = found.paper
        updated = paper.updated
        if updated is None or updated < self.published_from:
            return False
        revised = (paper.version or 0) > 1 or (
            paper.published is not None and updated > paper.published
        )
        return revised and self._holds(found.revised_at) and not self.is_new(found)


def gather(
    sources: DigestSources,
    sub: Subscription,
    start: datetime,
    end: datetime,
    *,
    max_papers: int,
    public_url: str,
    grace: timedelta = timedelta(0),
) -> list[Section]:
    """The non-empty sections of ``sub``'s digest for ``[start, end)``."""
    window = Window(start, end, grace)
    candidates: list[tuple[str, list[Found]]] = []
    sections = sub.prefs.sections
    if "trending" in sections:
        span: Literal["day", "week"] = "day" if sub.prefs.frequency == "daily" else "week"
        title = "Trending today" if span == "day" else "Trending this week"
        candidates.append((title, sources.trending(span, max_papers, end)))
    if "for_you" in sections and sub.user_pk is not None:
        candidates.append(("For you", sources.recommend(sub.user_pk, start, max_papers)))
    if sub.user_pk is not None:
        for collection_pk in collection_sections(sections):
            got = sources.recommend_collection(sub.user_pk, collection_pk, start, max_papers)
            if got is not None:
                candidates.append((f"For you: {got[0]}", got[1]))
    if "searches" in sections:
        for search in sub.prefs.searches:
            found = sources.search(search, SEARCH_DEPTH, window.published_from)
            hits = [f for f in found if window.is_new(f)]
            candidates.append((f"New for {search.label}", hits))
    if "updates" in sections:
        for search in sub.prefs.searches:
            found = sources.search(search, SEARCH_DEPTH)
            hits = [_as_update(f) for f in found if window.is_update(f)]
            candidates.append((f"Updated for {search.label}", hits))
    if "authors" in sections and sub.user_pk is not None:
        found = sources.followed(sub.user_pk, start, SEARCH_DEPTH)
        candidates.append(("New from authors you follow", [f for f in found if window.is_new(f)]))
    return _share(candidates, max_papers, public_url)


def _as_update(found: Found) -> Found:
    """``found`` with a note saying which version it is and how old the paper is."""
    paper = found.paper
    what = f"version {paper.version}" if paper.version else "a new version"
    first = paper.published
    of = f" of a paper first published {first:%b} {first.day}, {first.year}" if first else ""
    return replace(found, note=f"Updated: {what}{of}.")


def _share(
    candidates: Sequence[tuple[str, list[Found]]], budget: int, public_url: str
) -> list[Section]:
    taken: set[str] = set()
    picked: list[list[DigestItem]] = [[] for _ in candidates]
    cursors = [0] * len(candidates)
    while budget > 0:
        progressed = False
        for i, (_title, found) in enumerate(candidates):
            while cursors[i] < len(found) and found[cursors[i]].paper.id in taken:
                cursors[i] += 1
            if cursors[i] < len(found) and budget > 0:
                f = found[cursors[i]]
                taken.add(f.paper.id)
                picked[i].append(item_of(f.paper, public_url, f.note))
                cursors[i] += 1
                budget -= 1
                progressed = True
        if not progressed:
            break
    return [
        Section(title, items) for (title, _), items in zip(candidates, picked, strict=True) if items
    ]


def votes_note(votes: int, external: int) -> str:
    """The line under a trending paper: this server's votes and Hugging Face upvotes."""
    parts = [f"▲ {votes} vote{'' if votes == 1 else 's'}"] if votes else []
    if external:
        parts.append(f"{external} Hugging Face upvote{'' if external == 1 else 's'}")
    return " · ".join(parts)

"""What goes into one digest: the sections a reader chose, filled for a time window.

- ``trending``: the community's trending papers of the day (daily digests) or the
  week (weekly digests);
- ``for_you``: recommendations for the reader's account (subscriptions made from an
  account only), from papers added since the window's start;
- ``searches``: each saved search (BM25 over title, abstract and authors, with its
  category and author filters), keeping papers added to the store in the window.

Sections share the mail's paper budget round-robin, and a paper appears once (in the
first section that has it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from paperlens.digest.compose import DigestItem, Section, item_of
from paperlens.digest.subscriptions import Subscription
from paperlens.digest.validation import SavedSearch
from paperlens.paper import Paper

#: Most results of one saved search looked at for new papers.
SEARCH_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Found:
    paper: Paper
    added_at: datetime | None
    note: str = ""


class DigestSources(Protocol):
    """Where the papers come from. The digest package knows nothing of the lens:
    ``paperlens.core.LensSources`` implements this over ``PaperLens``, and tests may
    give any other implementation."""

    def trending(
        self, window: Literal["day", "week"], limit: int, now: datetime
    ) -> list[Found]: ...

    def recommend(self, user_pk: int, since: datetime, limit: int) -> list[Found]: ...

    def search(self, search: SavedSearch, limit: int) -> list[Found]: ...


def _in_window(found: Found, start: datetime, end: datetime) -> bool:
    return found.added_at is not None and start <= found.added_at < end


def gather(
    sources: DigestSources,
    sub: Subscription,
    start: datetime,
    end: datetime,
    *,
    max_papers: int,
    public_url: str,
) -> list[Section]:
    """The non-empty sections of ``sub``'s digest for ``[start, end)``."""
    candidates: list[tuple[str, list[Found]]] = []
    sections = sub.prefs.sections
    if "trending" in sections:
        window: Literal["day", "week"] = "day" if sub.prefs.frequency == "daily" else "week"
        title = "Trending today" if window == "day" else "Trending this week"
        candidates.append((title, sources.trending(window, max_papers, end)))
    if "for_you" in sections and sub.user_pk is not None:
        candidates.append(("For you", sources.recommend(sub.user_pk, start, max_papers)))
    if "searches" in sections:
        for search in sub.prefs.searches:
            hits = [f for f in sources.search(search, SEARCH_DEPTH) if _in_window(f, start, end)]
            candidates.append((f"New for {search.label}", hits))
    return _share(candidates, max_papers, public_url)


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

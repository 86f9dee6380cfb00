"""Daily-feed queries: which days have papers, and the papers first published on a day.

A day is a UTC calendar day of the first version (``papers.published``). Every query
is a range on the indexed ``published`` column, so finding the previous or next day
with papers is one index seek whatever the size of the corpus. Curated-feed upvotes
(Hugging Face daily papers, table ``listings``) are joined when a paper has any.

Feed control: a day may be narrowed to categories (``cs`` takes every ``cs.*``; the
days around it are then the days that have such papers), sorted (:data:`SORTS`), and
cleared of what one reader has marked read or "not interested" (``hide_for``).
Sorting by GitHub stars needs a :data:`StarSource` (given by whoever stores stars);
without one, or on a day where no paper has known stars, a ``stars`` sort falls back
to ``votes`` and ``FeedDay.sort`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, FromClause, func, select

from paperlens.store.code import has_code_condition
from paperlens.store.community import category_condition
from paperlens.store.papers import PaperStore, StoredPaper
from paperlens.store.schema import (
    CitationCountRow,
    DismissalRow,
    ListingRow,
    PaperCategoryRow,
    PaperNoteRow,
    PaperRow,
    VoteRow,
    table,
)

papers_t = PaperRow.__table__
listings_t = ListingRow.__table__
categories_t = table(PaperCategoryRow)
votes_t = table(VoteRow)
notes_t = table(PaperNoteRow)
dismissals_t = table(DismissalRow)
counts_t = table(CitationCountRow)

FeedSort = Literal["newest", "votes", "stars", "citations"]
#: How a day can be ordered: newest first; most votes here (then Hugging Face
#: upvotes); most GitHub stars (then votes); most cited (stored citation counts; papers
#: never fetched last).
SORTS: tuple[FeedSort, ...] = ("newest", "votes", "stars", "citations")
#: A selectable of ``(paper_pk, n)``: each paper's GitHub stars. Built on demand (so a
#: module that stores stars can hand over a query on its own table).
StarSource = Callable[[], FromClause]

#: Most papers one page of a day may hold.
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A paper in the feed, with its curated-feed upvotes (``None``: never listed)."""

    stored: StoredPaper
    upvotes: int | None


@dataclass(frozen=True, slots=True)
class FeedDay:
    """One page of the papers first published on ``day``, newest first."""

    day: date
    page: int
    per_page: int
    total: int
    items: list[FeedItem]
    #: The nearest earlier and later days that have papers.
    previous_day: date | None
    next_day: date | None
    #: The feed control applied: categories (empty: all), the sort actually used
    #: (``votes`` when ``stars`` was asked without a star source), and whether the
    #: reader's read and dismissed papers were left out.
    categories: tuple[str, ...] = ()
    sort: FeedSort = "newest"
    hidden: bool = False

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a UTC day as aware datetimes."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    if day == date.max:
        return start, datetime.max.replace(tzinfo=UTC)
    return start, start + timedelta(days=1)


def _as_datetime(value: Any) -> datetime | None:
    # Aggregates bypass the column type on SQLite and come back as naive text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class FeedStore:
    """Reads the daily feed; safe to share across threads like :class:`PaperStore`."""

    def __init__(self, engine: Engine, stars: StarSource | None = None) -> None:
        self.engine = engine
        self.papers = PaperStore(engine)
        self.stars = stars

    def _live(self, categories: Sequence[str] = ()) -> Any:
        live = papers_t.c.deleted.is_(False)
        if not categories:
            return live
        in_cats = select(categories_t.c.paper_pk).where(
            category_condition(categories_t.c.category, categories)
        )
        return live & papers_t.c.pk.in_(in_cats)

    def latest_day(self, categories: Sequence[str] = ()) -> date | None:
        """The newest day that has papers (in ``categories``, when given)."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(papers_t.c.published)).where(self._live(categories))
            ).scalar()
        found = _as_datetime(value)
        return found.date() if found else None

    def previous_day(self, day: date, categories: Sequence[str] = ()) -> date | None:
        """The nearest day before ``day`` that has papers."""
        start, _ = day_bounds(day)
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(papers_t.c.published)).where(
                    self._live(categories), papers_t.c.published < start
                )
            ).scalar()
        found = _as_datetime(value)
        return found.date() if found else None

    def next_day(self, day: date, categories: Sequence[str] = ()) -> date | None:
        """The nearest day after ``day`` that has papers."""
        _, end = day_bounds(day)
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.min(papers_t.c.published)).where(
                    self._live(categories), papers_t.c.published >= end
                )
            ).scalar()
        found = _as_datetime(value)
        return found.date() if found else None

    def days(self, limit: int = 7, before: date | None = None) -> list[date]:
        """Up to ``limit`` days with papers, newest first, starting at ``before`` (or the
        newest day) inclusive; one index seek a day."""
        out: list[date] = []
        current: date | None
        if before is None:
            current = self.latest_day()
        else:
            current = before if self.count_on(before) else self.previous_day(before)
        while current is not None and len(out) < limit:
            out.append(current)
            current = self.previous_day(current)
        return out

    def _upvotes(self, conn: Connection, pks: list[int]) -> dict[int, int]:
        """The highest upvote count any curated listing gave each of ``pks``."""
        if not pks:
            return {}
        rows = conn.execute(
            select(listings_t.c.paper_pk, func.max(listings_t.c.upvotes))
            .where(listings_t.c.paper_pk.in_(pks))
            .group_by(listings_t.c.paper_pk)
        ).all()
        return {int(pk): int(n or 0) for pk, n in rows}

    def count_on(self, day: date) -> int:
        start, end = day_bounds(day)
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(papers_t)
                    .where(self._live(), papers_t.c.published >= start, papers_t.c.published < end)
                ).scalar_one()
            )

    def day(
        self,
        day: date,
        page: int = 1,
        per_page: int = 30,
        *,
        categories: Sequence[str] = (),
        sort: FeedSort = "newest",
        hide_for: int | None = None,
        has_code: bool = False,
    ) -> FeedDay:
        """Page ``page`` (from 1) of the papers first published on ``day``, in
        ``categories`` (empty: all), ordered by ``sort`` (ties: newest first, then
        store order), without what reader ``hide_for`` marked read or dismissed, with
        upvotes where listed; ``has_code``: only papers that link a code repository."""
        if page < 1:
            raise ValueError("page must be 1 or more")
        if not 1 <= per_page <= MAX_PAGE_SIZE:
            raise ValueError(f"per_page must be between 1 and {MAX_PAGE_SIZE}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {str(sort)[:40]!r}")
        start, end = day_bounds(day)
        in_day = [
            self._live(categories),
            papers_t.c.published >= start,
            papers_t.c.published < end,
        ]
        if hide_for is not None:
            read = select(notes_t.c.paper_pk).where(
                notes_t.c.user_pk == hide_for, notes_t.c.read.is_(True)
            )
            dismissed = select(dismissals_t.c.paper_pk).where(dismissals_t.c.user_pk == hide_for)
            in_day += [papers_t.c.pk.not_in(read), papers_t.c.pk.not_in(dismissed)]
        if has_code:  # one primary-key probe of paper_links per paper of the day
            in_day.append(has_code_condition(papers_t.c.pk))
        applied: FeedSort = "votes" if sort == "stars" and self.stars is None else sort
        query = select(papers_t.c.pk).where(*in_day)
        order: list[Any] = []
        if applied == "stars":
            assert self.stars is not None
            stars = self.stars().alias("stars")
            with self.engine.connect() as conn:
                # A day where no paper has known stars is sorted by votes, and says so.
                starred = conn.execute(
                    select(papers_t.c.pk)
                    .join(stars, stars.c.paper_pk == papers_t.c.pk)
                    .where(*in_day, stars.c.n > 0)
                    .limit(1)
                ).first()
            if starred is None:
                applied = "votes"
            else:
                query = query.outerjoin(stars, stars.c.paper_pk == papers_t.c.pk)
                order.append(func.coalesce(stars.c.n, 0).desc())
        if applied == "citations":
            query = query.outerjoin(counts_t, counts_t.c.paper_pk == papers_t.c.pk)
            order.append(func.coalesce(counts_t.c.citation_count, -1).desc())
        if applied in ("votes", "stars"):
            vote_counts = (
                select(votes_t.c.paper_pk, func.count().label("n"))
                .group_by(votes_t.c.paper_pk)
                .subquery()
            )
            external = (
                select(listings_t.c.paper_pk, func.max(listings_t.c.upvotes).label("n"))
                .group_by(listings_t.c.paper_pk)
                .subquery()
            )
            query = query.outerjoin(vote_counts, vote_counts.c.paper_pk == papers_t.c.pk)
            query = query.outerjoin(external, external.c.paper_pk == papers_t.c.pk)
            order += [
                func.coalesce(vote_counts.c.n, 0).desc(),
                func.coalesce(external.c.n, 0).desc(),
            ]
        order += [papers_t.c.published.desc(), papers_t.c.pk.desc()]
        with self.engine.connect() as conn:
            total = int(
                conn.execute(select(func.count()).select_from(papers_t).where(*in_day)).scalar_one()
            )
            pks = list(
                conn.execute(
                    query.order_by(*order).limit(per_page).offset((page - 1) * per_page)
                ).scalars()
            )
            votes = self._upvotes(conn, pks)
        stored = self.papers.get_by_pks(pks)
        items = [FeedItem(stored[pk], votes.get(pk)) for pk in pks if pk in stored]
        return FeedDay(
            day=day,
            page=page,
            per_page=per_page,
            total=total,
            items=items,
            previous_day=self.previous_day(day, categories),
            next_day=self.next_day(day, categories),
            categories=tuple(categories),
            sort=applied,
            hidden=hide_for is not None,
        )

"""Community storage: upvotes, submission credits, and the rows trending ranks.

An upvote is a row keyed by ``(user_pk, paper_pk)``, written with insert-or-ignore
(``ON CONFLICT DO NOTHING`` on both backends), so two concurrent votes by one account
count once. Counts for a page of papers come from one grouped query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from paperlens.store.db import chunked
from paperlens.store.schema import (
    ListingRow,
    PaperCategoryRow,
    PaperRow,
    SubmissionRow,
    UserRow,
    VoteRow,
    public_name,
    table,
    utcnow,
)

votes_t = table(VoteRow)
submissions_t = table(SubmissionRow)
papers_t = table(PaperRow)
listings_t = table(ListingRow)
categories_t = table(PaperCategoryRow)
users_t = table(UserRow)


def dialect_insert(conn: Connection, tbl: Any) -> Any:
    """``INSERT`` with ``ON CONFLICT`` support for the connection's backend."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(tbl)
    return sqlite.insert(tbl)


def category_condition(column: Any, categories: Sequence[str]) -> Any:
    """``column`` is one of ``categories``, or inside one of them taken as an archive
    (``cs`` matches ``cs.LG``)."""
    parts = []
    for c in categories:
        parts.append(column == c)
        if "." not in c:
            parts.append(column.like(f"{c}.%"))
    return or_(*parts)


@dataclass(frozen=True, slots=True)
class TrendingRow:
    """A recent paper with community votes and/or curated-feed upvotes."""

    paper_pk: int
    published: datetime
    votes: int
    external: int


@dataclass(frozen=True, slots=True)
class Submission:
    paper_pk: int
    user_pk: int
    display_name: str
    submitted_at: datetime


class CommunityStore:
    """Votes and submissions; safe to share across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- votes ---------------------------------------------------------------------------

    def _count(self, conn: Connection, paper_pk: int) -> int:
        return int(
            conn.execute(
                select(func.count()).select_from(votes_t).where(votes_t.c.paper_pk == paper_pk)
            ).scalar_one()
        )

    def vote(self, user_pk: int, paper_pk: int) -> int:
        """Upvote (idempotent); returns the paper's vote count."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, votes_t).values(
                user_pk=user_pk, paper_pk=paper_pk, created_at=utcnow()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_pk", "paper_pk"]))
            return self._count(conn, paper_pk)

    def unvote(self, user_pk: int, paper_pk: int) -> int:
        """Take an upvote back (idempotent); returns the paper's vote count."""
        with self.engine.begin() as conn:
            conn.execute(
                delete(votes_t).where(votes_t.c.user_pk == user_pk, votes_t.c.paper_pk == paper_pk)
            )
            return self._count(conn, paper_pk)

    def counts(self, paper_pks: Iterable[int]) -> dict[int, int]:
        """Vote counts of ``paper_pks`` (papers without votes are left out), one
        grouped query per 900 papers."""
        wanted = list(dict.fromkeys(paper_pks))
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                rows = conn.execute(
                    select(votes_t.c.paper_pk, func.count())
                    .where(votes_t.c.paper_pk.in_(chunk))
                    .group_by(votes_t.c.paper_pk)
                )
                out.update({int(pk): int(n) for pk, n in rows})
        return out

    def voted_by(self, user_pk: int, paper_pks: Iterable[int]) -> set[int]:
        """Which of ``paper_pks`` ``user_pk`` has upvoted."""
        wanted = list(dict.fromkeys(paper_pks))
        out: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                out.update(
                    conn.execute(
                        select(votes_t.c.paper_pk).where(
                            votes_t.c.user_pk == user_pk, votes_t.c.paper_pk.in_(chunk)
                        )
                    ).scalars()
                )
        return out

    # -- trending ------------------------------------------------------------------------

    def trending_rows(
        self, start: datetime, end: datetime, categories: Sequence[str] = ()
    ) -> list[TrendingRow]:
        """Live papers first published in ``[start, end]`` that have community votes or
        curated-feed upvotes, with both counts (the highest listing upvotes)."""
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
        q = (
            select(
                papers_t.c.pk,
                papers_t.c.published,
                func.coalesce(vote_counts.c.n, 0),
                func.coalesce(external.c.n, 0),
            )
            .outerjoin(vote_counts, vote_counts.c.paper_pk == papers_t.c.pk)
            .outerjoin(external, external.c.paper_pk == papers_t.c.pk)
            .where(
                papers_t.c.deleted.is_(False),
                papers_t.c.published >= start,
                papers_t.c.published <= end,
                or_(vote_counts.c.n > 0, external.c.n > 0),
            )
        )
        if categories:
            in_cats = select(categories_t.c.paper_pk).where(
                category_condition(categories_t.c.category, categories)
            )
            q = q.where(papers_t.c.pk.in_(in_cats))
        with self.engine.connect() as conn:
            return [
                TrendingRow(int(pk), published, int(v), int(x))
                for pk, published, v, x in conn.execute(q)
            ]

    def latest_published(self) -> datetime | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(papers_t.c.published)
                .where(papers_t.c.deleted.is_(False), papers_t.c.published.is_not(None))
                .order_by(papers_t.c.published.desc())
                .limit(1)
            ).scalar()
        return value if isinstance(value, datetime) else None

    # -- submissions ---------------------------------------------------------------------

    def credit(self, paper_pk: int, user_pk: int) -> bool:
        """Credit ``user_pk`` with submitting ``paper_pk`` unless someone already is;
        returns whether this call did."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, submissions_t).values(
                paper_pk=paper_pk, user_pk=user_pk, submitted_at=utcnow()
            )
            res = conn.execute(stmt.on_conflict_do_nothing(index_elements=["paper_pk"]))
            return bool(res.rowcount)

    def submission(self, paper_pk: int) -> Submission | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    submissions_t.c.paper_pk,
                    submissions_t.c.user_pk,
                    users_t.c.display_name,
                    submissions_t.c.submitted_at,
                )
                .join(users_t, users_t.c.pk == submissions_t.c.user_pk)
                .where(submissions_t.c.paper_pk == paper_pk)
            ).first()
        if row is None:
            return None
        name = public_name(row.display_name, row.user_pk)
        return Submission(row.paper_pk, row.user_pk, name, row.submitted_at)

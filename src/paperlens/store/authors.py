"""Authors in SQL: ``paper_authors`` (folded name keys, written with each paper),
follows and authorship claims.

Every author lookup is an index seek on ``paper_authors.key`` (or ``variant``) joined
to live papers, never a scan of ``papers.authors`` JSON, so an author page costs the
same at a thousand papers and at a million, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from paperlens.store.community import dialect_insert
from paperlens.store.db import chunked
from paperlens.store.schema import (
    AuthorFollowRow,
    AuthorshipClaimRow,
    PaperAuthorRow,
    PaperCategoryRow,
    PaperRow,
    UserRow,
    public_name,
    table,
    utcnow,
)
from paperlens.text import author_keys

authors_t = table(PaperAuthorRow)
follows_t = table(AuthorFollowRow)
claims_t = table(AuthorshipClaimRow)
papers_t = table(PaperRow)
categories_t = table(PaperCategoryRow)
users_t = table(UserRow)


def author_rows(paper_pk: int, names: Sequence[str]) -> list[dict[str, Any]]:
    """The ``paper_authors`` rows of one paper (names without letters are skipped)."""
    out: list[dict[str, Any]] = []
    for position, name in enumerate(names):
        key, variant = author_keys(name)
        if key:
            out.append(
                {
                    "paper_pk": paper_pk,
                    "position": position,
                    "name": name[:300],
                    "key": key,
                    "variant": variant,
                }
            )
    return out


def replace_authors(
    conn: Connection, papers: Sequence[tuple[int, Sequence[str]]], fresh: int = 0
) -> None:
    """Write the author rows of ``papers`` (pk, names) in the caller's transaction,
    replacing what they had (called by :meth:`PaperStore.write_batch`); the first
    ``fresh`` papers are new, so have no rows to delete."""
    for chunk in chunked([pk for pk, _ in papers[fresh:]]):
        conn.execute(delete(authors_t).where(authors_t.c.paper_pk.in_(chunk)))
    values = [row for pk, names in papers for row in author_rows(pk, names)]
    if values:
        conn.execute(insert(authors_t), values)


@dataclass(frozen=True, slots=True)
class NameCount:
    key: str
    name: str
    papers: int


@dataclass(frozen=True, slots=True)
class Claim:
    pk: int
    user_pk: int
    display_name: str
    paper_pk: int
    paper_id: str
    paper_title: str
    author_name: str
    matched: bool
    reason: str
    status: str
    created_at: datetime
    reviewed_at: datetime | None


class AuthorStore:
    """Queries over ``paper_authors``, ``author_follows`` and ``authorship_claims``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _live(self) -> Any:
        return and_(papers_t.c.pk == authors_t.c.paper_pk, papers_t.c.deleted.is_(False))

    # -- an author's papers -------------------------------------------------------------

    def paper_pks(self, key: str, limit: int, offset: int = 0) -> tuple[int, list[int]]:
        """How many live papers ``key`` wrote, and one page of their pks, newest first."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.count(func.distinct(authors_t.c.paper_pk)))
                .select_from(authors_t.join(papers_t, self._live()))
                .where(authors_t.c.key == key)
            ).scalar_one()
            pks = conn.execute(
                select(papers_t.c.pk)
                .select_from(authors_t.join(papers_t, self._live()))
                .where(authors_t.c.key == key)
                .group_by(papers_t.c.pk, papers_t.c.published)
                .order_by(papers_t.c.published.desc().nulls_last(), papers_t.c.pk.desc())
                .limit(limit)
                .offset(offset)
            ).scalars()
            return int(total), list(pks)

    def names(self, key: str) -> list[str]:
        """The spellings printed for ``key``, most used first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(authors_t.c.name, func.count().label("n"))
                .where(authors_t.c.key == key)
                .group_by(authors_t.c.name)
                .order_by(func.count().desc(), authors_t.c.name)
                .limit(10)
            )
            return [r.name for r in rows]

    def coauthors(self, key: str, limit: int = 30) -> list[NameCount]:
        """Who wrote papers with ``key``, by number of shared papers."""
        other = authors_t.alias("other")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(other.c.key, func.min(other.c.name), func.count().label("n"))
                .select_from(
                    authors_t.join(papers_t, self._live()).join(
                        other, other.c.paper_pk == authors_t.c.paper_pk
                    )
                )
                .where(authors_t.c.key == key, other.c.key != key)
                .group_by(other.c.key)
                .order_by(func.count().desc(), other.c.key)
                .limit(limit)
            )
            return [NameCount(k, n, int(c)) for k, n, c in rows]

    def categories(self, key: str, limit: int = 20) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(categories_t.c.category, func.count().label("n"))
                .select_from(
                    authors_t.join(papers_t, self._live()).join(
                        categories_t, categories_t.c.paper_pk == authors_t.c.paper_pk
                    )
                )
                .where(authors_t.c.key == key)
                .group_by(categories_t.c.category)
                .order_by(func.count().desc(), categories_t.c.category)
                .limit(limit)
            )
            return [(c, int(n)) for c, n in rows]

    def variants(self, key: str, variant: str, limit: int = 20) -> list[NameCount]:
        """Other names with the same surname and first initial (possibly the same person)."""
        if not variant:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    authors_t.c.key,
                    func.min(authors_t.c.name),
                    func.count(func.distinct(authors_t.c.paper_pk)),
                )
                .select_from(authors_t.join(papers_t, self._live()))
                .where(authors_t.c.variant == variant, authors_t.c.key != key)
                .group_by(authors_t.c.key)
                .order_by(func.count(func.distinct(authors_t.c.paper_pk)).desc(), authors_t.c.key)
                .limit(limit)
            )
            return [NameCount(k, n, int(c)) for k, n, c in rows]

    def new_by_keys(
        self, keys: Sequence[str], *, added_since: datetime | None, limit: int
    ) -> list[int]:
        """Pks of live papers by any of ``keys`` (stored since ``added_since``), newest
        first by first publication."""
        if not keys:
            return []
        cond: list[Any] = [authors_t.c.key.in_(list(keys)[:1000])]
        if added_since is not None:
            cond.append(papers_t.c.added_at >= added_since)
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(papers_t.c.pk)
                    .select_from(authors_t.join(papers_t, self._live()))
                    .where(*cond)
                    .group_by(papers_t.c.pk, papers_t.c.published)
                    .order_by(papers_t.c.published.desc().nulls_last(), papers_t.c.pk.desc())
                    .limit(limit)
                ).scalars()
            )

    # -- follows -------------------------------------------------------------------------

    def follow(self, user_pk: int, key: str, name: str) -> None:
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, follows_t).values(
                user_pk=user_pk, author_key=key, name=name, created_at=utcnow()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_pk", "author_key"]))

    def unfollow(self, user_pk: int, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(follows_t).where(
                    follows_t.c.user_pk == user_pk, follows_t.c.author_key == key
                )
            )

    def follows(self, user_pk: int) -> list[tuple[str, str]]:
        """(key, name) of the authors ``user_pk`` follows, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(follows_t.c.author_key, follows_t.c.name)
                .where(follows_t.c.user_pk == user_pk)
                .order_by(follows_t.c.name)
            )
            return [(k, n) for k, n in rows]

    def follow_count(self, user_pk: int) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(follows_t)
                    .where(follows_t.c.user_pk == user_pk)
                ).scalar_one()
            )

    # -- claims --------------------------------------------------------------------------

    def add_claim(
        self, user_pk: int, paper_pk: int, author_name: str, matched: bool, reason: str
    ) -> bool:
        """Record a pending claim; ``False`` when the reader already claimed the paper."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, claims_t).values(
                user_pk=user_pk,
                paper_pk=paper_pk,
                author_name=author_name,
                matched=matched,
                reason=reason,
                status="pending",
                created_at=utcnow(),
            )
            # RETURNING, not rowcount: with the implicit RETURNING of a serial key,
            # PostgreSQL drivers report a row count of 1 for a skipped insert too.
            stmt = stmt.on_conflict_do_nothing(index_elements=["user_pk", "paper_pk"])
            return conn.execute(stmt.returning(claims_t.c.pk)).first() is not None

    def _claims(self, conn: Connection, *cond: Any, limit: int = 200) -> list[Claim]:
        rows = conn.execute(
            select(
                claims_t,
                users_t.c.display_name,
                papers_t.c.id.label("paper_id"),
                papers_t.c.title.label("paper_title"),
            )
            .select_from(
                claims_t.join(users_t, users_t.c.pk == claims_t.c.user_pk).join(
                    papers_t, papers_t.c.pk == claims_t.c.paper_pk
                )
            )
            .where(*cond)
            .order_by(claims_t.c.created_at, claims_t.c.pk)
            .limit(limit)
        )
        return [
            Claim(
                r.pk,
                r.user_pk,
                public_name(r.display_name, r.user_pk),
                r.paper_pk,
                r.paper_id,
                r.paper_title,
                r.author_name,
                bool(r.matched),
                r.reason,
                r.status,
                r.created_at,
                r.reviewed_at,
            )
            for r in rows
        ]

    def claims(
        self,
        *,
        status: str | None = None,
        paper_pk: int | None = None,
        user_pk: int | None = None,
        limit: int = 200,
    ) -> list[Claim]:
        cond: list[Any] = []
        if status is not None:
            cond.append(claims_t.c.status == status)
        if paper_pk is not None:
            cond.append(claims_t.c.paper_pk == paper_pk)
        if user_pk is not None:
            cond.append(claims_t.c.user_pk == user_pk)
        with self.engine.connect() as conn:
            return self._claims(conn, *cond, limit=limit)

    def claim(self, pk: int) -> Claim | None:
        with self.engine.connect() as conn:
            found = self._claims(conn, claims_t.c.pk == pk, limit=1)
        return found[0] if found else None

    def review(self, pk: int, status: str, reviewer_pk: int) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(claims_t)
                .where(claims_t.c.pk == pk)
                .values(status=status, reviewed_at=utcnow(), reviewer_pk=reviewer_pk)
            )
            return bool(res.rowcount)

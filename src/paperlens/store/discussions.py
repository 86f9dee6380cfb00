"""Discussion storage: comments, reports, bans, notifications and their mail opt-in.

Plain SQL through SQLAlchemy Core, the same on SQLite and PostgreSQL. Comments are
never removed by the discussion code (a deleted one keeps its row, with its text
erased, so its replies keep their place); they go with their paper (``CASCADE``).
Insert-or-ignore (``ON CONFLICT DO NOTHING``) makes a second report by one reader and a
second notification of one reader about one comment no-ops, even when concurrent.
Counts for a page of papers come from one grouped query per 900 papers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from paperlens.store.community import dialect_insert
from paperlens.store.db import chunked
from paperlens.store.schema import (
    CommentBanRow,
    CommentReportRow,
    CommentRow,
    NotificationPrefRow,
    NotificationRow,
    PaperRow,
    UserRow,
    public_name,
    table,
)

comments_t = table(CommentRow)
reports_t = table(CommentReportRow)
bans_t = table(CommentBanRow)
notes_t = table(NotificationRow)
prefs_t = table(NotificationPrefRow)
users_t = table(UserRow)
papers_t = table(PaperRow)

VISIBLE, HIDDEN, DELETED = "visible", "hidden", "deleted"


@dataclass(frozen=True, slots=True)
class CommentRecord:
    """A stored comment with its author's public name (``None``: account gone)."""

    pk: int
    paper_pk: int
    parent_pk: int | None
    user_pk: int | None
    author_name: str | None
    depth: int
    body: str
    html: str
    html_version: int
    state: str
    created_at: datetime
    edited_at: datetime | None
    moderated_at: datetime | None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    pk: int
    kind: str
    created_at: datetime
    read_at: datetime | None
    comment_pk: int
    comment_state: str
    paper_id: str
    paper_title: str
    actor_name: str | None


@dataclass(frozen=True, slots=True)
class ReportedComment:
    """A comment with open reports, for the moderators' page."""

    comment: CommentRecord
    paper_id: str
    reports: int
    reasons: list[str]
    first_reported_at: datetime
    author_banned: bool


@dataclass(frozen=True, slots=True)
class Ban:
    user_pk: int
    name: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MailTarget:
    user_pk: int
    email: str


_COMMENT_COLS = (
    comments_t.c.pk,
    comments_t.c.paper_pk,
    comments_t.c.parent_pk,
    comments_t.c.user_pk,
    users_t.c.display_name,
    comments_t.c.depth,
    comments_t.c.body,
    comments_t.c.html,
    comments_t.c.html_version,
    comments_t.c.state,
    comments_t.c.created_at,
    comments_t.c.edited_at,
    comments_t.c.moderated_at,
)


def _record(row: Any) -> CommentRecord:
    name = None if row.user_pk is None else public_name(row.display_name, row.user_pk)
    return CommentRecord(
        int(row.pk),
        int(row.paper_pk),
        None if row.parent_pk is None else int(row.parent_pk),
        None if row.user_pk is None else int(row.user_pk),
        name,
        int(row.depth),
        row.body,
        row.html,
        int(row.html_version),
        row.state,
        row.created_at,
        row.edited_at,
        row.moderated_at,
    )


def _comments_query() -> Any:
    return select(*_COMMENT_COLS).select_from(
        comments_t.outerjoin(users_t, users_t.c.pk == comments_t.c.user_pk)
    )


def like_pattern(handle: str) -> str:
    """A LIKE pattern (lower case) that every display name with this handle matches:
    ``_`` matches the space it stands for, and each non-ASCII character any one
    character (SQLite's ``lower`` folds ASCII only); callers compare exactly after."""
    return "".join(ch if ch.isascii() else "_" for ch in handle.lower())


class DiscussionStore:
    """Comments and what hangs on them; safe to share across threads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- comments --------------------------------------------------------------------------

    def insert(
        self,
        *,
        paper_pk: int,
        parent_pk: int | None,
        user_pk: int,
        depth: int,
        body: str,
        html: str,
        html_version: int,
        now: datetime,
    ) -> int:
        with self.engine.begin() as conn:
            pk = conn.execute(
                insert(comments_t)
                .values(
                    paper_pk=paper_pk,
                    parent_pk=parent_pk,
                    user_pk=user_pk,
                    depth=depth,
                    body=body,
                    html=html,
                    html_version=html_version,
                    state=VISIBLE,
                    created_at=now,
                )
                .returning(comments_t.c.pk)
            ).scalar_one()
        return int(pk)

    def get(self, pk: int) -> CommentRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_comments_query().where(comments_t.c.pk == pk)).first()
        return _record(row) if row is not None else None

    def thread(self, paper_pk: int) -> list[CommentRecord]:
        """Every comment on the paper, oldest first."""
        q = (
            _comments_query()
            .where(comments_t.c.paper_pk == paper_pk)
            .order_by(comments_t.c.created_at, comments_t.c.pk)
        )
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    def recent(self, paper_pk: int, limit: int) -> list[CommentRecord]:
        """The paper's newest visible comments, newest first (its feed)."""
        q = (
            _comments_query()
            .where(comments_t.c.paper_pk == paper_pk, comments_t.c.state == VISIBLE)
            .order_by(comments_t.c.created_at.desc(), comments_t.c.pk.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    def set_body(
        self, pk: int, body: str, html: str, html_version: int, edited_at: datetime | None
    ) -> None:
        values: dict[str, Any] = {"body": body, "html": html, "html_version": html_version}
        if edited_at is not None:
            values["edited_at"] = edited_at
        with self.engine.begin() as conn:
            conn.execute(update(comments_t).where(comments_t.c.pk == pk).values(**values))

    def set_state(self, pk: int, state: str, now: datetime, *, resolve: bool = False) -> None:
        """Hide, restore or delete (erasing the text); ``resolve`` closes its reports."""
        values: dict[str, Any] = {"state": state, "moderated_at": now}
        if state == DELETED:
            values.update(body="", html="")
        with self.engine.begin() as conn:
            conn.execute(update(comments_t).where(comments_t.c.pk == pk).values(**values))
            if resolve:
                self._resolve(conn, pk, now)

    def counts(self, paper_pks: Iterable[int]) -> dict[int, int]:
        """Visible comments per paper (papers without any are left out)."""
        wanted = list(dict.fromkeys(paper_pks))
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                rows = conn.execute(
                    select(comments_t.c.paper_pk, func.count())
                    .where(comments_t.c.paper_pk.in_(chunk), comments_t.c.state == VISIBLE)
                    .group_by(comments_t.c.paper_pk)
                )
                out.update({int(pk): int(n) for pk, n in rows})
        return out

    # -- readers ---------------------------------------------------------------------------

    def users_by_handle(self, handles: Sequence[str]) -> list[tuple[int, str]]:
        """``(pk, display_name)`` of the readers whose names may have these handles
        (a superset: the caller compares handles exactly)."""
        if not handles:
            return []
        name = func.lower(users_t.c.display_name)
        q = select(users_t.c.pk, users_t.c.display_name).where(
            or_(*(name.like(like_pattern(h)) for h in handles))
        )
        with self.engine.connect() as conn:
            return [(int(pk), str(n)) for pk, n in conn.execute(q)]

    def mail_targets(self, user_pks: Iterable[int]) -> list[MailTarget]:
        """Of ``user_pks``, the readers who opted in to mail and verified an address."""
        wanted = list(dict.fromkeys(user_pks))
        if not wanted:
            return []
        q = (
            select(users_t.c.pk, users_t.c.email)
            .join(prefs_t, prefs_t.c.user_pk == users_t.c.pk)
            .where(
                users_t.c.pk.in_(wanted),
                prefs_t.c.mail_mentions.is_(True),
                users_t.c.email_verified_at.is_not(None),
            )
        )
        with self.engine.connect() as conn:
            return [MailTarget(int(pk), email) for pk, email in conn.execute(q)]

    def mail_mentions(self, user_pk: int) -> bool:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(prefs_t.c.mail_mentions).where(prefs_t.c.user_pk == user_pk)
            ).scalar()
        return bool(value)

    def set_mail_mentions(self, user_pk: int, on: bool, now: datetime) -> None:
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, prefs_t).values(
                user_pk=user_pk, mail_mentions=on, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_pk"], set_={"mail_mentions": on, "updated_at": now}
                )
            )

    # -- notifications ---------------------------------------------------------------------

    def notify(self, user_pk: int, comment_pk: int, kind: str, now: datetime) -> bool:
        """Add a notification unless the reader has one for this comment; whether added."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, notes_t).values(
                user_pk=user_pk, comment_pk=comment_pk, kind=kind, created_at=now
            )
            # RETURNING, not rowcount: psycopg reports -1 for INSERT ... DO NOTHING.
            stmt = stmt.on_conflict_do_nothing(index_elements=["user_pk", "comment_pk"])
            return conn.execute(stmt.returning(notes_t.c.pk)).first() is not None

    def notifications(self, user_pk: int, limit: int) -> list[NotificationRecord]:
        actor = users_t.alias("actor")
        q = (
            select(
                notes_t.c.pk,
                notes_t.c.kind,
                notes_t.c.created_at,
                notes_t.c.read_at,
                comments_t.c.pk.label("comment_pk"),
                comments_t.c.state,
                comments_t.c.user_pk.label("actor_pk"),
                actor.c.display_name,
                papers_t.c.id,
                papers_t.c.title,
            )
            .select_from(
                notes_t.join(comments_t, comments_t.c.pk == notes_t.c.comment_pk)
                .join(papers_t, papers_t.c.pk == comments_t.c.paper_pk)
                .outerjoin(actor, actor.c.pk == comments_t.c.user_pk)
            )
            .where(notes_t.c.user_pk == user_pk)
            .order_by(notes_t.c.created_at.desc(), notes_t.c.pk.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [
                NotificationRecord(
                    int(r.pk),
                    r.kind,
                    r.created_at,
                    r.read_at,
                    int(r.comment_pk),
                    r.state,
                    r.id,
                    r.title,
                    None if r.actor_pk is None else public_name(r.display_name, r.actor_pk),
                )
                for r in conn.execute(q)
            ]

    def unread_count(self, user_pk: int) -> int:
        q = (
            select(func.count())
            .select_from(notes_t)
            .where(notes_t.c.user_pk == user_pk, notes_t.c.read_at.is_(None))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def mark_read(self, user_pk: int, now: datetime) -> int:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(notes_t)
                .where(notes_t.c.user_pk == user_pk, notes_t.c.read_at.is_(None))
                .values(read_at=now)
            )
            return int(res.rowcount)

    # -- reports and bans ------------------------------------------------------------------

    def report(self, comment_pk: int, user_pk: int, reason: str, now: datetime) -> bool:
        """Record a report; ``False`` when this reader already reported the comment."""
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, reports_t).values(
                comment_pk=comment_pk, user_pk=user_pk, reason=reason, created_at=now
            )
            # RETURNING, not rowcount: psycopg reports -1 for INSERT ... DO NOTHING.
            stmt = stmt.on_conflict_do_nothing(index_elements=["comment_pk", "user_pk"])
            return conn.execute(stmt.returning(reports_t.c.user_pk)).first() is not None

    def reported_by(self, user_pk: int, comment_pks: Iterable[int]) -> set[int]:
        wanted = list(dict.fromkeys(comment_pks))
        out: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                out.update(
                    int(pk)
                    for pk in conn.execute(
                        select(reports_t.c.comment_pk).where(
                            reports_t.c.user_pk == user_pk, reports_t.c.comment_pk.in_(chunk)
                        )
                    ).scalars()
                )
        return out

    def _resolve(self, conn: Any, comment_pk: int, now: datetime) -> None:
        conn.execute(
            update(reports_t)
            .where(reports_t.c.comment_pk == comment_pk, reports_t.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )

    def resolve(self, comment_pk: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            self._resolve(conn, comment_pk, now)

    def open_reports(self, limit: int) -> list[ReportedComment]:
        """Comments with unresolved reports, most reported first."""
        counts = (
            select(
                reports_t.c.comment_pk,
                func.count().label("n"),
                func.min(reports_t.c.created_at).label("first"),
            )
            .where(reports_t.c.resolved_at.is_(None))
            .group_by(reports_t.c.comment_pk)
            .subquery()
        )
        q = (
            select(*_COMMENT_COLS, counts.c.n, counts.c.first, papers_t.c.id.label("paper_id"))
            .select_from(
                comments_t.join(counts, counts.c.comment_pk == comments_t.c.pk)
                .join(papers_t, papers_t.c.pk == comments_t.c.paper_pk)
                .outerjoin(users_t, users_t.c.pk == comments_t.c.user_pk)
            )
            .order_by(counts.c.n.desc(), counts.c.first, comments_t.c.pk)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = list(conn.execute(q))
            pks = [int(r.pk) for r in rows]
            reasons: dict[int, list[str]] = {pk: [] for pk in pks}
            for chunk in chunked(pks):
                for cpk, reason in conn.execute(
                    select(reports_t.c.comment_pk, reports_t.c.reason)
                    .where(reports_t.c.comment_pk.in_(chunk), reports_t.c.resolved_at.is_(None))
                    .order_by(reports_t.c.created_at)
                ):
                    if reason:
                        reasons[int(cpk)].append(reason)
            authors = [int(r.user_pk) for r in rows if r.user_pk is not None]
            banned = set(
                conn.execute(select(bans_t.c.user_pk).where(bans_t.c.user_pk.in_(authors)))
                .scalars()
                .all()
            )
        return [
            ReportedComment(
                _record(r), r.paper_id, int(r.n), reasons[int(r.pk)], r.first, r.user_pk in banned
            )
            for r in rows
        ]

    def ban(self, user_pk: int, by: int | None, reason: str, now: datetime) -> bool | None:
        """Whether the account was newly barred; ``None`` when there is no such account."""
        with self.engine.begin() as conn:
            if conn.execute(select(users_t.c.pk).where(users_t.c.pk == user_pk)).first() is None:
                return None
            stmt = dialect_insert(conn, bans_t).values(
                user_pk=user_pk, banned_by=by, reason=reason, created_at=now
            )
            stmt = stmt.on_conflict_do_nothing(index_elements=["user_pk"])
            return conn.execute(stmt.returning(bans_t.c.user_pk)).first() is not None

    def unban(self, user_pk: int) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(delete(bans_t).where(bans_t.c.user_pk == user_pk))
            return bool(res.rowcount)

    def is_banned(self, user_pk: int) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(bans_t.c.user_pk).where(bans_t.c.user_pk == user_pk))
            return found.first() is not None

    def bans(self) -> list[Ban]:
        q = (
            select(bans_t.c.user_pk, users_t.c.display_name, bans_t.c.reason, bans_t.c.created_at)
            .join(users_t, users_t.c.pk == bans_t.c.user_pk)
            .order_by(bans_t.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            return [
                Ban(int(pk), public_name(name, int(pk)), reason, at)
                for pk, name, reason, at in conn.execute(q)
            ]

    def posted_count(self, user_pk: int) -> int:
        q = select(func.count()).select_from(comments_t).where(comments_t.c.user_pk == user_pk)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

"""The submission queue's storage: ``submission_jobs`` rows and the shared ``fetch_pace``.

Invariants (the service in :mod:`paperlens.jobs` relies on each):

- **Bounded on insert.** :meth:`JobStore.enqueue` writes a job only while its account
  has fewer than ``account_limit`` and the whole queue fewer than ``queue_limit``
  unfinished (``queued`` or ``fetching``) jobs. The counts and the insert are one
  ``INSERT ... SELECT ... WHERE`` statement; on PostgreSQL a transaction-level advisory
  lock first serialises enqueuers (under READ COMMITTED two inserts could otherwise both
  see room for one), on SQLite the database's single writer does.
- **One worker per job.** :meth:`JobStore.claim` moves a job to ``fetching`` with a
  compare-and-set ``UPDATE ... WHERE state = 'queued'`` (or an expired lease), so two
  workers never both win it; PostgreSQL also skips rows another claimer has locked
  (``FOR UPDATE SKIP LOCKED``). A claim sets ``lease_owner`` and ``lease_until``; once
  the lease has passed, the job is claimable again: its worker is presumed dead.
- **Idempotent completion.** :meth:`finish`, :meth:`retry_later` and :meth:`fail` change
  a job only while the caller still holds its lease, and report whether they did; a
  worker that lost its lease (it was too slow, another took over) changes nothing.
- **One request at a time, spaced.** ``fetch_pace`` holds one row per outside service:
  :meth:`acquire_pace` gives the turn to one holder (an atomic conditional ``UPDATE``)
  only when no live lease is held and ``interval`` seconds have passed since the last
  request ended; :meth:`release_pace` records that end. Times are the processes' wall
  clocks (UTC), so hosts sharing a database should keep their clocks in sync (NTP).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    Boolean,
    Connection,
    Engine,
    Integer,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    text,
    update,
)

from paperlens.store.community import dialect_insert
from paperlens.store.schema import FetchPaceRow, SubmissionJobRow, UTCDateTime, table

jobs_t = table(SubmissionJobRow)
pace_t = table(FetchPaceRow)

State = Literal["queued", "fetching", "done", "failed"]
UNFINISHED = ("queued", "fetching")
#: Any fixed 64-bit number: the advisory lock that serialises enqueuers on PostgreSQL.
_ENQUEUE_LOCK = 0x5041504552_4A4F42  # "PAPERJOB"


@dataclass(frozen=True, slots=True)
class Job:
    """One submission as stored (see ``SubmissionJobRow``)."""

    pk: int
    user_pk: int
    arxiv_id: str
    state: State
    attempts: int
    not_before: datetime
    paper_pk: int | None
    created: bool
    indexed: bool
    error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Enqueued:
    """What :meth:`JobStore.enqueue` did: ``job`` is the new (or the account's already
    waiting) job, or ``None`` when ``refused`` names the full bound."""

    job: Job | None
    existing: bool = False
    refused: Literal["account", "queue"] | None = None


def _job(row: Any) -> Job:
    return Job(
        int(row.pk),
        int(row.user_pk),
        row.arxiv_id,
        cast(State, row.state),
        int(row.attempts),
        row.not_before,
        None if row.paper_pk is None else int(row.paper_pk),
        bool(row.created),
        bool(row.indexed),
        row.error,
        row.created_at,
        row.updated_at,
    )


class JobStore:
    """Queue rows and the shared pace; safe to share across threads and processes."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def _postgres(self, conn: Connection) -> bool:
        return conn.dialect.name == "postgresql"

    def _get(self, conn: Connection, pk: int) -> Job | None:
        row = conn.execute(select(jobs_t).where(jobs_t.c.pk == pk)).first()
        return None if row is None else _job(row)

    # -- the queue -------------------------------------------------------------------

    def enqueue(
        self, user_pk: int, arxiv_id: str, *, account_limit: int, queue_limit: int
    ) -> Enqueued:
        """Queue ``arxiv_id`` for ``user_pk`` within the bounds (see the module
        docstring). The account's own unfinished job for the same id is returned as is."""
        now = self.clock()
        unfinished = jobs_t.c.state.in_(UNFINISHED)
        with self.engine.begin() as conn:
            if self._postgres(conn):
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ENQUEUE_LOCK})
            same = conn.execute(
                select(jobs_t)
                .where(jobs_t.c.user_pk == user_pk, jobs_t.c.arxiv_id == arxiv_id, unfinished)
                .order_by(jobs_t.c.pk)
                .limit(1)
            ).first()
            if same is not None:
                return Enqueued(_job(same), existing=True)
            mine = (
                select(func.count())
                .select_from(jobs_t)
                .where(jobs_t.c.user_pk == user_pk, unfinished)
                .scalar_subquery()
            )
            everyone = select(func.count()).select_from(jobs_t).where(unfinished).scalar_subquery()
            values = select(
                literal(user_pk, Integer),
                literal(arxiv_id, String),
                literal("queued", String),
                literal(0, Integer),
                literal(now, UTCDateTime),
                literal(False, Boolean),
                literal(False, Boolean),
                literal(now, UTCDateTime),
                literal(now, UTCDateTime),
            ).where(mine < account_limit, everyone < queue_limit)
            columns = [
                "user_pk",
                "arxiv_id",
                "state",
                "attempts",
                "not_before",
                "created",
                "indexed",
                "created_at",
                "updated_at",
            ]
            pk = conn.execute(
                jobs_t.insert().from_select(columns, values).returning(jobs_t.c.pk)
            ).scalar()
            if pk is not None:
                job = self._get(conn, int(pk))
                assert job is not None
                return Enqueued(job)
            full_account = conn.execute(select(mine)).scalar_one() >= account_limit
            return Enqueued(None, refused="account" if full_account else "queue")

    def waiting(self, user_pk: int, arxiv_id: str) -> Job | None:
        """``user_pk``'s unfinished job for ``arxiv_id``, if there is one."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(jobs_t)
                .where(
                    jobs_t.c.user_pk == user_pk,
                    jobs_t.c.arxiv_id == arxiv_id,
                    jobs_t.c.state.in_(UNFINISHED),
                )
                .order_by(jobs_t.c.pk)
                .limit(1)
            ).first()
        return None if row is None else _job(row)

    def get(self, pk: int) -> Job | None:
        with self.engine.connect() as conn:
            return self._get(conn, pk)

    def unfinished(self, user_pk: int | None = None) -> int:
        """Jobs queued or being fetched (of ``user_pk``, or everyone's)."""
        q = select(func.count()).select_from(jobs_t).where(jobs_t.c.state.in_(UNFINISHED))
        if user_pk is not None:
            q = q.where(jobs_t.c.user_pk == user_pk)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    def _claimable(self, now: datetime) -> Any:
        return or_(
            and_(jobs_t.c.state == "queued", jobs_t.c.not_before <= now),
            and_(jobs_t.c.state == "fetching", jobs_t.c.lease_until < now),
        )

    def has_due(self) -> bool:
        """Whether some job may be claimed now (a cheap read before taking the pace)."""
        with self.engine.connect() as conn:
            q = select(jobs_t.c.pk).where(self._claimable(self.clock())).limit(1)
            return conn.execute(q).first() is not None

    def claim(self, owner: str, lease: float) -> Job | None:
        """Lease the oldest due job to ``owner`` for ``lease`` seconds (counting an
        attempt); ``None`` when there is none or another worker won it."""
        now = self.clock()
        due = self._claimable(now)
        with self.engine.begin() as conn:
            q = select(jobs_t.c.pk).where(due).order_by(jobs_t.c.not_before, jobs_t.c.pk).limit(1)
            if self._postgres(conn):
                q = q.with_for_update(skip_locked=True)
            pk = conn.execute(q).scalar()
            if pk is None:
                return None
            won = conn.execute(
                update(jobs_t)
                .where(jobs_t.c.pk == pk, due)
                .values(
                    state="fetching",
                    lease_owner=owner,
                    lease_until=now + timedelta(seconds=lease),
                    attempts=jobs_t.c.attempts + 1,
                    updated_at=now,
                )
            ).rowcount
            return self._get(conn, int(pk)) if won == 1 else None

    def _settle(self, pk: int, owner: str, **values: Any) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(jobs_t)
                .where(
                    jobs_t.c.pk == pk,
                    jobs_t.c.state == "fetching",
                    jobs_t.c.lease_owner == owner,
                )
                .values(lease_owner=None, lease_until=None, updated_at=self.clock(), **values)
            )
            return bool(res.rowcount)

    def finish(self, pk: int, owner: str, paper_pk: int, *, created: bool, indexed: bool) -> bool:
        """Mark the job ``done`` with its paper, if ``owner`` still holds it."""
        return self._settle(
            pk, owner, state="done", paper_pk=paper_pk, created=created, indexed=indexed, error=None
        )

    def retry_later(self, pk: int, owner: str, error: str, not_before: datetime) -> bool:
        """Put the job back in the queue, not to be tried before ``not_before``."""
        return self._settle(pk, owner, state="queued", error=error, not_before=not_before)

    def fail(self, pk: int, owner: str, error: str) -> bool:
        """Mark the job ``failed`` for good, with the reason shown to its submitter."""
        return self._settle(pk, owner, state="failed", error=error)

    # -- the shared pace --------------------------------------------------------------

    def pace_wait(self, name: str, interval: float) -> float:
        """Seconds until the turn for ``name`` may be free (0: try now); a read only, so
        waiting workers do not write to the database while another one fetches."""
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(select(pace_t).where(pace_t.c.name == name)).first()
        if row is None:
            return 0.0
        free_at = now
        if row.holder is not None and row.lease_until is not None:
            free_at = max(free_at, row.lease_until)
        if row.last_done_at is not None:
            free_at = max(free_at, row.last_done_at + timedelta(seconds=interval))
        return max(0.0, (free_at - now).total_seconds())

    def acquire_pace(self, name: str, holder: str, interval: float, lease: float) -> bool:
        """Take the turn to send one request to ``name`` (see the module docstring)."""
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                dialect_insert(conn, pace_t)
                .values(name=name)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            res = conn.execute(
                update(pace_t)
                .where(
                    pace_t.c.name == name,
                    or_(pace_t.c.holder.is_(None), pace_t.c.lease_until < now),
                    or_(
                        pace_t.c.last_done_at.is_(None),
                        pace_t.c.last_done_at <= now - timedelta(seconds=interval),
                    ),
                )
                .values(holder=holder, lease_until=now + timedelta(seconds=lease))
            )
            return bool(res.rowcount)

    def release_pace(self, name: str, holder: str, *, requested: bool) -> None:
        """Give the turn back; ``requested``: a request was sent, so the next one waits
        the interval from now."""
        values: dict[str, Any] = {"holder": None, "lease_until": None}
        if requested:
            values["last_done_at"] = self.clock()
        with self.engine.begin() as conn:
            conn.execute(
                update(pace_t)
                .where(pace_t.c.name == name, pace_t.c.holder == holder)
                .values(**values)
            )

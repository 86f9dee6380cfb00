"""The send log: the exactly-once bookkeeping of digests, one row per (subscription,
period) under a UNIQUE key.

A sender *claims* the row (an insert: only one process can win it) before composing
and sending, and *finishes* it (``sent``, ``empty``, ``failed`` or ``retry``) after the
SMTP server answered. A row left ``claimed`` belongs to a sender that is still running
or died; once older than the lease it is taken over (compare-and-swap on its claim
time) and sent again with the same window and Message-ID. A ``retry`` row (transient
SMTP failures exhausted) is taken over by the next run at once.

The window a digest covers starts where the previous ``sent`` or ``empty`` row ended,
so a period that was never sent (a missed run, a failed send) leaves no gap; but never
before the subscription was (last) confirmed, so neither a reader's first digest nor
the first after subscribing again is a backlog. With no finished row, it starts at the
later of the confirmation and the previous period's due time (``first_since``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperlens.store.schema import DigestSendRow, table

sends_t = table(DigestSendRow)

CLAIMED, SENT, EMPTY, FAILED, RETRY = "claimed", "sent", "empty", "failed", "retry"
COVERED = (SENT, EMPTY)


@dataclass(frozen=True, slots=True)
class Claim:
    """A send this process now owns."""

    row_pk: int
    subscription_pk: int
    period: str
    window_start: datetime
    window_end: datetime
    message_id: str
    #: True when an earlier sender had claimed it and did not finish.
    taken_over: bool


class SendLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def covered_until(self, subscription_pk: int) -> datetime | None:
        """The end of the newest window a finished digest covered."""
        with self.engine.connect() as conn:
            value = conn.execute(
                select(func.max(sends_t.c.window_end)).where(
                    sends_t.c.subscription_pk == subscription_pk,
                    sends_t.c.status.in_(COVERED),
                )
            ).scalar()
        if value is None:
            return None
        if isinstance(value, str):  # aggregates bypass the column type on SQLite
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def window_start(
        self,
        subscription_pk: int,
        *,
        first_since: datetime,
        now: datetime,
        not_before: datetime | None = None,
    ) -> datetime:
        """Where the next digest's window starts: the end of the last finished one (or
        ``first_since`` when there is none), not before ``not_before`` (the
        confirmation) and not after ``now``."""
        start = self.covered_until(subscription_pk) or first_since
        if not_before is not None:
            start = max(start, not_before)
        return min(start, now)

    def claim(
        self,
        subscription_pk: int,
        period: str,
        *,
        first_since: datetime,
        now: datetime,
        message_id: str,
        lease: float,
        not_before: datetime | None = None,
    ) -> Claim | None:
        """Own the send of ``period`` to ``subscription_pk``, or ``None`` when it is
        done or another live sender holds it. The window is :meth:`window_start` to
        ``now``; a taken-over claim keeps the window it was claimed with."""
        start = self.window_start(
            subscription_pk, first_since=first_since, now=now, not_before=not_before
        )
        try:
            with self.engine.begin() as conn:
                pk = conn.execute(
                    insert(sends_t)
                    .values(
                        subscription_pk=subscription_pk,
                        period=period,
                        status=CLAIMED,
                        window_start=start,
                        window_end=now,
                        message_id=message_id,
                        attempts=0,
                        papers=0,
                        claimed_at=now,
                    )
                    .returning(sends_t.c.pk)
                ).scalar_one()
            return Claim(pk, subscription_pk, period, start, now, message_id, False)
        except IntegrityError:
            pass
        return self._take_over(subscription_pk, period, now, lease)

    def _take_over(
        self, subscription_pk: int, period: str, now: datetime, lease: float
    ) -> Claim | None:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(sends_t).where(
                    sends_t.c.subscription_pk == subscription_pk, sends_t.c.period == period
                )
            ).first()
            if row is None:
                return None
            stale = row.status == CLAIMED and row.claimed_at <= now - timedelta(seconds=lease)
            if not (row.status == RETRY or stale):
                return None
            won = conn.execute(
                update(sends_t)
                .where(
                    sends_t.c.pk == row.pk,
                    sends_t.c.status == row.status,
                    sends_t.c.claimed_at == row.claimed_at,
                )
                .values(status=CLAIMED, claimed_at=now)
            ).rowcount
        if won != 1:
            return None
        return Claim(
            row.pk,
            subscription_pk,
            period,
            row.window_start,
            row.window_end,
            row.message_id,
            True,
        )

    def finish(
        self,
        claim: Claim,
        status: str,
        *,
        now: datetime,
        attempts: int = 0,
        papers: int = 0,
        error: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(sends_t)
                .where(sends_t.c.pk == claim.row_pk)
                .values(
                    status=status,
                    finished_at=now,
                    attempts=sends_t.c.attempts + attempts,
                    papers=papers,
                    error=error[:2000] if error else None,
                )
            )

    def status(self, subscription_pk: int, period: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(sends_t.c.status).where(
                    sends_t.c.subscription_pk == subscription_pk, sends_t.c.period == period
                )
            ).scalar()
        return None if value is None else str(value)

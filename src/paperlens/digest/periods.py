"""Digest periods: which day's or week's digest is due for a reader at a given instant.

A daily digest goes out on weekdays and is keyed by the reader's local date
(``D2026-11-23``); a weekly one by the local ISO week (``W2026-W48``) and is due from
Monday. Either is due from ``send_hour`` local time. The key is what the send log is
unique on, so however often the sender runs, a period is sent at most once.

What a digest covers is not the period itself but everything new since the previous
digest (see :mod:`paperlens.digest.sender`), so a run that did not happen (a day the
server was down) leaves no gap: the next digest covers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAILY, WEEKLY = "daily", "weekly"


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    #: When this period's digest became due (UTC).
    due_at: datetime
    #: The earliest a reader's first digest may start: the previous period's due time
    #: (it starts at the reader's confirmation when that is later; see the send log).
    first_since: datetime


def _at(day: datetime, hour: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), time(hour), tzinfo=zone).astimezone(UTC)


def due_period(frequency: str, tz: str, now: datetime, send_hour: int = 0) -> Period | None:
    """The period whose digest is due at ``now`` for a reader in ``tz``, or ``None``
    (a weekend day for a daily digest, or before ``send_hour`` on the first day)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    if frequency == DAILY:
        weekday = local.weekday()
        if weekday >= 5:
            return None
        due = _at(local, send_hour, zone)
        if now < due:
            return None
        back = 3 if weekday == 0 else 1  # Monday's digest follows Friday's
        previous = _at(local - timedelta(days=back), send_hour, zone)
        return Period(f"D{local.date().isoformat()}", due, previous)
    if frequency == WEEKLY:
        monday = local - timedelta(days=local.weekday())
        due = _at(monday, send_hour, zone)
        if now < due:
            return None
        year, week, _ = local.isocalendar()
        return Period(f"W{year}-W{week:02d}", due, _at(monday - timedelta(days=7), send_hour, zone))
    raise ValueError(f"unknown frequency {frequency!r}")

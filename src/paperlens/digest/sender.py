"""Sending the due digests, exactly once per (subscription, period).

For each active subscription whose period is due: claim the send-log row (one
transaction; only one sender can), gather the papers new in the claimed window (see
:mod:`paperlens.digest.gather` for what "new" means), and
if there are any send them on one shared SMTP session, trying transient failures
again with exponential back-off. The row is then marked ``sent`` (after the server
accepted the mail), ``empty`` (nothing to send: no mail), ``failed`` (the server
refused the address or message for good: reported, not retried) or ``retry``
(transient failures exhausted: the next run tries again). One subscriber's failure
never stops the others.

The window runs from the end of the previous digest to now, but never starts before
the subscription's (last) confirmation: a reader's first digest covers the time since
they confirmed (at most one period), never a backlog of the store
(:meth:`~paperlens.digest.sendlog.SendLog.window_start`).

Residual window: a crash after the server accepted a mail and before ``sent`` is
committed leaves the row ``claimed``. Once the claim lease has passed, the next run
sends that digest again, with the same window and the same Message-ID: a possible
duplicate (recognisable by its Message-ID) rather than a silent gap.
"""

from __future__ import annotations

import logging
import smtplib
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from paperlens.config import Settings
from paperlens.digest.compose import (
    Links,
    digest_message,
    message_id,
    subject_for,
)
from paperlens.digest.gather import DigestSources, gather
from paperlens.digest.periods import Period, due_period
from paperlens.digest.sendlog import EMPTY, FAILED, RETRY, SENT, SendLog
from paperlens.digest.subscriptions import Subscription, SubscriptionStore
from paperlens.mail import Mailer, MailError
from paperlens.store.schema import utcnow

log = logging.getLogger(__name__)

DRY_RUN, CANCELLED = "dry-run", "cancelled"


@dataclass(frozen=True, slots=True)
class Outcome:
    email: str
    period: str
    status: str
    papers: int = 0
    error: str | None = None
    attempts: int = 0
    #: The composed mail (dry runs only).
    message: EmailMessage | None = field(default=None, repr=False)


@dataclass
class SendReport:
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def problems(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status in (FAILED, RETRY)]


class _Session:
    """One SMTP connection, opened on first use and reopened after a failure."""

    def __init__(self, mailer: Mailer) -> None:
        self.mailer = mailer
        self._stack: ExitStack | None = None
        self._smtp: smtplib.SMTP | None = None

    def get(self) -> smtplib.SMTP:
        if self._smtp is None:
            stack = ExitStack()
            self._smtp = stack.enter_context(self.mailer.connection())
            self._stack = stack
        return self._smtp

    def reset(self) -> None:
        stack, self._stack, self._smtp = self._stack, None, None
        if stack is not None:
            with suppress(OSError, smtplib.SMTPException):
                stack.close()


class DigestSender:
    def __init__(
        self,
        settings: Settings,
        subscriptions: SubscriptionStore,
        send_log: SendLog,
        sources: DigestSources,
        links: Callable[[Subscription], Links],
        *,
        mailer: Mailer | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.subscriptions = subscriptions
        self.log = send_log
        self.sources = sources
        self.links = links
        self.mailer = mailer or Mailer(settings)
        self.sleep = sleep

    def run(
        self,
        now: datetime | None = None,
        *,
        dry_run: bool = False,
        only: Iterable[str] | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> SendReport:
        """Send every digest due at ``now`` (default: the current time)."""
        now = now or utcnow()
        report = SendReport()
        session = _Session(self.mailer)
        try:
            for sub in self.subscriptions.active(only):
                period = due_period(
                    sub.prefs.frequency, sub.prefs.tz, now, self.settings.digest_send_hour
                )
                if period is None:
                    continue
                outcome = (
                    self._preview(sub, period, now)
                    if dry_run
                    else self._send_one(session, sub, period, now)
                )
                if outcome is None:
                    continue
                report.outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
        finally:
            session.reset()
        return report

    def _compose(
        self, sub: Subscription, period: Period, start: datetime, end: datetime, msg_id: str
    ) -> tuple[EmailMessage, int] | None:
        s = self.settings
        sections = gather(
            self.sources,
            sub,
            start,
            end,
            max_papers=s.digest_max_papers,
            public_url=s.public_url,
            grace=timedelta(hours=s.digest_grace_hours),
        )
        count = sum(len(x.items) for x in sections)
        if count == 0:
            return None
        label = period_label(period)
        intro = (
            f"{count} paper{'' if count == 1 else 's'} for {label}, "
            f"new since {start.astimezone(_zone(sub)):%a %d %b %H:%M} ({sub.prefs.tz})."
        )
        msg = digest_message(
            to=sub.email,
            mail_from=s.mail_from,
            subject=subject_for(sub.prefs.frequency, label, count),
            sections=sections,
            links=self.links(sub),
            msg_id=msg_id,
            date=end,
            intro=intro,
        )
        return msg, count

    def _preview(self, sub: Subscription, period: Period, now: datetime) -> Outcome:
        start = self.log.window_start(
            sub.pk, first_since=period.first_since, now=now, not_before=sub.confirmed_at
        )
        msg_id = message_id(sub.pk, period.key, sub.email, self.settings.public_url)
        composed = self._compose(sub, period, start, now, msg_id)
        if composed is None:
            return Outcome(sub.email, period.key, DRY_RUN)
        msg, papers = composed
        return Outcome(sub.email, period.key, DRY_RUN, papers, message=msg)

    def _send_one(
        self, session: _Session, sub: Subscription, period: Period, now: datetime
    ) -> Outcome | None:
        msg_id = message_id(sub.pk, period.key, sub.email, self.settings.public_url)
        claim = self.log.claim(
            sub.pk,
            period.key,
            first_since=period.first_since,
            now=now,
            message_id=msg_id,
            lease=self.settings.digest_claim_lease,
            not_before=sub.confirmed_at,
        )
        if claim is None:
            return None  # sent already, or another sender holds it
        if not self.subscriptions.is_active(sub.pk):  # unsubscribed since the listing
            self.log.finish(claim, CANCELLED, now=utcnow(), error="unsubscribed")
            return Outcome(sub.email, period.key, CANCELLED)
        try:
            composed = self._compose(
                sub, period, claim.window_start, claim.window_end, claim.message_id
            )
        except Exception as exc:  # a broken index must not lose the window: retry later
            log.exception("composing the digest for %s failed", sub.email)
            self.log.finish(claim, RETRY, now=utcnow(), error=f"compose: {exc}")
            return Outcome(sub.email, period.key, RETRY, error=f"compose: {exc}")
        if composed is None:
            self.log.finish(claim, EMPTY, now=utcnow())
            return Outcome(sub.email, period.key, EMPTY)
        msg, papers = composed
        status, attempts, error = self._deliver(session, msg)
        self.log.finish(claim, status, now=utcnow(), attempts=attempts, papers=papers, error=error)
        if error:
            log.warning("digest to %s (%s): %s: %s", sub.email, period.key, status, error)
        return Outcome(sub.email, period.key, status, papers, error, attempts)

    def _deliver(self, session: _Session, msg: EmailMessage) -> tuple[str, int, str | None]:
        s = self.settings
        error = "not tried"
        for attempt in range(1, s.digest_send_attempts + 1):
            try:
                self.mailer.send(msg, session.get())
                return SENT, attempt, None
            except MailError as exc:
                error = str(exc)
                if exc.permanent:
                    return FAILED, attempt, error
                session.reset()
                if attempt < s.digest_send_attempts:
                    self.sleep(s.digest_retry_backoff * 2 ** (attempt - 1))
        return RETRY, s.digest_send_attempts, error


def _zone(sub: Subscription) -> ZoneInfo:
    return ZoneInfo(sub.prefs.tz)


def period_label(period: Period) -> str:
    if period.key.startswith("D"):
        day = datetime.fromisoformat(period.key[1:])
        return f"{day:%a} {day.day} {day:%b} {day.year}"
    year, week = period.key[1:].split("-W")
    return f"week {int(week)} of {year}"

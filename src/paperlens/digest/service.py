""":class:`Digests`: what front ends call for subscriptions and sending.

Subscribing validates everything first (:mod:`~paperlens.digest.validation`), records
a pending row and mails a signed confirmation link; nothing else is ever mailed to
an address before that link is opened. Unsubscribing by the signed link in every
digest takes effect in the same request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from paperlens.config import Settings
from paperlens.digest.compose import Links, confirmation_message
from paperlens.digest.gather import DigestSources
from paperlens.digest.sender import DigestSender, Outcome, SendReport
from paperlens.digest.sendlog import SendLog
from paperlens.digest.subscriptions import Preferences, Subscription, SubscriptionStore
from paperlens.digest.tokens import BadToken, Purpose, Tokens
from paperlens.digest.validation import (
    InvalidSubscription,
    SavedSearch,
    clean_email,
    clean_frequency,
    clean_searches,
    clean_sections,
    clean_tz,
)
from paperlens.mail import Mailer
from paperlens.store.schema import utcnow


@dataclass(frozen=True, slots=True)
class SubscribeResult:
    subscription: Subscription
    #: Whether a confirmation mail went out (not for an already active address).
    confirmation_sent: bool


def preferences(
    frequency: str | None = None,
    tz: str | None = None,
    sections: Sequence[str] | None = None,
    searches: list[SavedSearch] | None = None,
) -> Preferences:
    """Validated preferences; :class:`InvalidSubscription` says what is wrong."""
    return Preferences(
        clean_frequency(frequency),
        clean_tz(tz),
        tuple(clean_sections(sections)),
        tuple(clean_searches(searches or [])),
    )


class Digests:
    """Subscriptions and sending over the database ``engine``; the papers come from
    ``sources`` (see :class:`~paperlens.digest.gather.DigestSources`)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        sources: DigestSources,
        *,
        mailer: Mailer | None = None,
    ) -> None:
        self.settings = settings
        self.sources = sources
        self.store = SubscriptionStore(engine)
        self.send_log = SendLog(engine)
        self.tokens = Tokens(self.settings.resolved_secret_key)
        self.mailer = mailer or Mailer(self.settings)

    # -- links ----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}{path}"

    def token(self, purpose: Purpose, sub: Subscription) -> str:
        return self.tokens.make(purpose, sub.pk, sub.email)

    def links(self, sub: Subscription) -> Links:
        return Links(
            unsubscribe=self._url(f"/unsubscribe/{self.token('unsubscribe', sub)}"),
            manage=self._url(f"/subscription/{self.token('manage', sub)}"),
            home=self._url("/"),
        )

    def confirm_url(self, sub: Subscription) -> str:
        return self._url(f"/confirm/{self.token('confirm', sub)}")

    # -- subscribing ------------------------------------------------------------------

    def subscribe(
        self,
        email: str,
        prefs: Preferences | None = None,
        *,
        user_pk: int | None = None,
        now: datetime | None = None,
    ) -> SubscribeResult:
        """Validate ``email``, record the pending subscription and mail the confirmation
        link. Raises :class:`InvalidSubscription` for bad input and
        :class:`~paperlens.mail.MailError` when the mail cannot be sent."""
        address = clean_email(email)
        sub, needs_confirmation = self.store.subscribe(
            address, prefs or preferences(), user_pk=user_pk, now=now
        )
        if needs_confirmation:
            self.mailer.send(
                confirmation_message(
                    to=sub.email,
                    mail_from=self.settings.mail_from,
                    confirm_url=self.confirm_url(sub),
                    frequency=sub.prefs.frequency,
                    date=now or utcnow(),
                )
            )
        return SubscribeResult(sub, needs_confirmation)

    def _subject(self, purpose: Purpose, token: str) -> Subscription:
        subject = self.tokens.read(purpose, token)
        sub = self.store.get(subject.subscription_pk)
        if sub is None or sub.email != subject.email:
            raise BadToken("This link belongs to a subscription that no longer exists.")
        return sub

    def confirm(self, token: str) -> Subscription:
        sub = self._subject("confirm", token)
        if sub.unsubscribed_at is not None:
            raise BadToken("This subscription was cancelled; subscribe again to restart it.")
        confirmed = self.store.confirm(sub.pk, sub.email)
        assert confirmed is not None
        return confirmed

    def unsubscribe(self, token: str) -> Subscription:
        sub = self._subject("unsubscribe", token)
        done = self.store.unsubscribe(sub.pk, sub.email)
        assert done is not None
        return done

    def unsubscribe_pk(self, pk: int) -> Subscription | None:
        sub = self.store.get(pk)
        return None if sub is None else self.store.unsubscribe(sub.pk, sub.email)

    def managed(self, token: str) -> Subscription:
        """The subscription a manage link (or, same, an unsubscribe link) names."""
        return self._subject("manage", token)

    def update(self, sub: Subscription, prefs: Preferences) -> Subscription:
        updated = self.store.update_preferences(sub.pk, prefs)
        assert updated is not None
        return updated

    def for_user(self, user_pk: int) -> Subscription | None:
        return self.store.by_user(user_pk)

    # -- sending ----------------------------------------------------------------------

    def sender(self, sleep: Callable[[float], None] | None = None) -> DigestSender:
        kwargs = {} if sleep is None else {"sleep": sleep}
        return DigestSender(
            self.settings,
            self.store,
            self.send_log,
            self.sources,
            self.links,
            mailer=self.mailer,
            **kwargs,
        )

    def send(
        self,
        now: datetime | None = None,
        *,
        dry_run: bool = False,
        only: Iterable[str] | None = None,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> SendReport:
        return self.sender().run(now, dry_run=dry_run, only=only, on_outcome=on_outcome)


__all__ = [
    "BadToken",
    "Digests",
    "InvalidSubscription",
    "SubscribeResult",
    "preferences",
]

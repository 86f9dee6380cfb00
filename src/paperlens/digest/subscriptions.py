"""The subscriptions table: subscribe (pending until confirmed), confirm, unsubscribe,
change preferences, list who is due a digest.

A row's state is two timestamps: ``confirmed_at`` (double opt-in done) and
``unsubscribed_at``. Only rows with the first and without the second receive digests.
Subscribing again after unsubscribing clears both, so a new confirmation is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperlens.digest.validation import SavedSearch
from paperlens.store.schema import SubscriptionRow, table, utcnow

subs_t = table(SubscriptionRow)


@dataclass(frozen=True, slots=True)
class Preferences:
    """What a reader chose: how often, in which time zone, what a digest holds."""

    frequency: str = "weekly"
    tz: str = "UTC"
    sections: tuple[str, ...] = ("trending", "searches")
    searches: tuple[SavedSearch, ...] = ()

    def values(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "tz": self.tz,
            "sections": list(self.sections),
            "searches": [s.to_json() for s in self.searches],
        }


@dataclass(frozen=True, slots=True)
class Subscription:
    pk: int
    email: str
    user_pk: int | None
    prefs: Preferences
    created_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


def _subscription(row: Any) -> Subscription:
    prefs = Preferences(
        row.frequency,
        row.tz,
        tuple(row.sections or ()),
        tuple(SavedSearch.from_json(s) for s in row.searches or ()),
    )
    return Subscription(
        row.pk,
        row.email,
        row.user_pk,
        prefs,
        row.created_at,
        row.confirmed_at,
        row.unsubscribed_at,
    )


class SubscriptionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, pk: int) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subs_t).where(subs_t.c.pk == pk)).first()
        return _subscription(row) if row else None

    def by_email(self, email: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(subs_t).where(subs_t.c.email == email.lower())).first()
        return _subscription(row) if row else None

    def by_user(self, user_pk: int) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(subs_t).where(subs_t.c.user_pk == user_pk).order_by(subs_t.c.pk)
            ).first()
        return _subscription(row) if row else None

    def subscribe(
        self,
        email: str,
        prefs: Preferences,
        *,
        user_pk: int | None = None,
        now: datetime | None = None,
    ) -> tuple[Subscription, bool]:
        """Record a request to subscribe ``email`` (already validated); returns the row
        and whether a confirmation mail must be sent. An active subscription is left as
        it is: a stranger who knows the address must not change what its owner gets."""
        now = now or utcnow()
        email = email.lower()
        for _ in range(3):
            existing = self.by_email(email)
            if existing is None:
                try:
                    with self.engine.begin() as conn:
                        conn.execute(
                            insert(subs_t).values(
                                email=email, user_pk=user_pk, created_at=now, **prefs.values()
                            )
                        )
                except IntegrityError:  # subscribed concurrently: treat as existing
                    continue
                found = self.by_email(email)
                assert found is not None
                return found, True
            if existing.active:
                return existing, False
            with self.engine.begin() as conn:
                conn.execute(
                    update(subs_t)
                    .where(subs_t.c.pk == existing.pk)
                    .values(
                        confirmed_at=None,
                        unsubscribed_at=None,
                        user_pk=user_pk if user_pk is not None else existing.user_pk,
                        **prefs.values(),
                    )
                )
            found = self.get(existing.pk)
            assert found is not None
            return found, True
        raise RuntimeError(f"could not record the subscription of {email}")

    def confirm(self, pk: int, email: str, now: datetime | None = None) -> Subscription | None:
        """Confirm a pending subscription; ``None`` when ``pk`` and ``email`` name none.
        Confirming twice is harmless."""
        with self.engine.begin() as conn:
            conn.execute(
                update(subs_t)
                .where(
                    subs_t.c.pk == pk,
                    subs_t.c.email == email,
                    subs_t.c.confirmed_at.is_(None),
                    subs_t.c.unsubscribed_at.is_(None),
                )
                .values(confirmed_at=now or utcnow())
            )
        found = self.get(pk)
        return found if found is not None and found.email == email else None

    def unsubscribe(self, pk: int, email: str, now: datetime | None = None) -> Subscription | None:
        """Stop all digests to this subscription at once (committed before returning,
        so a send that starts afterwards skips it); repeating it is harmless."""
        with self.engine.begin() as conn:
            conn.execute(
                update(subs_t)
                .where(
                    subs_t.c.pk == pk,
                    subs_t.c.email == email,
                    subs_t.c.unsubscribed_at.is_(None),
                )
                .values(unsubscribed_at=now or utcnow())
            )
        found = self.get(pk)
        return found if found is not None and found.email == email else None

    def update_preferences(self, pk: int, prefs: Preferences) -> Subscription | None:
        with self.engine.begin() as conn:
            conn.execute(update(subs_t).where(subs_t.c.pk == pk).values(**prefs.values()))
        return self.get(pk)

    def active(self, emails: Iterable[str] | None = None) -> list[Subscription]:
        """Confirmed subscriptions not unsubscribed, oldest first (optionally only
        those to ``emails``)."""
        query = (
            select(subs_t)
            .where(subs_t.c.confirmed_at.is_not(None), subs_t.c.unsubscribed_at.is_(None))
            .order_by(subs_t.c.pk)
        )
        if emails is not None:
            query = query.where(subs_t.c.email.in_([e.lower() for e in emails]))
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query)]

    def is_active(self, pk: int) -> bool:
        found = self.get(pk)
        return found is not None and found.active

"""Email digests: subscriptions (double opt-in), periods, composition, exactly-once
sending and scheduling. Front ends use :class:`~paperlens.digest.service.Digests`
(``PaperLens.digests``)."""

from paperlens.digest.service import Digests, SubscribeResult, preferences
from paperlens.digest.subscriptions import Preferences, Subscription
from paperlens.digest.tokens import BadToken
from paperlens.digest.validation import (
    DEFAULT_SECTIONS,
    MAX_SEARCHES,
    InvalidSubscription,
    SavedSearch,
    clean_email,
    clean_search,
)

__all__ = [
    "DEFAULT_SECTIONS",
    "MAX_SEARCHES",
    "BadToken",
    "Digests",
    "InvalidSubscription",
    "Preferences",
    "SavedSearch",
    "SubscribeResult",
    "Subscription",
    "clean_email",
    "clean_search",
    "preferences",
]

"""Email digests: subscriptions (double opt-in), periods, composition, exactly-once
sending and scheduling. Front ends use :class:`~paperlens.digest.service.Digests`
(``PaperLens.digests``)."""

from paperlens.digest.service import Digests, SubscribeResult, preferences
from paperlens.digest.tokens import BadToken
from paperlens.digest.validation import InvalidSubscription, SavedSearch, clean_search

__all__ = [
    "BadToken",
    "Digests",
    "InvalidSubscription",
    "SavedSearch",
    "SubscribeResult",
    "clean_search",
    "preferences",
]

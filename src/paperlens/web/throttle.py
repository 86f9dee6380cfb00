"""Rate limits on the actions worth abusing: logging in, signing up, asking for reset
or verification links, checking the current password, submitting papers, writing,
editing and reporting comments, each per client address and per account.

Failed passwords never lock an account as a whole (anyone could lock anyone out):
wrong logins are counted per (account, client address), so only the address that
guesses gets a 429; the owner signs in from anywhere else at once. Checks of the
current password in Settings happen in a signed-in session, so they are counted per
account and per address.

Counting is a moving window (the ``limits`` library) in the storage that
``Settings.rate_limit_storage`` names: in memory by default, right for the one process
``paperlens serve`` runs; a shared storage (``redis://...``) when several workers serve.
Routes take ``ThrottleDep`` (``web/deps.py``) and call :meth:`Throttle.hit` (count and
refuse over the limit) or :meth:`Throttle.allowed` plus :meth:`Throttle.record` (refuse
only after failures, as for wrong passwords). Over a limit :class:`RateLimited` is
raised: a 429 with ``Retry-After``, rendered by the app as a page or JSON.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields

from fastapi import HTTPException
from limits import RateLimitItem, parse
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class RateLimits:
    """One ``limits`` expression (``"10/minute"``) per rule."""

    #: Every login attempt from one address.
    login_ip: str = "10/minute"
    #: Failed logins for one email address from one client address (over it: a 429
    #: for that address only; never a lock of the account).
    login_account_ip: str = "5/minute"
    signup_ip: str = "5/minute"
    #: Sign-up mails to one address (over it: no mail, same answer, so nothing leaks).
    signup_email: str = "3/hour"
    #: Verification mails a signed-in account asks for again (over it: 429).
    verify_account: str = "3/hour"
    #: Wrong current passwords in Settings, per account and per client address.
    reauth_account: str = "5/15minutes"
    reauth_ip: str = "10/15minutes"
    #: Reset-link requests from one address (over it: 429).
    reset_ip: str = "5/minute"
    #: Reset mails to one account (over it: no mail, same answer, so nothing leaks).
    reset_account: str = "3/hour"
    #: Paper submissions (used by the community pages).
    submit_ip: str = "30/hour"
    submit_account: str = "20/hour"
    #: Digest subscriptions from one address (over it: 429).
    subscribe_ip: str = "20/hour"
    #: Confirmation mails to one email address (over it: no mail, same answer).
    subscribe_email: str = "3/hour"
    #: New comments (pages and API), per account and per client address.
    comment_account: str = "5/minute"
    comment_ip: str = "20/minute"
    #: Comment edits per account (an edit notifies readers mentioned anew: unlimited
    #: edits would let one comment reach every reader, twenty handles at a time).
    edit_account: str = "10/minute"
    #: Comment reports per account.
    report_account: str = "20/hour"
    #: Whole-account exports and imports per account (heavy requests).
    export_account: str = "10/hour"
    import_account: str = "10/hour"
    #: "Papers like my draft" (each embeds the draft's sentences; a PDF is parsed too).
    draft_ip: str = "20/minute"
    #: Authorship claims one account makes (over it: 429).
    claim_account: str = "10/hour"
    #: Follow/unfollow clicks of one account (over it: 429).
    follow_account: str = "300/hour"


DEFAULT_LIMITS = RateLimits()


class RateLimited(HTTPException):
    def __init__(self, action: str, retry_after: int) -> None:
        super().__init__(
            429,
            f"Too many {action} attempts. Wait {retry_after} seconds and try again.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


_ACTIONS = {
    "login": "sign-in",
    "signup": "sign-up",
    "reset": "password reset",
    "verify": "verification mail",
    "reauth": "current-password",
    "submit": "submit",
    "subscribe": "subscribe",
    "comment": "comment",
    "edit": "comment edit",
    "report": "report",
    "export": "export",
    "import": "import",
    "draft": "draft comparison",
    "claim": "authorship claim",
    "follow": "follow",
}


class Throttle:
    """The rate limits of one app; ``limits=None`` turns every rule off."""

    def __init__(
        self, limits: RateLimits | None = DEFAULT_LIMITS, storage: str = "memory://"
    ) -> None:
        self.enabled = limits is not None
        self.items: dict[str, RateLimitItem] = {}
        if limits is not None:
            self.items = {f.name: parse(getattr(limits, f.name)) for f in fields(limits)}
        self.limiter = MovingWindowRateLimiter(open_storage(storage))

    def _item(self, rule: str) -> RateLimitItem | None:
        if not self.enabled:
            return None
        if rule not in self.items:
            raise KeyError(f"no rate-limit rule {rule!r}")
        return self.items[rule]

    def _refuse(self, rule: str, item: RateLimitItem, key: str) -> RateLimited:
        stats = self.limiter.get_window_stats(item, rule, key)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimited(_ACTIONS.get(rule.split("_")[0], rule), retry)

    def hit(self, rule: str, key: str) -> None:
        """Count one attempt; :class:`RateLimited` if over the limit."""
        item = self._item(rule)
        if item is not None and not self.limiter.hit(item, rule, key):
            raise self._refuse(rule, item, key)

    def allowed(self, rule: str, key: str) -> bool:
        """Whether one more attempt would be within the limit (counts nothing)."""
        item = self._item(rule)
        return item is None or self.limiter.test(item, rule, key)

    def check(self, rule: str, key: str) -> None:
        """:class:`RateLimited` if the limit is already reached (counts nothing)."""
        item = self._item(rule)
        if item is not None and not self.limiter.test(item, rule, key):
            raise self._refuse(rule, item, key)

    def record(self, rule: str, key: str) -> None:
        """Count one attempt without refusing (e.g. a failed login)."""
        item = self._item(rule)
        if item is not None:
            self.limiter.hit(item, rule, key)


def open_storage(uri: str) -> Storage:
    """The ``limits`` storage for ``uri`` (``memory://``, ``redis://host:6379``, ...);
    ``ValueError`` naming the setting when it cannot be used."""
    try:
        storage = storage_from_string(uri)
    except Exception as exc:  # limits raises ConfigurationError or the driver's error
        raise ValueError(f"PAPERLENS_RATE_LIMIT_STORAGE {uri!r} cannot be used: {exc}") from exc
    if not isinstance(storage, Storage):
        raise ValueError(f"PAPERLENS_RATE_LIMIT_STORAGE {uri!r}: use a synchronous storage")
    return storage

"""Signed links in digest mails: confirm and manage (expire), unsubscribe (never expires).

A manage link shows and changes the saved searches of a subscription, so it expires
after :data:`MANAGE_MAX_AGE`: every digest mail carries a fresh one, and a verified
account reaches its subscription from Settings. An unsubscribe link works forever
(RFC 8058 one-click must keep working from an old mail); it only stops mail.

Each kind has its own salt, so a manage or unsubscribe token can never pass as a
confirmation and the reverse. A token names the subscription and its address: if the
row is deleted and its number reused, an old link matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from paperlens.errors import Invalid

Purpose = Literal["confirm", "unsubscribe", "manage"]
#: How long a confirmation link works.
CONFIRM_MAX_AGE = 7 * 24 * 3600
#: How long a manage link works (seconds): a leaked or forwarded one stops working.
MANAGE_MAX_AGE = 30 * 24 * 3600
_MAX_AGE = {"confirm": CONFIRM_MAX_AGE, "manage": MANAGE_MAX_AGE}


class BadToken(Invalid):
    """A link that is forged, cut short, of another kind, or (confirm) too old."""


@dataclass(frozen=True, slots=True)
class TokenSubject:
    subscription_pk: int
    email: str


class Tokens:
    def __init__(self, secret_key: str) -> None:
        # Manage links were unsigned by time before; the new salt makes old ones fail
        # cleanly as "not valid" rather than pass without an age.
        self._timed = {
            "confirm": URLSafeTimedSerializer(secret_key, salt="paperlens.digest.confirm"),
            "manage": URLSafeTimedSerializer(secret_key, salt="paperlens.digest.manage.timed"),
        }
        self._plain = {
            "unsubscribe": URLSafeSerializer(secret_key, salt="paperlens.digest.unsubscribe")
        }

    def make(self, purpose: Purpose, subscription_pk: int, email: str) -> str:
        payload = [subscription_pk, email]
        if purpose in self._timed:
            return str(self._timed[purpose].dumps(payload))
        return str(self._plain[purpose].dumps(payload))

    def read(self, purpose: Purpose, token: str) -> TokenSubject:
        if len(token) > 1000:
            raise BadToken("This link is not valid.")
        try:
            if purpose in self._timed:
                data = self._timed[purpose].loads(token, max_age=_MAX_AGE[purpose])
            else:
                data = self._plain[purpose].loads(token)
        except SignatureExpired:
            if purpose == "manage":
                raise BadToken(
                    "This link to your digest settings has expired; use the link in your "
                    "latest digest, or Settings if you have an account."
                ) from None
            raise BadToken(
                "This confirmation link has expired; subscribe again to get a new one."
            ) from None
        except BadSignature:
            raise BadToken("This link is not valid (it may have been cut short).") from None
        if (
            not isinstance(data, list)
            or len(data) != 2
            or not isinstance(data[0], int)
            or not isinstance(data[1], str)
        ):
            raise BadToken("This link is not valid.")
        return TokenSubject(data[0], data[1])

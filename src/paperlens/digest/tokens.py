"""Signed links in digest mails: confirm (expires), unsubscribe and manage (never expire).

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


class BadToken(Invalid):
    """A link that is forged, cut short, of another kind, or (confirm) too old."""


@dataclass(frozen=True, slots=True)
class TokenSubject:
    subscription_pk: int
    email: str


class Tokens:
    def __init__(self, secret_key: str) -> None:
        self._timed = URLSafeTimedSerializer(secret_key, salt="paperlens.digest.confirm")
        self._plain = {
            purpose: URLSafeSerializer(secret_key, salt=f"paperlens.digest.{purpose}")
            for purpose in ("unsubscribe", "manage")
        }

    def make(self, purpose: Purpose, subscription_pk: int, email: str) -> str:
        payload = [subscription_pk, email]
        if purpose == "confirm":
            return str(self._timed.dumps(payload))
        return str(self._plain[purpose].dumps(payload))

    def read(self, purpose: Purpose, token: str) -> TokenSubject:
        if len(token) > 1000:
            raise BadToken("This link is not valid.")
        try:
            if purpose == "confirm":
                data = self._timed.loads(token, max_age=CONFIRM_MAX_AGE)
            else:
                data = self._plain[purpose].loads(token)
        except SignatureExpired:
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

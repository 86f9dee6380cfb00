"""Readers' accounts: sign-up, address verification, passwords, sessions, password
resets and API tokens.

Knows nothing of HTTP. Passwords are kept only as argon2id hashes (argon2-cffi's
``PasswordHasher``, rehashed on sign-in when its parameters change). Session tokens,
reset tokens and API tokens are high-entropy random strings handed to the reader once;
the database holds only their SHA-256, so a leaked copy of it signs nobody in.

Invariants:

- **An address is the account's only once verified.** Sign-up never proves the
  address, so until a signed, expiring verification link (``verify_token``, an
  itsdangerous token bound to the account and its address) is used by the signed-in
  account, ``User.email_verified`` is false and front ends link no subscription or
  mail of that address to it. A password reset, which is mailed to the address, also
  verifies it.
- **Sign-up does not tell whether an address has an account.** :meth:`Accounts.sign_up`
  costs the same and returns a mail either way: the verification link for a new
  account, a "someone tried to sign up with your address" notice for an existing one.
- **API tokens are weaker than a password.** A token has a scope (``read``: GET/HEAD
  only; ``write``) and may expire; a password change or reset revokes every token and
  every session of the account. Front ends accept tokens on the API only, and no API
  endpoint manages tokens, passwords or the address.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from email_validator import EmailNotValidError, validate_email
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from paperlens.config import Settings
from paperlens.errors import Invalid
from paperlens.store.schema import (
    ApiTokenRow,
    PasswordResetRow,
    SessionRow,
    UserRow,
    public_name,
    table,
    utcnow,
)
from paperlens.text import clean_user_text

MIN_PASSWORD = 10
MAX_PASSWORD = 1000
MAX_DISPLAY_NAME = 100
MAX_EMAIL = 320
MAX_CATEGORIES = 50
MAX_TOKEN_NAME = 100
MAX_API_TOKENS = 50
SESSION_LIFETIME = timedelta(days=30)
RESET_LIFETIME = timedelta(hours=1)
#: How long an address-verification link works (seconds; itsdangerous counts them).
VERIFY_MAX_AGE = 3 * 24 * 3600
#: API token scopes: ``read`` allows only GET and HEAD on the API.
READ_SCOPE = "read"
WRITE_SCOPE = "write"
TOKEN_SCOPES = (READ_SCOPE, WRITE_SCOPE)
#: The lifetimes a token may be given, in days (``None``: until revoked).
TOKEN_LIFETIMES: tuple[int | None, ...] = (7, 30, 90, 365, None)
#: Prefix of API tokens, so they are recognisable (secret scanners, logs).
API_TOKEN_PREFIX = "pl_"  # noqa: S105 (a prefix, not a secret)
_CATEGORY = re.compile(r"^[a-z][a-z-]*(\.[A-Za-z][A-Za-z-]*)?$")
_CONTROL = dict.fromkeys([*range(0, 32), 127], " ")
#: Row numbers fit a signed 64-bit integer; larger ones (from URLs) name nothing.
MAX_PK = 2**63 - 1

users = table(UserRow)
sessions = table(SessionRow)
resets = table(PasswordResetRow)
api_tokens = table(ApiTokenRow)


@dataclass(frozen=True, slots=True)
class User:
    pk: int
    email: str
    display_name: str
    is_admin: bool
    categories: list[str]
    created_at: datetime
    #: Whether the reader proved the address is theirs (see the module's invariants).
    email_verified: bool = False

    @property
    def name(self) -> str:
        """What to call the reader to their own face (the header): the display name,
        else the email's local part. Others see :func:`public_name`."""
        return self.display_name or self.email.split("@", 1)[0]

    def owns_address(self, email: str) -> bool:
        """Whether ``email`` is this reader's proven address: only then may a
        subscription or mail of that address be linked to the account."""
        return self.email_verified and self.email.lower() == email.strip().lower()

    @property
    def public_name(self) -> str:
        """What other readers see: the display name, else ``reader #<pk>``."""
        return public_name(self.display_name, self.pk)


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token as listed in the settings page (never its plaintext)."""

    pk: int
    name: str
    hint: str
    created_at: datetime
    last_used_at: datetime | None
    scope: str = WRITE_SCOPE
    expires_at: datetime | None = None

    @property
    def read_only(self) -> bool:
        return self.scope == READ_SCOPE


@dataclass(frozen=True, slots=True)
class ApiCredential:
    """Who an API token speaks for, and what it may do."""

    user: User
    token_pk: int
    scope: str
    expires_at: datetime | None

    @property
    def read_only(self) -> bool:
        return self.scope == READ_SCOPE


class InvalidResetToken(Invalid):
    """The reset link is unknown, expired or already used."""


class InvalidVerifyToken(Invalid):
    """The verification link is forged, cut short, too old, or for another account."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def normalise_email(email: str) -> str:
    """``email`` validated (syntax and domain form; no DNS lookup) and lower-cased;
    ``ValueError`` with a message for people otherwise."""
    email = email.strip()
    if not email:
        raise ValueError("enter an email address")
    if len(email) > MAX_EMAIL:
        raise ValueError(f"that email address is too long (at most {MAX_EMAIL} characters)")
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"that is not a valid email address: {exc}") from None
    return checked.normalized.lower()


def check_password(password: str, email: str = "") -> None:
    """The password policy: ``ValueError`` saying what is wrong, else nothing."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password must have at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise ValueError("the password cannot be only spaces")
    if len(set(password)) < 4:
        raise ValueError("the password needs more different characters")
    if email and password.strip().lower() == email.lower():
        raise ValueError("the password cannot be your email address")


def clean_display_name(name: str) -> str:
    name = clean_user_text(name)
    if len(name) > MAX_DISPLAY_NAME:
        raise ValueError(f"the display name must have at most {MAX_DISPLAY_NAME} characters")
    return name


def clean_categories(categories: list[str]) -> list[str]:
    """Categories (``cs.LG``) or archives (``cs``), de-duplicated, in the given order."""
    out: list[str] = []
    for raw in categories:
        cat = raw.strip()
        if not cat:
            continue
        if len(cat) > 64 or not _CATEGORY.match(cat):
            raise ValueError(f"{cat[:40]!r} is not an arXiv category (like cs.LG) or archive (cs)")
        if cat not in out:
            out.append(cat)
    if len(out) > MAX_CATEGORIES:
        raise ValueError(f"follow at most {MAX_CATEGORIES} categories")
    return out


def _user(row: Any) -> User:
    return User(
        pk=row.pk,
        email=row.email,
        display_name=row.display_name or "",
        is_admin=bool(row.is_admin),
        categories=list(row.categories or []),
        created_at=row.created_at,
        email_verified=row.email_verified_at is not None,
    )


_USER_COLS = (
    users.c.pk,
    users.c.email,
    users.c.display_name,
    users.c.is_admin,
    users.c.categories,
    users.c.created_at,
    users.c.email_verified_at,
)


class Accounts:
    """Users, sessions, reset links and API tokens over the SQL store.

    ``clock`` returns the current UTC time (tests move it to expire links)."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utcnow,
        session_lifetime: timedelta = SESSION_LIFETIME,
        reset_lifetime: timedelta = RESET_LIFETIME,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.hasher = hasher or PasswordHasher()
        self.clock = clock
        self.session_lifetime = session_lifetime
        self.reset_lifetime = reset_lifetime
        self._dummy_hash: str | None = None
        # Its own salt: a digest link can never pass as a verification link.
        self._verify = URLSafeTimedSerializer(
            settings.resolved_secret_key, salt="paperlens.accounts.verify-email"
        )

    # -- users ------------------------------------------------------------------------

    def create_user(
        self, email: str, password: str, display_name: str = "", *, verified: bool = False
    ) -> User:
        """A new account; the first one is an admin. ``verified`` only for accounts an
        operator makes (the CLI): sign-ups prove their address by mail. ``ValueError``
        for a bad or taken email, a weak password or a too-long name."""
        email = normalise_email(email)
        check_password(password, email)
        name = clean_display_name(display_name)
        hashed = self.hasher.hash(password)
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                first = conn.execute(select(func.count()).select_from(users)).scalar_one() == 0
                pk = conn.execute(
                    insert(users)
                    .values(
                        email=email,
                        password_hash=hashed,
                        display_name=name,
                        is_admin=first,
                        categories=[],
                        created_at=now,
                        email_verified_at=now if verified else None,
                    )
                    .returning(users.c.pk)
                ).scalar_one()
        except IntegrityError:
            raise ValueError("an account with this email address already exists") from None
        return User(int(pk), email, name, first, [], now, verified)

    def sign_up(self, email: str, password: str, display_name: str = "") -> EmailMessage:
        """Sign-up that does not tell whether ``email`` has an account: the mail to send
        is the verification link of the new account, or, when the address is taken, a
        notice to its owner. Both cost one password hash. ``ValueError`` for bad input
        (which says nothing about existing accounts)."""
        email = normalise_email(email)
        check_password(password, email)
        clean_display_name(display_name)
        # Input is valid: the only failure left is a taken address, after the hash.
        try:
            user = self.create_user(email, password, display_name)
        except ValueError:
            existing = self.get_by_email(email)
            if existing is None:  # not a duplicate: bad input
                raise
            return self.taken_message(existing.email)
        return self.verify_message(user)

    # -- address verification ----------------------------------------------------------

    def verify_token(self, user: User) -> str:
        """A signed link token naming the account and its address (expires after
        :data:`VERIFY_MAX_AGE`)."""
        return str(self._verify.dumps([user.pk, user.email]))

    def verify_email(self, user: User, token: str) -> User:
        """Mark ``user``'s address verified with a token from :meth:`verify_token`.
        The token must name this very account and address: someone who signed up with
        another's address cannot use a link the owner opens, and the owner cannot
        verify an account they do not hold the password of. :class:`InvalidVerifyToken`
        otherwise."""
        if len(token) > 1000:
            raise InvalidVerifyToken("This verification link is not valid.")
        try:
            data = self._verify.loads(token, max_age=VERIFY_MAX_AGE)
        except SignatureExpired:
            raise InvalidVerifyToken(
                "This verification link has expired; send a new one from Settings."
            ) from None
        except BadSignature:
            raise InvalidVerifyToken(
                "This verification link is not valid (it may have been cut short)."
            ) from None
        if data != [user.pk, user.email]:
            raise InvalidVerifyToken(
                "This verification link belongs to another account: sign in to the "
                "account it was sent for."
            )
        if not user.email_verified:
            with self.engine.begin() as conn:
                conn.execute(
                    update(users)
                    .where(users.c.pk == user.pk, users.c.email == user.email)
                    .where(users.c.email_verified_at.is_(None))
                    .values(email_verified_at=self.clock())
                )
        found = self.get_user(user.pk)
        assert found is not None
        return found

    def _url(self, path: str) -> str:
        return f"{self.settings.public_url.rstrip('/')}{path}"

    def verify_message(self, user: User) -> EmailMessage:
        """The mail with the address-verification link."""
        from html import escape

        link = self._url(f"/verify/{self.verify_token(user)}")
        days = VERIFY_MAX_AGE // (24 * 3600)
        msg = EmailMessage()
        msg["To"] = user.email
        msg["Subject"] = "Verify your paperlens address"
        msg.set_content(
            "Someone (hopefully you) made a paperlens account with this address.\n\n"
            f"To confirm the address is yours, open this link while signed in to that "
            f"account (it works for {days} days):\n{link}\n\n"
            "If you did not sign up, ignore this mail: without the account's password "
            "the link does nothing.\n"
        )
        msg.add_alternative(
            "<p>Someone (hopefully you) made a paperlens account with this address.</p>"
            f'<p><a href="{escape(link)}">Verify your address</a> while signed in to that '
            f"account (the link works for {days} days).</p>"
            "<p>If you did not sign up, ignore this mail: without the account's password "
            "the link does nothing.</p>",
            subtype="html",
        )
        return msg

    def taken_message(self, email: str) -> EmailMessage:
        """The mail to the owner of an address someone tried to sign up with."""
        from html import escape

        login, reset = self._url("/login"), self._url("/reset")
        msg = EmailMessage()
        msg["To"] = email
        msg["Subject"] = "Someone tried to sign up with your paperlens address"
        msg.set_content(
            "Someone tried to make a paperlens account with this address, which already "
            "has one.\n\n"
            f"If it was you, sign in: {login}\n"
            f"Forgot the password? Reset it: {reset}\n\n"
            "If it was not you, ignore this mail: nothing changed.\n"
        )
        msg.add_alternative(
            "<p>Someone tried to make a paperlens account with this address, which "
            "already has one.</p>"
            f'<p>If it was you, <a href="{escape(login)}">sign in</a>, or '
            f'<a href="{escape(reset)}">reset your password</a> if you forgot it.</p>'
            "<p>If it was not you, ignore this mail: nothing changed.</p>",
            subtype="html",
        )
        return msg

    def get_user(self, pk: int) -> User | None:
        if not 0 < pk <= MAX_PK:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(*_USER_COLS).where(users.c.pk == pk)).first()
        return _user(row) if row else None

    def get_by_email(self, email: str) -> User | None:
        key = email.strip().lower()
        with self.engine.connect() as conn:
            row = conn.execute(select(*_USER_COLS).where(users.c.email == key)).first()
        return _user(row) if row else None

    def count_users(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar_one())

    def _verify_dummy(self, password: str) -> None:
        """Spend the time a real check takes, so a missing account does not show."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(VerificationError):
            self.hasher.verify(self._dummy_hash, password)

    def authenticate(self, email: str, password: str) -> User | None:
        """The user with this email and password, else ``None`` (same cost either way)."""
        key = email.strip().lower()
        if len(key) > MAX_EMAIL or len(password) > MAX_PASSWORD:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_USER_COLS, users.c.password_hash).where(users.c.email == key)
            ).first()
        if row is None:
            self._verify_dummy(password)
            return None
        try:
            self.hasher.verify(row.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if self.hasher.check_needs_rehash(row.password_hash):
            self._store_password(row.pk, password)
        return _user(row)

    def _store_password(self, user_pk: int, password: str) -> None:
        hashed = self.hasher.hash(password)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.pk == user_pk).values(password_hash=hashed))

    def change_password(self, user_pk: int, current: str, new: str) -> None:
        """Change the password after checking the current one; every session ends and
        every API token is revoked (the caller starts a fresh session for the browser
        that asked)."""
        user = self.get_user(user_pk)
        if user is None or self.authenticate(user.email, current) is None:
            raise ValueError("the current password is not right")
        check_password(new, user.email)
        hashed = self.hasher.hash(new)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.pk == user_pk).values(password_hash=hashed))
            conn.execute(delete(sessions).where(sessions.c.user_pk == user_pk))
            conn.execute(delete(api_tokens).where(api_tokens.c.user_pk == user_pk))

    def set_admin(self, email: str, is_admin: bool = True) -> User:
        """Grant (or take back) the admin role; ``LookupError`` if there is no such user."""
        key = email.strip().lower()
        with self.engine.begin() as conn:
            done = conn.execute(
                update(users).where(users.c.email == key).values(is_admin=is_admin)
            ).rowcount
        user = self.get_by_email(key) if done else None
        if user is None:
            raise LookupError(f"no user with email {email.strip()!r}")
        return user

    def set_display_name(self, user_pk: int, display_name: str) -> None:
        name = clean_display_name(display_name)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.pk == user_pk).values(display_name=name))

    def set_categories(self, user_pk: int, categories: list[str]) -> list[str]:
        """Set the followed categories (validated, de-duplicated); returns them."""
        cats = clean_categories(categories)
        with self.engine.begin() as conn:
            conn.execute(update(users).where(users.c.pk == user_pk).values(categories=cats))
        return cats

    # -- sessions ---------------------------------------------------------------------

    def start_session(self, user_pk: int) -> str:
        """A new session token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= now))
            conn.execute(
                insert(sessions).values(
                    token_hash=token_hash(token),
                    user_pk=user_pk,
                    created_at=now,
                    expires_at=now + self.session_lifetime,
                )
            )
        return token

    def session_user(self, token: str) -> User | None:
        """The user a live session token belongs to, else ``None``."""
        if not token or len(token) > 200:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(*_USER_COLS)
                .join(sessions, sessions.c.user_pk == users.c.pk)
                .where(sessions.c.token_hash == token_hash(token))
                .where(sessions.c.expires_at > self.clock())
            ).first()
        return _user(row) if row else None

    def end_session(self, token: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash(token)))

    def end_all_sessions(self, user_pk: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.user_pk == user_pk))

    # -- password reset ----------------------------------------------------------------

    def start_reset(self, email: str) -> str | None:
        """A one-time reset token for the account with ``email``; ``None`` if there is
        none (callers must answer the same either way)."""
        user = self.get_by_email(email)
        if user is None:
            return None
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with self.engine.begin() as conn:
            conn.execute(delete(resets).where(resets.c.expires_at <= now))
            conn.execute(
                insert(resets).values(
                    token_hash=token_hash(token),
                    user_pk=user.pk,
                    created_at=now,
                    expires_at=now + self.reset_lifetime,
                    used_at=None,
                )
            )
        return token

    def reset_is_valid(self, token: str) -> bool:
        """Whether ``token`` would be accepted now (for showing the form or an error)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(resets.c.user_pk)
                .where(resets.c.token_hash == token_hash(token))
                .where(resets.c.used_at.is_(None))
                .where(resets.c.expires_at > self.clock())
            ).first()
        return row is not None

    def finish_reset(self, token: str, new_password: str) -> User:
        """Set a new password with a reset token: the token is used up, every other
        reset link of the account is dropped, every session ends,
        every API token is revoked, and the address counts as verified (the link
        reached its mailbox). :class:`InvalidResetToken` if it is unknown, expired or
        used; ``ValueError`` for a weak password (the token then stays usable)."""
        now = self.clock()
        digest = token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(resets.c.user_pk)
                .where(resets.c.token_hash == digest)
                .where(resets.c.used_at.is_(None))
                .where(resets.c.expires_at > now)
            ).first()
        user = self.get_user(row.user_pk) if row else None
        if user is None:
            raise InvalidResetToken("this reset link has expired or was already used")
        check_password(new_password, user.email)
        hashed = self.hasher.hash(new_password)
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(resets)
                .where(resets.c.token_hash == digest)
                .where(resets.c.used_at.is_(None))
                .values(used_at=now)
            ).rowcount
            if claimed != 1:  # a concurrent request used it first
                raise InvalidResetToken("this reset link has expired or was already used")
            conn.execute(update(users).where(users.c.pk == user.pk).values(password_hash=hashed))
            conn.execute(
                update(users)
                .where(users.c.pk == user.pk, users.c.email_verified_at.is_(None))
                .values(email_verified_at=now)
            )
            conn.execute(
                delete(resets).where(resets.c.user_pk == user.pk).where(resets.c.used_at.is_(None))
            )
            conn.execute(delete(sessions).where(sessions.c.user_pk == user.pk))
            conn.execute(delete(api_tokens).where(api_tokens.c.user_pk == user.pk))
        found = self.get_user(user.pk)
        assert found is not None
        return found

    def reset_message(self, email: str, token: str) -> EmailMessage:
        """The password-reset mail (plain text and HTML) with the one-time link."""
        from html import escape

        link = f"{self.settings.public_url.rstrip('/')}/reset/{token}"
        minutes = int(self.reset_lifetime.total_seconds() // 60)
        msg = EmailMessage()
        msg["To"] = email
        msg["Subject"] = "Reset your paperlens password"
        msg.set_content(
            "Someone (hopefully you) asked to reset the password of this paperlens account.\n\n"
            f"Open this link to choose a new password (it works once, for {minutes} minutes):\n"
            f"{link}\n\nIf you did not ask, ignore this mail: your password stays as it is.\n"
        )
        msg.add_alternative(
            "<p>Someone (hopefully you) asked to reset the password of this paperlens "
            "account.</p>"
            f'<p><a href="{escape(link)}">Choose a new password</a> '
            f"(the link works once, for {minutes} minutes).</p>"
            "<p>If you did not ask, ignore this mail: your password stays as it is.</p>",
            subtype="html",
        )
        return msg

    # -- API tokens --------------------------------------------------------------------

    def create_api_token(
        self,
        user_pk: int,
        name: str,
        *,
        scope: str = WRITE_SCOPE,
        lifetime_days: int | None = None,
    ) -> tuple[int, str]:
        """A new API token: ``(token_id, plaintext)``; the plaintext is never stored.
        ``scope`` is one of :data:`TOKEN_SCOPES`; ``lifetime_days`` one of
        :data:`TOKEN_LIFETIMES` (``ValueError`` otherwise)."""
        if scope not in TOKEN_SCOPES:
            raise ValueError(f"the scope must be one of {', '.join(TOKEN_SCOPES)}")
        if lifetime_days not in TOKEN_LIFETIMES:
            raise ValueError("choose one of the offered lifetimes")
        name = " ".join(name.translate(_CONTROL).split())[:MAX_TOKEN_NAME] or "API token"
        now = self.clock()
        expires = None if lifetime_days is None else now + timedelta(days=lifetime_days)
        plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            count = conn.execute(
                select(func.count()).select_from(api_tokens).where(api_tokens.c.user_pk == user_pk)
            ).scalar_one()
            if count >= MAX_API_TOKENS:
                raise ValueError(f"at most {MAX_API_TOKENS} API tokens; revoke one first")
            pk = conn.execute(
                insert(api_tokens)
                .values(
                    user_pk=user_pk,
                    name=name,
                    token_hash=token_hash(plaintext),
                    hint=plaintext[:8],
                    created_at=now,
                    last_used_at=None,
                    scope=scope,
                    expires_at=expires,
                )
                .returning(api_tokens.c.pk)
            ).scalar_one()
        return int(pk), plaintext

    def api_credential(self, plaintext: str) -> ApiCredential | None:
        """The user a live (unexpired) API token belongs to and its scope (noting when
        it was used), else ``None``."""
        if not plaintext.startswith(API_TOKEN_PREFIX) or len(plaintext) > 200:
            return None
        digest = token_hash(plaintext)
        now = self.clock()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    *_USER_COLS,
                    api_tokens.c.pk.label("token_pk"),
                    api_tokens.c.last_used_at,
                    api_tokens.c.scope,
                    api_tokens.c.expires_at,
                )
                .join(api_tokens, api_tokens.c.user_pk == users.c.pk)
                .where(api_tokens.c.token_hash == digest)
                .where(or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now))
            ).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=5):
            with self.engine.begin() as conn:
                conn.execute(
                    update(api_tokens)
                    .where(api_tokens.c.pk == row.token_pk)
                    .values(last_used_at=now)
                )
        return ApiCredential(_user(row), int(row.token_pk), str(row.scope), row.expires_at)

    def api_token_user(self, plaintext: str) -> User | None:
        """The user a live API token belongs to, else ``None``."""
        credential = self.api_credential(plaintext)
        return credential.user if credential else None

    def list_api_tokens(self, user_pk: int) -> list[ApiToken]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    api_tokens.c.pk,
                    api_tokens.c.name,
                    api_tokens.c.hint,
                    api_tokens.c.created_at,
                    api_tokens.c.last_used_at,
                    api_tokens.c.scope,
                    api_tokens.c.expires_at,
                )
                .where(api_tokens.c.user_pk == user_pk)
                .order_by(api_tokens.c.pk)
            ).all()
        return [
            ApiToken(r.pk, r.name, r.hint, r.created_at, r.last_used_at, r.scope, r.expires_at)
            for r in rows
        ]

    def revoke_api_token(self, user_pk: int, token_id: int) -> bool:
        """Delete one of the user's tokens; ``False`` if they have no such token."""
        if not 0 < token_id <= MAX_PK:
            return False
        with self.engine.begin() as conn:
            done = conn.execute(
                delete(api_tokens)
                .where(api_tokens.c.pk == token_id)
                .where(api_tokens.c.user_pk == user_pk)
            ).rowcount
        return bool(done)

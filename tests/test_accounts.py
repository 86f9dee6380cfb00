"""The accounts core: users, passwords (argon2id), sessions, reset links, API tokens,
over a real database (SQLite, or PostgreSQL with PAPERLENS_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from paperlens.accounts import Accounts, InvalidResetToken, token_hash
from paperlens.config import Settings
from paperlens.mail import Mailer
from paperlens.store.db import open_engine
from paperlens.store.schema import ApiTokenRow, SessionRow, UserRow, table

PASSWORD = "correct horse battery"
FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(settings: Settings, clock: Clock) -> Iterator[Accounts]:
    engine = open_engine(settings.resolved_database_url)
    yield Accounts(engine, settings, hasher=FAST, clock=clock)
    engine.dispose()


def stored_hash(accounts: Accounts, email: str) -> str:
    users = table(UserRow)
    with accounts.engine.connect() as conn:
        value = conn.execute(select(users.c.password_hash).where(users.c.email == email)).scalar()
    assert isinstance(value, str)
    return value


# -- sign-up ------------------------------------------------------------------------------


def test_first_user_is_admin_and_email_is_lower_cased(accounts: Accounts) -> None:
    first = accounts.create_user("Ada@Example.ORG", PASSWORD, "Ada")
    second = accounts.create_user("bob@example.org", PASSWORD)
    assert first.is_admin and first.email == "ada@example.org" and first.display_name == "Ada"
    assert not second.is_admin
    assert accounts.get_by_email("ADA@example.org") == first
    assert accounts.get_user(second.pk) == second
    assert second.name == "bob"


def test_password_is_stored_as_argon2id_only(accounts: Accounts) -> None:
    accounts.create_user("hash@example.org", PASSWORD)
    stored = stored_hash(accounts, "hash@example.org")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "not a valid email"),
        ("", PASSWORD, "enter an email"),
        ("a@example.org", "short", "at least 10 characters"),
        ("a@example.org", "aaaaaaaaaaaa", "more different characters"),
        ("a@example.org", " " * 12, "only spaces"),
        ("longpass@example.org", "longpass@example.org", "cannot be your email"),
    ],
)
def test_bad_sign_ups_say_why(accounts: Accounts, email: str, password: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        accounts.create_user(email, password)
    assert accounts.count_users() == 0


def test_duplicate_email_is_refused_whatever_the_case(accounts: Accounts) -> None:
    accounts.create_user("dup@example.org", PASSWORD)
    with pytest.raises(ValueError, match="already exists"):
        accounts.create_user("DUP@example.org", PASSWORD + "x")
    assert accounts.count_users() == 1


# -- authentication ------------------------------------------------------------------------


def test_authenticate(accounts: Accounts) -> None:
    user = accounts.create_user("auth@example.org", PASSWORD)
    assert accounts.authenticate("Auth@example.org", PASSWORD) == user
    assert accounts.authenticate("auth@example.org", PASSWORD + "!") is None
    assert accounts.authenticate("nobody@example.org", PASSWORD) is None
    assert accounts.authenticate("auth@example.org", "") is None


def test_old_parameters_are_rehashed_on_sign_in(accounts: Accounts, settings: Settings) -> None:
    accounts.create_user("rehash@example.org", PASSWORD)
    before = stored_hash(accounts, "rehash@example.org")
    assert "m=8192" in before
    stronger = Accounts(accounts.engine, settings, hasher=PasswordHasher(memory_cost=16384))
    assert stronger.authenticate("rehash@example.org", PASSWORD) is not None
    after = stored_hash(accounts, "rehash@example.org")
    assert "m=16384" in after and after.startswith("$argon2id$")
    assert stronger.authenticate("rehash@example.org", PASSWORD) is not None


def test_admin_and_profile(accounts: Accounts) -> None:
    accounts.create_user("first@example.org", PASSWORD)
    user = accounts.create_user("second@example.org", PASSWORD)
    assert accounts.set_admin("SECOND@example.org", True).is_admin
    assert accounts.set_admin("second@example.org", False).is_admin is False
    with pytest.raises(LookupError, match="no user"):
        accounts.set_admin("ghost@example.org", True)
    assert accounts.set_categories(user.pk, ["cs.LG", "cs", "cs.LG", " "]) == ["cs.LG", "cs"]
    with pytest.raises(ValueError, match="not an arXiv category"):
        accounts.set_categories(user.pk, ["<script>"])
    accounts.set_display_name(user.pk, "  Grace\n Hopper ")
    got = accounts.get_user(user.pk)
    assert got is not None and got.categories == ["cs.LG", "cs"]
    assert got.display_name == "Grace Hopper"


# -- sessions ------------------------------------------------------------------------------


def test_sessions_store_only_a_hash_and_expire(accounts: Accounts, clock: Clock) -> None:
    user = accounts.create_user("sess@example.org", PASSWORD)
    token = accounts.start_session(user.pk)
    assert accounts.session_user(token) == user
    with accounts.engine.connect() as conn:
        hashes = conn.execute(select(table(SessionRow).c.token_hash)).scalars().all()
    assert hashes == [token_hash(token)] and token not in hashes
    assert accounts.session_user(token + "x") is None
    assert accounts.session_user("") is None
    clock.now += accounts.session_lifetime + timedelta(seconds=1)
    assert accounts.session_user(token) is None


def test_end_session_and_change_password(accounts: Accounts) -> None:
    user = accounts.create_user("end@example.org", PASSWORD)
    one, two = accounts.start_session(user.pk), accounts.start_session(user.pk)
    accounts.end_session(one)
    assert accounts.session_user(one) is None
    assert accounts.session_user(two) == user
    with pytest.raises(ValueError, match="current password"):
        accounts.change_password(user.pk, "wrong password!", "another good one")
    accounts.change_password(user.pk, PASSWORD, "another good one")
    assert accounts.session_user(two) is None
    assert accounts.authenticate("end@example.org", "another good one") == user


# -- password reset ------------------------------------------------------------------------


def test_reset_is_single_use_and_ends_sessions(accounts: Accounts) -> None:
    user = accounts.create_user("reset@example.org", PASSWORD)
    session = accounts.start_session(user.pk)
    assert accounts.start_reset("nobody@example.org") is None
    token = accounts.start_reset("RESET@example.org")
    other = accounts.start_reset("reset@example.org")
    assert token and other and token != other
    with pytest.raises(ValueError, match="at least 10"):
        accounts.finish_reset(token, "short")
    assert accounts.reset_is_valid(token)  # a weak password does not use the link up
    assert accounts.finish_reset(token, "a brand new password").pk == user.pk
    assert accounts.authenticate("reset@example.org", "a brand new password") is not None
    assert accounts.authenticate("reset@example.org", PASSWORD) is None
    assert accounts.session_user(session) is None
    with pytest.raises(InvalidResetToken):
        accounts.finish_reset(token, "yet another password")
    with pytest.raises(InvalidResetToken):  # the other outstanding link died too
        accounts.finish_reset(other, "yet another password")
    assert accounts.authenticate("reset@example.org", "a brand new password") is not None


def test_reset_link_expires(accounts: Accounts, clock: Clock) -> None:
    accounts.create_user("late@example.org", PASSWORD)
    token = accounts.start_reset("late@example.org")
    assert token is not None
    clock.now += accounts.reset_lifetime + timedelta(seconds=1)
    assert not accounts.reset_is_valid(token)
    with pytest.raises(InvalidResetToken, match="expired"):
        accounts.finish_reset(token, "a brand new password")
    assert accounts.authenticate("late@example.org", PASSWORD) is not None


def test_reset_mail_goes_over_smtp(
    accounts: Accounts, settings: Settings, smtp_server: Any
) -> None:
    accounts.create_user("mail@example.org", PASSWORD)
    token = accounts.start_reset("mail@example.org")
    assert token is not None
    mail_settings = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}
    )
    Mailer(mail_settings).send(accounts.reset_message("mail@example.org", token))
    (msg,) = smtp_server.messages
    assert msg["To"] == "mail@example.org"
    body = msg.get_body(("plain",)).get_content()
    assert f"{settings.public_url}/reset/{token}" in body
    html = msg.get_body(("html",)).get_content()
    assert f"/reset/{token}" in html


# -- API tokens -----------------------------------------------------------------------------


def test_api_tokens(accounts: Accounts) -> None:
    alice = accounts.create_user("alice@example.org", PASSWORD)
    bob = accounts.create_user("bob@example.org", PASSWORD)
    token_id, plaintext = accounts.create_api_token(alice.pk, "laptop <b>")
    assert plaintext.startswith("pl_") and len(plaintext) > 40
    assert accounts.api_token_user(plaintext) == alice
    assert accounts.api_token_user(plaintext[:-1]) is None
    assert accounts.api_token_user("") is None
    with accounts.engine.connect() as conn:
        stored = conn.execute(select(table(ApiTokenRow).c.token_hash)).scalars().all()
    assert stored == [token_hash(plaintext)]
    (listed,) = accounts.list_api_tokens(alice.pk)
    assert listed.pk == token_id and listed.name == "laptop <b>" and listed.last_used_at
    assert plaintext.startswith(listed.hint) and len(listed.hint) < 10
    assert not accounts.revoke_api_token(bob.pk, token_id)  # not Bob's to revoke
    assert accounts.api_token_user(plaintext) == alice
    assert accounts.revoke_api_token(alice.pk, token_id)
    assert accounts.api_token_user(plaintext) is None
    assert accounts.list_api_tokens(alice.pk) == []


# -- command line -----------------------------------------------------------------------------


def test_cli_user_create_and_admin_add(settings: Settings) -> None:
    from typer.testing import CliRunner

    from paperlens.cli.main import app

    runner = CliRunner()
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.resolved_database_url]

    def run(*args: str, stdin: str | None = None) -> Any:
        return runner.invoke(app, [*base, *args], input=stdin)

    r = run("user", "create", "First@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    assert r.exit_code == 0 and "administrator" in r.output, r.output
    r = run("user", "create", "second@example.org", "--name", "Sam", stdin=f"{PASSWORD}\n" * 2)
    assert r.exit_code == 0 and "created second@example.org" in r.output, r.output
    r = run("user", "create", "third@example.org", "--password-stdin", stdin="short\n")
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    r = run("admin", "add", "ghost@example.org")
    assert r.exit_code == 1
    assert r.output.strip().splitlines()[-1] == "error: no user with email 'ghost@example.org'"
    r = run("admin", "add", "SECOND@example.org")
    assert r.exit_code == 0 and "second@example.org is now an administrator" in r.output
    engine = open_engine(settings.resolved_database_url)
    try:
        accounts = Accounts(engine, settings)
        second = accounts.get_by_email("second@example.org")
        assert second is not None and second.is_admin and second.display_name == "Sam"
        assert second.email_verified  # the operator vouches for the address
        assert accounts.authenticate("second@example.org", PASSWORD) == second
        assert accounts.get_by_email("third@example.org") is None
    finally:
        engine.dispose()


# -- issue 12 -------------------------------------------------------------------------------


def test_verification_is_bound_to_account_and_address(accounts: Accounts) -> None:
    from paperlens.accounts import InvalidVerifyToken

    alice = accounts.create_user("alice@example.org", PASSWORD)
    bob = accounts.create_user("bob@example.org", PASSWORD)
    assert not alice.email_verified and not alice.owns_address("alice@example.org")
    token = accounts.verify_token(alice)
    with pytest.raises(InvalidVerifyToken, match="another account"):
        accounts.verify_email(bob, token)
    with pytest.raises(InvalidVerifyToken, match="not valid"):
        accounts.verify_email(alice, token[:-2])
    done = accounts.verify_email(alice, token)
    assert done.email_verified and done.owns_address(" ALICE@example.org")
    assert not done.owns_address("bob@example.org")
    assert not accounts.get_by_email("bob@example.org").email_verified  # type: ignore[union-attr]
    assert accounts.create_user("op@example.org", PASSWORD, verified=True).email_verified


def test_sign_up_returns_a_mail_either_way(accounts: Accounts) -> None:
    first = accounts.sign_up("new@example.org", PASSWORD)
    assert "Verify" in first["Subject"] and "/verify/" in first.get_body(("plain",)).get_content()
    again = accounts.sign_up("NEW@example.org", "another password 1")
    assert again["To"] == "new@example.org" and "tried to sign up" in again["Subject"]
    with pytest.raises(ValueError, match="at least 10"):  # bad input: the same error
        accounts.sign_up("new@example.org", "short")
    with pytest.raises(ValueError, match="at least 10"):
        accounts.sign_up("other@example.org", "short")
    assert accounts.authenticate("new@example.org", PASSWORD) is not None


def test_tokens_scope_expiry_and_revocation(accounts: Accounts, clock: Clock) -> None:
    user = accounts.create_user("tok@example.org", PASSWORD)
    _id, read = accounts.create_api_token(user.pk, "r", scope="read", lifetime_days=7)
    _id, write = accounts.create_api_token(user.pk, "w")
    cred = accounts.api_credential(read)
    assert cred is not None and cred.read_only and cred.user.pk == user.pk
    assert cred.expires_at == clock.now + timedelta(days=7)
    listed = {t.name: t for t in accounts.list_api_tokens(user.pk)}
    assert listed["r"].read_only and not listed["w"].read_only and listed["w"].expires_at is None
    with pytest.raises(ValueError, match="scope"):
        accounts.create_api_token(user.pk, "x", scope="admin")
    with pytest.raises(ValueError, match="lifetimes"):
        accounts.create_api_token(user.pk, "x", lifetime_days=3)
    clock.now += timedelta(days=7, seconds=1)
    assert accounts.api_credential(read) is None
    assert accounts.api_token_user(write) is not None
    accounts.change_password(user.pk, PASSWORD, "another good one")
    assert accounts.api_token_user(write) is None and accounts.list_api_tokens(user.pk) == []
    _id, again = accounts.create_api_token(user.pk, "again")
    reset = accounts.start_reset("tok@example.org")
    assert reset is not None
    assert accounts.finish_reset(reset, "a third password").email_verified
    assert accounts.api_token_user(again) is None

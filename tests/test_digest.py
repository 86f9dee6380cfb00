"""Email digests end to end: a real SMTP server (aiosmtpd on loopback) receives the mails,
the tests parse them and follow their links against the app; the sender is killed in
the middle of a batch and run again."""

from __future__ import annotations

import asyncio
import html
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import HOSTILE_ID, HOSTILE_TITLE, UPVOTED_VOTES, WebCorpus, serve_smtp

SECRET = "digest-tests-secret-of-at-least-32-characters"
PUBLIC = "http://testserver"
SEARCH_WORD = "Jerry"  # matches the hostile test paper (its title has <script> and &)

#: The shared corpus holds old papers, stored when the session started. The tests of
#: subscribing and sending treat them as news: their readers confirmed before the corpus
#: was stored (:data:`CONFIRMED_BEFORE_CORPUS`) and the grace reaches back past its
#: oldest paper. What "new" means is tested on fresh stores (``newsroom``, below).
OLD_NEWS_GRACE_HOURS = 24 * 366 * 60
CONFIRMED_BEFORE_CORPUS = timedelta(days=30)


# -- helpers ------------------------------------------------------------------------------


def unique_email(tag: str = "r") -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@Example.org"


def weekday_now() -> datetime:
    """Now, or the next weekday at the same time (daily digests skip weekends)."""
    now = datetime.now(UTC)
    while now.weekday() >= 5:
        now += timedelta(days=1)
    return now


def path_of(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


def parts_of(msg: EmailMessage) -> tuple[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content(), page.get_content()


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://[^\s<>\"]+", text)


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "page has no CSRF field"
    return html.unescape(found.group(1))


def mails_to(messages: list[Any], email: str) -> list[EmailMessage]:
    return [m for m in messages if str(m["To"]).lower() == email.lower()]


def digests_to(messages: list[Any], email: str) -> list[EmailMessage]:
    """The digests among the mails to ``email`` (not the confirmation)."""
    return [m for m in mails_to(messages, email) if "digest:" in str(m["Subject"])]


@dataclass
class Env:
    lens: Any
    client: Any
    smtp: Any
    settings: Any

    @property
    def digests(self) -> Any:
        return self.lens.digests

    def subscribe_confirmed(self, email: str, **prefs: Any) -> Any:
        """A confirmed subscription without the mail round trip (tested elsewhere)."""
        from paperlens.digest import preferences
        from paperlens.digest.validation import clean_email

        sub, _ = self.digests.store.subscribe(clean_email(email), preferences(**prefs))
        confirmed_at = datetime.now(UTC) - CONFIRMED_BEFORE_CORPUS
        return self.digests.store.confirm(sub.pk, sub.email, now=confirmed_at)

    def backdate_confirmation(self, subscription_pk: int) -> None:
        """As if the reader had confirmed before the shared corpus was stored."""
        from sqlalchemy import update

        from paperlens.digest.subscriptions import subs_t

        with self.lens.engine.begin() as conn:
            conn.execute(
                update(subs_t)
                .where(subs_t.c.pk == subscription_pk)
                .values(confirmed_at=datetime.now(UTC) - CONFIRMED_BEFORE_CORPUS)
            )


def digest_settings(base: Any, smtp_port: int, **extra: Any) -> Any:
    from paperlens.config import Settings

    values: dict[str, Any] = {
        "data_dir": base.data_dir,
        "database_url": base.resolved_database_url,
        "max_seq_length": base.max_seq_length,
        "public_url": PUBLIC,
        "secret_key": SECRET,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_timeout": 10.0,
        "mail_from": "paperlens digests <digest@paperlens.test>",
        "digest_send_hour": 0,
        "digest_retry_backoff": 0.01,
        "digest_claim_lease": 0.0,
        "digest_grace_hours": OLD_NEWS_GRACE_HOURS,
        **extra,
    }
    return Settings(**values)


def make_env(indexed_lens: Any, smtp: Any, **extra: Any) -> Iterator[Env]:
    from fastapi.testclient import TestClient

    from paperlens.core import PaperLens
    from paperlens.web import create_app
    from paperlens.web.throttle import RateLimits

    settings = digest_settings(indexed_lens.settings, smtp.port, **extra)
    lens = PaperLens(settings)
    limits = RateLimits(subscribe_ip="1000/hour", subscribe_email="1000/hour")
    app = create_app(lens, rate_limit=None, auth_limits=limits)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Env(lens, client, smtp, settings)
    lens.close()


@pytest.fixture
def env(indexed_lens: Any, smtp_server: Any) -> Iterator[Env]:
    yield from make_env(indexed_lens, smtp_server)


class ScriptedSmtp:
    """An aiosmtpd handler whose answers a test scripts: refuse some recipients for
    good, fail some deliveries for a while, or run a hook on a given message."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()
        self.transient: dict[str, int] = {}
        self.data_calls = 0
        self.on_data: Callable[[int, EmailMessage], str | None] | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes
        from email.policy import default

        msg = message_from_bytes(envelope.original_content, policy=default)
        assert isinstance(msg, EmailMessage)
        self.data_calls += 1
        to = str(msg["To"]).lower()
        if self.transient.get(to, 0) > 0:
            self.transient[to] -= 1
            return "451 4.3.0 try again later"
        if self.on_data is not None:
            answer = self.on_data(self.data_calls, msg)
            if answer is not None:
                await asyncio.sleep(0.2)
                return answer
        self.messages.append(msg)
        return "250 Message accepted for delivery"


@pytest.fixture
def scripted_smtp() -> Iterator[ScriptedSmtp]:
    handler = ScriptedSmtp()
    with serve_smtp(handler):
        yield handler


@pytest.fixture
def scripted_env(indexed_lens: Any, scripted_smtp: ScriptedSmtp) -> Iterator[Env]:
    yield from make_env(indexed_lens, scripted_smtp)


# -- periods and validation ---------------------------------------------------------------


def test_periods_follow_the_readers_time_zone_and_skip_weekends() -> None:
    from paperlens.digest.periods import due_period

    # Monday 23 Nov 2026, 23:30 UTC: already Tuesday in Tokyo, still Monday in New York.
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    tokyo = due_period("daily", "Asia/Tokyo", now)
    new_york = due_period("daily", "America/New_York", now)
    assert tokyo is not None and tokyo.key == "D2026-11-24"
    assert new_york is not None and new_york.key == "D2026-11-23"
    # Monday's daily digest starts where Friday's did.
    assert new_york.first_since.date().isoformat() == "2026-11-20"
    saturday = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert due_period("daily", "UTC", saturday) is None
    weekly = due_period("weekly", "UTC", saturday)
    assert weekly is not None and weekly.key == "W2026-W48"
    assert weekly.first_since == datetime(2026, 11, 16, tzinfo=UTC)
    # Before the send hour of the first day nothing is due yet.
    early = datetime(2026, 11, 23, 5, tzinfo=UTC)
    assert due_period("daily", "UTC", early, send_hour=7) is None
    assert due_period("weekly", "UTC", early, send_hour=7) is None
    assert due_period("weekly", "UTC", early + timedelta(hours=2), send_hour=7) is not None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("victim@example.org\r\nBcc: all@example.org", "line break"),
        ("victim@example.org\nSubject: hi", "line break"),
        ("Victim <victim@example.org>", "one plain address"),
        ("a@example.org, b@example.org", "one plain address"),
        ("not-an-address", "not a valid email address"),
        ("", "Enter an email address"),
    ],
)
def test_bad_addresses_are_refused_with_a_clear_message(raw: str, fragment: str) -> None:
    from paperlens.digest import InvalidSubscription
    from paperlens.digest.validation import clean_email

    with pytest.raises(InvalidSubscription, match=fragment):
        clean_email(raw)


def test_addresses_are_normalised_and_preferences_checked() -> None:
    from paperlens.digest import InvalidSubscription, clean_search, preferences
    from paperlens.digest.validation import clean_email

    assert clean_email("  Reader@Example.ORG ") == "reader@example.org"
    with pytest.raises(InvalidSubscription, match="time zone"):
        preferences(tz="Mars/Olympus_Mons")
    with pytest.raises(InvalidSubscription, match="daily or weekly"):
        preferences(frequency="hourly")
    with pytest.raises(InvalidSubscription, match="section"):
        preferences(sections=["gossip"])
    with pytest.raises(InvalidSubscription, match="needs words"):
        clean_search("   ")
    with pytest.raises(InvalidSubscription, match="line breaks"):
        clean_search("ok\r\nBcc: x@example.org")


# -- subscribing --------------------------------------------------------------------------


def test_injection_is_rejected_on_the_web_form_the_api_and_the_cli(env: Env) -> None:
    evil = "victim@example.org\r\nBcc: everyone@example.org"
    page = env.client.get("/")
    assert page.status_code == 200
    assert 'action="/subscribe"' in page.text  # the footer form on every page
    token = csrf_of(page.text)
    answer = env.client.post("/subscribe", data={"email": evil, "csrf_token": token})
    assert answer.status_code == 400
    assert "line break" in answer.text
    api = env.client.post("/api/v1/subscriptions", json={"email": evil})
    assert api.status_code == 400
    assert "line break" in api.json()["detail"]
    cli = run_cli(env.settings, "digest", "subscribe", "someone@example.org\nBcc: x@example.org")
    assert cli.returncode == 1
    assert "line break" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1
    assert env.smtp.messages == []


def test_subscribe_is_rate_limited_per_client(indexed_lens: Any, smtp_server: Any) -> None:
    from fastapi.testclient import TestClient

    from paperlens.core import PaperLens
    from paperlens.web import create_app
    from paperlens.web.throttle import RateLimits

    lens = PaperLens(digest_settings(indexed_lens.settings, smtp_server.port))
    app = create_app(lens, rate_limit=None, auth_limits=RateLimits(subscribe_ip="2/hour"))
    with TestClient(app, raise_server_exceptions=False) as client:
        codes = [
            client.post("/api/v1/subscriptions", json={"email": unique_email()}).status_code
            for _ in range(3)
        ]
    lens.close()
    assert codes == [202, 202, 429]
    assert len(smtp_server.messages) == 2


def test_double_opt_in_then_digest_links_and_one_click_unsubscribe(
    env: Env, web_corpus: WebCorpus
) -> None:
    from paperlens.digest.compose import message_id
    from paperlens.digest.periods import due_period

    email = unique_email("optin")
    address = email.lower()
    page = env.client.get("/subscribe")
    form = {
        "csrf_token": csrf_of(page.text),
        "full": "1",
        "email": email,
        "frequency": "weekly",
        "tz": "Europe/Paris",
        "sections": "searches",
        "search_q": SEARCH_WORD,
        "search_category": "",
        "search_author": "",
    }
    answer = env.client.post("/subscribe", data=form)
    assert answer.status_code == 200, answer.text
    assert "Check your inbox" in answer.text

    # Exactly one mail so far: the confirmation, multipart, with its link.
    assert len(env.smtp.messages) == 1
    confirmation = env.smtp.messages[0]
    assert confirmation["To"] == address
    text, page_html = parts_of(confirmation)
    confirm_url = next(u for u in links_in(text) if "/confirm/" in u)
    assert html.escape(confirm_url) in page_html or confirm_url in page_html

    # Nothing is sent before the link is opened.
    now = datetime.now(UTC)
    report = env.digests.send(now, only=[address])
    assert report.outcomes == []
    assert len(env.smtp.messages) == 1

    # Opening the link shows a button (GETs change nothing); the button confirms.
    shown = env.client.get(path_of(confirm_url))
    assert shown.status_code == 200 and "Confirm subscription" in shown.text
    assert not env.digests.store.by_email(address).active
    confirmed = env.client.post(path_of(confirm_url))
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    sub = env.digests.store.by_email(address)
    assert sub.active

    env.backdate_confirmation(sub.pk)
    report = env.digests.send(now, only=[address])
    assert [o.status for o in report.outcomes] == ["sent"]
    digests = digests_to(env.smtp.messages, address)
    assert len(digests) == 1
    mail = digests[0]

    # Headers.
    period = due_period("weekly", "Europe/Paris", now)
    assert period is not None
    assert mail["From"] == "paperlens digests <digest@paperlens.test>"
    assert mail["Message-ID"] == message_id(sub.pk, period.key, address, PUBLIC)
    assert "Weekly paperlens digest" in mail["Subject"]
    assert mail["Date"] is not None
    unsubscribe_header = str(mail["List-Unsubscribe"])
    assert unsubscribe_header.startswith(f"<{PUBLIC}/unsubscribe/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # Both parts: the hostile paper as text in one, escaped in the other.
    text, body = parts_of(mail)
    assert HOSTILE_TITLE in text
    assert "<script>alert(1)</script>" not in body
    assert html.escape(HOSTILE_TITLE, quote=False) in body
    paper_url = f"{PUBLIC}/paper/{HOSTILE_ID.replace(':', '%3A')}"
    assert paper_url in text and paper_url in body
    shown = env.client.get(path_of(paper_url))
    assert shown.status_code == 200
    assert "Tom &amp; Jerry" in shown.text

    # Running again in the same period sends nothing more.
    env.digests.send(now, only=[address])
    env.digests.send(now + timedelta(minutes=5), only=[address])
    assert len(digests_to(env.smtp.messages, address)) == 1

    # The manage link from the mail opens the preferences.
    manage_url = next(u for u in links_in(text) if "/subscription/" in u)
    managed = env.client.get(path_of(manage_url))
    assert managed.status_code == 200 and address in managed.text

    # The unsubscribe link shows a button; the RFC 8058 one-click POST (no cookies, no
    # CSRF token, as mail clients send it) unsubscribes at once.
    unsubscribe_url = unsubscribe_header.strip("<>")
    assert unsubscribe_url in text
    shown = env.client.get(path_of(unsubscribe_url))
    assert shown.status_code == 200 and "Unsubscribe" in shown.text
    assert env.digests.store.by_email(address).active
    from fastapi.testclient import TestClient

    with TestClient(env.client.app) as mail_client:  # a fresh client: no cookies
        one_click = mail_client.post(
            path_of(unsubscribe_url),
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert one_click.status_code == 200
    assert not env.digests.store.by_email(address).active

    # The next period sends nothing to them.
    report = env.digests.send(now + timedelta(days=7), only=[address])
    assert report.outcomes == []
    assert len(digests_to(env.smtp.messages, address)) == 1


def test_manage_link_changes_preferences_and_button_unsubscribes(env: Env) -> None:
    email = unique_email("manage")
    sub = env.subscribe_confirmed(email, sections=["searches"])
    token = env.digests.token("manage", sub)
    page = env.client.get(f"/subscription/{token}")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_of(page.text),
        "full": "1",
        "frequency": "daily",
        "tz": "America/New_York",
        "sections": ["searches", "trending"],
        "search_q": [SEARCH_WORD, ""],
        "search_category": ["cs.CR", ""],
        "search_author": ["", ""],
    }
    saved = env.client.post(f"/subscription/{token}", data=form)
    assert saved.status_code == 200 and "Saved." in saved.text
    updated = env.digests.store.get(sub.pk)
    assert updated.prefs.frequency == "daily"
    assert updated.prefs.tz == "America/New_York"
    assert updated.prefs.sections == ("trending", "searches")
    assert [s.query for s in updated.prefs.searches] == [SEARCH_WORD]
    assert updated.prefs.searches[0].categories == ("cs.CR",)

    bad = env.client.post(f"/subscription/{token}", data={**form, "tz": "Nowhere/Else"})
    assert bad.status_code == 400 and "time zone" in bad.text
    forged = env.client.get(f"/subscription/{token}x")
    assert forged.status_code == 400

    # The page's unsubscribe button (no one-click body) works too.
    unsubscribe = env.digests.links(updated).unsubscribe
    answer = env.client.post(path_of(unsubscribe))
    assert answer.status_code == 200 and "You are unsubscribed" in answer.text
    assert not env.digests.store.get(sub.pk).active


def test_resubscribing_needs_a_new_confirmation(env: Env) -> None:
    email = unique_email("again")
    sub = env.subscribe_confirmed(email)
    env.digests.unsubscribe_pk(sub.pk)
    before = len(env.smtp.messages)
    result = env.digests.subscribe(email)
    assert result.confirmation_sent
    assert not result.subscription.active
    assert len(env.smtp.messages) == before + 1
    # An active subscription is left alone (and gets no mail): strangers can't change it.
    env.digests.store.confirm(sub.pk, sub.email)
    again = env.digests.subscribe(email)
    assert not again.confirmation_sent
    assert len(env.smtp.messages) == before + 1


# -- composing ----------------------------------------------------------------------------


def test_an_empty_digest_is_not_sent(env: Env) -> None:
    from paperlens.digest import clean_search

    email = unique_email("empty")
    sub = env.subscribe_confirmed(
        email, sections=["searches"], searches=[clean_search("zzqxnonexistentwordzz")]
    )
    report = env.digests.send(datetime.now(UTC), only=[sub.email])
    assert [o.status for o in report.outcomes] == ["empty"]
    assert mails_to(env.smtp.messages, sub.email) == []


def test_digest_holds_at_most_n_papers_and_trending(
    indexed_lens: Any, smtp_server: Any, web_corpus: WebCorpus
) -> None:
    from paperlens.digest import clean_search

    for env in make_env(indexed_lens, smtp_server, digest_max_papers=3):
        email = unique_email("cap")
        sub = env.subscribe_confirmed(
            email,
            sections=["trending", "searches"],
            searches=[clean_search("", ["cs", "astro-ph"])],
        )
        env.digests.send(datetime.now(UTC), only=[sub.email])
        (mail,) = mails_to(smtp_server.messages, sub.email)
        text, body = parts_of(mail)
        assert body.count('class="paper"') == 3
        assert "3 papers" in mail["Subject"]
        upvoted = indexed_lens.paper(web_corpus.upvoted_id).paper
        assert "Trending this week" in text
        assert " ".join(upvoted.title.split()) in text
        assert f"{UPVOTED_VOTES} Hugging Face upvotes" in text


def test_daily_digest_goes_out_on_weekdays_only(env: Env) -> None:
    email = unique_email("daily")
    from paperlens.digest import clean_search

    sub = env.subscribe_confirmed(
        email, frequency="daily", sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    now = weekday_now()
    saturday = now + timedelta(days=(5 - now.weekday()))
    assert env.digests.send(saturday, only=[sub.email]).outcomes == []
    report = env.digests.send(now, only=[sub.email])
    assert [(o.status, o.period) for o in report.outcomes] == [
        ("sent", f"D{now.date().isoformat()}")
    ]
    assert "Daily paperlens digest" in mails_to(env.smtp.messages, sub.email)[0]["Subject"]


def test_dry_run_sends_and_logs_nothing(env: Env) -> None:
    from paperlens.digest import clean_search

    sub = env.subscribe_confirmed(
        unique_email("dry"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    cli = run_cli(env.settings, "digest", "send", "--dry-run", "--to", sub.email)
    assert cli.returncode == 0, cli.stderr
    assert "would send 1 paper" in cli.stdout
    assert HOSTILE_TITLE in cli.stdout  # the text part, shown for --to
    assert mails_to(env.smtp.messages, sub.email) == []
    report = env.digests.send(datetime.now(UTC), only=[sub.email])
    assert [o.status for o in report.outcomes] == ["sent"]


# -- sending: failures and exactly once ---------------------------------------------------


def test_a_refused_address_does_not_block_the_others_and_transient_failures_retry(
    scripted_env: Env, scripted_smtp: ScriptedSmtp
) -> None:
    from paperlens.digest import clean_search

    prefs = {"sections": ["searches"], "searches": [clean_search(SEARCH_WORD)]}
    subs = [scripted_env.subscribe_confirmed(unique_email(f"batch{i}"), **prefs) for i in range(3)]
    bad, flaky, good = (s.email for s in subs)
    scripted_smtp.refuse.add(bad)
    scripted_smtp.transient[flaky] = 2  # two 451s, then accepted
    cli = run_cli(scripted_env.settings, "digest", "send", "--to", bad, "--to", flaky, "--to", good)
    assert cli.returncode == 1  # a digest failed for good, and the command says so
    assert bad in cli.stderr and "550" in cli.stderr
    assert len(mails_to(scripted_smtp.messages, flaky)) == 1
    assert len(mails_to(scripted_smtp.messages, good)) == 1
    assert mails_to(scripted_smtp.messages, bad) == []
    log = scripted_env.digests.send_log
    statuses = {s.email: log_row(scripted_env, s.pk) for s in subs}
    assert statuses[bad]["status"] == "failed" and "550" in statuses[bad]["error"]
    assert statuses[flaky]["status"] == "sent" and statuses[flaky]["attempts"] == 3
    assert statuses[good]["status"] == "sent" and statuses[good]["attempts"] == 1
    assert log is not None


def test_transient_failures_beyond_the_retries_are_sent_by_the_next_run(
    scripted_env: Env, scripted_smtp: ScriptedSmtp
) -> None:
    from paperlens.digest import clean_search

    sub = scripted_env.subscribe_confirmed(
        unique_email("later"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    scripted_smtp.transient[sub.email] = scripted_env.settings.digest_send_attempts
    now = datetime.now(UTC)
    first = scripted_env.digests.send(now, only=[sub.email])
    assert [o.status for o in first.outcomes] == ["retry"]
    assert mails_to(scripted_smtp.messages, sub.email) == []
    second = scripted_env.digests.send(now + timedelta(minutes=10), only=[sub.email])
    assert [o.status for o in second.outcomes] == ["sent"]
    assert len(mails_to(scripted_smtp.messages, sub.email)) == 1


def test_killed_mid_batch_then_rerun_sends_each_digest_exactly_once(
    scripted_env: Env, scripted_smtp: ScriptedSmtp
) -> None:
    """The sender (a real ``paperlens digest send`` process) is SIGKILLed while the
    server holds its third message; the re-run finishes the batch: every subscriber
    gets exactly one digest for the period, none twice, none skipped."""
    from paperlens.digest import clean_search

    prefs = {"sections": ["searches"], "searches": [clean_search(SEARCH_WORD)]}
    subs = [scripted_env.subscribe_confirmed(unique_email(f"kill{i}"), **prefs) for i in range(5)]
    emails = [s.email for s in subs]
    now = datetime.now(UTC).isoformat()
    args = ["digest", "send", "--now", now, *(a for e in emails for a in ("--to", e))]
    proc = start_cli(scripted_env.settings, *args)
    killed: list[int] = []

    def kill_on_third(n: int, _msg: EmailMessage) -> str | None:
        if n == 3 and not killed:
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(n)
            return "451 4.3.0 sender went away"
        return None

    scripted_smtp.on_data = kill_on_third
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    assert killed == [3]
    assert [str(m["To"]) for m in scripted_smtp.messages] == emails[:2]
    statuses = [log_row(scripted_env, s.pk) for s in subs]
    assert [s["status"] if s else None for s in statuses] == ["sent", "sent", "claimed", None, None]

    scripted_smtp.on_data = None
    rerun = run_cli(scripted_env.settings, *args)
    assert rerun.returncode == 0, rerun.stderr
    again = run_cli(scripted_env.settings, *args)  # a third run finds nothing to do
    assert again.returncode == 0
    received = [str(m["To"]) for m in scripted_smtp.messages]
    assert sorted(received) == sorted(emails)  # each exactly once
    ids = [m["Message-ID"] for m in scripted_smtp.messages]
    assert len(set(ids)) == len(ids)
    assert all(log_row(scripted_env, s.pk)["status"] == "sent" for s in subs)


def test_residual_window_duplicate_keeps_the_message_id(
    scripted_env: Env, scripted_smtp: ScriptedSmtp
) -> None:
    """The documented residual window: the server stored the mail but the sender died
    before recording it. The re-run sends it again, with the same Message-ID."""
    from paperlens.digest import clean_search

    sub = scripted_env.subscribe_confirmed(
        unique_email("window"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    now = datetime.now(UTC).isoformat()
    args = ["digest", "send", "--now", now, "--to", sub.email]
    proc = start_cli(scripted_env.settings, *args)

    def store_then_kill(_n: int, msg: EmailMessage) -> str | None:
        scripted_smtp.messages.append(msg)
        os.kill(proc.pid, signal.SIGKILL)
        return "250 stored, but the sender never hears it"

    scripted_smtp.on_data = store_then_kill
    proc.wait(timeout=120)
    scripted_smtp.on_data = None
    assert log_row(scripted_env, sub.pk)["status"] == "claimed"
    assert run_cli(scripted_env.settings, *args).returncode == 0
    copies = mails_to(scripted_smtp.messages, sub.email)
    assert len(copies) == 2
    assert copies[0]["Message-ID"] == copies[1]["Message-ID"]
    assert log_row(scripted_env, sub.pk)["status"] == "sent"


def test_a_live_claim_is_not_taken_over(indexed_lens: Any, smtp_server: Any) -> None:
    """Two senders at once: the second skips a row the first claimed moments ago."""
    from paperlens.digest import clean_search
    from paperlens.digest.periods import due_period

    for env in make_env(indexed_lens, smtp_server, digest_claim_lease=600.0):
        sub = env.subscribe_confirmed(
            unique_email("lease"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
        )
        now = datetime.now(UTC)
        period = due_period("weekly", "UTC", now)
        assert period is not None
        claim = env.digests.send_log.claim(
            sub.pk,
            period.key,
            first_since=period.first_since,
            now=now,
            message_id="<x@y>",
            lease=600.0,
        )
        assert claim is not None
        assert env.digests.send(now + timedelta(seconds=5), only=[sub.email]).outcomes == []
        later = env.digests.send(now + timedelta(minutes=11), only=[sub.email])
        assert [o.status for o in later.outcomes] == ["sent"]
        assert len(mails_to(smtp_server.messages, sub.email)) == 1


def test_a_missed_period_leaves_no_gap(env: Env) -> None:
    """A week without a run: the next digest starts where the last one ended."""
    from paperlens.digest import clean_search

    sub = env.subscribe_confirmed(
        unique_email("gap"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    now = datetime.now(UTC)
    env.digests.send(now, only=[sub.email])
    first_end = env.digests.send_log.covered_until(sub.pk)
    assert first_end == now
    later = now + timedelta(days=14)
    env.digests.send(later, only=[sub.email])  # nothing new: empty, but covered
    row = log_row(env, sub.pk, latest=True)
    assert row["window_start"] == first_end and row["window_end"] == later


# -- helpers that need the database or a process ------------------------------------------


def log_row(env: Env, subscription_pk: int, latest: bool = False) -> dict[str, Any] | None:
    from sqlalchemy import select

    from paperlens.digest.sendlog import sends_t

    with env.lens.engine.connect() as conn:
        rows = conn.execute(
            select(sends_t)
            .where(sends_t.c.subscription_pk == subscription_pk)
            .order_by(sends_t.c.pk.desc() if latest else sends_t.c.pk)
        ).all()
    return dict(rows[0]._mapping) if rows else None


def cli_env(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERLENS_")}
    env.update(
        {
            "PAPERLENS_DATA_DIR": str(settings.data_dir),
            "PAPERLENS_DATABASE_URL": settings.resolved_database_url,
            "PAPERLENS_MAX_SEQ_LENGTH": str(settings.max_seq_length),
            "PAPERLENS_PUBLIC_URL": settings.public_url,
            "PAPERLENS_SECRET_KEY": settings.secret_key,
            "PAPERLENS_SMTP_HOST": settings.smtp_host,
            "PAPERLENS_SMTP_PORT": str(settings.smtp_port),
            "PAPERLENS_MAIL_FROM": settings.mail_from,
            "PAPERLENS_DIGEST_SEND_HOUR": "0",
            "PAPERLENS_DIGEST_RETRY_BACKOFF": "0.01",
            "PAPERLENS_DIGEST_CLAIM_LEASE": "0",
            "PAPERLENS_DIGEST_GRACE_HOURS": str(settings.digest_grace_hours),
            "HF_HUB_OFFLINE": "1",
            "COLUMNS": "200",
        }
    )
    return env


def start_cli(settings: Any, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        env=cli_env(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent,
    )


def run_cli(settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=Path(__file__).parent,
    )


def test_account_settings_subscribe_with_for_you(env: Env) -> None:
    password = "correct horse battery staple 42"
    email = unique_email("account").lower()
    user = env.lens.accounts.create_user(email, password)
    env.lens.accounts.verify_email(user, env.lens.accounts.verify_token(user))
    login = env.client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "next": "/",
            "csrf_token": csrf_of(env.client.get("/login").text),
        },
        follow_redirects=False,
    )
    assert login.status_code == 303, login.text[:300]
    page = env.client.get("/settings/digest")
    assert page.status_code == 200
    assert f'value="{email}"' in page.text and "readonly" in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "full": "1",
        "email": email,
        "frequency": "weekly",
        "tz": "UTC",
        "sections": "for_you",
    }
    assert env.client.post("/subscribe", data=form).status_code == 200
    sub = env.digests.store.by_email(email)
    assert sub.user_pk == user.pk and not sub.active
    (confirmation,) = mails_to(env.smtp.messages, email)
    confirm_url = next(u for u in links_in(parts_of(confirmation)[0]) if "/confirm/" in u)
    assert env.client.post(path_of(confirm_url)).status_code == 200

    report = env.digests.send(datetime.now(UTC), only=[email])
    assert [o.status for o in report.outcomes] == ["sent"]
    (digest,) = digests_to(env.smtp.messages, email)
    text, _ = parts_of(digest)
    assert "== For you ==" in text  # a new reader: the cold-start picks

    # From now on the settings entry leads to the subscription's page.
    again = env.client.get("/settings/digest", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/subscription/")
    assert env.client.get(again.headers["location"]).status_code == 200


def test_scheduler_ticks_send_once_and_cli_names_unknown_readers(env: Env) -> None:
    from paperlens.digest import clean_search
    from paperlens.digest.scheduler import run_schedule

    sub = env.subscribe_confirmed(
        unique_email("tick"), sections=["searches"], searches=[clean_search(SEARCH_WORD)]
    )
    reports: list[Any] = []
    # The scheduler sends everything due in the database; only this reader's mail counts.
    ticks = run_schedule(env.digests, 0.01, on_report=reports.append, max_ticks=3)
    assert ticks == 3 and len(reports) == 3
    assert len(mails_to(env.smtp.messages, sub.email)) == 1
    mine = [o.status for r in reports for o in r.outcomes if o.email == sub.email]
    assert mine == ["sent"]

    stranger = run_cli(env.settings, "digest", "send", "--to", "nobody@example.org")
    assert stranger.returncode == 1
    assert stranger.stderr.strip() == "error: no confirmed subscription for 'nobody@example.org'"
    bad_now = run_cli(env.settings, "digest", "send", "--now", "yesterday")
    assert bad_now.returncode == 1 and "--now must be an ISO date-time" in bad_now.stderr


# -- what "new" means: first published in the window, not newly stored --------------------
#
# Each test has a store of its own (SQLite, or PostgreSQL with the test server set), with
# the default grace, and sends digests a week apart: the papers are stored at the real
# time, between the first digest and the second.

NEWS_WORD = "quasicrystal"
GRACE = timedelta(hours=48)


@pytest.fixture
def newsroom(tmp_path: Path, smtp_server: Any) -> Iterator[Env]:
    from types import SimpleNamespace

    from databases import fresh_database
    from paperlens.config import Settings

    with fresh_database(tmp_path) as url:
        base = Settings(data_dir=tmp_path / "data", database_url=url, max_seq_length=128)
        yield from make_env(
            SimpleNamespace(settings=base),
            smtp_server,
            digest_grace_hours=GRACE.total_seconds() / 3600,
        )


def news_paper(
    key: str, published: datetime, *, updated: datetime | None = None, version: int = 1
) -> Any:
    from paperlens.paper import Version, make_paper

    versions = [Version(1, published)]
    if version > 1:
        versions += [Version(n, None) for n in range(2, version)]
        versions.append(Version(version, updated or published))
    return make_paper(
        id=f"test:{key}",
        title=f"A {NEWS_WORD} result: {key}",
        abstract=f"What the {NEWS_WORD} paper {key} found.",
        authors=["A. Author"],
        categories=["cond-mat.mtrl-sci"],
        published=published,
        updated=updated or published,
        versions=versions,
        source="test",
    )


def store_papers(env: Env, papers: list[Any]) -> None:
    """Store (harvest) ``papers`` now and index them, as ``paperlens ingest`` + ``index``."""
    from paperlens.sources.base import Parsed

    env.lens.papers.write_batch([Parsed(p, "test") for p in papers])
    env.lens.index()


def listed(mail: EmailMessage) -> set[str]:
    """The test papers a digest lists (by their title lines, not the reasons that name
    saved papers)."""
    text, _ = parts_of(mail)
    title = re.compile(rf"\* A {NEWS_WORD} result: ([\w-]+)")
    return {m.group(1) for line in text.splitlines() if (m := title.fullmatch(line))}


def send_one(env: Env, sub: Any, now: datetime) -> tuple[str, set[str]]:
    """Send ``sub``'s digest due at ``now``: its status and the papers it listed."""
    before = len(digests_to(env.smtp.messages, sub.email))
    (outcome,) = env.digests.send(now, only=[sub.email]).outcomes
    mails = digests_to(env.smtp.messages, sub.email)[before:]
    assert len(mails) == (1 if outcome.status == "sent" else 0)
    return outcome.status, listed(mails[0]) if mails else set()


def news_reader(env: Env, tag: str, sections: list[str] | None = None) -> Any:
    from paperlens.digest import clean_search, preferences

    prefs = preferences(sections=sections or ["searches"], searches=[clean_search(NEWS_WORD)])
    sub, _ = env.digests.store.subscribe(unique_email(tag).lower(), prefs)
    return env.digests.store.confirm(sub.pk, sub.email)


def test_backfill_between_two_digests_lists_only_papers_first_published_in_the_window(
    newsroom: Env,
) -> None:
    env = newsroom
    sub = news_reader(env, "backfill")
    earlier = datetime.now(UTC) - timedelta(hours=1)
    store_papers(env, [news_paper("early", earlier)])  # after the reader confirmed

    first = datetime.now(UTC)
    assert send_one(env, sub, first) == ("sent", {"early"})

    # Between the two digests: a backfill of April 2007, a paper published now, one
    # published before the first digest within the grace (a late harvest) and one
    # published before it beyond the grace.
    backfill = [news_paper(f"old-{i}", datetime(2007, 4, 1 + i, tzinfo=UTC)) for i in range(19)]
    store_papers(
        env,
        [
            *backfill,
            news_paper("fresh", datetime.now(UTC)),
            news_paper("late", first - GRACE + timedelta(hours=2)),
            news_paper("too-late", first - GRACE - timedelta(hours=2)),
        ],
    )
    second = first + timedelta(days=7)
    # "early" was first published within the grace before this window too, but stored
    # (and listed) before it: not again.
    assert send_one(env, sub, second) == ("sent", {"fresh", "late"})
    assert send_one(env, sub, second + timedelta(days=7)) == ("empty", set())


def test_a_new_version_of_an_old_paper_is_listed_once_as_updated_only_when_asked(
    newsroom: Env,
) -> None:
    env = newsroom
    store_papers(env, [news_paper("revised", datetime(2007, 4, 2, tzinfo=UTC))])
    plain = news_reader(env, "plain")
    # The opt-in is a section on the forms and the API.
    assert 'value="updates"' in env.client.get("/subscribe").text
    email = unique_email("updates").lower()
    api = env.client.post(
        "/api/v1/subscriptions",
        json={
            "email": email,
            "sections": ["searches", "updates"],
            "searches": [{"query": NEWS_WORD}],
        },
    )
    assert api.status_code == 202, api.text
    pending = env.digests.store.by_email(email)
    assert pending.prefs.sections == ("searches", "updates")
    keen = env.digests.store.confirm(pending.pk, pending.email)

    first = datetime.now(UTC)
    for sub in (plain, keen):
        assert send_one(env, sub, first) == ("empty", set())

    now = datetime.now(UTC)
    store_papers(
        env,
        [
            # Version 2 of a paper already stored: revised in place.
            news_paper("revised", datetime(2007, 4, 2, tzinfo=UTC), updated=now, version=2),
            # An old paper first seen at a version submitted now.
            news_paper("v3", datetime(2009, 5, 1, tzinfo=UTC), updated=now, version=3),
            # An old paper first seen at an old version: a snapshot, not an update.
            news_paper(
                "old-v2",
                datetime(2009, 5, 1, tzinfo=UTC),
                updated=datetime(2010, 1, 1, tzinfo=UTC),
                version=2,
            ),
        ],
    )
    second = first + timedelta(days=7)
    assert send_one(env, plain, second) == ("empty", set())
    before = len(env.smtp.messages)
    assert send_one(env, keen, second) == ("sent", {"revised", "v3"})
    text, _ = parts_of(env.smtp.messages[before])
    assert f"== Updated for “{NEWS_WORD}” ==" in text
    assert "Updated: version 2 of a paper first published Apr 2, 2007." in text
    assert send_one(env, keen, second + timedelta(days=7)) == ("empty", set())


def test_a_readers_first_digest_is_not_a_backlog(newsroom: Env) -> None:
    env = newsroom
    now = datetime.now(UTC)
    # A store full of old papers, imported just now, and two recent ones stored before
    # the reader confirms.
    store_papers(
        env,
        [
            *(news_paper(f"old-{i}", datetime(2007, 4, 1 + i, tzinfo=UTC)) for i in range(20)),
            news_paper("yesterday", now - timedelta(days=1)),
            news_paper("an-hour-ago", now - timedelta(hours=1)),
        ],
    )
    sub = news_reader(env, "first")
    # The window starts at the confirmation, not at the previous period (nor the epoch).
    due = datetime.now(UTC)
    assert send_one(env, sub, due) == ("empty", set())
    assert env.digests.send_log.covered_until(sub.pk) == due
    row = log_row(env, sub.pk)
    assert row is not None and row["window_start"] == sub.confirmed_at

    store_papers(env, [news_paper("after", datetime.now(UTC))])
    assert send_one(env, sub, due + timedelta(days=7)) == ("sent", {"after"})


def test_for_you_recommends_papers_first_published_in_the_window(newsroom: Env) -> None:
    """ "For you" keeps its meaning, and its "since" is by publication too: a backfill of
    papers like the reader's saved one is not recommended, a paper published now is.
    (A guard: the recommender already filtered by first publication before issue 12.)"""
    from paperlens.digest import preferences

    env = newsroom
    store_papers(env, [news_paper("saved", datetime(2007, 3, 1, tzinfo=UTC))])
    email = unique_email("foryou").lower()
    user = env.lens.accounts.create_user(email, "correct horse battery staple 42")
    env.lens.library.save(user.pk, env.lens.paper("test:saved").pk)
    sub, _ = env.digests.store.subscribe(email, preferences(sections=["for_you"]), user_pk=user.pk)
    sub = env.digests.store.confirm(sub.pk, sub.email)

    first = datetime.now(UTC)
    assert send_one(env, sub, first) == ("empty", set())
    backfill = [news_paper(f"old-{i}", datetime(2007, 4, 1 + i, tzinfo=UTC)) for i in range(10)]
    store_papers(env, [*backfill, news_paper("fresh", datetime.now(UTC))])
    assert send_one(env, sub, first + timedelta(days=7)) == ("sent", {"fresh"})

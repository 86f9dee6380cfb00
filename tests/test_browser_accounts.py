"""Accounts in a real browser (Debian's Chromium, headless, driven by Playwright): sign
up, see yourself in the header, follow categories, make and revoke an API token, log
out, fail and then succeed to log in, and the cookies the browser keeps.
Without /usr/bin/chromium they are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page

from browser import require_chromium, shot

PASSWORD = "correct horse battery"

require_chromium()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A fresh browser profile (no cookies) with JavaScript off: the forms must work
    without it. Console errors (CSP violations included) other than 4xx answers fail
    the test."""
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, base_url=live_server, java_script_enabled=False
    )
    p = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # A rejected form is answered with a 4xx page, which Chromium logs; fine.
        if message.type == "error" and "status of 4" not in message.text:
            errors.append(message.text)

    p.on("console", on_console)
    yield p
    context.close()
    assert errors == []


def test_sign_up_settings_token_logout_login(page: Page, live_server: str) -> None:
    email = f"browser-{uuid.uuid4().hex[:8]}@example.org"
    page.goto("/")
    page.click("nav.account-nav >> text=Sign up")
    page.wait_for_url("**/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Display name (optional)").fill("Marie")
    page.get_by_label("Password").fill("too short")
    page.click("main button[type=submit]")
    # Rejected: the error is announced and tied to the field; typed values are kept.
    assert "at least 10 characters" in page.inner_text("[role=alert]")
    field = page.locator("#f-password")
    assert field.get_attribute("aria-invalid") == "true"
    assert "f-password-error" in (field.get_attribute("aria-describedby") or "")
    assert page.input_value("#f-email") == email
    shot(page, "signup-error", full_page=True)
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")
    # Sign-up only mails (it must not tell whether the address had an account): log in.
    assert "Check your inbox" in page.inner_text("main h1")
    assert "Log in" in page.inner_text("nav.account-nav")
    page.click("main a[href='/login']")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")
    page.goto("/settings")
    assert "Marie" in page.inner_text("nav.account-nav")
    assert "not verified yet" in page.inner_text("main")

    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["pl_session"]
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert cookies["pl_csrf"]["httpOnly"]

    page.get_by_label("Followed categories").fill("cs.LG astro-ph")
    page.click("form[action='/settings/profile'] button")
    page.wait_for_url("**/settings?done=profile")
    assert page.input_value("#f-categories") == "cs.LG astro-ph"

    page.get_by_label("New token's name").fill("notebook")
    page.get_by_label("Scope").select_option("read")
    page.click("form[action='/settings/tokens'] button")
    token = page.input_value("#new-token")
    assert token.startswith("pl_")
    shot(page, "settings-token", full_page=True)
    me = httpx.get(f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == email
    # Read-only: the API refuses a write, in JSON naming the scope.
    wrote = httpx.post(
        f"{live_server}/api/v1/collections",
        json={"name": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert wrote.status_code == 403 and "read-only" in wrote.json()["detail"]
    page.goto("/settings")
    assert "read-only" in page.inner_text("table.tokens")
    assert page.locator("#new-token").count() == 0  # shown once only
    page.click("button[aria-label='Revoke token notebook']")
    page.wait_for_url("**/settings?done=revoked")
    me = httpx.get(f"{live_server}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401

    page.click("nav.account-nav >> text=Log out")
    page.wait_for_url(live_server + "/")
    assert "Log in" in page.inner_text("nav.account-nav")
    old = httpx.get(f"{live_server}/api/v1/me", cookies={"pl_session": session["value"]})
    assert old.status_code == 401  # the session ended on the server, not just the cookie

    page.goto("/settings")
    page.wait_for_url("**/login?next=/settings")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD + "!")
    page.click("main button[type=submit]")
    assert "not right" in page.inner_text("[role=alert]")
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/settings")
    now = {c["name"]: c["value"] for c in page.context.cookies()}
    assert now["pl_session"] != session["value"]
    shot(page, "settings", full_page=True)


def test_theme_form_still_works_with_its_token(page: Page) -> None:
    page.goto("/")
    page.click("form.theme-form button[value=dark]")
    page.wait_for_url("**/")
    assert page.get_attribute("html", "data-theme") == "dark"

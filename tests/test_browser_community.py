"""The community flow in a real browser (Debian's Chromium, headless, Playwright):
sign up → upvote a paper → save papers → "For you" shows explained recommendations →
"Not interested" removes one; then a private collection is a 404 in another browser.
Skipped without /usr/bin/chromium, except in CI (CI=true), where it fails."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

from browser import require_chromium, shot

PASSWORD = "correct horse battery"

require_chromium()


def new_page(browser: Browser, base: str) -> Page:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=base)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_dialog(dialog: Dialog) -> None:
        errors.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("dialog", on_dialog)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_signup_upvote_save_for_you(browser: Browser, live_server: str) -> None:
    page = new_page(browser, live_server)
    email = f"flow-{uuid.uuid4().hex[:8]}@example.org"
    page.goto("/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Display name (optional)").fill("Flow")
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form[action='/signup'] button[type=submit]").click()
    page.wait_for_load_state()
    # Sign-up only mails; then log in.
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()
    assert page.get_by_role("link", name="For you").count() == 1

    # Upvote the first result of a search; the page comes back with the vote counted.
    page.goto("/search?q=neural+network&mode=lexical")
    first = page.locator("ol.papers > li").first
    count_before = int(first.locator(".vote-count").inner_text())
    first.locator("button.vote-button").click()
    page.wait_for_url(re.compile(r"/search\?q=neural"))
    first = page.locator("ol.papers > li").first
    assert first.locator("button.vote-button").get_attribute("aria-pressed") == "true"
    assert int(first.locator(".vote-count").inner_text()) == count_before + 1

    # Save the first three results.
    saved_titles = []
    for i in range(3):
        item = page.locator("ol.papers > li").nth(i)
        saved_titles.append(item.locator(".paper-title a").inner_text())
        item.locator("button.save-button").click()
        page.wait_for_url(re.compile(r"/search\?q=neural"))
        assert page.locator("ol.papers > li").nth(i).locator("button.save-button").inner_text() == (
            "Saved ✓"
        )
    page.get_by_role("link", name="Library").click()
    page.get_by_role("link", name="Saved").click()
    assert page.locator("ol.papers > li").count() == 3

    # For you: explained by the saved papers; "Not interested" removes one.
    page.get_by_role("link", name="For you").click()
    page.wait_for_url(re.compile(r"/for-you"))
    recs = page.locator("ol.recommendations > li")
    assert recs.count() > 5
    reason = recs.first.locator(".reason").inner_text()
    assert reason.startswith("Because you saved")
    assert any(t in reason for t in saved_titles)
    shot(page, "for-you")
    gone = recs.first.locator(".paper-title a").inner_text()
    recs.first.get_by_role("button", name=re.compile("Not interested")).click()
    page.wait_for_url(re.compile(r"/for-you"))
    assert gone not in page.locator("ol.recommendations").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]

    # The private "Saved" collection is a 404 in another (anonymous) browser.
    page.get_by_role("link", name="Library").click()
    page.get_by_role("link", name="Saved").click()
    url = page.url
    stranger = new_page(browser, live_server)
    response = stranger.goto(url)
    assert response is not None and response.status == 404
    assert not any(t in stranger.content() for t in saved_titles)

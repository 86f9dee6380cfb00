"""The Cite button and the feed's options in a real browser (Debian's Chromium,
headless, Playwright): open Cite on a paper, copy BibTeX to the clipboard, download the
RIS file; filter the daily feed by category and sort it with the form. Skipped without
/usr/bin/chromium, except in CI (CI=true), where it fails."""

from __future__ import annotations

from playwright.sync_api import Browser

from browser import require_chromium, shot
from conftest import HOSTILE_ID, WebCorpus

require_chromium()


def test_cite_button_copies_and_downloads(
    browser: Browser, live_server: str, web_corpus: WebCorpus
) -> None:
    context = browser.new_context(
        viewport={"width": 1200, "height": 900}, base_url=live_server, accept_downloads=True
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    pid = web_corpus.snapshot_ids[0]
    page.goto(f"/paper/{pid}")
    panel = page.locator("details#cite")
    assert not page.locator("#cite-bibtex").is_visible()  # closed until asked
    panel.locator("summary").click()
    bibtex = page.locator("#cite-bibtex")
    assert bibtex.is_visible() and f"eprint = {{{pid}}}" in bibtex.inner_text()
    assert page.locator("#cite-ris").inner_text().startswith("TY  - ")
    copy = page.locator("button[data-copy='cite-bibtex']")
    assert copy.is_visible()  # shown by app.js where the clipboard can be written
    copy.click()
    page.wait_for_function(
        "document.querySelector(\"[data-copy='cite-bibtex']\").textContent === 'Copied'"
    )
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("@") and f"eprint = {{{pid}}}" in copied
    with page.expect_download() as info:
        page.locator(f"a[href='/paper/{pid}/cite.ris']").click()
    assert info.value.suggested_filename == f"{pid.replace('/', '-')}.ris"
    shot(page, "paper-cite")
    # The hostile paper's citation is text: no script ran, nothing became markup.
    page.goto(f"/paper/{HOSTILE_ID}")
    page.locator("details#cite summary").click()
    assert "<script>alert(1)</script>" in page.locator("#cite-bibtex").inner_text()
    assert not errors, errors
    context.close()


def test_feed_filter_form(browser: Browser, live_server: str) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=live_server)
    page = context.new_page()
    page.goto("/")
    form = page.locator("form#feed-control")
    form.get_by_label("Categories").fill("cs.CR")
    form.get_by_label("Sort by").select_option("votes")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/?*category=cs.CR*")
    assert "sort=votes" in page.url
    cards = page.locator("ol.papers > li")
    assert cards.count() >= 1
    for i in range(cards.count()):
        assert "cs.CR" in cards.nth(i).locator(".signals .cats").inner_text()
    assert page.locator("#fc-category").input_value() == "cs.CR"
    assert page.locator("#fc-sort").input_value() == "votes"
    shot(page, "feed-filtered")
    # A bad value comes back as a message over the feed.
    page.goto("/?sort=sideways")
    assert (
        "sort must be one of newest, votes, stars, citations"
        in page.locator("[role=alert]").inner_text().lower()
    )
    context.close()

"""Authors in a real browser (Debian's Chromium, headless, Playwright): from a paper
page to its first author's page (papers, co-authors), follow them, and find them on
"Authors you follow" with the private feed link; then unfollow. Skipped without
/usr/bin/chromium, except in CI (CI=true), where it fails."""

from __future__ import annotations

import re
import uuid
from typing import Any

from playwright.sync_api import Browser

from browser import require_chromium, shot
from conftest import WebCorpus
from test_browser_community import PASSWORD, new_page

require_chromium()


def test_author_page_and_follow(
    browser: Browser, live_server: str, web_corpus: WebCorpus, indexed_lens: Any
) -> None:
    page = new_page(browser, live_server)
    email = f"authors-{uuid.uuid4().hex[:8]}@example.org"
    page.goto("/signup")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form[action='/signup'] button[type=submit]").click()
    page.wait_for_load_state()
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()

    paper_id = web_corpus.snapshot_ids[0]
    first_author = indexed_lens.paper(paper_id).paper.authors[0]
    page.goto(f"/paper/{paper_id}")
    page.locator(".authors-full a").first.click()
    page.wait_for_url(re.compile(r"/author/"))
    assert (
        page.locator("h1#author-heading").inner_text()
        == indexed_lens.authors.page(first_author).name
    )
    assert page.locator(f"ol.papers a[href='/paper/{paper_id}']").count() == 1
    shot(page, "author-page", full_page=True)

    page.locator("button.follow-button").click()
    page.wait_for_load_state()
    button = page.locator("button.follow-button")
    assert button.get_attribute("aria-pressed") == "true"
    assert "Following" in button.inner_text()

    page.goto("/following")
    assert page.locator(".followed-authors li").count() == 1
    assert "/feeds/following/" in (page.locator("a.feed-url").get_attribute("href") or "")
    page.locator(".followed-authors button[type=submit]").click()
    page.wait_for_load_state()
    assert "You follow no author yet" in page.content()
    assert page.errors == []  # type: ignore[attr-defined]

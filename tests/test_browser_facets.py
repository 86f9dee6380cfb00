"""Facet-aware similar papers and "papers like my draft" in a real browser (Debian's
Chromium, headless): the "Similar by" switch works as plain links (JavaScript off),
shows each result's sentence pair, and the draft form posts (with its CSRF token) and
shows the matches, the pasted text echoed as text. Screenshots go to test-artifacts/
(docs/ keeps one of the reasons feature)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser

from browser import require_chromium, shot

#: The fixtures facets_lens, facets_app and facets_server.
pytest_plugins = ("facets_corpus",)

require_chromium()

DRAFT = (
    "Learning with few labels. Deep networks need many labelled examples, which are "
    "costly to collect. We propose a semi-supervised method that trains on unlabelled "
    "data with consistency regularisation. Experiments on three benchmarks show that it "
    "outperforms supervised training. <b>bold?</b>"
)


def test_facet_switch_without_javascript(browser: Browser, facets_server: str) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1100, "height": 1000}, base_url=facets_server
    )
    page = context.new_page()
    page.goto("/paper/ml-0")
    nav = page.get_by_role("navigation", name="Similar by")
    assert nav.get_by_role("link", name="everything").get_attribute("aria-current") == "page"
    nav.get_by_role("link", name="method").click()
    page.wait_for_url("**/paper/ml-0?facet=method")
    assert nav.get_by_role("link", name="method").get_attribute("aria-current") == "page"
    reasons = page.locator(".facet-matches .reason")
    assert reasons.count() == 8
    assert "matches" in (reasons.first.text_content() or "")
    page.mouse.wheel(0, 640)  # the list, for the screenshot kept in docs/
    page.wait_for_timeout(200)
    shot(page, "facets-method")
    nav.get_by_role("link", name="results").click()
    page.wait_for_url("**/paper/ml-0?facet=result")
    assert page.locator(".facet-matches .reason").count() == 8
    context.close()


def test_draft_form_posts_and_shows_matches(browser: Browser, facets_server: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=facets_server)
    page = context.new_page()
    dialogs: list[Any] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("/")
    page.get_by_role("link", name="Like my draft").click()
    page.wait_for_url("**/like-my-draft")
    page.get_by_label("Title and abstract").fill(DRAFT)
    page.get_by_role("button", name="Find similar papers").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Closest by method").is_visible()
    assert page.locator(".draft-results .reason").count() >= 3
    # The echoed draft is text in the form, not markup.
    assert page.get_by_label("Title and abstract").input_value().endswith("<b>bold?</b>")
    assert page.locator(".draft-form b").count() == 0
    shot(page, "facets-draft", full_page=True)
    page.get_by_label("Title and abstract").fill("")
    page.get_by_role("button", name="Find similar papers").click()
    page.wait_for_load_state()
    assert "the draft is empty" in (page.locator("#draft-error").text_content() or "")
    assert dialogs == []
    context.close()

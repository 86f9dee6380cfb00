"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright.

They search, open a paper, follow a similar paper, page through the daily feed, check
that hostile text stays text, that KaTeX renders, that nothing is fetched from outside,
the keyboard path and the contrast of both themes; screenshots go to test-artifacts/.
Without /usr/bin/chromium they are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

from browser import require_chromium, shot
from conftest import HOSTILE_ID

require_chromium()


class Watch:
    """What a page did that it should not: dialogs, outside requests, console errors."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        self.errors: list[str] = []

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(self, request: Request) -> None:
        if not request.url.startswith((self.base, "data:")):
            self.outside.append(request.url)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def watched(browser: Browser, live_server: str) -> Iterator[tuple[Page, Watch]]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=live_server)
    page = context.new_page()
    watch = Watch(live_server)
    page.on("dialog", watch.on_dialog)
    page.on("request", watch.on_request)
    page.on("console", watch.on_console)
    yield page, watch
    context.close()
    assert watch.dialogs == [], "a dialog opened: script from page content ran"
    assert watch.outside == [], "the page requested something from outside"
    assert watch.errors == [], "console errors (CSP violations show here)"


def test_search_open_paper_follow_similar(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto("/")
    page.fill("#header-q", "neural networks for image segmentation")
    page.press("#header-q", "Enter")
    page.wait_for_url(re.compile(r"/search\?q=neural"))
    assert re.search(r"[\d,]+ results? · hybrid · \d+ ms", page.inner_text(".summary"))
    assert page.locator("ol.papers mark").count() > 0
    shot(page, "search")
    first = page.locator("ol.papers .paper-title a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url(re.compile(r"/paper/"))
    assert page.inner_text("h1#paper-title") == title
    similar = page.locator(".similar .paper-title a")
    assert similar.count() == 8
    shot(page, "paper")
    other = similar.first.inner_text()
    similar.first.click()
    page.wait_for_url(re.compile(r"/paper/"))
    assert page.inner_text("h1#paper-title") == other != title


def test_mode_switch_and_filters(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto("/search")
    page.fill("#q", "Jerry")
    page.check("input[name=mode][value=lexical]")
    page.click("details.filters summary")
    page.fill("#category", "cs.CR")
    page.click(".search-form button[type=submit]")
    page.wait_for_url(re.compile(r"mode=lexical"))
    assert page.locator("ol.papers li").count() == 1
    assert "Tom & Jerry" in page.inner_text("ol.papers")


def test_daily_feed_paging(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto("/")
    newest = page.inner_text("#day-heading")
    assert re.match(r"[A-Z][a-z]{2} \d{1,2}\b", newest)
    assert page.locator("ol.papers li").count() > 0
    shot(page, "home")
    page.click(".daynav a[rel=prev]")
    page.wait_for_url(re.compile(r"date="))
    older = page.inner_text("#day-heading")
    assert older != newest
    page.click(".daynav a[rel=prev]")
    page.wait_for_url(re.compile(r"date="))
    page.click(".daynav a[rel=next]")
    assert page.inner_text("#day-heading") == older
    page.click(".daynav a[rel=next]")
    assert page.inner_text("#day-heading") == newest


def test_hostile_abstract_is_text_and_math_renders(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto(f"/paper/{HOSTILE_ID}")
    page.wait_for_selector("h1#paper-title .katex")
    assert "<script>alert(1)</script>" in page.inner_text("h1#paper-title")
    abstract = page.inner_text(".abstract")
    assert "<script>alert(1)</script>" in abstract
    assert "<img src=x onerror=alert(2)>" in abstract
    assert page.locator(".abstract .katex").count() == 1
    assert page.locator("main script, main img, main b").count() == 0
    shot(page, "hostile")


def test_works_without_javascript(browser: Browser, live_server: str) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server)
    page = context.new_page()
    page.goto("/search")
    page.fill("#q", "dark matter")
    page.click(".search-form button[type=submit]")
    page.wait_for_url(re.compile(r"q=dark"))
    assert page.locator("ol.papers li").count() > 0
    page.click("form.theme-form button[value=dark]")
    page.wait_for_url(re.compile(r"q=dark"))
    assert page.get_attribute("html", "data-theme") == "dark"
    context.close()


def test_keyboard_skip_link_and_focus(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto("/")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0  # visible when focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "header-q"


CONTRAST_JS = """
() => {
  function rgb(s) { const m = s.match(/[\\d.]+/g).map(Number); return m.slice(0, 3); }
  function lum(c) {
    const [r, g, b] = c.map(v => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function bg(el) {
    while (el) {
      const c = getComputedStyle(el).backgroundColor;
      if (c && !c.endsWith(", 0)") && c !== "transparent") return rgb(c);
      el = el.parentElement;
    }
    return [255, 255, 255];
  }
  const out = [];
  const sel = "body, .meta, .paper-title a, .snippet, mark, .badge-new, .day-year, .site-footer, "
    + ".nav-list a, .header-search button, .theme-form button, .pager-pos, .upvotes";
  for (const el of document.querySelectorAll(sel)) {
    const fg = rgb(getComputedStyle(el).color), b = bg(el);
    const [l1, l2] = [lum(fg), lum(b)].sort((x, y) => y - x);
    out.push([el.tagName + "." + el.className, (l1 + 0.05) / (l2 + 0.05)]);
  }
  return out;
}
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_contrast_in_both_themes(browser: Browser, live_server: str, scheme: Any) -> None:
    context = browser.new_context(color_scheme=scheme, base_url=live_server)
    page = context.new_page()
    page.goto("/search?q=neural+networks")
    context.add_cookies(
        [{"name": "pl_last_seen", "value": "2000-01-01T00:00:00+00:00", "url": live_server}]
    )
    page.goto("/")
    ratios = page.evaluate(CONTRAST_JS)
    assert len(ratios) > 20
    low = [(what, round(r, 2)) for what, r in ratios if r < 4.5]
    assert low == []
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(255, 255, 255)") == (scheme == "light")
    shot(page, f"home-{scheme}")
    context.close()


def test_theme_toggle_overrides_the_system(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.emulate_media(color_scheme="light")
    page.goto("/paper/0704.0001")
    page.click("form.theme-form button[value=dark]")
    page.wait_for_url(re.compile(r"/paper/0704.0001"))
    assert page.get_attribute("html", "data-theme") == "dark"
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(13, 17, 23)"
    assert page.get_attribute("form.theme-form button[value=dark]", "aria-pressed") == "true"
    shot(page, "paper-dark")


def test_api_docs_render_from_this_server(watched: tuple[Page, Watch]) -> None:
    page, _ = watched
    page.goto("/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/v1/search" in p for p in paths)

"""A paper's discussion in a real browser (Debian's Chromium, headless, Playwright): a
reader writes a comment with math and a hostile payload (KaTeX renders the math; no
script runs, nothing is loaded from outside, no console error), replies, edits; another
reader reports it; an admin hides it and the other reader then sees the stub.
Skipped without /usr/bin/chromium, except in CI (CI=true), where it fails."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

from browser import require_chromium, shot
from conftest import WebCorpus

PASSWORD = "correct horse battery"
HOSTILE = (
    "Energy: $E = m c^2$ and $a_1 * b_2 * c_3$, not *emphasis* inside math.\n\n"
    "<script>alert('script')</script> <img src=x onerror=\"alert('img')\"> "
    "![t](https://evil.example/t.png) [click](javascript:alert('link'))"
)

require_chromium()


class Watch:
    def __init__(self, base: str) -> None:
        self.base = base
        self.problems: list[str] = []

    def on_dialog(self, dialog: Dialog) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_request(self, request: Request) -> None:
        if not request.url.startswith((self.base, "data:")):
            self.problems.append(f"outside request: {request.url}")

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")


@pytest.fixture
def pages(browser: Browser, live_server: str) -> Iterator[Any]:
    """Open watched pages, each in its own browser profile; fails on any problem."""
    contexts = []
    watch = Watch(live_server)

    def open_page() -> Page:
        context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=live_server)
        contexts.append(context)
        page = context.new_page()
        page.on("dialog", watch.on_dialog)
        page.on("request", watch.on_request)
        page.on("console", watch.on_console)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert watch.problems == []


def login(page: Page, lens: Any, name: str, *, admin: bool = False) -> None:
    email = f"d-{uuid.uuid4().hex[:8]}@example.org"
    user = lens.accounts.create_user(email, PASSWORD, name, verified=True)
    if admin:
        lens.accounts.set_admin(user.email)
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()


def test_comment_reply_edit_report_hide(
    pages: Any, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    paper_id = web_corpus.snapshot_ids[7]
    writer = pages()
    login(writer, indexed_lens, "Writer")
    writer.goto(f"/paper/{paper_id}")
    writer.get_by_label("Add a comment").fill(HOSTILE)
    writer.get_by_role("button", name="Post comment").click()
    writer.wait_for_url(re.compile(r"#c\d+$"))
    comment_id = writer.url.rsplit("#", 1)[1]
    mine = writer.locator(f"li#{comment_id} > article")
    # KaTeX rendered both formulas; the payload is text, nothing ran or loaded.
    writer.wait_for_selector(f"li#{comment_id} .comment-body .katex")
    assert mine.locator(".comment-body .katex").count() == 2
    body = mine.locator(".comment-body")
    assert "<script>alert('script')</script>" in body.inner_text()
    assert body.locator("script, img").count() == 0
    assert body.locator("em").all_inner_texts() == ["emphasis"]  # none made inside math
    assert body.locator("a").count() == 1  # the image became a link; javascript: did not
    assert body.locator("a").get_attribute("rel") == "nofollow ugc noopener noreferrer"
    assert writer.evaluate("() => window.__pwned === undefined")

    # Reply to it, then edit the comment.
    mine.locator("details.comment-reply summary").click()
    mine.locator("details.comment-reply textarea").fill("Replying with $\\sqrt{2}$.")
    mine.get_by_role("button", name="Post reply").click()
    writer.wait_for_url(re.compile(r"#c\d+$"))
    reply_id = writer.url.rsplit("#", 1)[1]
    assert writer.locator(f"li#{comment_id} ol.replies li#{reply_id}").count() == 1
    mine = writer.locator(f"li#{comment_id} > article")
    mine.locator("details.comment-edit summary").click()
    mine.locator("details.comment-edit textarea").fill("Edited: $E = m c^2$ holds.")
    mine.get_by_role("button", name="Save").click()
    writer.wait_for_selector(f"li#{comment_id} .edited")
    assert "Edited:" in writer.locator(f"li#{comment_id} > article .comment-body").inner_text()
    shot(writer, "discussion", full_page=True)

    # Another reader reports it.
    reader = pages()
    login(reader, indexed_lens, "Reader")
    reader.goto(f"/paper/{paper_id}")
    theirs = reader.locator(f"li#{comment_id} > article")
    theirs.locator("details.comment-report summary").click()
    theirs.get_by_label("Why? (optional, for the moderators)").fill("off topic")
    theirs.get_by_role("button", name="Report").click()
    reader.wait_for_url(re.compile(r"#c\d+$"))
    assert reader.locator(f"li#{comment_id} > article .reported").count() == 1

    # The admin sees the report and hides the comment.
    admin = pages()
    login(admin, indexed_lens, "Admin", admin=True)
    admin.goto("/admin/comments")
    report = admin.locator("li.report", has_text="off topic")
    assert "Edited:" in report.inner_text()
    report.get_by_role("button", name="Hide").click()
    admin.wait_for_url(re.compile(r"/admin/comments$"))
    assert admin.locator("li.report", has_text="off topic").count() == 0

    reader.goto(f"/paper/{paper_id}")
    hidden = reader.locator(f"li#{comment_id} > article")
    assert hidden.locator(".comment-placeholder").inner_text() == "[hidden by a moderator]"
    assert "Edited:" not in hidden.inner_text()
    assert reader.locator(f"li#{reply_id}").count() == 1  # the reply keeps its place

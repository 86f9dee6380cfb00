"""A new reader in a real browser (Debian's Chromium, headless, JavaScript off): pick
categories, rate papers 👍/👎, download their data, import it back (nothing new), and
delete the account. Skipped without /usr/bin/chromium, except in CI."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from browser import require_chromium, shot

PASSWORD = "correct horse battery"

require_chromium()


@pytest.fixture
def page(browser: Browser, live_server: str) -> Iterator[Page]:
    context = browser.new_context(
        viewport={"width": 1200, "height": 900},
        base_url=live_server,
        java_script_enabled=False,
        accept_downloads=True,
    )
    p = context.new_page()
    yield p
    context.close()


def test_welcome_rate_export_import_delete(page: Page, indexed_lens: Any, tmp_path: Path) -> None:
    email = f"reader-{uuid.uuid4().hex[:8]}@example.org"
    indexed_lens.accounts.create_user(email, PASSWORD, "Reader", verified=True)
    page.goto("/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.click("main button[type=submit]")
    page.goto("/welcome")
    page.get_by_label("Your arXiv categories").fill("cs")
    page.click("form[action='/welcome/categories'] button")
    page.wait_for_url("**/welcome")
    questions = page.locator("ol.onboarding > li")
    assert questions.count() == 5
    shot(page, "welcome", full_page=True)
    questions.nth(0).locator("button[value='1']").click()
    page.wait_for_url("**/welcome")
    assert "Rated 1 (1 👍, 0 👎)" in page.inner_text("[role=status]")
    page.locator("ol.onboarding > li").nth(0).locator("button[value='0']").click()
    page.wait_for_url("**/welcome")
    assert "Rated 2 (1 👍, 1 👎)" in page.inner_text("[role=status]")

    page.goto("/settings")
    page.click("main a[href='/account/data']")
    with page.expect_download() as info:
        page.click("a[href='/account/export']")
    archive = tmp_path / "mine.zip"
    info.value.save_as(archive)
    doc = json.loads(
        zipfile.ZipFile(io.BytesIO(archive.read_bytes())).read("paperlens-export.json")
    )
    assert doc["sections"]["account"]["email"] == email
    assert len(doc["sections"]["dismissed"]) == 1 and doc["sections"]["collections"]

    page.set_input_files("#archive", str(archive))
    page.click("form[action='/account/import'] button")
    assert "Imported." in page.inner_text("main [role=status]")
    assert "collection papers: 1" in page.inner_text("ul.import-report")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    page.set_input_files("#archive", str(bad))
    page.click("form[action='/account/import'] button")
    assert "Nothing was imported: this is not a zip archive" in page.inner_text("main")
    shot(page, "account-data", full_page=True)

    page.get_by_label("Your password").fill(PASSWORD)
    page.click("form[action='/account/delete'] button")
    page.wait_for_url("**/?done=deleted")
    assert "Log in" in page.inner_text("nav.account-nav")
    assert indexed_lens.accounts.get_by_email(email) is None

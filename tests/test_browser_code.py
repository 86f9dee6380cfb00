"""Code badges and summaries in a real browser (Debian's Chromium, headless): the daily
feed shows the code badge with its stars and age and Hugging Face's summary; "Only
papers with code" filters the day; a paper page shows its code and artifacts, and no
link on it leads anywhere but the validated hosts. Skipped without /usr/bin/chromium,
except in CI."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser

from browser import require_chromium, shot
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.sources.hf_daily import HfDailySource
from paperlens.sources.http import PoliteClient
from replay_server import ReplayServer

require_chromium()

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from paperlens.web import create_app

    lens = PaperLens(Settings(data_dir=tmp_path_factory.mktemp("browser-code")))
    with ReplayServer() as hf:
        hf.add(
            "/api/daily_papers",
            {"date": "2025-09-08", "limit": "100", "p": "0"},
            fixture=FIXTURES / "hf_daily" / "2025-09-08_extras.json",
            content_type="application/json",
        )
        with PoliteClient(interval=0, retries=0) as client:
            lens.ingest(HfDailySource([date(2025, 9, 8)], hf.base_url, client=client))
    lens.code.store.save_repo(
        "github:openai/hallucination-evals",
        stars=2345,
        stars_base=2000,
        fetched_at=datetime.now(UTC) - timedelta(hours=3, minutes=1),
        checked_at=datetime.now(UTC),
    )
    app = create_app(lens, rate_limit=None, auth_limits=None)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    lens.close()


def test_badge_summary_and_code_filter(browser: Browser, code_server: str) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, base_url=code_server)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto("/?date=2025-09-04")
    card = page.locator("ol.papers > li").first
    badge = card.locator("a.badge-code")
    assert badge.inner_text() == "code"
    assert badge.get_attribute("href") == "https://github.com/openai/hallucination-evals"
    stars = card.locator(".stars").inner_text()
    assert stars == "★ 2.3k · 3 h ago"
    assert "Summary from Hugging Face" in card.locator(".tldr").inner_text()
    shot(page, "feed-code-badge")

    # A day whose only paper has no code: the filter empties it, and can be undone.
    page.goto("/?date=2025-09-06")
    assert page.locator("ol.papers > li").count() == 1
    assert "Extract" in page.locator(".tldr").first.inner_text()
    page.get_by_role("link", name="Only papers with code").click()
    page.wait_for_load_state()
    assert "code=1" in page.url
    assert page.locator("ol.papers > li").count() == 0
    page.get_by_role("link", name="Show all papers").click()
    page.wait_for_load_state()
    assert page.locator("ol.papers > li").count() == 1

    # The hostile paper: only the validated repository is a link; nothing else leaks.
    page.goto("/paper/2509.05000")
    section = page.locator("section.code")
    assert section.get_by_role("link").count() == 1
    hrefs = page.eval_on_selector_all("main a[href]", "els => els.map(e => e.href)")
    for href in hrefs:
        parts = urlsplit(href)
        assert parts.scheme in {"http", "https"}, href
        assert "evil" not in parts.netloc and "attacker" not in parts.netloc, href
    shot(page, "paper-code-section", full_page=True)
    assert errors == []
    context.close()

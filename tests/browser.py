"""What the browser tests share: Debian's Chromium driven by Playwright, headless.

Each browser test module calls :func:`require_chromium` at import: without
/usr/bin/chromium the module is skipped, except in CI (CI=true), where it fails. The
``browser`` fixture in conftest.py launches one Chromium for the whole session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
#: Headless in a sandboxed VM with no network: no background connections, no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail("browser tests need /usr/bin/chromium (apt-get install chromium)")
    pytest.skip(
        "/usr/bin/chromium is missing: apt-get install chromium to run the browser tests",
        allow_module_level=True,
    )


def launch(pw: Playwright) -> Browser:
    return pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Save a screenshot to test-artifacts/ (kept by CI for a look after a failure)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)

"""Refresh the README's screenshots (docs/*.png) from a running paperlens server.

    paperlens --data-dir DIR demo --no-serve      # once: the bundled sample, indexed
    paperlens --data-dir DIR serve --port 8765 &
    python scripts/screenshots.py http://127.0.0.1:8765

Uses Debian's chromium (/usr/bin/chromium) through Playwright, light theme, 1280x900.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

DOCS = Path(__file__).resolve().parent.parent / "docs"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main(base: str) -> int:
    DOCS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
        page.goto(f"{base}/")
        page.screenshot(path=str(DOCS / "home.png"))
        # A paper page with code, its summary, the Cite button and similar papers with
        # their reasons (the bundled ML sample has papers linking their repositories).
        page.goto(f"{base}/search?q=language+model&mode=hybrid&code=1")
        page.locator("main a[href^='/paper/']").first.click()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(DOCS / "paper.png"), full_page=True)
        page.goto(f"{base}/search?q=graph+neural+networks")
        page.screenshot(path=str(DOCS / "search.png"))
        browser.close()
    print(f"wrote {DOCS}/home.png, paper.png, search.png")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(sys.argv[1].rstrip("/")))

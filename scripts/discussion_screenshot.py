"""Make docs/screenshots/discussion.png: a paper's discussion with math, a mention, a
reply, an edit, a deleted comment and a claimed author.

    python scripts/discussion_screenshot.py

Self-contained: a temporary database with a few papers of the bundled arXiv sample
(no index: the page's similar papers are not part of the picture), the web app served
on loopback in a thread, readers and comments made through the services, then Debian's
chromium (/usr/bin/chromium, Playwright) signed in as one of the readers, light theme.
Claims of authorship are not wired into discussions yet, so the script hands the
service a claims source that names one reader, to show the "author" mark.
"""

from __future__ import annotations

import gzip
import itertools
import json
import socket
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path

import uvicorn
from playwright.sync_api import sync_playwright

from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.discussions import Discussions
from paperlens.sources.snapshot import SnapshotSource
from paperlens.web import create_app

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots" / "discussion.png"
PASSWORD = "correct horse battery"  # noqa: S105 (the demo readers')
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class OneAuthor:
    def __init__(self, user_pk: int) -> None:
        self.user_pk = user_pk

    def claimed_author_pks(self, paper_pk: int) -> set[int]:
        return {self.user_pk}


def sample(root: Path, n: int = 60) -> Path:
    src = resources.files("paperlens.sample").joinpath("arxiv-snapshot-sample.jsonl.gz")
    out = root / "sample.jsonl"
    with gzip.open(str(src), "rt", encoding="utf-8") as fh:
        out.write_text("".join(itertools.islice(fh, n)), encoding="utf-8")
    return out


def seed(lens: PaperLens) -> tuple[str, str]:
    """Readers and a discussion; returns the paper's id and the reader to sign in as."""
    rows = [json.loads(line) for line in (lens.settings.data_dir.parent / "sample.jsonl").open()]
    paper_id = next(r["id"] for r in rows if "$" in r["abstract"])
    pk = lens.paper(paper_id).pk
    accounts = lens.accounts
    admin = accounts.create_user("admin@example.org", PASSWORD, "Admin", verified=True)
    grace = accounts.create_user("grace@example.org", PASSWORD, "Grace Hopper", verified=True)
    ada = accounts.create_user("ada@example.org", PASSWORD, "Ada Lovelace", verified=True)
    alan = accounts.create_user("alan@example.org", PASSWORD, "Alan Turing", verified=True)
    d = Discussions(lens.discussions.store, lens.papers, lens.settings, OneAuthor(ada.pk))
    lens.__dict__["discussions"] = d  # the page reads the same service
    q = d.post(
        grace,
        pk,
        "Nice result. Does the bound $\\|x_t - x^{\\star}\\|_2 \\le C\\,t^{-1/2}$ still hold "
        "when the step size is **not** constant?",
    ).comment
    d.post(
        ada,
        pk,
        "Yes: with $\\eta_t = \\eta_0/\\sqrt{t}$ the same argument gives\n\n"
        "$$\\sum_{t=1}^{T} \\eta_t \\|g_t\\|^2 = O(\\sqrt{T}),$$\n\n"
        "see Section 4. Thanks for asking, @Grace_Hopper!",
        parent_pk=q.pk,
    )
    code = d.post(alan, pk, "Is there code? `pip install` failed for me.").comment
    d.edit(
        alan,
        code.pk,
        "Code: [github.com/example/lbm](https://github.com/example/lbm); "
        "`pip install .` works with Python 3.11.",
    )
    gone = d.post(alan, pk, "(a comment its author deleted)").comment
    d.post(grace, pk, "Answering a comment that was deleted later.", parent_pk=gone.pk)
    d.delete(alan, gone.pk)
    assert admin.is_admin
    return paper_id, grace.email


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sample(root)
        settings = Settings(
            data_dir=root / "data", database_url=f"sqlite:///{root / 'paperlens.db'}"
        )
        lens = PaperLens(settings)
        lens.ingest(SnapshotSource(root / "sample.jsonl"))
        paper_id, email = seed(lens)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = create_app(lens, rate_limit=None)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                page = browser.new_page(
                    viewport={"width": 1100, "height": 900}, color_scheme="light"
                )
                page.goto(f"{base}/login")
                page.get_by_label("Email address").fill(email)
                page.get_by_label("Password").fill(PASSWORD)
                page.locator("form[action='/login'] button[type=submit]").click()
                page.wait_for_load_state()
                page.goto(f"{base}/paper/{paper_id}")
                page.wait_for_selector("#discussion .katex")
                OUT.parent.mkdir(parents=True, exist_ok=True)
                page.locator("#discussion").screenshot(path=str(OUT))
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            lens.close()
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fixtures shared by the test suite."""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from email.utils import parsedate_to_datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from replay_server import ReplayServer

# -- the `db` marker: tests that can behave differently on PostgreSQL ------------------------


#: The longest modules (minutes: models derived from PyTorch, a Ray cluster, CLI processes)
#: first, so that two processes (./test.sh runs ``-n 2 --dist loadfile``) end together.
LONGEST_FIRST = ("test_encoders.py", "test_ray_index.py", "test_cli.py")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `db` every test that reaches tests/databases.py (``-m db`` selects them: the
    PostgreSQL pass of ./test.sh); before ``-m`` deselects anything. Then the modules in
    ``LONGEST_FIRST`` go first (each module's tests keep their order)."""
    from databases import uses_test_database

    for item in items:
        if uses_test_database(item):
            item.add_marker(pytest.mark.db)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[Any]:
    import databases

    databases.current_test = (item.nodeid, item.get_closest_marker("db") is not None)
    try:
        return (yield)
    finally:
        databases.current_test = None


def pytest_configure(config: pytest.Config) -> None:
    # PAPERLENS_TEST_DB_TRACE=FILE: append "<test id> (<phase>)" whenever a PostgreSQL
    # connection is checked out, to compare with `pytest -m db --collect-only -q` (a
    # teardown line can be a module- or session-scoped fixture closing after that test).
    trace = os.environ.get("PAPERLENS_TEST_DB_TRACE")
    if not trace:
        return
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if type(dbapi_connection).__module__.startswith("psycopg"):
            current = os.environ.get("PYTEST_CURRENT_TEST", "(no test)")
            with open(trace, "a", encoding="utf-8") as fh:
                fh.write(current + "\n")

    event.listen(Pool, "checkout", checkout)


@pytest.fixture
def replay_server() -> Iterator[ReplayServer]:
    """A loopback HTTP server replaying recorded responses (see ``tests/replay_server.py``)."""
    with ReplayServer() as server:
        yield server


# -- web: one small indexed corpus, the app over it, a live server -----------------------

HOSTILE_ID = "test:hostile-1"
HOSTILE_TITLE = "<script>alert(1)</script> Tom & Jerry: when $\\alpha < \\beta$ holds"
HOSTILE_ABSTRACT = (
    'We show <script>alert(1)</script> that $\\alpha < \\beta$ & "quotes" survive; '
    "<img src=x onerror=alert(2)> is text, and so is </p><b>bold</b>. Déjà vu, 你好, 🙂."
)
UPVOTED_VOTES = 42


@dataclass(frozen=True)
class WebCorpus:
    """What the indexed test corpus holds that tests refer to."""

    latest_day: date
    upvoted_id: str
    snapshot_ids: list[str]


def _snapshot_subset(n: int = 300, step: int = 6) -> list[dict[str, Any]]:
    base = resources.files("paperlens.sample")
    out: list[dict[str, Any]] = []
    with gzip.open(
        str(base.joinpath("arxiv-snapshot-sample.jsonl.gz")), "rt", encoding="utf-8"
    ) as fh:
        for i, line in enumerate(fh):
            if i % step == 0:
                out.append(json.loads(line))
                if len(out) >= n:
                    break
    return out


def _ml_subset(n: int = 200) -> list[str]:
    base = resources.files("paperlens.sample")
    with gzip.open(str(base.joinpath("ml-abstracts-1000.jsonl.gz")), "rt", encoding="utf-8") as fh:
        return [line for _, line in zip(range(n), fh, strict=False)]


@pytest.fixture(scope="session")
def web_corpus_lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, WebCorpus]]:
    from databases import fresh_database
    from paperlens.config import Settings
    from paperlens.core import PaperLens
    from paperlens.sources.base import Listing, Parsed
    from paperlens.sources.jsonl import JsonlSource
    from paperlens.sources.snapshot import SnapshotSource

    root = tmp_path_factory.mktemp("web-corpus")
    snapshot = _snapshot_subset()
    first_days = [parsedate_to_datetime(r["versions"][0]["created"]).date() for r in snapshot]
    latest = max(first_days)
    (root / "snapshot.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in snapshot), encoding="utf-8"
    )
    hostile = {
        "id": HOSTILE_ID,
        "title": HOSTILE_TITLE,
        "abstract": HOSTILE_ABSTRACT,
        "authors": ["Mallory <b>Evil</b>", "O'Brien & Sons"],
        "categories": ["cs.CR"],
        "published": f"{latest.isoformat()}T23:00:00Z",
        "url": "javascript:alert(3)",
    }
    (root / "extra.jsonl").write_text(
        "".join(_ml_subset()) + json.dumps(hostile) + "\n", encoding="utf-8"
    )
    with fresh_database(root) as url:
        lens = PaperLens(Settings(data_dir=root / "data", database_url=url, max_seq_length=128))
        lens.ingest(SnapshotSource(root / "snapshot.jsonl"))
        lens.ingest(JsonlSource(root / "extra.jsonl"))
        upvoted = next(r["id"] for r, d in zip(snapshot, first_days, strict=True) if d == latest)
        stored = lens.paper(upvoted)
        lens.papers.write_batch(
            [Parsed(stored.paper, "test", listing=Listing("hf-daily", latest, UPVOTED_VOTES, 3))]
        )
        lens.index()
        yield lens, WebCorpus(latest, upvoted, [r["id"] for r in snapshot])
        lens.close()


@pytest.fixture(scope="session")
def indexed_lens(web_corpus_lens: tuple[Any, WebCorpus]) -> Any:
    """A :class:`PaperLens` over 300 snapshot papers, 200 ML abstracts and one hostile
    paper (``HOSTILE_ID``: ``<script>``, ``&``, ``<`` and LaTeX), indexed once."""
    return web_corpus_lens[0]


@pytest.fixture(scope="session")
def web_corpus(web_corpus_lens: tuple[Any, WebCorpus]) -> WebCorpus:
    return web_corpus_lens[1]


@pytest.fixture(scope="session")
def web_app(indexed_lens: Any) -> Any:
    """The web app over ``indexed_lens``, with no rate limit (tests make many requests)."""
    from paperlens.web import create_app

    return create_app(indexed_lens, rate_limit=None, auth_limits=None)


@pytest.fixture
def client(web_app: Any) -> Iterator[Any]:
    """An httpx-based client calling the app in-process (cookies kept per test)."""
    from fastapi.testclient import TestClient

    with TestClient(web_app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for every browser test (see tests/browser.py)."""
    from playwright.sync_api import sync_playwright

    from browser import launch

    with sync_playwright() as pw:
        b = launch(pw)
        yield b
        b.close()


@pytest.fixture(scope="session")
def live_server(web_app: Any) -> Iterator[str]:
    """The app served by uvicorn in a thread on 127.0.0.1 (a free port); yields its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(web_app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


# -- storage: the same tests on SQLite and on PostgreSQL ----------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database for one test (see ``tests/databases.py``)."""
    from databases import fresh_database

    with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Any:
    """Settings over a fresh database and data directory, with short embeddings for speed."""
    from paperlens.config import Settings

    return Settings(data_dir=tmp_path / "data", database_url=database_url, max_seq_length=128)


# -- mail: a real SMTP server on loopback ---------------------------------------------------


class SmtpSink:
    """What the test SMTP server received: ``port`` to point ``Settings.smtp_port`` at,
    and ``messages`` (parsed :class:`email.message.EmailMessage`, in arrival order)."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[Any] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._arrived = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes
        from email.policy import default

        with self._arrived:
            self.messages.append(message_from_bytes(envelope.original_content, policy=default))
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        """Block until at least ``count`` messages arrived (for mail sent in the background)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"expected {count} mails, got {len(self.messages)}")
            return list(self.messages)


@contextmanager
def serve_smtp(handler: Any) -> Iterator[None]:
    """Run an aiosmtpd ``handler`` on 127.0.0.1 at a free port, stored in ``handler.port``."""
    from aiosmtpd.controller import Controller

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    handler.port = sock.getsockname()[1]
    sock.close()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    try:
        yield
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    """An aiosmtpd server on 127.0.0.1 (a free port) that keeps every message it gets."""
    sink = SmtpSink()
    with serve_smtp(sink):
        yield sink

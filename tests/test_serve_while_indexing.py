"""Serving before the papers are embedded: keyword search at once (hybrid answered by
BM25 with a notice, on every front end), ``paperlens index`` in a background child that
a running server picks up, and ``paperlens demo`` serving before its embedding is done
and stopping that child when it stops."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from filelock import FileLock
from starlette.testclient import TestClient

from corpus import sample_records, write_jsonl
from paperlens.cli.background import BackgroundIndex, last_line
from paperlens.config import Settings
from paperlens.core import DENSE_NOT_READY, IndexNotBuilt, PaperLens
from paperlens.sources.snapshot import SnapshotSource
from serving import start_serve

QUERY = "pebble game sparse graphs"  # 0704.0002's title words
PAPER = "0704.0002"


@pytest.fixture
def keyword_only(tmp_path: Path, database_url: str) -> Iterator[PaperLens]:
    """200 sample papers with their keyword side indexed and nothing embedded."""
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, max_seq_length=64)
    lens = PaperLens(settings)
    sample = write_jsonl(tmp_path / "s.jsonl", sample_records("arxiv-snapshot-sample", limit=200))
    lens.ingest(SnapshotSource(sample))
    report = lens.index_keywords()
    assert report.lexical_docs == report.term_docs == 200
    assert report.embedded == report.vectors == 0
    yield lens
    lens.close()


def test_hybrid_search_is_answered_by_keywords_until_papers_are_embedded(
    keyword_only: PaperLens,
) -> None:
    lens = keyword_only
    found = lens.search(QUERY)  # hybrid, the default
    assert found.mode.value == "lexical"
    assert found.notice == DENSE_NOT_READY
    assert found.results[0].paper.id == PAPER
    assert lens.search(QUERY, "lexical").notice == ""  # asked for keywords: nothing to say
    with pytest.raises(IndexNotBuilt):
        lens.search(QUERY, "semantic")  # dense alone cannot be had yet: an error, not BM25
    assert lens.embeddings.count(lens.model_key) == 0  # searching embedded nothing

    lens.index()
    found = lens.search(QUERY)
    assert (found.mode.value, found.notice) == ("hybrid", "")
    assert found.results[0].paper.id == PAPER


def test_every_front_end_says_why_hybrid_results_are_keyword_results(
    keyword_only: PaperLens, tmp_path: Path
) -> None:
    from paperlens.web import create_app

    lens = keyword_only
    with TestClient(create_app(lens, rate_limit=None, auth_limits=None)) as client:
        api = client.get("/api/v1/search", params={"q": QUERY, "limit": 3})
        assert api.status_code == 200
        body = api.json()
        assert (body["mode"], body["notice"]) == ("lexical", DENSE_NOT_READY)
        assert body["results"][0]["paper"]["id"] == PAPER
        semantic = client.get("/api/v1/search", params={"q": QUERY, "mode": "semantic"})
        assert semantic.status_code == 503
        assert "paperlens index" in semantic.json()["detail"]

        page = client.get("/search", params={"q": QUERY})
        assert page.status_code == 200
        assert "Semantic search is not ready yet" in page.text
        assert PAPER in page.text
        paper = client.get(f"/paper/{PAPER}")
        assert paper.status_code == 200
        assert "Similar papers appear once the index is built" in paper.text

    env = {
        **os.environ,
        **lens.settings.as_environment(),
        "COLUMNS": "200",
    }
    cli = [sys.executable, "-m", "paperlens", "search", QUERY, "-n", "3"]
    text = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert text.returncode == 0, text.stderr
    assert "note: Semantic search is not ready yet" in " ".join(text.stderr.split())
    assert PAPER in text.stdout and ", lexical," in text.stdout
    as_json = subprocess.run(
        [*cli, "--json"], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert as_json.returncode == 0, as_json.stderr
    out = json.loads(as_json.stdout)
    assert (out["mode"], out["notice"]) == ("lexical", DENSE_NOT_READY)


def test_a_server_picks_up_what_the_background_index_publishes(keyword_only: PaperLens) -> None:
    lens = keyword_only
    env = {**os.environ, **lens.settings.as_environment()}
    proc, base = start_serve(env)
    background: BackgroundIndex | None = None
    try:
        first = httpx.get(f"{base}/api/v1/search", params={"q": QUERY}, timeout=30).json()
        assert (first["mode"], first["notice"]) == ("lexical", DENSE_NOT_READY)
        log = lens.settings.data_dir / "demo-index.log"
        background = BackgroundIndex(lens.settings, log)
        assert background.process.wait(timeout=300) == 0, log.read_text()
        assert "indexed: 200 embedded" in " ".join(log.read_text().split())
        # The server reloads published indexes every couple of seconds.
        deadline = time.monotonic() + 30
        body: dict = {}  # type: ignore[type-arg]
        while time.monotonic() < deadline:
            body = httpx.get(f"{base}/api/v1/search", params={"q": QUERY}, timeout=30).json()
            if body["mode"] == "hybrid":
                break
            time.sleep(0.5)
        assert (body["mode"], body.get("notice")) == ("hybrid", None)
        similar = httpx.get(f"{base}/api/v1/papers/{PAPER}/similar", timeout=30)
        assert similar.status_code == 200 and similar.json()["similar"]
        # The child indexed with this lens's settings (its token limit), not the defaults.
        assert lens.embeddings.count(lens.model_key) == 200
    finally:
        if background is not None:
            background.stop()
        proc.terminate()
        proc.wait(timeout=30)


def test_last_line_of_a_log(tmp_path: Path) -> None:
    log = tmp_path / "index.log"
    assert last_line(log) == ""  # no log yet
    log.write_text("embedding\nerror: the model is missing\n\n  \n", encoding="utf-8")
    assert last_line(log) == "error: the model is missing"


def test_stopping_the_background_index_loses_nothing(keyword_only: PaperLens) -> None:
    lens = keyword_only
    log = lens.settings.data_dir / "demo-index.log"
    background = BackgroundIndex(lens.settings, log)
    time.sleep(1.0)  # the child is starting or embedding
    background.stop()
    assert background.process.returncode is not None  # no child outlives stop()
    lock = FileLock(lens.settings.index_dir / "writer.lock", thread_local=False)
    lock.acquire(timeout=0)  # the index lock was let go
    lock.release()
    report = lens.index()  # and the next run finishes the job
    assert lens.embeddings.count(lens.model_key) == 200
    assert report.embedded <= 200
    assert lens.search(QUERY).mode.value == "hybrid"


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM])
def test_demo_serves_before_its_embedding_is_done_and_stops_its_child(
    tmp_path: Path, database_url: str, stop_with: signal.Signals
) -> None:
    data = tmp_path / "demo"
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(data),
        "PAPERLENS_DATABASE_URL": database_url,
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperlens", "demo", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "".join(seen)
            seen.append(line)
            if "serving on" in line:
                break
        output = "".join(seen)
        assert "keyword index: 2993 BM25 documents" in output, output
        assert "keyword search: dark matter in galaxy halos" in output
        base = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert base, output
        answer: dict = {}  # type: ignore[type-arg]
        for _ in range(100):  # the address is printed just before uvicorn listens
            try:
                answer = httpx.get(
                    f"{base.group(0)}/api/v1/search", params={"q": "dark matter halos"}, timeout=30
                ).json()
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert answer["results"]
        # 2,993 papers are not embedded in the second or two this took.
        assert (answer["mode"], answer["notice"]) == ("lexical", DENSE_NOT_READY)
    finally:
        proc.send_signal(stop_with)  # Ctrl-C, or `kill` / a service manager
        seen.append(proc.communicate(timeout=60)[0])
    # The demo stopped its background index: the index lock is free, and what the
    # child finished stays for the next run.
    lock = FileLock(data / "index" / "writer.lock", thread_local=False)
    lock.acquire(timeout=0)
    lock.release()
    assert "semantic search and similar papers are ready" not in "".join(seen)
    children = subprocess.run(
        ["pgrep", "-f", "-m paperlens index"], capture_output=True, text=True, check=False
    )
    assert not [pid for pid in children.stdout.split() if str(data) in _environment(pid)], (
        "the background index outlived the demo"
    )


def _environment(pid: str) -> str:
    """A process's environment as text ("" once it has gone)."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return ""

"""The command line as a user runs it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from corpus import sample_records, write_jsonl
from paperlens.store.db import normalise_url


@pytest.fixture(autouse=True)
def _database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of a test uses that test's fresh database."""
    monkeypatch.setenv("PAPERLENS_DATABASE_URL", database_url)


def paperlens(data_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PAPERLENS_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERLENS_SECRET_KEY", "too-short")
    proc = paperlens(tmp_path / "data", "stats")
    assert proc.returncode != 0
    line = _one_line_error(proc)
    assert "PAPERLENS_SECRET_KEY" in line and "at least 32 characters" in line


def test_bad_lines_reported_and_strict_sets_exit_code(tmp_path: Path) -> None:
    good = sample_records("arxiv-snapshot-sample", limit=2)
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps(good[0]) + "\n{not json\n" + json.dumps({**good[1], "id": "bogus"}) + "\n",
        encoding="utf-8",
    )
    proc = paperlens(tmp_path / "data", "ingest", "snapshot", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "mixed.jsonl line 2: malformed JSON" in proc.stderr
    assert "mixed.jsonl line 3: not an arXiv id: 'bogus'" in proc.stderr
    assert "1 added" in proc.stdout and "2 rejected" in proc.stdout

    strict = paperlens(tmp_path / "data", "ingest", "snapshot", str(path), "--strict")
    assert strict.returncode == 1
    assert "1 unchanged" in strict.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "jsonl", "/no/such/file.jsonl"), "no such file"),
        (("similar", "0704.9999"), "no paper with id '0704.9999'"),
        (("search", "x", "--since", "2021-02-30"), "--since must be a date"),
        (("search", "x", "--since", "2022-01-01", "--until", "2021-01-01"), "is after until"),
        (("search", "   "), "empty query"),
        (("search", "x" * 1001, "--mode", "lexical"), "query is too long"),
    ],
)
def test_errors_are_one_line_and_nonzero(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    proc = paperlens(tmp_path / "data", *args)
    assert proc.returncode != 0
    assert message in _one_line_error(proc)


def _big_snapshot(path: Path, copies: int) -> int:
    """The 2,000 sample records repeated under other (valid) months' ids."""
    records = sample_records("arxiv-snapshot-sample")
    lines = []
    for month in range(1, copies + 1):
        for r in records:
            lines.append({**r, "id": f"07{month:02d}.{r['id'].split('.')[1]}"})
    write_jsonl(path, lines)
    return len(lines)


def _scalar(url: str, sql: str) -> int:
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar_one())
    except (OperationalError, ProgrammingError):  # not created yet
        return 0
    finally:
        engine.dispose()


def test_kill_9_mid_import_then_resume(tmp_path: Path, database_url: str) -> None:
    """SIGKILL during an import: nothing stored is corrupted, and running the same
    command again finishes with every paper exactly once."""
    data = tmp_path / "data"
    snap = tmp_path / "snapshot.jsonl"
    total = _big_snapshot(snap, copies=10)
    env = {**os.environ, "PAPERLENS_DATA_DIR": str(data)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "paperlens.cli.main",
            "ingest",
            "snapshot",
            str(snap),
            "--batch-size",
            "500",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (
        _scalar(database_url, "SELECT count(*) FROM ingest_checkpoints") == 0
        and time.monotonic() < deadline
        and proc.poll() is None
    ):
        time.sleep(0.05)
    assert proc.poll() is None, "the import finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    partial = _scalar(database_url, "SELECT count(*) FROM papers")
    assert 0 < partial < total

    again = paperlens(data, "ingest", "snapshot", str(snap), "--batch-size", "500")
    assert again.returncode == 0, again.stderr
    assert "(resumed)" in again.stdout
    assert _scalar(database_url, "SELECT count(*) FROM ingest_checkpoints") == 0
    assert _scalar(database_url, "SELECT count(*) FROM papers") == total
    assert _scalar(database_url, "SELECT count(DISTINCT id) FROM papers") == total


def test_search_json_output(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sample = write_jsonl(tmp_path / "s.jsonl", sample_records("arxiv-snapshot-sample", limit=200))
    assert paperlens(data, "ingest", "snapshot", str(sample)).returncode == 0
    # Lexical search works before any embedding exists: only the BM25 index is needed.
    from paperlens.config import Settings
    from paperlens.core import PaperLens
    from paperlens.indexer import sync_lexical

    lens = PaperLens(Settings(data_dir=data, database_url=os.environ["PAPERLENS_DATABASE_URL"]))
    sync_lexical(lens.papers, lens.lexical)
    proc = paperlens(
        data, "search", "pebble game sparse graphs", "--mode", "lexical", "--json", "-n", "3"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["mode"] == "lexical"
    assert out["results"][0]["id"] == "0704.0002"
    assert out["results"][0]["title"].startswith("Sparsity-certifying Graph Decompositions")
    assert len(out["results"]) == 3
    assert out["total_is_exact"] is False  # unfiltered, a full page: estimated
    text = paperlens(data, "search", "graphs", "--mode", "lexical", "-n", "3")
    assert text.returncode == 0, text.stderr
    assert re.search(r"about \d+ results, page 1 of", text.stdout)


def test_index_while_another_updater_runs_says_so(tmp_path: Path) -> None:
    """A second ``paperlens index`` (an overlapping cron run) stops at once with one
    line; the running one indexes what is new."""
    from filelock import FileLock

    lock_path = tmp_path / "index" / "writer.lock"
    lock_path.parent.mkdir(parents=True)
    lock = FileLock(lock_path, thread_local=False)
    lock.acquire()
    try:
        proc = paperlens(tmp_path, "index")
    finally:
        lock.release()
    assert proc.returncode != 0
    assert "another paperlens process is updating the indexes" in _one_line_error(proc)


@pytest.mark.parametrize(
    ("kind", "sample"), [("jsonl", "ml-abstracts-1000"), ("snapshot", "arxiv-snapshot-sample")]
)
def test_truncated_gzip_names_the_file_and_the_line(tmp_path: Path, kind: str, sample: str) -> None:
    raw = "".join(json.dumps(r) + "\n" for r in sample_records(sample, limit=600)).encode()
    whole = gzip.compress(raw)
    path = tmp_path / f"cut-{kind}.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    proc = paperlens(tmp_path / "data", "ingest", kind, str(path))
    assert proc.returncode != 0
    message = _one_line_error(proc)
    reached = re.search(rf"{re.escape(str(path))}: cannot read past line (\d+) ", message)
    assert reached, message
    assert 0 < int(reached.group(1)) < 600
    assert "truncated or corrupt" in message

"""``paperlens index --ray ADDRESS``: embedding on a real Ray cluster (a head started with
``ray start`` on this machine, 2 CPUs, reached by address) gives the same indexes as the
local path, resumes incrementally, and fails in one line on a bad address."""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corpus import sample_records, write_jsonl

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install -e '.[ray]'; the dev extra includes it)",
)

CORPUS = 200
EXTRA = 20
MAX_SEQ_LENGTH = 128
#: The test cluster uses Ray's token authentication with its own token, so neither a
#: token in ``~/.ray`` nor its absence changes what the head and the drivers agree on.
RAY_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16)}
QUERIES = ("galaxy dark matter", "neural network", "quantum spin systems", "graph theory")
#: Ports of the module's Ray head, set by the ``ray_head`` fixture.
HEAD: dict[str, int] = {}
#: The head's ``--temp-dir`` (its logs are under ``session_latest/logs``).
HEAD_DIR: list[Path] = []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """A Ray head (GCS, raylet, 2 CPUs, 200 MB object store) started with ``ray start
    --block`` in its own session; yields its address. Stopped by signalling that process
    (and its process group): never ``ray stop``, which would end every Ray on the box."""
    port, client_port = _free_port(), _free_port()
    HEAD.update(gcs=port, client=client_port)
    temp_dir = Path(tempfile.mkdtemp(prefix="plray-", dir="/tmp"))  # short: socket paths
    HEAD_DIR[:] = [temp_dir]
    log_path = temp_dir / "head.log"
    ray_bin = Path(sys.executable).with_name("ray")
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        # The head's Ray Client proxy waits this long for the server process it starts
        # for a client (30 s by default: too short on two busy cores and a fresh install).
        "RAY_CLIENT_SERVER_CHECK_CHANNEL_TIMEOUT_S": "180",
        **RAY_AUTH,
    }
    with log_path.open("w") as log:
        head = subprocess.Popen(
            [
                str(ray_bin),
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                f"--ray-client-server-port={client_port}",
                "--num-cpus=2",
                "--num-gpus=0",
                "--include-dashboard=false",
                "--disable-usage-stats",
                "--object-store-memory=200000000",
                f"--temp-dir={temp_dir}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ray runtime started" not in log_path.read_text(errors="replace"):
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)  # --block: stops the processes it started
            try:
                head.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)  # its own session: only what it started
                head.wait(timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_client(ray_head: str) -> str:
    """The same head's Ray Client address (``ray://``)."""
    return f"ray://127.0.0.1:{HEAD['client']}"


def paperlens(
    data_dir: Path, database_url: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(data_dir),
        "PAPERLENS_DATABASE_URL": database_url,
        "PAPERLENS_MAX_SEQ_LENGTH": str(MAX_SEQ_LENGTH),
        "HF_HUB_OFFLINE": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        **RAY_AUTH,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def _client_server_logs(lines: int = 15) -> str:
    """The last lines of the head's Ray Client proxy and per-client server logs: what a
    failure of ``ray://`` needs to be understood (they are deleted with the head)."""
    if not HEAD_DIR:
        return ""
    parts = []
    for log in sorted((HEAD_DIR[0] / "session_latest" / "logs").glob("ray_client_server*")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        if tail:
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
    return "\n".join(parts)


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


@dataclass
class Twin:
    data_dir: Path
    url: str
    lens: Any = None

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return paperlens(self.data_dir, self.url, *args)

    def open(self) -> Any:
        from paperlens.config import Settings
        from paperlens.core import PaperLens

        if self.lens is None:
            self.lens = PaperLens(
                Settings(data_dir=self.data_dir, database_url=self.url, max_seq_length=128)
            )
        return self.lens


@pytest.fixture(scope="module")
def twins(
    ray_head: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Twin, Twin, list[dict[str, Any]]]]:
    """The same slice of the sample corpus in two stores: one indexed locally, one with
    ``--ray`` (both through the CLI)."""
    from databases import fresh_database
    from paperlens.sources.snapshot import SnapshotSource

    root = tmp_path_factory.mktemp("ray-index")
    records = sample_records("arxiv-snapshot-sample", limit=CORPUS + EXTRA)
    corpus = write_jsonl(root / "corpus.jsonl", records[:CORPUS])
    (root / "local").mkdir()
    (root / "ray").mkdir()
    with fresh_database(root / "local") as local_url, fresh_database(root / "ray") as ray_url:
        local, distributed = (
            Twin(root / "local" / "data", local_url),
            Twin(root / "ray" / "data", ray_url),
        )
        for twin in (local, distributed):
            twin.open().ingest(SnapshotSource(corpus))
        proc = local.run("index")
        assert proc.returncode == 0, proc.stderr
        proc = distributed.run("index", "--ray", ray_head)
        assert proc.returncode == 0, proc.stderr
        assert f"indexed: {CORPUS} embedded" in proc.stdout
        assert "2 workers, 1 CPU each" in proc.stdout
        yield local, distributed, records
        for twin in (local, distributed):
            twin.open().close()


def test_ray_index_equals_local_index(twins: tuple[Twin, Twin, list[dict[str, Any]]]) -> None:
    local, distributed, records = twins
    a, b = local.open(), distributed.open()
    assert a.model_key == b.model_key == f"all-MiniLM-L6-v2@{MAX_SEQ_LENGTH}+onnx-int8"
    key = a.model_key

    # The same papers embedded, with the same vectors (float16 storage).
    pks = sorted(pk for batch, _ in a.embeddings.changed_since(key, 0) for pk in batch.tolist())
    assert len(pks) == CORPUS
    assert (
        sorted(pk for batch, _ in b.embeddings.changed_since(key, 0) for pk in batch.tolist())
        == pks
    )
    va, vb = a.embeddings.get(key, pks), b.embeddings.get(key, pks)
    diff = max(float(np.abs(va[pk] - vb[pk]).max()) for pk in pks)
    assert diff < 5e-4, diff  # a float16 step or two at most
    assert a.stats()["vectors"] == b.stats()["vectors"] == CORPUS
    assert a.stats()["lexical_docs"] == b.stats()["lexical_docs"] == CORPUS

    def ids(results: Any) -> list[str]:
        return [r.paper.id for r in results]

    for query in QUERIES:
        for mode in ("semantic", "lexical", "hybrid"):
            ra = ids(a.search(query, mode, per_page=10).results)
            assert len(ra) >= 5, (query, mode)
            assert ids(b.search(query, mode, per_page=10).results) == ra, (query, mode)
    for record in records[:CORPUS:60]:
        sa = ids(a.similar(record["id"], 10))
        assert len(sa) == 10
        assert ids(b.similar(record["id"], 10)) == sa, record["id"]


def test_second_ray_run_embeds_only_what_changed(
    ray_head: str, twins: tuple[Twin, Twin, list[dict[str, Any]]], tmp_path: Path
) -> None:
    _local, distributed, records = twins
    proc = distributed.run("index", "--ray", ray_head)
    assert proc.returncode == 0, proc.stderr
    assert "indexed: 0 embedded" in proc.stdout
    assert "workers" not in proc.stdout  # nothing to embed: no worker started

    from paperlens.sources.snapshot import SnapshotSource

    lens = distributed.open()
    extra = records[CORPUS:]
    lens.ingest(SnapshotSource(write_jsonl(tmp_path / "extra.jsonl", extra)))
    proc = distributed.run("index", "--ray", ray_head, "--ray-workers", "1")
    assert proc.returncode == 0, proc.stderr
    assert f"indexed: {EXTRA} embedded" in proc.stdout
    assert "1 worker, 2 CPUs each" in proc.stdout
    assert lens.embeddings.count(lens.model_key) == CORPUS + EXTRA
    lens.refresh()
    newcomer = extra[0]["id"]
    assert all(lens.paper(r["id"]).pk in lens.vectors for r in extra)  # in the HNSW index
    assert len(lens.similar(newcomer, 5)) == 5


def test_bad_or_unreachable_address_is_one_line(
    ray_head: str, tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "data"
    closed = _free_port()
    error = _one_line_error(paperlens(data, database_url, "index", "--ray", f"127.0.0.1:{closed}"))
    assert f"cannot reach the Ray cluster at 127.0.0.1:{closed}" in error

    error = _one_line_error(paperlens(data, database_url, "index", "--ray", "no-port-here"))
    assert "bad Ray address 'no-port-here'" in error

    error = _one_line_error(
        paperlens(data, database_url, "index", "--ray", ray_head, "--ray-workers", "3")
    )
    assert "has 2 CPUs, too few for 3 workers" in error


def test_a_port_that_is_not_ray_times_out_in_one_line(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Something listens but never answers as a Ray GCS: ray.init would retry for many
    minutes; the command gives up after ``PAPERLENS_RAY_CONNECT_TIMEOUT``."""
    monkeypatch.setenv("PAPERLENS_RAY_CONNECT_TIMEOUT", "3")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        proc = paperlens(tmp_path / "data", database_url, "index", "--ray", address, timeout=60)
    error = _one_line_error(proc)
    assert f"the Ray cluster at {address} did not answer within 3 s" in error


def test_a_ray_client_address_works_too(
    ray_client: str, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ray://HOST:PORT`` (Ray Client: for a cluster whose GCS port the indexing machine
    cannot reach) embeds the same way."""
    # A Ray Client's first connection starts a server process for it on the head, which
    # on a fresh install (no compiled bytecode yet) and two busy cores can take longer
    # than the default 30 s: this test is about ray:// working, not about that wait.
    monkeypatch.setenv("PAPERLENS_RAY_CONNECT_TIMEOUT", "180")
    data = tmp_path / "data"
    records = sample_records("arxiv-snapshot-sample", limit=30)
    path = write_jsonl(tmp_path / "c.jsonl", records)
    proc = paperlens(data, database_url, "ingest", "snapshot", str(path))
    assert proc.returncode == 0, proc.stderr
    proc = paperlens(data, database_url, "index", "--ray", ray_client, "--ray-workers", "1")
    first_connection_failed = "did not answer" in proc.stderr or (
        "Initialization failure from server" in proc.stderr
    )
    if proc.returncode != 0 and first_connection_failed:
        # Seen once in CI (1 run in 5) and once here on a loaded box: the head's proxy
        # never got the per-client server it starts for a first connection ready (it
        # timed out, or the proxy gave up and said "Initialization failure from
        # server"). A second client gets a new server; what is asserted is that ray://
        # indexes, and the logs say why if not.
        first = f"{proc.stderr}{_client_server_logs()}"
        proc = paperlens(data, database_url, "index", "--ray", ray_client, "--ray-workers", "1")
        assert proc.returncode == 0, f"{proc.stderr}\n{_client_server_logs()}\nfirst try: {first}"
    assert proc.returncode == 0, f"{proc.stderr}\n{_client_server_logs()}"
    assert "indexed: 30 embedded" in proc.stdout
    assert "1 worker, 2 CPUs each" in proc.stdout
    proc = paperlens(data, database_url, "similar", records[0]["id"])
    assert proc.returncode == 0, proc.stderr
    assert any(r["id"] in proc.stdout for r in records[1:])

"""A real paperlens server under a bounded mixed load for a few minutes, with a worker
killed on the way; afterwards, a check that nothing acknowledged was lost.

What runs, all on loopback (no other address is ever a target):

- the server as deployed: ``uvicorn --factory soak_app:make_app --workers 2`` over SQLite
  (WAL) or, with ``--backend postgres``, PostgreSQL 18 + pgvector started here
  (``scripts/postgres.py``). The per-client limits are off (``soak_app.py``): every request
  comes from one address;
- an arXiv API replay speaking the real Atom format, slow (``--arxiv-delay``) and failing a
  share of requests with 503 (``--arxiv-fail``), for the submissions;
- an SMTP server (aiosmtpd) that takes the digest run's mail;
- ``--clients`` concurrent readers for ``--seconds``, each with its own account and API
  token, mixing: search (API), the paper page (HTML), similar papers, trending, stats,
  vote / take back, a note, add to a collection, a submission by arXiv id;
- in the middle: new papers imported and ``paperlens index`` run (at 30 % of the time),
  one uvicorn worker killed with SIGKILL (at 50 %), ``paperlens digest send`` (at 65 %).

Afterwards (submissions settled, server stopped): every acknowledged vote, note,
collection entry and submission is in the store, and after a last index run the store,
BM25 and HNSW (or pgvector) hold the same papers. It prints requests/s and p50/p95/p99 per
route with the 4xx and 5xx counts, and writes ``results/soak-BACKEND.json``; ``--readme``
puts the table into bench/README.md.

    .venv/bin/python bench/soak.py --backend sqlite --seconds 180
    .venv/bin/python bench/soak.py --backend postgres --seconds 180
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import httpx
from rich.table import Table

from common import (
    REPO_ROOT,
    RESULTS_DIR,
    console,
    go_offline,
    machine_info,
    markdown_table,
    percentile_ms,
    replace_section,
    rounded,
    scratch_dir,
    write_json,
)

SAMPLE = REPO_ROOT / "src" / "paperlens" / "sample" / "arxiv-snapshot-sample.jsonl.gz"
SECRET = "soak-" + "k" * 40
#: Submitted ids: new-style ids no sample paper has (the sample is 0704.*).
SUBMIT_PREFIX = "2611."
ROUTES = (
    "search",
    "paper page",
    "similar",
    "trending",
    "stats",
    "vote",
    "note",
    "collect",
    "submit",
    "submission status",
)
WEIGHTS = (30, 20, 10, 5, 5, 12, 8, 5, 5, 0)


# -- the arXiv replay -------------------------------------------------------------------------

ENTRY = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title type="html">ArXiv Query: id_list={id}</title>
  <id>http://arxiv.org/api/soak</id>
  <updated>2026-11-30T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">1</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/abs/{id}v1</id>
    <updated>2026-11-27T10:00:00Z</updated>
    <published>2026-11-27T10:00:00Z</published>
    <title>{title}</title>
    <summary>{summary}</summary>
    <author><name>Soak Tester</name></author>
    <link href="http://arxiv.org/abs/{id}v1" rel="alternate" type="text/html"/>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
    <category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
</feed>
"""


class ArxivReplay:
    """The arXiv API's ``id_list`` query in its real Atom format, answering after
    ``delay`` seconds and with 503 + Retry-After for a share ``fail`` of requests."""

    def __init__(self, delay: float, fail: float, seed: int) -> None:
        self.delay, self.fail = delay, fail
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.times: list[float] = []
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with replay.lock:
                    replay.times.append(time.monotonic())
                    failing = replay.random.random() < replay.fail
                time.sleep(replay.delay)
                ids = parse_qs(urlsplit(self.path).query).get("id_list", [""])[0]
                if failing:
                    self.send_response(503)
                    self.send_header("Retry-After", "1")
                    self.end_headers()
                    return
                paper = ids.split(",")[0]
                body = ENTRY.format(
                    id=escape(paper),
                    title=f"Soak paper {escape(paper)} on robust sparse attention",
                    summary="A paper served by the soak's arXiv replay, about attention.",
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/query"

    def __enter__(self) -> ArxivReplay:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- what the load acknowledged ----------------------------------------------------------------


@dataclass
class Acknowledged:
    """The writes the server answered with a 2xx, per client (a client's writes are
    sequential, so the last acknowledged one is the state the store must hold)."""

    votes: dict[tuple[int, str], bool] = field(default_factory=dict)
    notes: dict[tuple[int, str], str] = field(default_factory=dict)
    collected: set[tuple[int, int, str]] = field(default_factory=set)
    #: arXiv id -> (the submitter's token, the status URL, or "" for an answer at once)
    submissions: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Writes sent but never answered (dropped when the worker was killed): they may or
    #: may not have been applied, so the store's state for these keys is not checked
    #: until a later write to the same key is acknowledged.
    uncertain: set[tuple[str, int, str]] = field(default_factory=set)

    def answered(
        self, kind: str, user_pk: int, paper: str, response: httpx.Response | None
    ) -> bool:
        key = (kind, user_pk, paper)
        if response is None:
            self.uncertain.add(key)
            return False
        if response.is_success:
            self.uncertain.discard(key)
            return True
        return False


@dataclass
class Sample:
    route: str
    status: int  # 0: no answer (connection dropped)
    seconds: float


@dataclass
class Reader:
    index: int
    user_pk: int
    token: str
    collection: int


@dataclass
class Load:
    papers: list[str]
    words: list[str]
    readers: list[Reader]
    samples: list[Sample] = field(default_factory=list)
    acked: Acknowledged = field(default_factory=Acknowledged)
    submitted: int = 0


async def one_request(
    client: httpx.AsyncClient, load: Load, route: str, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TransportError:
        load.samples.append(Sample(route, 0, time.perf_counter() - started))
        return None
    load.samples.append(Sample(route, response.status_code, time.perf_counter() - started))
    return response


async def reader_loop(base: str, load: Load, reader: Reader, until: float, seed: int) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {reader.token}"}
    voted: dict[str, bool] = {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        while time.monotonic() < until:
            route = rng.choices(ROUTES, WEIGHTS)[0]
            paper = rng.choice(load.papers)
            if route == "search":
                q = " ".join(rng.sample(load.words, 2))
                mode = rng.choice(["hybrid", "lexical", "semantic"])
                await one_request(
                    client, load, route, "GET", "/api/v1/search", params={"q": q, "mode": mode}
                )
            elif route == "paper page":
                await one_request(client, load, route, "GET", f"/paper/{paper}")
            elif route == "similar":
                await one_request(client, load, route, "GET", f"/api/v1/papers/{paper}/similar")
            elif route == "trending":
                await one_request(
                    client, load, route, "GET", "/api/v1/trending", params={"window": "month"}
                )
            elif route == "stats":
                await one_request(client, load, route, "GET", "/api/v1/stats")
            elif route == "vote":
                up = not voted.get(paper, False)
                r = await one_request(
                    client, load, route, "POST" if up else "DELETE", f"/api/v1/papers/{paper}/vote"
                )
                if load.acked.answered("vote", reader.user_pk, paper, r):
                    voted[paper] = up
                    load.acked.votes[(reader.user_pk, paper)] = up
            elif route == "note":
                text = f"soak note {reader.index}-{rng.randrange(10**6)}"
                r = await one_request(
                    client,
                    load,
                    route,
                    "PATCH",
                    f"/api/v1/library/papers/{paper}",
                    json={"note": text},
                )
                if load.acked.answered("note", reader.user_pk, paper, r):
                    load.acked.notes[(reader.user_pk, paper)] = text
            elif route == "collect":
                url = f"/api/v1/collections/{reader.collection}/papers/{paper}"
                r = await one_request(client, load, route, "PUT", url)
                if r is not None and r.is_success:
                    load.acked.collected.add((reader.user_pk, reader.collection, paper))
            elif route == "submit" and load.submitted < 200:
                load.submitted += 1
                arxiv_id = f"{SUBMIT_PREFIX}{10000 + load.submitted:05d}"
                r = await one_request(
                    client, load, route, "POST", "/api/v1/submissions", json={"id": arxiv_id}
                )
                if r is not None and r.is_success:
                    load.acked.submissions[arxiv_id] = (reader.token, r.headers.get("location", ""))


async def run_load(base: str, load: Load, seconds: float, seed: int) -> None:
    until = time.monotonic() + seconds
    await asyncio.gather(*(reader_loop(base, load, r, until, seed + r.index) for r in load.readers))


async def settle_submissions(base: str, load: Load, timeout: float) -> dict[str, str]:
    """Poll each accepted submission's status URL until it is final (``done`` or
    ``failed``); an answer without a status URL was final at once."""
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for arxiv_id, (token, location) in load.acked.submissions.items():
            if not location:
                states[arxiv_id] = "done"
                continue
            while True:  # a status URL answers its submitter only
                r = await client.get(location, headers={"Authorization": f"Bearer {token}"})
                state = str(r.json().get("state", "")) if r.status_code == 200 else "unknown"
                if state in ("done", "failed") or time.monotonic() > deadline:
                    states[arxiv_id] = state
                    break
                await asyncio.sleep(1.0)
    return states


# -- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes of the master ``pid`` (its children started by
    multiprocessing's spawn, not the resource tracker it also starts)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        listed = task / "children"
        for child in listed.read_text().split() if listed.exists() else []:
            cmdline = Path(f"/proc/{child}/cmdline")
            if cmdline.exists() and b"spawn_main" in cmdline.read_bytes():
                found.append(int(child))
    return found


@contextmanager
def server(env: dict[str, str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "soak_app:make_app", "--workers", "2",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, cwd=REPO_ROOT / "bench")
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{port}/api/v1/stats", timeout=30).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.5)
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


def paperlens(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "paperlens.cli.main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def index_when_free(
    env: dict[str, str], patience: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``paperlens index``, again while another updater (a submission being indexed)
    holds the index lock: the CLI says so and exits 1, as it should."""
    deadline = time.monotonic() + patience
    while True:
        done = paperlens(env, "index")
        if (
            done.returncode == 0
            or "updating the indexes" not in done.stderr
            or time.monotonic() > deadline
        ):
            return done
        time.sleep(2.0)


def warm_up(base: str) -> None:
    """Load the model and open the indexes in both workers before the clock starts: the
    first semantic search of a worker pays for both, which is start-up, not load."""
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(8):
            client.get("/api/v1/search", params={"q": "attention", "mode": "hybrid"})


@contextmanager
def postgres(work: Path) -> Iterator[str]:
    script = REPO_ROOT / "scripts" / "postgres.py"
    pgdata = work / "pgdata"
    url = subprocess.run(
        [sys.executable, str(script), "start", str(pgdata)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([sys.executable, str(script), "stop", str(pgdata)], check=False)


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    from aiosmtpd.controller import Controller

    received: list[bytes] = []

    class Keep:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            received.append(bytes(envelope.original_content or b""))
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


# -- the run --------------------------------------------------------------------------------------


def sample_records(n: int, skip: int = 0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i < skip:
                continue
            if len(out) == n:
                break
            out.append(json.loads(line))
    return out


def prepare(env: dict[str, str], work: Path, papers: int, clients: int, seed: int) -> Load:
    """Import and index ``papers`` sample papers; make the readers, their tokens and
    collections, and three confirmed digest subscriptions."""
    from paperlens.config import Settings
    from paperlens.core import PaperLens

    first = work / "first.jsonl"
    records = sample_records(papers)
    first.write_text("".join(json.dumps(r) + "\n" for r in records))
    for args in (("ingest", "snapshot", str(first)), ("index",)):
        done = paperlens(env, *args)
        if done.returncode != 0:
            raise RuntimeError(f"paperlens {' '.join(args)}: {done.stderr.strip()[-500:]}")
    lens = PaperLens(Settings())
    try:
        readers = []
        for i in range(clients):
            user = lens.accounts.create_user(
                f"reader{i}@soak.example.org", f"soak-password-{i}-long"
            )
            _token_pk, token = lens.accounts.create_api_token(user.pk, "soak")
            collection = lens.library.create(user.pk, f"soak {i}").pk
            readers.append(Reader(i, user.pk, token, collection))
        for i in range(3):
            sub = lens.digests.subscribe(f"digest{i}@soak.example.org").subscription
            lens.digests.store.confirm(sub.pk, sub.email)
        ids = [r["id"] for r in records]
    finally:
        lens.close()
    words = sorted(
        {w.lower() for r in records for w in str(r["title"]).split() if w.isalpha() and len(w) > 4}
    )
    random.Random(seed).shuffle(words)
    return Load(ids, words[:400], readers)


def check(acked: Acknowledged, states: dict[str, str]) -> dict[str, Any]:
    """What the store holds against what the server acknowledged; then a last index run
    and the counts of store, BM25 and dense index."""
    from paperlens.config import Settings
    from paperlens.core import PaperLens

    lens = PaperLens(Settings())
    try:
        pks = {pid: lens.paper(pid).pk for (_u, pid) in [*acked.votes, *acked.notes]}
        lost_votes = sum(
            1
            for (user, pid), up in acked.votes.items()
            if ("vote", user, pid) not in acked.uncertain
            and (pks[pid] in lens.community.voted_by(user, [pks[pid]])) != up
        )
        lost_notes = sum(
            1
            for (user, pid), text in acked.notes.items()
            if ("note", user, pid) not in acked.uncertain
            and lens.library.notes(user, [pks[pid]])[pks[pid]].note != text
        )
        lost_collected = 0
        for user, collection, pid in acked.collected:
            view = lens.library.view(user, collection)
            lost_collected += pid not in {item.paper.id for item in view.items}
        done = [a for a, s in states.items() if s == "done"]
        lost_submissions = sum(1 for a in done if lens.papers.get(a) is None)
        unsettled = sum(1 for s in states.values() if s not in ("done", "failed"))
        lens.index()
        stats = lens.stats()
    finally:
        lens.close()
    return {
        "acknowledged": {
            "votes": len(acked.votes),
            "notes": len(acked.notes),
            "collected": len(acked.collected),
            "submissions": len(acked.submissions),
            "submissions_done": len(done),
            "submissions_failed": sum(1 for s in states.values() if s == "failed"),
            "uncertain_writes": len(acked.uncertain),
        },
        "lost": {
            "votes": lost_votes,
            "notes": lost_notes,
            "collected": lost_collected,
            "submissions": lost_submissions,
            "submissions_unsettled": unsettled,
        },
        "indexes": {
            "papers": stats["papers"],
            "embedded": stats["embedded"],
            "lexical_docs": stats["lexical_docs"],
            "vectors": stats["vectors"],
            "agree": stats["papers"]
            == stats["embedded"]
            == stats["lexical_docs"]
            == stats["vectors"],
        },
    }


def summarise(samples: list[Sample], seconds: float) -> list[dict[str, Any]]:
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_route[s.route].append(s)
    rows = []
    for route in [*ROUTES, "all"]:
        got = samples if route == "all" else by_route.get(route, [])
        if not got:
            continue
        times = [s.seconds for s in got]
        rows.append(
            {
                "route": route,
                "requests": len(got),
                "per_second": rounded(len(got) / seconds, 1),
                "p50_ms": percentile_ms(times, 50),
                "p95_ms": percentile_ms(times, 95),
                "p99_ms": percentile_ms(times, 99),
                "4xx": sum(1 for s in got if 400 <= s.status < 500),
                "5xx": sum(1 for s in got if s.status >= 500),
                "dropped": sum(1 for s in got if s.status == 0),
            }
        )
    return rows


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with (
        ArxivReplay(args.arxiv_delay, args.arxiv_fail, args.seed) as arxiv,
        smtp_server() as (
            smtp_port,
            mail,
        ),
        postgres(work) if args.backend == "postgres" else _nothing() as database_url,
    ):
        env = {
            **os.environ,
            "PAPERLENS_DATA_DIR": str(work / "data"),
            "PAPERLENS_DATABASE_URL": database_url or "",
            "PAPERLENS_SECRET_KEY": SECRET,
            "PAPERLENS_ARXIV_API_BASE_URL": arxiv.url,
            "PAPERLENS_REQUEST_INTERVAL": str(args.request_interval),
            "PAPERLENS_REQUEST_RETRIES": "2",
            # a failed fetch is tried again a few seconds later, not a minute
            "PAPERLENS_SUBMISSION_RETRY_BACKOFF": "2",
            "PAPERLENS_SUBMISSION_ATTEMPTS": "4",
            # a job held by the killed worker is taken over after this lease (kept above
            # the request timeout, as the setting's documentation asks)
            "PAPERLENS_SUBMISSION_LEASE": "30",
            "PAPERLENS_REQUEST_TIMEOUT": "10",
            "PAPERLENS_SMTP_HOST": "127.0.0.1",
            "PAPERLENS_SMTP_PORT": str(smtp_port),
            "PAPERLENS_PUBLIC_URL": "http://127.0.0.1",
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT / "bench"), os.environ.get("PYTHONPATH", "")]
            ),
        }
        os.environ.update({k: v for k, v in env.items() if k.startswith("PAPERLENS_")})
        started = time.monotonic()
        load = prepare(env, work, args.papers, args.clients, args.seed)
        prepared = time.monotonic() - started
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        events: dict[str, Any] = {}
        with server(env, port) as proc:
            warm_up(base)
            loop_thread_result: list[BaseException] = []

            def drive() -> None:
                try:
                    asyncio.run(run_load(base, load, args.seconds, args.seed))
                except BaseException as exc:  # reported after the run
                    loop_thread_result.append(exc)

            driver = threading.Thread(target=drive)
            t0 = time.monotonic()
            driver.start()

            def at(share: float) -> None:
                time.sleep(max(0.0, t0 + share * args.seconds - time.monotonic()))

            at(0.3)
            extra = work / "more.jsonl"
            more = sample_records(args.more_papers, skip=args.papers)
            extra.write_text("".join(json.dumps(r) + "\n" for r in more))
            t = time.monotonic()
            ingest = paperlens(env, "ingest", "snapshot", str(extra))
            index = index_when_free(env)
            events["index_run"] = {
                "at_s": rounded(t - t0, 1),
                "seconds": rounded(time.monotonic() - t, 1),
                "papers_added": len(more),
                "exit": [ingest.returncode, index.returncode],
                "stderr": (ingest.stderr + index.stderr).strip()[-300:],
            }
            at(0.5)
            workers = workers_of(proc.pid)
            if workers:
                os.kill(workers[0], signal.SIGKILL)
            killed_at = time.monotonic()
            time.sleep(5.0)
            survivors = [w for w in workers_of(proc.pid) if w not in workers[:1]]
            events["worker_killed"] = {
                "at_s": rounded(killed_at - t0, 1),
                "workers_before": len(workers),
                "workers_5s_after": len(survivors),
            }
            at(0.65)
            t = time.monotonic()
            digest = paperlens(env, "digest", "send")
            events["digest_run"] = {
                "at_s": rounded(t - t0, 1),
                "seconds": rounded(time.monotonic() - t, 1),
                "exit": digest.returncode,
                "mails": len(mail),
            }
            driver.join()
            if loop_thread_result:
                raise loop_thread_result[0]
            states = asyncio.run(settle_submissions(base, load, args.settle))
        checks = check(load.acked, states)
    return {
        "backend": args.backend,
        "settings": {
            k: getattr(args, k)
            for k in (
                "seconds",
                "clients",
                "papers",
                "more_papers",
                "arxiv_delay",
                "arxiv_fail",
                "request_interval",
                "seed",
            )
        },
        "prepare_seconds": rounded(prepared, 1),
        "routes": summarise(load.samples, args.seconds),
        "events": events,
        "arxiv_requests": len(arxiv.times),
        "checks": checks,
        "machine": machine_info(),
    }


@contextmanager
def _nothing() -> Iterator[str]:
    yield ""


def table(result: dict[str, Any]) -> Table:
    t = Table(
        title=f"soak: {result['backend']}, {result['settings']['clients']} clients, "
        f"{result['settings']['seconds']:.0f} s"
    )
    for name in (
        "route",
        "requests",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "4xx",
        "5xx",
        "dropped",
    ):
        t.add_column(name, justify="left" if name == "route" else "right")
    for r in result["routes"]:
        t.add_row(
            r["route"], str(r["requests"]), str(r["per_second"]), str(r["p50_ms"]),
            str(r["p95_ms"]), str(r["p99_ms"]), str(r["4xx"]), str(r["5xx"]), str(r["dropped"]),
        )  # fmt: skip
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--papers", type=int, default=1000, help="sample papers served")
    parser.add_argument("--more-papers", type=int, default=200, help="imported mid-run")
    parser.add_argument("--arxiv-delay", type=float, default=2.0, help="seconds per arXiv answer")
    parser.add_argument("--arxiv-fail", type=float, default=0.3, help="share of 503 answers")
    parser.add_argument("--request-interval", type=float, default=0.5, help="arXiv pacing, s")
    parser.add_argument(
        "--settle", type=float, default=300.0, help="seconds to wait for submissions"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--readme", action="store_true", help="update bench/README.md")
    parser.add_argument("--tmp-dir", type=Path)
    parser.add_argument("--keep-tmp", action="store_true")
    args = parser.parse_args()
    go_offline()
    with scratch_dir(args.tmp_dir, args.keep_tmp) as work:
        result = run(args, work)
    out = console()
    out.print(table(result))
    out.print(json.dumps({k: result[k] for k in ("events", "checks", "arxiv_requests")}, indent=2))
    write_json(RESULTS_DIR / f"soak-{args.backend}.json", result)
    if args.readme:
        body = markdown_table(table(result)) + "\n\n" + checks_text(result)
        replace_section(REPO_ROOT / "bench" / "README.md", f"soak-{args.backend}", body)
    fives = sum(r["5xx"] for r in result["routes"] if r["route"] == "all")
    lost = sum(result["checks"]["lost"].values())
    return 0 if fives == 0 and lost == 0 and result["checks"]["indexes"]["agree"] else 1


def checks_text(result: dict[str, Any]) -> str:
    c, e = result["checks"], result["events"]
    return (
        f"Acknowledged and found afterwards: {c['acknowledged']['votes']} votes, "
        f"{c['acknowledged']['notes']} notes, {c['acknowledged']['collected']} collection "
        f"entries, {c['acknowledged']['submissions']} submissions "
        f"({c['acknowledged']['submissions_done']} fetched, "
        f"{c['acknowledged']['submissions_failed']} failed after retries); lost: "
        f"{sum(c['lost'].values())}. After a last index run: {c['indexes']['papers']} papers, "
        f"{c['indexes']['lexical_docs']} in BM25, {c['indexes']['vectors']} in the dense index "
        f"({'agree' if c['indexes']['agree'] else 'DISAGREE'}). Index run at "
        f"{e['index_run']['at_s']} s ({e['index_run']['papers_added']} papers, "
        f"{e['index_run']['seconds']} s), one of {e['worker_killed']['workers_before']} "
        f"workers killed at {e['worker_killed']['at_s']} s "
        f"({e['worker_killed']['workers_5s_after']} serving 5 s later), "
        f"digest run at {e['digest_run']['at_s']} s ({e['digest_run']['mails']} mails)."
    )


if __name__ == "__main__":
    raise SystemExit(main())

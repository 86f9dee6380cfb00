"""Upvotes (idempotent, race-safe), trending (its formula's ordering), and submitting
papers by arXiv id against the loopback replay server: the durable queue, its workers
(a worker killed mid-fetch is taken over, arXiv's pace is kept across workers), its
bounds and retries. Runs on SQLite and, with ``PAPERLENS_TEST_DATABASE_URL``, on
PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corpus import sample_records, write_jsonl
from paperlens.arxiv_ids import BadArxivId
from paperlens.community import (
    AGE_OFFSET_HOURS,
    GRAVITY,
    SubmitRateLimited,
    SubmitResult,
    Submitter,
    trending_score,
)
from paperlens.config import Settings
from paperlens.core import PaperLens, PaperNotFound
from paperlens.errors import NotFound
from paperlens.indexer import IndexBusy
from paperlens.jobs import ArxivTurn, Outcome, QueueFull, Worker
from paperlens.paper import make_paper
from paperlens.sources.base import Listing, Parsed
from paperlens.sources.snapshot import SnapshotSource
from paperlens.store.jobs import Job
from replay_server import ReplayServer

API = Path(__file__).parent / "fixtures" / "arxiv_api"
NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def new_user(lens: PaperLens, name: str = "") -> int:
    email = f"{name or 'reader'}-{uuid.uuid4().hex[:10]}@example.org"
    return lens.accounts.create_user(email, "correct horse battery", name).pk


def add_paper(
    lens: PaperLens,
    pid: str,
    published: datetime,
    categories: tuple[str, ...] = ("cs.LG",),
    hf_upvotes: int | None = None,
) -> int:
    paper = make_paper(
        id=pid,
        title=f"Paper {pid}",
        abstract=f"About {pid}.",
        authors=["Ada Lovelace"],
        categories=categories,
        published=published,
        source="test",
    )
    listing = (
        Listing("hf-daily", published.date(), hf_upvotes, 0) if hf_upvotes is not None else None
    )
    lens.papers.write_batch([Parsed(paper, "test", listing=listing)])
    stored = lens.papers.get(pid)
    assert stored is not None
    return stored.pk


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    yield pl
    pl.close()


# -- votes ------------------------------------------------------------------------------


def test_vote_once_per_account_and_undo(lens: PaperLens) -> None:
    pk = add_paper(lens, "2403.00001", NOW)
    alice, bob = new_user(lens, "alice"), new_user(lens, "bob")
    assert lens.community.vote(alice, lens.paper("2403.00001").pk) == 1
    assert lens.community.vote(alice, lens.paper("2403.00001").pk) == 1  # again: still one
    assert lens.community.vote(bob, lens.paper("arXiv:2403.00001v2").pk) == 2  # any id form
    assert lens.community.counts([pk]) == {pk: 2}
    assert lens.community.voted_by(alice, [pk]) == {pk}
    assert lens.community.vote(alice, lens.paper("2403.00001").pk, up=False) == 1
    assert (
        lens.community.vote(alice, lens.paper("2403.00001").pk, up=False) == 1
    )  # undoing twice is harmless
    assert lens.community.voted_by(alice, [pk]) == set()


def test_vote_counts_for_many_papers_in_one_call(lens: PaperLens) -> None:
    pks = [add_paper(lens, f"2403.{i:05d}", NOW) for i in range(1, 6)]
    users = [new_user(lens) for _ in range(3)]
    for n, pk in enumerate(pks[:3]):
        for user in users[: n + 1]:
            lens.community.vote(user, pk)
    assert lens.community.counts(pks) == {pks[0]: 1, pks[1]: 2, pks[2]: 3}
    assert lens.community.counts([]) == {}


def test_vote_unknown_paper(lens: PaperLens) -> None:
    user = new_user(lens)
    with pytest.raises(PaperNotFound):
        lens.community.vote(user, lens.paper("2403.99999").pk)


def test_concurrent_votes_by_one_account_count_once(lens: PaperLens) -> None:
    pk = add_paper(lens, "2403.00001", NOW)
    user = new_user(lens)
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    counts: list[int] = []

    def vote() -> None:
        try:
            barrier.wait()
            counts.append(lens.community.vote(user, pk))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=vote) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert counts == [1] * 8
    assert lens.community.counts([pk]) == {pk: 1}


def test_concurrent_votes_by_many_accounts_all_count(lens: PaperLens) -> None:
    pk = add_paper(lens, "2403.00001", NOW)
    users = [new_user(lens) for _ in range(6)]
    barrier = threading.Barrier(len(users))

    def vote(user: int) -> None:
        barrier.wait()
        lens.community.vote(user, pk)

    threads = [threading.Thread(target=vote, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lens.community.counts([pk]) == {pk: 6}


# -- trending ------------------------------------------------------------------------------


def test_trending_score_ordering_properties() -> None:
    # More points at equal age rank higher; at equal points the newer paper does.
    assert trending_score(5, 0, 10) > trending_score(4, 0, 10)
    assert trending_score(3, 0, 5) > trending_score(3, 0, 50)
    # The documented formula, exactly.
    assert trending_score(2, 30, 10) == pytest.approx((2 + 3) / (10 + AGE_OFFSET_HOURS) ** GRAVITY)
    # Decay: a day-old paper needs many times the votes of a fresh one.
    assert trending_score(10, 0, 24) < trending_score(1, 0, 0)
    assert trending_score(0, 0, 1) == 0


def test_trending_ranks_by_votes_with_decay_and_windows(lens: PaperLens) -> None:
    fresh = add_paper(lens, "2403.00001", NOW - timedelta(hours=3))
    older = add_paper(lens, "2403.00002", NOW - timedelta(days=3))
    month = add_paper(lens, "2403.00003", NOW - timedelta(days=20))
    ancient = add_paper(lens, "2401.00004", NOW - timedelta(days=60))
    add_paper(lens, "2403.00005", NOW - timedelta(hours=1))  # no votes: never listed
    users = [new_user(lens) for _ in range(5)]
    for pk, n in ((fresh, 2), (older, 5), (month, 5), (ancient, 5)):
        for u in users[:n]:
            lens.community.vote(u, pk)
    week = lens.community.trending("week", now=NOW)
    assert [t.pk for t in week] == [fresh, older]  # 2 fresh votes beat 5 three-day-old ones
    assert [t.votes for t in week] == [2, 5]
    assert week[0].score > week[1].score
    assert [t.pk for t in lens.community.trending("day", now=NOW)] == [fresh]
    assert [t.pk for t in lens.community.trending("month", now=NOW)] == [fresh, older, month]
    assert lens.community.trending("week", now=NOW, limit=1)[0].pk == fresh
    with pytest.raises(ValueError, match="window"):
        lens.community.trending("year", now=NOW)  # type: ignore[arg-type]


def test_trending_more_votes_win_at_equal_age(lens: PaperLens) -> None:
    a = add_paper(lens, "2403.00001", NOW - timedelta(hours=5))
    b = add_paper(lens, "2403.00002", NOW - timedelta(hours=5))
    users = [new_user(lens) for _ in range(3)]
    lens.community.vote(users[0], a)
    for u in users:
        lens.community.vote(u, b)
    assert [t.pk for t in lens.community.trending("week", now=NOW)] == [b, a]


def test_trending_counts_hf_upvotes_at_a_tenth_and_filters_categories(lens: PaperLens) -> None:
    hf = add_paper(lens, "2403.00001", NOW - timedelta(hours=4), ("cs.CL",), hf_upvotes=40)
    local = add_paper(lens, "2403.00002", NOW - timedelta(hours=4), ("math.AG",))
    users = [new_user(lens) for _ in range(3)]
    for u in users:
        lens.community.vote(u, local)
    ranked = lens.community.trending("week", now=NOW)
    assert [t.pk for t in ranked] == [hf, local]  # 40 HF upvotes = 4 points > 3 votes
    assert ranked[0].votes == 0 and ranked[0].external == 40
    assert [t.pk for t in lens.community.trending("week", now=NOW, category="math")] == [local]
    assert [t.pk for t in lens.community.trending("week", now=NOW, category="cs.CL")] == [hf]
    assert lens.community.trending("week", now=NOW, category="q-bio") == []


def test_trending_reference_is_the_newest_paper_on_a_stale_corpus(lens: PaperLens) -> None:
    newest = datetime(2007, 4, 2, 10, 0, tzinfo=UTC)
    pk = add_paper(lens, "0704.00001", newest)
    lens.community.vote(new_user(lens), pk)
    assert [t.pk for t in lens.community.trending("day")] == [pk]  # real now is years later


# -- submissions -------------------------------------------------------------------------


@pytest.fixture
def arxiv(replay_server: ReplayServer) -> ReplayServer:
    replay_server.add(
        "/api/query", {"id_list": "2106.09685", "max_results": "1"}, fixture=API / "lora.xml"
    )
    replay_server.add(
        "/api/query", {"id_list": "2106.99999", "max_results": "1"}, fixture=API / "empty.xml"
    )
    return replay_server


def submit_lens(settings: Settings, arxiv: ReplayServer, **more: Any) -> PaperLens:
    return PaperLens(
        settings.model_copy(
            update={"arxiv_api_base_url": arxiv.url("/api/query"), "request_interval": 0, **more}
        )
    )


def drain(lens: PaperLens) -> None:
    """Work every due submission with a worker of ``lens``, as a server's thread does."""
    worker = lens.community.worker("test")
    try:
        worker.run(until_idle=True)
    finally:
        worker.stop()


def submit_and_work(lens: PaperLens, user: int, text: str) -> SubmitResult:
    """Submit; when queued, work the queue and answer as the finished job does."""
    first = lens.community.submit(user, text)
    if first.job is None:
        return first
    drain(lens)
    job, stored = lens.community.submission_status(user, first.job.pk)
    assert job.state == "done", job
    return SubmitResult(stored=stored, job=job, created=job.created, indexed=job.indexed)


def test_submit_fetches_indexes_and_credits(settings: Settings, arxiv: ReplayServer) -> None:
    lens = submit_lens(settings, arxiv)
    try:
        user = new_user(lens, "sub")
        queued = lens.community.submit(user, "https://arxiv.org/abs/2106.09685v1")
        assert queued.job is not None and queued.job.state == "queued"
        assert queued.stored is None and arxiv.requests == []  # nothing fetched yet
        result = submit_and_work(lens, user, "https://arxiv.org/abs/2106.09685v1")
        assert result.created and result.stored is not None
        assert result.job is not None and result.job.pk == queued.job.pk  # the same job
        assert result.stored.paper.id == "2106.09685"
        assert result.stored.paper.title == "LoRA: Low-Rank Adaptation of Large Language Models"
        credit = lens.community.submission(result.stored.pk)
        assert credit is not None and credit.user_pk == user and credit.display_name == "sub"
        # Indexed at once: searchable lexically and by embedding.
        found = lens.search("low-rank adaptation", "lexical")
        assert [r.paper.id for r in found.results] == ["2106.09685"]
        assert lens.embeddings.count(lens.model_key) == 1
        # A duplicate (in another form, by someone else) points to the same paper.
        other = new_user(lens)
        again = lens.community.submit(other, "arXiv:2106.09685")
        assert again.job is None and again.stored is not None  # answered at once
        assert not again.created and again.stored.pk == result.stored.pk
        assert lens.community.submission(result.stored.pk).user_pk == user  # type: ignore[union-attr]
        assert len(arxiv.requests) == 1
    finally:
        lens.close()


def test_a_submission_does_not_rewrite_the_built_hnsw_graph(
    settings: Settings, arxiv: ReplayServer, tmp_path: Path
) -> None:
    """At 3M papers the HNSW file is ~3 GB: a submitted paper goes to the small delta
    beside it, and is found by semantic search and "similar" at once."""
    if settings.database_url.startswith("postgresql"):
        pytest.skip("the usearch file is not used with pgvector")
    lens = submit_lens(settings, arxiv)
    try:
        path = write_jsonl(tmp_path / "s.jsonl", sample_records("arxiv-snapshot-sample", limit=40))
        lens.ingest(SnapshotSource(path))
        lens.index()
        graph = lens.vector_path
        before = graph.stat().st_ino, graph.stat().st_mtime_ns
        submit_and_work(lens, new_user(lens), "2106.09685")
        assert (graph.stat().st_ino, graph.stat().st_mtime_ns) == before
        assert len(list(graph.parent.glob(graph.name + ".delta-*"))) == 1
        found = lens.search("low-rank adaptation of large language models", "semantic")
        assert found.results[0].paper.id == "2106.09685"
        assert lens.stats()["vectors"] == 41
        reopened = PaperLens(lens.settings)  # another web worker, or a restart
        try:
            assert len(reopened.similar("2106.09685", k=3)) == 3  # its vector is there too
            again = reopened.search("low-rank adaptation of large language models", "semantic")
            assert again.results[0].paper.id == "2106.09685"
        finally:
            reopened.close()
    finally:
        lens.close()


@contextlib.contextmanager
def another_updater(settings: Settings) -> Iterator[None]:
    """A separate process holding the index lock, as a long ``paperlens index`` does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; "
            "lock = FileLock(sys.argv[1], thread_local=False); lock.acquire(); "
            "print('held', flush=True); sys.stdin.read()",
            str(settings.index_dir / "writer.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.communicate("", timeout=30)  # stdin closed: it exits, the lock goes


def test_a_submission_during_another_index_run_is_kept_and_indexed_later(
    settings: Settings, arxiv: ReplayServer
) -> None:
    """tantivy allows one writer: before the lock, a submission while ``paperlens index``
    ran failed with a server error, the paper stored but not credited."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    lens = submit_lens(settings, arxiv)
    try:
        user = new_user(lens, "busy")
        with another_updater(settings):
            result = submit_and_work(lens, user, "2106.09685")
            assert result.created and not result.indexed and result.stored is not None
            assert lens.community.submission(result.stored.pk).user_pk == user  # type: ignore[union-attr]
            with pytest.raises(IndexBusy, match="another paperlens process"):
                lens.index()
        assert lens.search("low-rank adaptation", "lexical").results == []
        report = lens.index()  # what the other updater would have done before finishing
        assert report.passes == 1 and report.embedded == 1
        found = lens.search("low-rank adaptation", "hybrid")
        assert [r.paper.id for r in found.results][:1] == ["2106.09685"]
    finally:
        lens.close()


def test_papers_stored_during_an_index_run_are_indexed_by_that_run(settings: Settings) -> None:
    lens = PaperLens(settings)
    try:
        for i in range(3):
            add_paper(lens, f"2401.0000{i}", NOW)
        late: list[int] = []

        def progress(step: str, _done: int, _total: int | None) -> None:
            if step == "vectors" and not late:  # BM25 is done: the new paper missed it
                late.append(add_paper(lens, "2401.00009", NOW))

        report = lens.index(progress)
        assert report.passes == 2 and report.embedded == 4
        assert lens.lexical.seq == lens.vectors.seq == lens.papers.current_seq()
        assert late[0] in lens.vectors
        hits = lens.search("About 2401.00009", "lexical").results
        assert hits and hits[0].paper.id == "2401.00009"
        assert lens.index().passes == 1  # nothing left: one pass that finds nothing
    finally:
        lens.close()


@pytest.mark.parametrize("bad", ["", "not an id", "2106.0968", "https://example.org/abs/x"])
def test_submit_bad_ids_fail_before_any_request(
    settings: Settings, arxiv: ReplayServer, bad: str
) -> None:
    lens = submit_lens(settings, arxiv)
    try:
        with pytest.raises(BadArxivId):
            lens.community.submit(new_user(lens), bad)
        assert arxiv.requests == []
    finally:
        lens.close()


def test_submit_unknown_paper_fails_for_good(settings: Settings, arxiv: ReplayServer) -> None:
    lens = submit_lens(settings, arxiv)
    try:
        user = new_user(lens)
        job = lens.community.submit(user, "2106.99999").job
        assert job is not None
        drain(lens)
        failed, stored = lens.community.submission_status(user, job.pk)
        assert failed.state == "failed" and stored is None
        assert failed.error is not None and "2106.99999" in failed.error
        assert failed.attempts == 1 and len(arxiv.requests) == 1  # permanent: not retried
        assert lens.papers.count() == 0
    finally:
        lens.close()


def test_submissions_are_rate_limited_per_account(settings: Settings, arxiv: ReplayServer) -> None:
    lens = submit_lens(settings, arxiv)
    calls: list[Any] = []
    try:
        submitter = Submitter(
            lens.papers,
            lens.community.store,
            lens.community.submitter.jobs,
            lens.settings,
            lambda: calls.append(1),
            limit="1/hour",
        )
        alice, bob = new_user(lens), new_user(lens)
        first = submitter.submit(alice, "2106.99999")
        assert first.job is not None
        assert submitter.submit(alice, "2106.99999").job == first.job  # the same, free
        with pytest.raises(SubmitRateLimited):
            submitter.submit(alice, "2106.09685")
        assert submitter.submit(bob, "2106.09685").job is not None  # another account may
        worker = submitter.worker("test")
        worker.run(until_idle=True)
        worker.stop()
        assert submitter.submit(alice, "2106.09685").created is False  # duplicates are free
        assert calls == [1]
    finally:
        lens.close()


# -- the submission queue: durability, takeover, pace, bounds, retries --------------------


def lora_route(server: ReplayServer, arxiv_id: str = "2106.09685", **kw: Any) -> Any:
    params = {"id_list": arxiv_id, "max_results": "1"}
    return server.add("/api/query", params, fixture=API / "lora.xml", **kw)


def worker_process(settings: Settings) -> subprocess.Popen[str]:
    """``paperlens worker`` in a process of its own, on ``settings``."""
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(settings.data_dir),
        "PAPERLENS_DATABASE_URL": settings.resolved_database_url,
        "PAPERLENS_ARXIV_API_BASE_URL": settings.arxiv_api_base_url,
        "PAPERLENS_REQUEST_INTERVAL": str(settings.request_interval),
        "PAPERLENS_SUBMISSION_LEASE": str(settings.submission_lease),
        "PAPERLENS_MAX_SEQ_LENGTH": str(settings.max_seq_length),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "paperlens.cli.main", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_worker_killed_mid_fetch_is_taken_over_after_its_lease_and_completes_once(
    settings: Settings, replay_server: ReplayServer
) -> None:
    """A submission is a row, not a thread: ``kill -9`` of the worker fetching it (arXiv
    slow to answer) loses nothing; once the lease passes, a new worker takes it over and
    completes it, once."""
    lease = 3.0
    route = lora_route(replay_server, delay=120)  # arXiv hangs until the worker is killed
    lens = submit_lens(settings, replay_server, submission_lease=lease)
    proc: subprocess.Popen[str] | None = None
    try:
        user = new_user(lens, "first")
        queued = lens.community.submit(user, "2106.09685").job
        assert queued is not None
        proc = worker_process(lens.settings)
        wait_for(lambda: replay_server.requests or proc.poll() is not None, 120, "the fetch")
        assert proc.poll() is None, proc.communicate()[1]
        leased, _ = lens.community.submission_status(user, queued.pk)
        assert leased.state == "fetching" and leased.attempts == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        killed_at = time.monotonic()
        route.delay = 0  # arXiv answers again
        restarted = lens.community.worker("restarted")
        try:
            assert restarted.run_once() is False  # still leased to the dead worker
            assert lens.community.submission_status(user, queued.pk)[0].state == "fetching"
            wait_for(restarted.run_once, lease + 60, "the takeover")
            took = time.monotonic() - killed_at
            assert restarted.run_once() is False  # nothing left
        finally:
            restarted.stop()
        assert took < lease + 60
        done, stored = lens.community.submission_status(user, queued.pk)
        assert done.state == "done" and done.attempts == 2 and done.created
        assert stored is not None and stored.paper.id == "2106.09685"
        assert lens.papers.count() == 1  # stored once
        credit = lens.community.submission(stored.pk)
        assert credit is not None and credit.user_pk == user
        assert len(replay_server.requests) == 2  # the killed fetch and the one that worked
        assert lens.search("low-rank adaptation", "lexical").results[0].paper.id == "2106.09685"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        lens.close()


def test_two_workers_keep_arxivs_pace_together(
    settings: Settings, replay_server: ReplayServer
) -> None:
    """Workers of two processes (two lenses, two engines, two HTTP clients) share one
    pace: arXiv sees one request at a time, ``request_interval`` apart."""
    interval = 0.4
    ids = [f"2401.{i:05d}" for i in range(1, 7)]
    for pid in ids:
        lora_route(replay_server, pid)
    s = settings.model_copy(
        update={"arxiv_api_base_url": replay_server.url("/api/query"), "request_interval": interval}
    )
    lenses = [PaperLens(s), PaperLens(s)]
    try:
        pk = add_paper(lenses[0], "2401.99999", NOW)
        users = [new_user(lenses[0]), new_user(lenses[0])]
        for n, pid in enumerate(ids):
            assert lenses[0].community.submit(users[n % 2], pid).job is not None
        workers_of: dict[int, str] = {}

        def handler(owner: list[str]) -> Any:
            def complete(job: Job, fetch: Any) -> Outcome:
                with contextlib.suppress(NotFound):  # the replay answers with another paper
                    fetch(job.arxiv_id)
                workers_of[job.pk] = owner[0]
                return Outcome(pk, created=False, indexed=True)

            return complete

        workers = []
        for n, lens in enumerate(lenses):
            store = lens.community.submitter.jobs
            name: list[str] = []
            worker = Worker(store, ArxivTurn(store, s), handler(name), s, name=f"w{n}")
            name.append(worker.owner)
            workers.append(worker)
        threads = [threading.Thread(target=w.run, kwargs={"until_idle": True}) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for w in workers:
            w.stop()
        assert len(workers_of) == len(ids)  # every job done, each by one worker
        arrivals = sorted(r.at for r in replay_server.requests)
        assert len(arrivals) == len(ids)
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert min(gaps) >= interval - 0.01, gaps
    finally:
        for lens in lenses:
            lens.close()


def test_the_queue_is_bounded_per_account_and_in_all(settings: Settings) -> None:
    lens = PaperLens(
        settings.model_copy(update={"submission_account_limit": 2, "submission_queue_limit": 4})
    )
    try:
        alice, bob, carol = new_user(lens), new_user(lens), new_user(lens)
        for pid in ("2401.00001", "2401.00002"):
            assert lens.community.submit(alice, pid).job is not None
        with pytest.raises(QueueFull, match="you have 2 submissions waiting"):
            lens.community.submit(alice, "2401.00003")
        assert lens.community.submit(alice, "2401.00002").job is not None  # the same job again
        assert lens.community.submit(bob, "2401.00003").job is not None
        # Racing accounts never overfill the queue: exactly one more gets in.
        users = [new_user(lens) for _ in range(6)]
        barrier = threading.Barrier(len(users))
        outcomes: list[str] = []

        def submit(user: int) -> None:
            barrier.wait()
            try:
                lens.community.submit(user, "2401.00009")
                outcomes.append("queued")
            except QueueFull as exc:
                outcomes.append(f"{exc} (retry after {exc.retry_after})")

        threads = [threading.Thread(target=submit, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert outcomes.count("queued") == 1
        refused = [o for o in outcomes if o != "queued"]
        assert all("queue is full" in o and o.endswith("(retry after 60)") for o in refused)
        with pytest.raises(QueueFull, match="queue is full"):
            lens.community.submit(carol, "2401.00004")
        assert lens.community.submitter.jobs.unfinished() == 4
    finally:
        lens.close()


def test_a_submission_is_visible_to_its_submitter_only(settings: Settings) -> None:
    lens = PaperLens(settings)
    try:
        alice, bob = new_user(lens), new_user(lens)
        job = lens.community.submit(alice, "2401.00001").job
        assert job is not None
        assert lens.community.submission_status(alice, job.pk)[0].state == "queued"
        with pytest.raises(NotFound):
            lens.community.submission_status(bob, job.pk)
        with pytest.raises(NotFound):
            lens.community.submission_status(alice, job.pk + 1000)
    finally:
        lens.close()


def test_arxiv_unreachable_is_retried_with_backoff_then_fails_for_good(
    settings: Settings, replay_server: ReplayServer
) -> None:
    lora_route(replay_server, fail_first=1)  # one 503, then the paper
    replay_server.add(
        "/api/query", {"id_list": "2401.00001", "max_results": "1"}, status=503, body="down"
    )
    lens = submit_lens(settings, replay_server, submission_retry_backoff=0.3, submission_attempts=3)
    try:
        user = new_user(lens)
        flaky = lens.community.submit(user, "2106.09685").job
        down = lens.community.submit(user, "2401.00001").job
        assert flaky is not None and down is not None
        drain(lens)  # one try each: both fail and wait
        waiting, _ = lens.community.submission_status(user, flaky.pk)
        assert waiting.state == "queued" and waiting.attempts == 1
        assert waiting.error is not None and "503" in waiting.error
        assert waiting.not_before > waiting.updated_at  # backing off

        def finished() -> bool:
            drain(lens)
            states = {lens.community.submission_status(user, j.pk)[0].state for j in (flaky, down)}
            return states <= {"done", "failed"}

        wait_for(finished, 120, "the retries")
        done, stored = lens.community.submission_status(user, flaky.pk)
        assert done.state == "done" and done.attempts == 2 and stored is not None
        failed, _ = lens.community.submission_status(user, down.pk)
        assert failed.state == "failed" and failed.attempts == 3
        assert failed.error is not None and "could not be reached" in failed.error
        assert "gave up after 3 tries" in failed.error
        tries = [r.at for r in replay_server.requests if r.params["id_list"] == "2401.00001"]
        assert len(tries) == 3
        assert tries[2] - tries[1] >= 0.6 - 0.01 and tries[1] - tries[0] >= 0.3 - 0.01  # doubling
    finally:
        lens.close()

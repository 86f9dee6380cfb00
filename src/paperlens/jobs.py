"""The durable submission queue: papers submitted by arXiv id are fetched in the
background, never inside a request.

A submission is a row in ``submission_jobs`` (:mod:`paperlens.store.jobs`), so a restart
loses nothing. :class:`SubmissionQueue` adds jobs within two bounds (per account and in
all, :class:`~paperlens.errors.TooMany` beyond them) and answers a job's status to its
submitter only. :class:`Worker` works the queue: in a thread of each web process
(started and stopped by the app's lifespan) and as ``paperlens worker``. Any number of
workers, in any number of processes and hosts, may run together:

- **arXiv's pace is shared.** A worker takes a job only while it holds arXiv's turn
  (:class:`ArxivTurn`, a leased row in ``fetch_pace``): one request to arXiv at a time
  across every process, each at least ``Settings.request_interval`` after the last
  ended. A worker that dies holding the turn loses it when its lease runs out.
- **A job is worked by one worker at a time**, under a lease of
  ``Settings.submission_lease`` seconds; a job whose worker died (``kill -9``) is taken
  over once the lease has passed. Completion is idempotent (storing a paper merges,
  crediting is insert-or-ignore, the job's row changes only under its lease), so a job
  is completed once even when taken over.
- **Failures.** arXiv unreachable (:class:`~paperlens.sources.base.SourceError`) puts
  the job back with exponential back-off (``submission_retry_backoff`` doubled each
  time) until ``submission_attempts`` are spent; arXiv having no such paper fails it at
  once with the reason. A bad id never reaches the queue.

Why no queue library: the queue must live in the database the deployment already has,
on SQLite and on PostgreSQL alike, with the bounds and owner-only status above. The
candidates each miss one: procrastinate and PgQueuer need PostgreSQL; rq and dramatiq
need Redis (or RabbitMQ); huey's SQLite and SQL (peewee) storages delete a task from the
queue when a consumer takes it, so a worker killed mid-task loses it, and none of them
lets several processes share one outside service's request pace. What is needed here
is small: a claim by compare-and-set ``UPDATE ... WHERE state = 'queued'`` (with ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL), a lease with expiry, and a guarded completion, all
in :mod:`paperlens.store.jobs`, migrated with the rest of the schema.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from paperlens.config import Settings
from paperlens.errors import Invalid, NotFound, TooMany
from paperlens.paper import Paper
from paperlens.sources.arxiv_api import fetch_paper
from paperlens.sources.base import SourceError
from paperlens.sources.http import PoliteClient
from paperlens.store.jobs import Job, JobStore

log = logging.getLogger(__name__)

#: Seconds an idle worker waits before looking at the queue again.
POLL_SECONDS = 1.0
#: Longest wait between two looks at arXiv's turn while another worker holds it.
PACE_POLL_SECONDS = 0.25
ARXIV = "arxiv"
#: Longest wait before a retry, in seconds.
MAX_BACKOFF = 3600.0
#: What a queue-full refusal suggests waiting, in seconds.
QUEUE_FULL_RETRY_AFTER = 60


def utcnow() -> datetime:
    return datetime.now(UTC)


class QueueFull(TooMany):
    """Too many submissions waiting (of one account, or in all)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A job's result: the stored paper, whether this job added it, and whether it is
    indexed yet (``False`` while another process updating the indexes has it to do)."""

    paper_pk: int
    created: bool
    indexed: bool


class Handler(Protocol):
    """Completes one job: stores, indexes and credits its paper. ``fetch`` is the only
    way to reach arXiv (it keeps the shared pace). Raises :class:`NotFound` or
    :class:`Invalid` for a permanent failure, :class:`SourceError` for a transient one."""

    def __call__(self, job: Job, fetch: Callable[[str], Paper]) -> Outcome: ...


class SubmissionQueue:
    """Adding submissions and reading their status (see the module docstring)."""

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def enqueue(self, user_pk: int, arxiv_id: str) -> tuple[Job, bool]:
        """Queue the canonical ``arxiv_id`` for ``user_pk``: the job, and whether it is
        new (the account's own waiting job for the id is returned again). Raises
        :class:`QueueFull` over a bound."""
        s = self.settings
        done = self.store.enqueue(
            user_pk,
            arxiv_id,
            account_limit=s.submission_account_limit,
            queue_limit=s.submission_queue_limit,
        )
        if done.job is not None:
            return done.job, not done.existing
        if done.refused == "account":
            raise QueueFull(
                f"you have {s.submission_account_limit} submissions waiting to be fetched; "
                "try again when one of them is done"
            )
        raise QueueFull(
            f"the submission queue is full ({s.submission_queue_limit} papers waiting to be "
            "fetched from arXiv); try again in a few minutes",
            retry_after=QUEUE_FULL_RETRY_AFTER,
        )

    def status(self, user_pk: int, job_pk: int) -> Job:
        """The job, if ``user_pk`` submitted it; :class:`NotFound` otherwise (the same
        answer as for a job that does not exist, so ids of others' jobs do not leak)."""
        job = self.store.get(job_pk)
        if job is None or job.user_pk != user_pk:
            raise NotFound(f"no submission {job_pk} of yours")
        return job


class ArxivTurn:
    """arXiv's turn, shared by every worker of every process through ``fetch_pace``:
    one HTTP client per process, one request in flight across all of them."""

    def __init__(self, store: JobStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        # No retries inside the client: a failed request puts the job back in the
        # queue, so the turn is never held through a back-off.
        self.client = PoliteClient(
            interval=settings.request_interval,
            retries=0,
            timeout=min(settings.request_timeout, settings.submission_lease * 0.8),
        )
        self._lock = threading.Lock()

    def acquire(self, holder: str, stop: threading.Event) -> bool:
        """Wait for the turn; ``False`` if ``stop`` was set first."""
        s = self.settings
        while not stop.is_set():
            wait = self.store.pace_wait(ARXIV, s.request_interval)
            if wait <= 0:
                if self.store.acquire_pace(ARXIV, holder, s.request_interval, s.submission_lease):
                    return True
                wait = 0.01  # another worker won this turn: read its state again
            stop.wait(min(wait, PACE_POLL_SECONDS))
        return False

    def release(self, holder: str, *, requested: bool) -> None:
        self.store.release_pace(ARXIV, holder, requested=requested)

    def fetch(self, arxiv_id: str) -> Paper:
        with self._lock:  # one client: one request at a time in this process too
            return fetch_paper(arxiv_id, self.client, base_url=self.settings.arxiv_api_base_url)

    def close(self) -> None:
        self.client.close()


class Worker:
    """Works the queue until stopped; see the module docstring for what is safe."""

    def __init__(
        self,
        store: JobStore,
        turn: ArxivTurn,
        handler: Handler,
        settings: Settings,
        *,
        name: str = "worker",
    ) -> None:
        self.store = store
        self.turn = turn
        self.handler = handler
        self.settings = settings
        #: Unique per worker, so a lease names exactly one.
        self.owner = f"{name}-{uuid.uuid4().hex[:16]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one job -----------------------------------------------------------------------

    def run_once(self) -> bool:
        """Work one due job if there is one; returns whether there was."""
        if not self.store.has_due():
            return False
        if not self.turn.acquire(self.owner, self._stop):
            return False
        held, requested = True, False

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self.turn.release(self.owner, requested=requested)

        def fetch(arxiv_id: str) -> Paper:
            nonlocal requested
            if not held:
                raise RuntimeError("one request to arXiv per turn")
            requested = True
            try:
                return self.turn.fetch(arxiv_id)
            finally:
                release()  # storing and indexing need not keep others from arXiv

        try:
            job = self.store.claim(self.owner, self.settings.submission_lease)
            if job is None:
                return False
            self._work(job, fetch)
            return True
        finally:
            release()

    def _work(self, job: Job, fetch: Callable[[str], Paper]) -> None:
        s = self.settings
        if job.attempts > s.submission_attempts:  # its workers died each time
            self.store.fail(job.pk, self.owner, f"gave up after {s.submission_attempts} tries")
            return
        try:
            outcome = self.handler(job, fetch)
        except (NotFound, Invalid) as exc:
            self.store.fail(job.pk, self.owner, str(exc))
        except Exception as exc:  # arXiv unreachable, or a passing database failure
            if isinstance(exc, SourceError):
                problem = f"arXiv could not be reached ({exc})"
            else:  # the details go to the log, not to the submitter
                log.exception("submission %d of %s failed", job.pk, job.arxiv_id)
                problem = f"the paper could not be stored ({type(exc).__name__})"
            if job.attempts >= s.submission_attempts:
                self.store.fail(
                    job.pk, self.owner, f"{problem}; gave up after {job.attempts} tries"
                )
            else:
                delay = min(MAX_BACKOFF, s.submission_retry_backoff * 2 ** (job.attempts - 1))
                self.store.retry_later(
                    job.pk,
                    self.owner,
                    f"{problem}; trying again",
                    utcnow() + timedelta(seconds=delay),
                )
        else:
            if not self.store.finish(
                job.pk,
                self.owner,
                outcome.paper_pk,
                created=outcome.created,
                indexed=outcome.indexed,
            ):
                log.warning("submission %d was taken over before it finished here", job.pk)

    # -- running -----------------------------------------------------------------------

    def run(self, until_idle: bool = False) -> None:
        """Work jobs until :meth:`stop` (or, with ``until_idle``, until none is due)."""
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # the database away for a moment: keep the thread alive
                log.exception("submission worker %s", self.owner)
                worked = False
            if not worked:
                if until_idle:
                    return
                self._stop.wait(POLL_SECONDS)

    def start(self) -> None:
        """Run in a daemon thread (the web app's lifespan starts one per process)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.run, name=f"paperlens-{self.owner}", daemon=True
            )
            self._thread.start()

    def request_stop(self) -> None:
        """Ask :meth:`run` to return after the current job (safe from a signal handler)."""
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current job (at most ``timeout`` seconds: a job cut short is
        taken over by another worker when its lease runs out)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if not self._thread.is_alive():
                self.turn.close()
            self._thread = None
        else:
            self.turn.close()


__all__ = [
    "ArxivTurn",
    "Handler",
    "Job",
    "Outcome",
    "QueueFull",
    "SubmissionQueue",
    "Worker",
]

"""Community features: upvotes, trending, and submitting papers by arXiv id.

Front ends reach all of it through one service, :class:`Community` (``PaperLens.community``),
which works on stored papers' primary keys (``PaperLens.paper(id).pk`` resolves an id).

Trending
--------
A Hacker-News-style score over the papers first published in the window (a day, a
week or a month before the reference time)::

    points = votes + EXTERNAL_WEIGHT * external
    score  = points / (age_hours + AGE_OFFSET_HOURS) ** GRAVITY

``votes`` are this server's upvotes (one per account), ``external`` the highest
Hugging Face daily-papers upvote count the paper was listed with, weighted by
:data:`EXTERNAL_WEIGHT` = 0.1 (ten upvotes from the wide world weigh as much as one
from your own group); ``age_hours`` is the time since the paper's first version.
:data:`GRAVITY` = 1.8 (as Hacker News) and :data:`AGE_OFFSET_HOURS` = 2 keep a
brand-new paper with one vote from beating everything. Consequences the tests check:
more points at equal age rank higher; at equal points the newer paper ranks higher;
a paper outside the window is not listed. Papers without any points are not listed.

The reference time is ``now``, but never later than the newest paper's publication
time: on a corpus that is no longer harvested, "this week" means the corpus's last
week, as the daily feed shows the newest day that has papers.

With ``Settings.trending_star_weight`` (or the API's ``star_weight``) above 0, a paper's
GitHub repository's star growth counts too::

    points += star_weight * log2(1 + stars gained since the weekly baseline)

so 1 → 1 point, 15 → 4, 1,023 → 10 points at weight 1 (a log, so one viral repository
cannot swamp every vote), and papers whose repository is gaining stars become
candidates even without votes. Stars are refreshed in the background
(``paperlens refresh code``); the default weight 0 leaves trending as above.

Listings show the two counts apart: ▲ for this server's votes (with the button), and
"HF n" for Hugging Face upvotes where a paper was listed there.

Submissions
-----------
:class:`Submitter` adds a paper by arXiv id without waiting on arXiv: a paper already
stored is returned at once (``created=False``; duplicates are free); otherwise the id is
checked and put in the durable queue of :mod:`paperlens.jobs`, and the answer is the
queued job, whose status its submitter reads until it is ``done`` (with the paper) or
``failed`` (with the reason). A worker fetches it through the shared, paced arXiv
client; :meth:`Submitter.complete` then stores and indexes it and credits the first
submitter. While another process is updating the indexes (a long ``paperlens index``),
that process indexes the paper before it finishes (``indexed=False`` here). Each account
may start :data:`SUBMIT_LIMIT` fetches, and have ``Settings.submission_account_limit``
waiting at once.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from paperlens.arxiv_ids import parse_arxiv_id
from paperlens.config import Settings
from paperlens.errors import Invalid, TooMany
from paperlens.indexer import IndexBusy
from paperlens.jobs import ArxivTurn, Outcome, SubmissionQueue, Worker
from paperlens.paper import Paper
from paperlens.sources.base import Parsed
from paperlens.store.code import CodeStore
from paperlens.store.community import CommunityStore, Submission, TrendingRow
from paperlens.store.jobs import Job, JobStore
from paperlens.store.papers import PaperStore, StoredPaper

Window = Literal["day", "week", "month"]
WINDOWS: dict[str, timedelta] = {
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=30),
}
GRAVITY = 1.8
AGE_OFFSET_HOURS = 2.0
EXTERNAL_WEIGHT = 0.1
SUBMIT_LIMIT = "20/hour"
MAX_TRENDING = 100
MAX_STAR_WEIGHT = 10.0


@dataclass(frozen=True, slots=True)
class TrendingItem:
    pk: int
    paper: Paper
    votes: int
    score: float
    #: Hugging Face daily-papers upvotes (0 when never listed).
    external: int = 0
    added_at: datetime | None = None
    #: Stars the paper's repository gained since its weekly baseline (0: unknown).
    star_growth: int = 0


def star_points(growth: int, weight: float) -> float:
    """Trending points of a repository that gained ``growth`` stars (module docstring)."""
    return weight * math.log2(1 + max(growth, 0)) if weight > 0 else 0.0


def trending_score(votes: int, external: int, age_hours: float, stars: float = 0.0) -> float:
    """The score of the module docstring; ``age_hours`` below 0 counts as 0; ``stars``
    are :func:`star_points`."""
    points = votes + EXTERNAL_WEIGHT * external + stars
    return float(points / (max(age_hours, 0.0) + AGE_OFFSET_HOURS) ** GRAVITY)


def rank_trending(
    rows: Sequence[TrendingRow],
    now: datetime,
    limit: int,
    stars: dict[int, float] | None = None,
) -> list[TrendingRow]:
    """``rows`` by descending score (ties: more votes, newer, then lower pk);
    ``stars``: each paper's star points."""
    bonus = stars or {}

    def key(r: TrendingRow) -> tuple[float, int, float, int]:
        age = (now - r.published).total_seconds() / 3600
        score = trending_score(r.votes, r.external, age, bonus.get(r.paper_pk, 0.0))
        return (-score, -r.votes, age, r.paper_pk)

    return sorted(rows, key=key)[:limit]


# -- submissions --------------------------------------------------------------------------


class SubmitRateLimited(TooMany):
    """Too many submissions from one account."""


@dataclass(frozen=True, slots=True)
class SubmitResult:
    """What a submission answered at once: the stored paper (``stored``, when it was
    already here) or the queued ``job`` whose status its submitter follows."""

    stored: StoredPaper | None = None
    job: Job | None = None
    #: False when the paper was already here (a duplicate submission).
    created: bool = False
    #: False while another process updating the indexes has yet to index it.
    indexed: bool = True


class Submitter:
    """Submits papers by arXiv id or URL (see the module docstring)."""

    def __init__(
        self,
        papers: PaperStore,
        community: CommunityStore,
        jobs: JobStore,
        settings: Settings,
        index: Callable[[], object],
        limit: str = SUBMIT_LIMIT,
    ) -> None:
        self.papers = papers
        self.community = community
        self.jobs = jobs
        self.queue = SubmissionQueue(jobs, settings)
        self.settings = settings
        self._index = index
        self._lock = threading.Lock()
        self.limit: RateLimitItem = parse(limit)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def submit(self, user_pk: int, text: str) -> SubmitResult:
        """Answers at once, never waiting on arXiv. Raises ``BadArxivId``
        (:class:`~paperlens.errors.Invalid`) for text that is no arXiv id,
        :class:`SubmitRateLimited` over the rate limit and :class:`~paperlens.jobs.QueueFull`
        when the account's or everyone's queue is full."""
        canonical, _ = parse_arxiv_id(text.strip()[:300])
        existing = self.papers.get(canonical)
        if existing is not None and not existing.deleted:
            return SubmitResult(stored=existing, created=False)
        if not self._limiter.test(self.limit, "submit", str(user_pk)):
            waiting = self.jobs.waiting(user_pk, canonical)
            if waiting is not None:  # asking again for one already queued is free
                return SubmitResult(job=waiting)
            raise SubmitRateLimited(f"too many submissions: at most {self.limit} per account")
        job, new = self.queue.enqueue(user_pk, canonical)
        if new:
            self._limiter.hit(self.limit, "submit", str(user_pk))
        return SubmitResult(job=job)

    def status(self, user_pk: int, job_pk: int) -> tuple[Job, StoredPaper | None]:
        """``user_pk``'s submission ``job_pk`` with its paper once done; others'
        submissions are :class:`~paperlens.errors.NotFound`."""
        job = self.queue.status(user_pk, job_pk)
        if job.paper_pk is None:
            return job, None
        return job, self.papers.get_by_pks([job.paper_pk]).get(job.paper_pk)

    def complete(self, job: Job, fetch: Callable[[str], Paper]) -> Outcome:
        """Store, index and credit ``job``'s paper (a :class:`~paperlens.jobs.Handler`).
        Safe to run again for the same job (a takeover after its worker died): the paper
        merges, the credit is given once, to the first submitter."""
        existing = self.papers.get(job.arxiv_id)
        if existing is not None and not existing.deleted:
            stored = existing
        else:
            paper = fetch(job.arxiv_id)
            with self._lock:
                self.papers.write_batch([Parsed(paper, f"submitted by user {job.user_pk}")])
            got = self.papers.get(paper.id)
            assert got is not None
            stored = got
        if stored.added_at < job.created_at:  # here before anyone asked: no credit
            return Outcome(stored.pk, created=False, indexed=True)
        with self._lock:
            try:
                self._index()
                indexed = True
            except IndexBusy:
                indexed = False  # the running updater picks it up before it finishes
        self.community.credit(stored.pk, job.user_pk)
        credit = self.community.submission(stored.pk)
        created = credit is not None and credit.user_pk == job.user_pk
        return Outcome(stored.pk, created=created, indexed=indexed)

    def worker(self, name: str = "worker") -> Worker:
        """A queue worker completing jobs with :meth:`complete` (start it, or run it)."""
        return Worker(
            self.jobs, ArxivTurn(self.jobs, self.settings), self.complete, self.settings, name=name
        )


class Community:
    """Votes, trending and submissions: the one way front ends reach community features.

    Every method takes stored papers' primary keys; resolving an id someone typed is
    ``PaperLens.paper``'s job, so that every front end accepts the same id forms.
    """

    def __init__(
        self,
        store: CommunityStore,
        papers: PaperStore,
        jobs: JobStore,
        settings: Settings,
        index: Callable[[], object],
        code: CodeStore | None = None,
    ) -> None:
        self.store = store
        self.papers = papers
        self.settings = settings
        self.code = code
        self.submitter = Submitter(papers, store, jobs, settings, index)

    def vote(self, user_pk: int, paper_pk: int, up: bool = True) -> int:
        """Upvote a paper (``up=False`` takes the vote back); returns its new count.
        Voting twice, or taking back a vote never given, changes nothing."""
        return self.store.vote(user_pk, paper_pk) if up else self.store.unvote(user_pk, paper_pk)

    def counts(self, paper_pks: Iterable[int]) -> dict[int, int]:
        """Vote counts of ``paper_pks`` in one query (absent: no votes)."""
        return self.store.counts(paper_pks)

    def voted_by(self, user_pk: int, paper_pks: Iterable[int]) -> set[int]:
        """Which of ``paper_pks`` ``user_pk`` has upvoted."""
        return self.store.voted_by(user_pk, paper_pks)

    def submission(self, paper_pk: int) -> Submission | None:
        """Who first submitted the paper, and when (``None``: it came from an import)."""
        return self.store.submission(paper_pk)

    def trending(
        self,
        window: str = "week",
        *,
        limit: int = 20,
        category: str | None = None,
        categories: Sequence[str] = (),
        now: datetime | None = None,
        star_weight: float | None = None,
    ) -> list[TrendingItem]:
        """Recent papers by upvotes with time decay (see the module docstring): the
        trending papers of ``window`` (``day``, ``week`` or ``month``), optionally
        within a category or archive (``category``, or any of ``categories``).
        ``star_weight`` (default ``Settings.trending_star_weight``) weighs the growth of
        the papers' GitHub stars."""
        weight = self.settings.trending_star_weight if star_weight is None else star_weight
        if not 0 <= weight <= MAX_STAR_WEIGHT:
            raise Invalid(f"star_weight must be between 0 and {MAX_STAR_WEIGHT}")
        if window not in WINDOWS:
            raise Invalid(f"window must be day, week or month, not {window!r}")
        if not 1 <= limit <= MAX_TRENDING:
            raise Invalid(f"limit must be between 1 and {MAX_TRENDING}")
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        newest = self.store.latest_published()
        reference = min(now, newest) if newest is not None else now
        cats = [c for c in (*categories, *([category] if category else [])) if c]
        rows = self.store.trending_rows(reference - WINDOWS[window], reference, cats)
        growth: dict[int, int] = {}
        if weight > 0 and self.code is not None:
            have = {r.paper_pk for r in rows}
            rows += [
                TrendingRow(pk, published, 0, 0)
                for pk, published in self.code.growing_papers(
                    reference - WINDOWS[window], reference, cats
                )
                if pk not in have
            ]
            growth = self.code.star_growth([r.paper_pk for r in rows])
        points = {pk: star_points(g, weight) for pk, g in growth.items()}
        ranked = rank_trending(rows, reference, limit, points)
        stored = self.papers.get_by_pks(r.paper_pk for r in ranked)
        return [
            TrendingItem(
                r.paper_pk,
                stored[r.paper_pk].paper,
                r.votes,
                trending_score(
                    r.votes,
                    r.external,
                    (reference - r.published).total_seconds() / 3600,
                    points.get(r.paper_pk, 0.0),
                ),
                r.external,
                stored[r.paper_pk].added_at,
                growth.get(r.paper_pk, 0),
            )
            for r in ranked
            if r.paper_pk in stored
        ]

    def submit(self, user_pk: int, text: str) -> SubmitResult:
        """Submit a paper by arXiv id or URL for ``user_pk``: the stored paper at once,
        or the queued job (see :meth:`Submitter.submit` for the errors)."""
        return self.submitter.submit(user_pk, text)

    def submission_status(self, user_pk: int, job_pk: int) -> tuple[Job, StoredPaper | None]:
        """A submission's state, for its submitter only (see :meth:`Submitter.status`)."""
        return self.submitter.status(user_pk, job_pk)

    def worker(self, name: str = "worker") -> Worker:
        """A worker for the submission queue (see :mod:`paperlens.jobs`)."""
        return self.submitter.worker(name)

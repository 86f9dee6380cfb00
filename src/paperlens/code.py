"""Code and artifacts of papers: what pages show (repository, stars and their age,
project page, Hugging Face models/datasets/Spaces, summary and keywords) and the
background refreshers that fill it.

Requests only read (:meth:`Code.views`); nothing here that talks to GitHub or Hugging
Face runs in a request. ``paperlens refresh code`` (or a cron/systemd timer running it)
calls :meth:`Code.refresh_stars` and :meth:`Code.refresh_hf_repos`:

- **GitHub stars.** Repositories never checked, or checked more than
  ``github_refresh_hours`` ago, oldest first, at most ``limit`` per run. Each request is
  conditional on the stored ETag (a 304 keeps the data and refreshes its age). When
  GitHub says the limit is spent (``X-RateLimit-Remaining: 0`` on any answer, or a
  403/429 with ``Retry-After`` or a reset time) every refresher pauses until then (a
  shared ``fetch_pace`` row named ``github``), and the run stops. A 404 marks the
  repository gone (the link stays, without stars). Network errors and 5xx count as
  failures; after ``MAX_FAILURES_IN_A_ROW`` the run backs off (stops) and the next run
  retries those repositories last.
- **Hugging Face citing repos.** Papers Hugging Face lists, whose models, datasets and
  Spaces were never fetched or fetched more than ``hf_repos_refresh_days`` ago.

Summaries: Hugging Face's ``ai_summary`` when the import carried one (``source='hf'``),
else an extract (:func:`paperlens.summaries.extract_sentence`, ``source='extract'``);
keywords likewise (``ai_keywords``, else :func:`paperlens.summaries.key_phrases`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from paperlens.config import Settings
from paperlens.links import HF_KINDS
from paperlens.paper import Paper
from paperlens.sources.base import SourceError
from paperlens.sources.github import GitHubClient, RepoAnswer
from paperlens.sources.hf_repos import fetch_repos
from paperlens.sources.http import PoliteClient
from paperlens.store.code import CodeRecord, CodeStore, RepoStats, StoredLink
from paperlens.summaries import extract_sentence, key_phrases

log = logging.getLogger(__name__)

GITHUB = "github"
#: Consecutive failed requests (network, 5xx) after which a run stops.
MAX_FAILURES_IN_A_ROW = 3
#: The star baseline for "growth" is rolled forward this often.
GROWTH_WINDOW = timedelta(days=7)


def short_count(n: int) -> str:
    """``1234`` -> ``1.2k``, ``2500000`` -> ``2.5M``."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "k"
    return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def age_text(then: datetime, now: datetime) -> str:
    """How long ago, briefly: ``just now``, ``5 min ago``, ``3 h ago``, ``2 d ago``."""
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@dataclass(frozen=True, slots=True)
class RepoView:
    """A code repository link with what is known of it."""

    kind: str
    url: str
    name: str
    stars: int | None = None
    #: When the star count was last confirmed (None: never; the count, if any, is HF's).
    fetched_at: datetime | None = None
    archived: bool = False
    gone: bool = False
    stars_from: str = "github"

    def stars_text(self, now: datetime) -> str:
        """``★ 1.2k · 3 h ago`` (empty when no count is known)."""
        if self.stars is None:
            return ""
        text = f"★ {short_count(self.stars)}"
        if self.fetched_at is not None:
            text += f" · {age_text(self.fetched_at, now)}"
        elif self.stars_from == "hf":
            text += " · via Hugging Face"
        return text


@dataclass(frozen=True, slots=True)
class CodeView:
    """What a page shows about a paper's code, artifacts, summary and keywords."""

    repos: list[RepoView] = field(default_factory=list)
    project: str | None = None
    models: list[StoredLink] = field(default_factory=list)
    datasets: list[StoredLink] = field(default_factory=list)
    spaces: list[StoredLink] = field(default_factory=list)
    others: list[StoredLink] = field(default_factory=list)
    summary: str | None = None
    #: ``hf`` (Hugging Face's AI summary) or ``extract`` (a sentence of the abstract).
    summary_source: str | None = None
    keywords: list[str] = field(default_factory=list)
    keywords_source: str | None = None
    organization: str | None = None

    @property
    def has_code(self) -> bool:
        return bool(self.repos)

    @property
    def repo(self) -> RepoView | None:
        return self.repos[0] if self.repos else None


@dataclass
class RefreshReport:
    checked: int = 0
    updated: int = 0
    not_modified: int = 0
    gone: int = 0
    failed: int = 0
    rate_limited_until: datetime | None = None
    stopped: str = ""


@lru_cache(maxsize=4096)
def _extracts(title: str, abstract: str) -> tuple[str | None, tuple[str, ...]]:
    """The extract sentence and key phrases of a paper (a few ms each, so a feed page
    computes each paper's once per process, not on every view)."""
    phrases = tuple(key_phrases(title, abstract)) if abstract else ()
    return extract_sentence(abstract), phrases


def _view(paper: Paper, record: CodeRecord | None) -> CodeView:
    links = record.links if record else []
    hf = record.hf if record else None
    repos: list[RepoView] = []
    project: str | None = None
    artifacts: dict[str, list[StoredLink]] = {k: [] for k in HF_KINDS}
    others: list[StoredLink] = []
    for link in links:
        if link.kind in ("github", "gitlab"):
            stats: RepoStats | None = record.repos.get(link.key) if record else None
            if stats is not None and (stats.fetched_at is not None or stats.gone):
                repos.append(
                    RepoView(
                        link.kind,
                        link.url,
                        stats.full_name or link.name,
                        None if stats.gone else stats.stars,
                        stats.fetched_at,
                        stats.archived,
                        stats.gone,
                    )
                )
            else:
                hf_stars = hf.github_stars if hf and link.kind == "github" and not repos else None
                repos.append(
                    RepoView(link.kind, link.url, link.name, hf_stars, None, stars_from="hf")
                )
        elif link.kind == "project" and project is None:
            project = link.url
        elif link.kind in HF_KINDS:
            artifacts[link.kind].append(link)
        else:
            others.append(link)
    summary: str | None
    summary_source: str | None
    keywords_source: str | None
    extract, phrases = (
        (None, ())
        if hf and hf.ai_summary and hf.ai_keywords
        else _extracts(paper.title, paper.abstract)
    )
    if hf and hf.ai_summary:
        summary, summary_source = hf.ai_summary, "hf"
    else:
        summary = extract
        summary_source = "extract" if summary else None
    if hf and hf.ai_keywords:
        keywords, keywords_source = hf.ai_keywords[:8], "hf"
    else:
        keywords = list(phrases)
        keywords_source = "extract" if keywords else None
    return CodeView(
        repos=repos,
        project=project,
        models=artifacts["hf-model"],
        datasets=artifacts["hf-dataset"],
        spaces=artifacts["hf-space"],
        others=others,
        summary=summary,
        summary_source=summary_source,
        keywords=keywords,
        keywords_source=keywords_source,
        organization=hf.organization if hf else None,
    )


class Code:
    """The one way front ends reach code and artifact features (``lens.code``)."""

    def __init__(
        self,
        store: CodeStore,
        load_papers: Callable[[list[int]], dict[int, Paper]],
        settings: Settings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self._load = load_papers
        self.settings = settings
        self._clock = clock

    # -- reading (requests) -------------------------------------------------------------

    def views(self, papers: dict[int, Paper]) -> dict[int, CodeView]:
        """The view of each paper (pk -> paper given, so nothing is read twice)."""
        records = self.store.records(papers)
        return {pk: _view(p, records.get(pk)) for pk, p in papers.items()}

    def view(self, pk: int, paper: Paper) -> CodeView:
        return self.views({pk: paper})[pk]

    def star_growth(self, pks: Iterable[int]) -> dict[int, int]:
        return self.store.star_growth(list(pks))

    def warm_up(self) -> None:
        """Load the key-phrase weights (half a second) before the first page needs them."""
        key_phrases("warm", "up")

    # -- background work ----------------------------------------------------------------

    def backfill_links(self) -> int:
        """Re-derive the text links of every stored paper (see CodeStore.backfill_links)."""
        return self.store.backfill_links(self._load)

    def github_client(self) -> GitHubClient:
        token = self.settings.github_token.get_secret_value() or None
        return GitHubClient(
            self.settings.github_api_url, token, timeout=self.settings.request_timeout
        )

    def refresh_stars(self, limit: int = 50, client: GitHubClient | None = None) -> RefreshReport:
        """Refresh up to ``limit`` stale repositories (see the module docstring)."""
        report = RefreshReport()
        now = self._clock()
        blocked = self.store.blocked_until(GITHUB)
        if blocked is not None and blocked > now:
            report.rate_limited_until = blocked
            report.stopped = f"GitHub rate limit: paused until {blocked.isoformat()}"
            return report
        stale_before = now - timedelta(hours=self.settings.github_refresh_hours)
        todo = self.store.stale_repos(stale_before, limit)
        owned = client is None
        gh = client or self.github_client()
        failures = 0
        try:
            for key, name in todo:
                current = self.store.repo(key)
                answer = gh.repo(
                    name if current is None else current.full_name,
                    current.etag if current else None,
                )
                report.checked += 1
                if self._apply(key, current, answer, report):
                    failures = 0
                else:
                    failures += 1
                if answer.status == "rate_limited" or (
                    answer.remaining == 0 and answer.reset_at is not None
                ):
                    until = answer.retry_at or answer.reset_at
                    assert until is not None
                    self.store.block(GITHUB, until)
                    report.rate_limited_until = until
                    report.stopped = f"GitHub rate limit: paused until {until.isoformat()}"
                    break
                if failures >= MAX_FAILURES_IN_A_ROW:
                    report.stopped = f"{failures} failures in a row; backing off until the next run"
                    break
        finally:
            if owned:
                gh.close()
        return report

    def _apply(
        self, key: str, current: RepoStats | None, answer: RepoAnswer, report: RefreshReport
    ) -> bool:
        """Store one answer; False when it was a failure (for the back-off count)."""
        now = self._clock()
        if answer.status == "ok":
            values: dict[str, object] = {
                "stars": answer.stars,
                "forks": answer.forks,
                "archived": answer.archived,
                "gone": False,
                "pushed_at": answer.pushed_at,
                "etag": answer.etag,
                "fetched_at": now,
                "checked_at": now,
                "error": None,
            }
            if answer.full_name:
                values["full_name"] = answer.full_name
            base_at = current.stars_base_at if current else None
            if current is None or current.stars_base is None or base_at is None:
                values["stars_base"], values["stars_base_at"] = answer.stars, now
            elif now - base_at >= GROWTH_WINDOW:
                values["stars_base"], values["stars_base_at"] = current.stars, now
            self.store.save_repo(key, **values)
            report.updated += 1
            return True
        if answer.status == "not_modified":
            self.store.save_repo(key, fetched_at=now, checked_at=now, error=None)
            report.not_modified += 1
            return True
        if answer.status == "gone":
            self.store.save_repo(key, gone=True, checked_at=now, etag=None, error=answer.message)
            report.gone += 1
            return True
        if answer.status == "rate_limited":
            return True  # not this repository's fault; it stays stale
        self.store.save_repo(key, checked_at=now, error=answer.message[:500])
        report.failed += 1
        log.warning("GitHub refresh of %s failed: %s", key, answer.message)
        return False

    def refresh_hf_repos(
        self, limit: int = 50, client: PoliteClient | None = None
    ) -> RefreshReport:
        """Fetch the citing models, datasets and Spaces of up to ``limit`` papers."""
        report = RefreshReport()
        now = self._clock()
        todo = self.store.papers_for_hf_repos(
            now - timedelta(days=self.settings.hf_repos_refresh_days), limit
        )
        owned = client is None
        http = client or PoliteClient.from_settings(self.settings)
        failures = 0
        try:
            for pk, arxiv_id in todo:
                report.checked += 1
                try:
                    found = fetch_repos(http, self.settings.hf_base_url, arxiv_id)
                except SourceError as exc:
                    report.failed += 1
                    failures += 1
                    log.warning("Hugging Face repos of %s: %s", arxiv_id, exc)
                    if failures >= MAX_FAILURES_IN_A_ROW:
                        report.stopped = f"{failures} failures in a row; backing off"
                        break
                    continue
                failures = 0
                self.store.replace_hf_repos(pk, found)
                report.updated += 1
        finally:
            if owned:
                http.close()
        return report

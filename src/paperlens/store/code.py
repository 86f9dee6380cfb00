"""Code and artifact queries: ``paper_links``, ``repo_stats`` and ``paper_hf``.

Links a paper's own record carries (abstract, comments, Hugging Face's ``githubRepo``
and ``projectPage``) are rewritten in the same transaction as the paper
(:func:`replace_text_links`, called by :meth:`PaperStore.write_batch`), so "has code"
is never behind the paper. Everything fetched from outside (GitHub stars, HF models,
datasets and Spaces) is written here by the background refreshers
(:mod:`paperlens.code`) and only read by requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from paperlens.links import CODE_KINDS, Link, paper_links
from paperlens.paper import Paper
from paperlens.sources.base import HfExtras
from paperlens.store.community import category_condition
from paperlens.store.db import chunked
from paperlens.store.schema import (
    FetchPaceRow,
    PaperCategoryRow,
    PaperHfRow,
    PaperLinkRow,
    PaperRow,
    RepoStatsRow,
    table,
    utcnow,
)

links_t = table(PaperLinkRow)
stats_t = table(RepoStatsRow)
hf_t = table(PaperHfRow)
papers_t = table(PaperRow)
pace_t = table(FetchPaceRow)
categories_t = table(PaperCategoryRow)

TEXT = "text"
HF_REPOS = "hf-repos"


def _insert_for(conn: Connection, tbl: Any) -> Any:
    return postgresql.insert(tbl) if conn.dialect.name == "postgresql" else sqlite.insert(tbl)


def has_code_condition(paper_pk: Any) -> Any:
    """SQL: the paper ``paper_pk`` (a column) links a code repository. One probe of
    ``paper_links``' primary key per paper."""
    return exists(
        select(links_t.c.paper_pk).where(
            links_t.c.paper_pk == paper_pk, links_t.c.kind.in_(sorted(CODE_KINDS))
        )
    )


def paper_stars() -> Any:
    """A subquery of ``(paper_pk, n)``: each paper's most-starred linked repository (the
    daily feed's ``stars`` sort; :data:`paperlens.store.feed.StarSource`)."""
    return (
        select(links_t.c.paper_pk, func.max(stats_t.c.stars).label("n"))
        .join(stats_t, stats_t.c.key == links_t.c.key)
        .where(stats_t.c.stars.is_not(None))
        .group_by(links_t.c.paper_pk)
        .subquery()
    )


def replace_text_links(
    conn: Connection,
    papers: Sequence[tuple[int, Paper]],
    *,
    fresh: bool = False,
) -> None:
    """Rewrite the ``text`` links of each (pk, paper) from the paper's own record
    (``fresh``: the papers were just inserted, so there is nothing to delete)."""
    if not fresh:
        for chunk in chunked([pk for pk, _ in papers]):
            conn.execute(
                delete(links_t).where(links_t.c.paper_pk.in_(chunk), links_t.c.origin == TEXT)
            )
    rows: list[dict[str, Any]] = [
        {
            "paper_pk": pk,
            "key": link.key,
            "kind": link.kind,
            "url": link.url,
            "name": link.name[:300],
            "origin": TEXT,
            "likes": None,
        }
        for pk, paper in papers
        for link in paper_links(paper.abstract, paper.comments, paper.links)
    ]
    if rows:
        conn.execute(insert(links_t), rows)


def save_hf_extras(conn: Connection, items: Sequence[tuple[int, HfExtras]]) -> None:
    """Upsert what the daily-papers import carried (the newest listing wins)."""
    latest = dict(items)
    if not latest:
        return
    now = utcnow()
    values = [
        {
            "paper_pk": pk,
            "ai_summary": e.ai_summary,
            "ai_keywords": list(e.ai_keywords),
            "organization": e.organization,
            "submitted_by": e.submitted_by,
            "num_comments": e.num_comments,
            "github_stars": e.github_stars,
            "repos_fetched_at": None,
            "updated_at": now,
        }
        for pk, e in latest.items()
    ]
    stmt = _insert_for(conn, hf_t)
    stmt = stmt.on_conflict_do_update(
        index_elements=["paper_pk"],
        set_={
            c: getattr(stmt.excluded, c)
            for c in (
                "ai_summary",
                "ai_keywords",
                "organization",
                "submitted_by",
                "num_comments",
                "github_stars",
                "updated_at",
            )
        },
    )
    conn.execute(stmt, values)


@dataclass(frozen=True, slots=True)
class RepoStats:
    key: str
    full_name: str
    stars: int | None
    forks: int | None
    archived: bool
    gone: bool
    pushed_at: datetime | None
    etag: str | None
    fetched_at: datetime | None
    checked_at: datetime | None
    stars_base: int | None
    stars_base_at: datetime | None
    error: str | None

    @property
    def growth(self) -> int:
        if self.stars is None or self.stars_base is None:
            return 0
        return max(0, self.stars - self.stars_base)


@dataclass(frozen=True, slots=True)
class StoredLink:
    kind: str
    url: str
    key: str
    name: str
    origin: str
    likes: int | None


@dataclass(frozen=True, slots=True)
class HfInfo:
    ai_summary: str | None
    ai_keywords: list[str]
    organization: str | None
    submitted_by: str | None
    num_comments: int
    github_stars: int | None
    repos_fetched_at: datetime | None


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """Everything stored about one paper's code and artifacts."""

    links: list[StoredLink]
    repos: dict[str, RepoStats]
    hf: HfInfo | None


def _stats(r: Any) -> RepoStats:
    return RepoStats(
        r.key,
        r.full_name,
        r.stars,
        r.forks,
        bool(r.archived),
        bool(r.gone),
        r.pushed_at,
        r.etag,
        r.fetched_at,
        r.checked_at,
        r.stars_base,
        r.stars_base_at,
        r.error,
    )


class CodeStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reading ------------------------------------------------------------------------

    def records(self, pks: Iterable[int]) -> dict[int, CodeRecord]:
        """Links, repository stats and Hugging Face fields of ``pks`` (papers with none
        of them are left out): three queries per page of papers."""
        wanted = list(dict.fromkeys(pks))
        links: dict[int, list[StoredLink]] = {}
        hf: dict[int, HfInfo] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                seen: set[tuple[int, str]] = set()
                # ``text`` sorts after ``hf-repos``, so desc puts a paper's own links
                # first; a key both have is shown once, as the paper's own.
                for r in conn.execute(
                    select(links_t)
                    .where(links_t.c.paper_pk.in_(chunk))
                    .order_by(links_t.c.paper_pk, links_t.c.origin.desc(), links_t.c.key)
                ):
                    if (r.paper_pk, r.key) in seen:
                        continue
                    seen.add((r.paper_pk, r.key))
                    links.setdefault(r.paper_pk, []).append(
                        StoredLink(r.kind, r.url, r.key, r.name, r.origin, r.likes)
                    )
                for r in conn.execute(select(hf_t).where(hf_t.c.paper_pk.in_(chunk))):
                    hf[r.paper_pk] = HfInfo(
                        r.ai_summary,
                        list(r.ai_keywords or []),
                        r.organization,
                        r.submitted_by,
                        int(r.num_comments or 0),
                        r.github_stars,
                        r.repos_fetched_at,
                    )
            keys = sorted({x.key for ls in links.values() for x in ls if x.kind == "github"})
            stats: dict[str, RepoStats] = {}
            for key_chunk in chunked(keys):
                for r in conn.execute(select(stats_t).where(stats_t.c.key.in_(key_chunk))):
                    stats[r.key] = _stats(r)
        out: dict[int, CodeRecord] = {}
        for pk in wanted:
            if pk in links or pk in hf:
                mine = links.get(pk, [])
                repos = {x.key: stats[x.key] for x in mine if x.key in stats}
                out[pk] = CodeRecord(mine, repos, hf.get(pk))
        return out

    def repo(self, key: str) -> RepoStats | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(stats_t).where(stats_t.c.key == key)).first()
        return _stats(r) if r is not None else None

    def star_growth(self, pks: Sequence[int]) -> dict[int, int]:
        """Each paper's largest recent star growth over its GitHub repositories."""
        out: dict[int, int] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(list(pks)):
                q = (
                    select(links_t.c.paper_pk, stats_t.c.stars, stats_t.c.stars_base)
                    .join(stats_t, stats_t.c.key == links_t.c.key)
                    .where(links_t.c.paper_pk.in_(chunk), links_t.c.kind == "github")
                )
                for pk, stars, base in conn.execute(q):
                    if stars is not None and base is not None:
                        out[pk] = max(out.get(pk, 0), max(0, stars - base))
        return out

    def growing_papers(
        self, start: datetime, end: datetime, categories: Sequence[str] = ()
    ) -> list[tuple[int, datetime]]:
        """Live papers first published in ``[start, end]`` whose GitHub repository
        gained stars since its baseline (trending candidates by stars alone)."""
        q = (
            select(papers_t.c.pk, papers_t.c.published)
            .distinct()
            .join(links_t, links_t.c.paper_pk == papers_t.c.pk)
            .join(stats_t, stats_t.c.key == links_t.c.key)
            .where(
                papers_t.c.deleted.is_(False),
                papers_t.c.published >= start,
                papers_t.c.published <= end,
                links_t.c.kind == "github",
                stats_t.c.stars > stats_t.c.stars_base,
            )
        )
        if categories:
            in_cats = select(categories_t.c.paper_pk).where(
                category_condition(categories_t.c.category, categories)
            )
            q = q.where(papers_t.c.pk.in_(in_cats))
        with self.engine.connect() as conn:
            return [(int(pk), published) for pk, published in conn.execute(q)]

    def stale_repos(self, checked_before: datetime, limit: int) -> list[tuple[str, str]]:
        """Up to ``limit`` linked GitHub repositories (key, owner/repo) never checked or
        last checked before ``checked_before``, the longest unchecked first."""
        q = (
            select(links_t.c.key, func.min(links_t.c.name), stats_t.c.checked_at)
            .outerjoin(stats_t, stats_t.c.key == links_t.c.key)
            .where(
                links_t.c.kind == "github",
                or_(stats_t.c.checked_at.is_(None), stats_t.c.checked_at < checked_before),
            )
            .group_by(links_t.c.key, stats_t.c.checked_at)
            .order_by(stats_t.c.checked_at.asc().nulls_first(), links_t.c.key)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(k, n) for k, n, _ in conn.execute(q)]

    def papers_for_hf_repos(self, fetched_before: datetime, limit: int) -> list[tuple[int, str]]:
        """Papers Hugging Face lists (a ``paper_hf`` row) whose citing models, datasets
        and Spaces were never fetched or last fetched before ``fetched_before``."""
        q = (
            select(papers_t.c.pk, papers_t.c.id)
            .join(hf_t, hf_t.c.paper_pk == papers_t.c.pk)
            .where(
                papers_t.c.deleted.is_(False),
                or_(hf_t.c.repos_fetched_at.is_(None), hf_t.c.repos_fetched_at < fetched_before),
            )
            .order_by(hf_t.c.repos_fetched_at.asc().nulls_first(), papers_t.c.pk.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(int(pk), pid) for pk, pid in conn.execute(q)]

    # -- writing (background refreshers only) -------------------------------------------

    def save_repo(self, key: str, **values: Any) -> None:
        """Insert or update ``repo_stats`` for ``key`` with ``values``."""
        with self.engine.begin() as conn:
            found = conn.execute(select(stats_t.c.key).where(stats_t.c.key == key)).first()
            if found is None:
                row = {
                    "key": key,
                    "full_name": values.pop("full_name", key.split(":", 1)[-1]),
                    "archived": False,
                    "gone": False,
                    **values,
                }
                conn.execute(insert(stats_t), row)
            elif values:
                conn.execute(update(stats_t).where(stats_t.c.key == key).values(**values))

    def replace_hf_repos(self, paper_pk: int, found: Sequence[tuple[Link, int | None]]) -> None:
        """Set the models, datasets and Spaces citing a paper, and mark it fetched."""
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(
                delete(links_t).where(links_t.c.paper_pk == paper_pk, links_t.c.origin == HF_REPOS)
            )
            taken: set[str] = set()
            rows = []
            for link, likes in found:
                if link.key in taken:
                    continue
                taken.add(link.key)
                rows.append(
                    {
                        "paper_pk": paper_pk,
                        "key": link.key,
                        "kind": link.kind,
                        "url": link.url,
                        "name": link.name[:300],
                        "origin": HF_REPOS,
                        "likes": likes,
                    }
                )
            if rows:
                conn.execute(insert(links_t), rows)
            conn.execute(
                update(hf_t).where(hf_t.c.paper_pk == paper_pk).values(repos_fetched_at=now)
            )

    def backfill_links(
        self, load: Callable[[list[int]], dict[int, Paper]], batch: int = 1000
    ) -> int:
        """Re-derive every live paper's ``text`` links (for papers stored before links
        were kept, or after the link rules change); ``load`` reads papers by pk.
        Returns papers visited."""
        visited = 0
        last = 0
        while True:
            with self.engine.connect() as conn:
                pks = list(
                    conn.execute(
                        select(papers_t.c.pk)
                        .where(papers_t.c.pk > last, papers_t.c.deleted.is_(False))
                        .order_by(papers_t.c.pk)
                        .limit(batch)
                    ).scalars()
                )
            if not pks:
                return visited
            loaded = load(pks)
            with self.engine.begin() as conn:
                replace_text_links(conn, [(pk, loaded[pk]) for pk in pks if pk in loaded])
            visited += len(pks)
            last = pks[-1]

    # -- the shared GitHub pause (a rate limit applies to every process) ----------------

    def blocked_until(self, name: str) -> datetime | None:
        with self.engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(pace_t.c.lease_until).where(pace_t.c.name == name)
            ).scalar()
        return value

    def block(self, name: str, until: datetime) -> None:
        """Pause every refresher of ``name`` until ``until`` (a ``fetch_pace`` row whose
        ``lease_until`` is the end of the pause)."""
        with self.engine.begin() as conn:
            stmt = _insert_for(conn, pace_t).values(name=name, lease_until=until)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"], set_={"lease_until": stmt.excluded.lease_until}
            )
            conn.execute(stmt)


__all__ = [
    "CodeRecord",
    "CodeStore",
    "HfInfo",
    "RepoStats",
    "StoredLink",
    "has_code_condition",
    "paper_stars",
    "replace_text_links",
    "save_hf_extras",
]

"""Pydantic models of the JSON the REST API returns (and so of its OpenAPI schema)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from paperlens.core import Result, SearchResults
from paperlens.paper import Paper
from paperlens.search.engine import Mode
from paperlens.store.feed import FeedDay, FeedItem
from paperlens.store.papers import StoredPaper

#: ``date`` under another name, for models with a field called ``date``.
Day = date


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    detail: str = Field(description="What went wrong, for people.")


class PaperSummary(BaseModel):
    """A paper as listed in results: everything but the bookkeeping."""

    id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: datetime | None = Field(description="First version, UTC.")
    updated: datetime | None = Field(description="Latest version, UTC.")
    links: dict[str, str] = Field(description="abs, pdf, doi or url where known.")

    @classmethod
    def of(cls, p: Paper) -> PaperSummary:
        return cls(
            id=p.id,
            title=p.title,
            abstract=p.abstract,
            authors=list(p.authors),
            categories=list(p.categories),
            published=p.published,
            updated=p.updated,
            links=dict(p.links),
        )


class PaperOut(PaperSummary):
    """One paper in full."""

    version: int | None
    doi: str | None
    journal_ref: str | None
    comments: str | None
    license: str | None
    source: str
    added_at: datetime = Field(description="When this server first stored the paper, UTC.")

    @classmethod
    def of_stored(cls, sp: StoredPaper) -> PaperOut:
        p = sp.paper
        return cls(
            **PaperSummary.of(p).model_dump(),
            version=p.version,
            doi=p.doi,
            journal_ref=p.journal_ref,
            comments=p.comments,
            license=p.license,
            source=p.source,
            added_at=sp.added_at,
        )


class ResultOut(BaseModel):
    """A ranked paper."""

    paper: PaperSummary
    score: float
    lexical_rank: int | None = None
    semantic_rank: int | None = None

    @classmethod
    def of(cls, r: Result) -> ResultOut:
        return cls(
            paper=PaperSummary.of(r.paper),
            score=round(r.score, 6),
            lexical_rank=r.lexical_rank,
            semantic_rank=r.semantic_rank,
        )


class FiltersOut(BaseModel):
    since: date | None
    until: date | None
    categories: list[str]
    author: str | None


class SearchOut(BaseModel):
    """One page of search results."""

    query: str
    mode: Mode
    filters: FiltersOut
    page: int
    limit: int
    total: int = Field(description="Results that can be paged through (at most 1000).")
    pages: int
    seconds: float
    results: list[ResultOut]

    @classmethod
    def of(cls, found: SearchResults) -> SearchOut:
        f = found.filters
        return cls(
            query=found.query,
            mode=found.mode,
            filters=FiltersOut(
                since=f.since, until=f.until, categories=list(f.categories), author=f.author
            ),
            page=found.page,
            limit=found.per_page,
            total=found.total,
            pages=found.pages,
            seconds=round(found.seconds, 6),
            results=[ResultOut.of(r) for r in found.results],
        )


class SimilarOut(BaseModel):
    """Papers nearest to one paper by embedding."""

    id: str
    similar: list[ResultOut]


class FeedPaperOut(BaseModel):
    paper: PaperSummary
    upvotes: int | None = Field(description="Hugging Face daily-papers upvotes, if listed.")
    added_at: datetime

    @classmethod
    def of(cls, item: FeedItem) -> FeedPaperOut:
        return cls(
            paper=PaperSummary.of(item.stored.paper),
            upvotes=item.upvotes,
            added_at=item.stored.added_at,
        )


class DailyOut(BaseModel):
    """The papers first published on one UTC day, newest first."""

    date: Day | None = Field(description="The day shown; null when no paper has a date.")
    previous: Day | None = Field(description="The nearest earlier day with papers.")
    next: Day | None = Field(description="The nearest later day with papers.")
    page: int
    limit: int
    total: int
    pages: int
    papers: list[FeedPaperOut]

    @classmethod
    def of(cls, feed: FeedDay | None, page: int, limit: int) -> DailyOut:
        if feed is None:
            return cls(
                date=None,
                previous=None,
                next=None,
                page=page,
                limit=limit,
                total=0,
                pages=1,
                papers=[],
            )
        return cls(
            date=feed.day,
            previous=feed.previous_day,
            next=feed.next_day,
            page=feed.page,
            limit=feed.per_page,
            total=feed.total,
            pages=feed.pages,
            papers=[FeedPaperOut.of(i) for i in feed.items],
        )


class StatsOut(BaseModel):
    """What is stored and indexed."""

    papers: int
    deleted: int
    by_source: dict[str, int]
    top_categories: dict[str, int]
    first_published: datetime | None
    last_published: datetime | None
    model: str
    embedded: int
    lexical_docs: int
    vectors: int | None

"""Pydantic models of the JSON the REST API takes and returns (and so of its OpenAPI
schema), for every router under ``web/api/``, and the documented error answers.

Models named ``...Out`` are answers, built from core values by their ``of`` class
methods; ``...In`` and ``...Patch`` are request bodies, whose ``Field`` limits bound the
input before it reaches the core. Every error answer is :class:`ErrorOut`
(``{"detail": ...}``, made by ``web/errors.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from paperlens.accounts import User
from paperlens.community import TrendingItem
from paperlens.core import (
    Collection,
    FeedDay,
    FeedItem,
    Mode,
    Result,
    SearchResults,
    StoredPaper,
)
from paperlens.digest import MAX_SEARCHES
from paperlens.jobs import Job
from paperlens.library import CollectionView
from paperlens.paper import Paper
from paperlens.recommend import Recommendation

#: ``date`` under another name, for models with a field called ``date``.
Day = date


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer of the API."""

    detail: str = Field(description="What went wrong, for people.")


Responses = dict[int | str, dict[str, object]]


def error_doc(description: str) -> dict[str, object]:
    """An error answer for a route's ``responses`` (the OpenAPI documentation)."""
    return {"model": ErrorOut, "description": description}


#: The errors any API route may answer.
BAD_INPUT: Responses = {
    400: error_doc("Bad input; `detail` says why."),
    422: error_doc("A parameter failed validation."),
    429: error_doc("Rate limit reached."),
}
#: Routes of the community and library routers that act for a reader.
AUTH: Responses = {
    401: error_doc("Sign in or send an API token."),
    403: error_doc("Missing CSRF token (cookie sessions only)."),
}
#: Routes of the community and library routers that name a paper or a collection.
NOT_FOUND: Responses = {404: error_doc("No such paper or collection.")}


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


# -- accounts -------------------------------------------------------------------------------


class MeOut(BaseModel):
    """The account the request is authenticated as."""

    id: int = Field(description="The account's number.")
    email: str
    display_name: str
    is_admin: bool
    categories: list[str] = Field(description="Followed arXiv categories or archives.")
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> MeOut:
        return cls(
            id=user.pk,
            email=user.email,
            display_name=user.display_name,
            is_admin=user.is_admin,
            categories=user.categories,
            created_at=user.created_at,
        )


# -- community, library and recommendations ------------------------------------------------


class VoteOut(BaseModel):
    id: str
    votes: int = Field(description="Upvotes from this server's readers.")
    voted: bool = Field(description="Whether you have upvoted it now.")


class TrendingPaperOut(BaseModel):
    paper: PaperSummary
    votes: int = Field(description="Upvotes from this server's readers.")
    external_upvotes: int = Field(description="Hugging Face daily-papers upvotes (0 if none).")
    score: float = Field(description="points / (age_hours + 2) ** 1.8; see the README.")

    @classmethod
    def of(cls, t: TrendingItem) -> TrendingPaperOut:
        return cls(
            paper=PaperSummary.of(t.paper),
            votes=t.votes,
            external_upvotes=t.external,
            score=round(t.score, 8),
        )


class TrendingOut(BaseModel):
    window: Literal["day", "week", "month"]
    category: str | None
    papers: list[TrendingPaperOut]


class SubmissionIn(BaseModel):
    id: str = Field(
        min_length=1,
        max_length=300,
        description="An arXiv id or URL: 2106.09685, arXiv:2106.09685v2, "
        "https://arxiv.org/abs/2106.09685, hep-th/9901001 ...",
    )


class SubmissionOut(BaseModel):
    created: bool = Field(description="False when the paper was already here.")
    indexed: bool = Field(
        description="False while another process updating the indexes has yet to index "
        "it: searchable within minutes, once that run finishes."
    )
    paper: PaperSummary


class SubmissionStatusOut(BaseModel):
    """A submission waiting in the queue, being fetched, or finished; only its
    submitter may read it."""

    id: int
    arxiv_id: str
    state: Literal["queued", "fetching", "done", "failed"] = Field(
        description="queued: waiting for its turn (or for a retry after arXiv could not "
        "be reached); fetching: being fetched now; done: stored, see `paper`; failed: see "
        "`error`."
    )
    attempts: int = Field(description="Fetches tried so far.")
    submitted_at: datetime
    updated_at: datetime
    status_url: str = Field(description="Where to read this status again.")
    created: bool = Field(description="Done: whether this submission added the paper.")
    indexed: bool = Field(description="Done: whether the paper is searchable yet.")
    paper: PaperSummary | None = Field(description="The paper, once done.")
    error: str | None = Field(
        description="Why it failed, or (while queued) why the last try did not work."
    )

    @classmethod
    def of(cls, job: Job, stored: StoredPaper | None, status_url: str) -> SubmissionStatusOut:
        return cls(
            id=job.pk,
            arxiv_id=job.arxiv_id,
            state=job.state,
            attempts=job.attempts,
            submitted_at=job.created_at,
            updated_at=job.updated_at,
            status_url=status_url,
            created=job.created,
            indexed=job.indexed,
            paper=PaperSummary.of(stored.paper) if stored is not None else None,
            error=job.error,
        )


class CollectionIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    public: bool = False


class CollectionPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    public: bool | None = None


class CollectionOut(BaseModel):
    id: int
    name: str
    public: bool
    owner: str
    size: int
    created_at: datetime
    url: str = Field(description="The collection's page (shareable when public).")

    @classmethod
    def of(cls, c: Collection) -> CollectionOut:
        return cls(
            id=c.pk,
            name=c.name,
            public=c.public,
            owner=c.owner_name,
            size=c.size,
            created_at=c.created_at,
            url=f"/c/{c.pk}",
        )


class CollectionPaperOut(BaseModel):
    paper: PaperSummary
    added_at: datetime
    note: str | None = Field(description="Your note (only in your own collections).")
    read: bool | None = Field(description="Whether you marked it read (yours only).")


class CollectionDetailOut(CollectionOut):
    papers: list[CollectionPaperOut]

    @classmethod
    def of_view(cls, view: CollectionView) -> CollectionDetailOut:
        return cls(
            **CollectionOut.of(view.collection).model_dump(),
            papers=[
                CollectionPaperOut(
                    paper=PaperSummary.of(i.paper),
                    added_at=i.added_at,
                    note=i.note.note if i.note else None,
                    read=i.note.read if i.note else None,
                )
                for i in view.items
            ],
        )


class NoteIn(BaseModel):
    note: str | None = Field(default=None, max_length=10_000)
    read: bool | None = None


class BecauseOut(BaseModel):
    id: str
    title: str
    similarity: float


class RecommendationOut(BaseModel):
    paper: PaperSummary
    score: float
    reason: str = Field(description="Why, for people.")
    because: list[BecauseOut] = Field(description="The saved papers it is closest to.")

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(
            paper=PaperSummary.of(r.paper),
            score=round(r.score, 6),
            reason=r.reason,
            because=[
                BecauseOut(id=b.id, title=b.title, similarity=b.similarity) for b in r.because
            ],
        )


class RecommendationsOut(BaseModel):
    recommendations: list[RecommendationOut]


class FeedbackOut(BaseModel):
    id: str
    not_interested: bool


# -- digests ------------------------------------------------------------------------------


class SavedSearchIn(BaseModel):
    query: str = Field(default="", max_length=300, description="Words (BM25).")
    categories: list[str] = Field(default_factory=list, max_length=10)
    author: str = Field(default="", max_length=200)


class SubscribeIn(BaseModel):
    email: str = Field(max_length=320, description="One plain address.")
    frequency: Literal["daily", "weekly"] = "weekly"
    tz: str = Field(default="UTC", max_length=64, description="IANA time zone.")
    sections: list[Literal["trending", "for_you", "searches", "updates", "authors"]] | None = Field(
        default=None,
        description=(
            "What the digest holds (default trending + searches); updates: new versions "
            "of older papers matching the saved searches; authors: new papers by the "
            "authors you follow."
        ),
    )
    searches: list[SavedSearchIn] = Field(default_factory=list, max_length=MAX_SEARCHES)


class SubscribeOut(BaseModel):
    detail: str
    email: str


# -- authors, follows, claims, citations ------------------------------------------------------


class AuthorNameOut(BaseModel):
    name: str
    papers: int = Field(description="Papers stored here under this name.")
    url: str = Field(description="The author's API address.")


class AuthorOut(BaseModel):
    """An author's papers here, newest first. An unknown name answers 200 with
    ``total`` 0 (author names come from free text)."""

    name: str
    key: str = Field(description="The folded name every spelling of it is looked up by.")
    names: list[str] = Field(description="Spellings printed on their papers.")
    total: int
    page: int
    pages: int
    papers: list[PaperSummary]
    coauthors: list[AuthorNameOut]
    categories: dict[str, int]
    possibly_same: list[AuthorNameOut] = Field(
        description="Names with the same surname and first initial: maybe the same person, "
        "never merged."
    )


class FollowIn(BaseModel):
    name: str = Field(min_length=1, max_length=300, description="The author's name.")


class FollowingOut(BaseModel):
    authors: list[str]
    feed_url: str = Field(description="Your private Atom feed of their new papers.")


class FollowedPapersOut(BaseModel):
    papers: list[PaperSummary]


class ClaimIn(BaseModel):
    paper: str = Field(max_length=200, description="The paper's id.")
    author_name: str = Field(
        max_length=300, description="Which of the paper's authors you are (as printed)."
    )
    reason: str = Field(
        default="",
        max_length=1000,
        description="Needed when the name matches none of the paper's authors.",
    )


class ClaimOut(BaseModel):
    id: int
    paper: str
    author_name: str
    claimed_by: str = Field(description="The reader's public name.")
    matched: bool = Field(description="The name folds to one of the paper's authors.")
    status: Literal["pending", "approved", "rejected"]
    created_at: datetime
    reason: str | None = Field(default=None, description="Shown to the claimant and admins only.")


class ClaimsOut(BaseModel):
    claims: list[ClaimOut]


class ReviewIn(BaseModel):
    decision: Literal["approve", "reject"]


class CitedPaperOut(BaseModel):
    id: str = Field(description="A paper id here, or DOI:/S2:/title- for one outside.")
    title: str | None
    held: bool = Field(description="Whether this server holds the paper.")


class CitationsOut(BaseModel):
    """Stored citation data; refreshed in the background, never during a request."""

    id: str
    citation_count: int | None
    influential_count: int | None
    reference_count: int | None
    known_to_source: bool | None
    source: str | None
    fetched_at: datetime | None = Field(description="How old the data is; null: never fetched.")
    cited_by_total: int
    cited_by: list[CitedPaperOut]
    references_total: int
    references: list[CitedPaperOut]

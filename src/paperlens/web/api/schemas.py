"""Pydantic models of the JSON the REST API takes and returns (and so of its OpenAPI
schema), for every router under ``web/api/``, and the documented error answers.

Models named ``...Out`` are answers, built from core values by their ``of`` class
methods; ``...In`` and ``...Patch`` are request bodies, whose ``Field`` limits bound the
input before it reaches the core. Every error answer is :class:`ErrorOut`
(``{"detail": ...}``, made by ``web/errors.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints

from paperlens.accounts import User
from paperlens.code import CodeView
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
from paperlens.discussions import MAX_CHARS as MAX_COMMENT_CHARS
from paperlens.discussions import Comment, Notification
from paperlens.drafts import MAX_DRAFT_CHARS
from paperlens.facets import DraftMatches, FacetMatch
from paperlens.jobs import Job
from paperlens.library import CollectionView
from paperlens.paper import Paper
from paperlens.recommend import OnboardingState, Recommendation
from paperlens.web.feedcontrol import FeedControl

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
    code: CodeBriefOut | None = Field(
        default=None, description="Code badge, stars and one-line summary (search only)."
    )
    reason: ReasonOut | None = Field(
        default=None, description="Why a similar paper is listed (similar papers only)."
    )

    @classmethod
    def of(cls, r: Result) -> ResultOut:
        return cls(
            paper=PaperSummary.of(r.paper),
            score=round(r.score, 6),
            lexical_rank=r.lexical_rank,
            semantic_rank=r.semantic_rank,
            reason=ReasonOut(kind=r.reason.kind, text=r.reason.text) if r.reason else None,
        )


class ReasonOut(BaseModel):
    """One line saying why a similar paper is listed."""

    kind: str = Field(
        description='How it was found: "terms" (key terms both papers share); '
        "other kinds may be added."
    )
    text: str = Field(description='e.g. "shared: contrastive loss, protein folding"')


class FiltersOut(BaseModel):
    since: date | None
    until: date | None
    categories: list[str]
    author: str | None
    has_code: bool = False


class SearchOut(BaseModel):
    """One page of search results."""

    query: str
    mode: Mode
    filters: FiltersOut
    page: int
    limit: int
    total: int = Field(
        description="Matching results (a keyword search counts or estimates every match; "
        "semantic and hybrid rank up to 1000). Pages reach depth 1000 whatever the total."
    )
    pages: int
    seconds: float
    results: list[ResultOut]
    total_is_exact: bool = Field(
        default=True,
        description='False when `total` is an estimate ("about"): an unfiltered lexical '
        "search does not count every match. Filtered searches and short pages are exact.",
    )
    notice: str | None = Field(
        default=None,
        description="Why the results differ from what was asked: a hybrid search is "
        "answered by keywords alone (`mode` is then `lexical`) while no paper is embedded yet.",
    )

    @classmethod
    def of(cls, found: SearchResults) -> SearchOut:
        f = found.filters
        return cls(
            query=found.query,
            mode=found.mode,
            filters=FiltersOut(
                since=f.since,
                until=f.until,
                categories=list(f.categories),
                author=f.author,
                has_code=f.has_code,
            ),
            page=found.page,
            limit=found.per_page,
            total=found.total,
            pages=found.pages,
            seconds=round(found.seconds, 6),
            results=[ResultOut.of(r) for r in found.results],
            total_is_exact=found.total_is_exact,
            notice=found.notice or None,
        )


class SimilarOut(BaseModel):
    """Papers nearest to one paper by embedding."""

    id: str
    similar: list[ResultOut]


class FeedPaperOut(BaseModel):
    paper: PaperSummary
    upvotes: int | None = Field(description="Hugging Face daily-papers upvotes, if listed.")
    added_at: datetime
    code: CodeBriefOut | None = Field(
        default=None, description="Code badge, stars and one-line summary."
    )

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
    categories: list[str] = Field(
        default=[], description="The categories shown (empty: all of them)."
    )
    followed: bool = Field(
        default=False, description="The categories are the ones you follow (none were asked)."
    )
    sort: str = Field(
        default="newest",
        description="The order used: newest, votes, stars or citations (votes if no stars known).",
    )
    hidden: bool = Field(
        default=False, description="Papers you marked read or not interested are left out."
    )
    has_code: bool = Field(default=False, description="Only papers that link a code repository.")

    @classmethod
    def of(
        cls, feed: FeedDay | None, page: int, limit: int, control: FeedControl | None = None
    ) -> DailyOut:
        control = control or FeedControl()
        asked = {
            "categories": list(control.categories),
            "followed": control.followed,
            "sort": feed.sort if feed is not None else control.sort,
            "hidden": control.hide,
            "has_code": control.has_code,
        }
        if feed is None:
            out = cls(
                date=None,
                previous=None,
                next=None,
                page=page,
                limit=limit,
                total=0,
                pages=1,
                papers=[],
            )
            return out.model_copy(update=asked)
        out = cls(
            date=feed.day,
            previous=feed.previous_day,
            next=feed.next_day,
            page=feed.page,
            limit=feed.per_page,
            total=feed.total,
            pages=feed.pages,
            papers=[FeedPaperOut.of(i) for i in feed.items],
        )
        return out.model_copy(update=asked)


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
    star_growth: int = Field(
        default=0, description="Stars the paper's repository gained this week (0: unknown)."
    )

    @classmethod
    def of(cls, t: TrendingItem) -> TrendingPaperOut:
        return cls(
            paper=PaperSummary.of(t.paper),
            votes=t.votes,
            external_upvotes=t.external,
            score=round(t.score, 8),
            star_growth=t.star_growth,
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
    collection: int | None = Field(
        None, description="The collection whose model picked it (null: cold start)."
    )

    @classmethod
    def of(cls, r: Recommendation) -> RecommendationOut:
        return cls(
            paper=PaperSummary.of(r.paper),
            score=round(r.score, 6),
            reason=r.reason,
            collection=r.collection_pk,
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
    sections: (
        list[
            Annotated[
                str,
                StringConstraints(
                    pattern=r"^(trending|for_you|searches|updates|authors|collection:[1-9][0-9]{0,11})$"
                ),
            ]
        ]
        | None
    ) = Field(
        default=None,
        max_length=20,
        description=(
            "What the digest holds (default trending + searches); updates: new versions "
            "of older papers matching the saved searches; authors: new papers by the "
            "authors you follow; collection:<id>: recommendations from one of your "
            "collections (one section each)."
        ),
    )
    searches: list[SavedSearchIn] = Field(default_factory=list, max_length=MAX_SEARCHES)


class SubscribeOut(BaseModel):
    detail: str
    email: str


# -- code and artifacts ---------------------------------------------------------------------


class RepoOut(BaseModel):
    kind: str = Field(description="github or gitlab.")
    url: str
    name: str
    stars: int | None = Field(description="Stars, if known (null: not fetched yet or gone).")
    stars_fetched_at: datetime | None = Field(
        description="When GitHub last confirmed the count (null: the count, if any, is HF's)."
    )
    archived: bool
    gone: bool = Field(description="GitHub answered 404: the repository is gone or private.")


class ArtifactOut(BaseModel):
    url: str
    name: str
    likes: int | None = None


class CodeOut(BaseModel):
    """A paper's code and artifacts, and its one-line summary and keywords."""

    id: str
    has_code: bool
    repos: list[RepoOut]
    project_page: str | None
    models: list[ArtifactOut]
    datasets: list[ArtifactOut]
    spaces: list[ArtifactOut]
    summary: str | None
    summary_source: str | None = Field(
        description="hf: Hugging Face's AI summary; extract: a sentence of the abstract."
    )
    keywords: list[str]
    keywords_source: str | None = Field(description="hf or extract (tf-idf key phrases).")

    @classmethod
    def of(cls, paper_id: str, view: CodeView) -> CodeOut:
        def arts(items: Any) -> list[ArtifactOut]:
            return [ArtifactOut(url=a.url, name=a.name, likes=a.likes) for a in items]

        return cls(
            id=paper_id,
            has_code=view.has_code,
            repos=[
                RepoOut(
                    kind=r.kind,
                    url=r.url,
                    name=r.name,
                    stars=r.stars,
                    stars_fetched_at=r.fetched_at,
                    archived=r.archived,
                    gone=r.gone,
                )
                for r in view.repos
            ],
            project_page=view.project,
            models=arts(view.models),
            datasets=arts(view.datasets),
            spaces=arts(view.spaces),
            summary=view.summary,
            summary_source=view.summary_source,
            keywords=view.keywords,
            keywords_source=view.keywords_source,
        )


class CodeBriefOut(BaseModel):
    """What a feed card shows of a paper's code and summary."""

    has_code: bool
    repo: str | None = Field(description="The first code repository's URL.")
    stars: int | None
    stars_fetched_at: datetime | None = Field(
        description="When GitHub last confirmed the stars (null: HF's count or none)."
    )
    summary: str | None
    summary_source: str | None = Field(description="hf or extract.")

    @classmethod
    def of(cls, view: CodeView) -> CodeBriefOut:
        r = view.repo
        return cls(
            has_code=view.has_code,
            repo=r.url if r else None,
            stars=r.stars if r else None,
            stars_fetched_at=r.fetched_at if r else None,
            summary=view.summary,
            summary_source=view.summary_source,
        )


ResultOut.model_rebuild()
FeedPaperOut.model_rebuild()
# -- discussions ----------------------------------------------------------------------------


class CommentIn(BaseModel):
    body: str = Field(
        max_length=MAX_COMMENT_CHARS + 2000,
        description=(
            f"Markdown with LaTeX ($...$, $$...$$) and @mentions (a reader's display name "
            f"with spaces as underscores); at most {MAX_COMMENT_CHARS} characters once "
            "trimmed; no control characters."
        ),
    )
    parent: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="The comment this one answers."
    )


class CommentPatch(BaseModel):
    body: str = Field(max_length=MAX_COMMENT_CHARS + 2000, description="The new Markdown.")


class ReportIn(BaseModel):
    reason: str = Field(default="", max_length=500, description="Why, for the moderators.")


class CommentOut(BaseModel):
    """A comment as the asking reader sees it. ``html`` is sanitised (safe to insert);
    empty for a deleted comment and, except to admins, a hidden one."""

    id: int
    paper: str = Field(description="The paper's id.")
    parent: int | None
    depth: int = Field(description="0 for a comment on the paper, 1 for a reply, ...")
    state: Literal["visible", "hidden", "deleted"]
    author: str = Field(description="The author's public name ('[deleted]' when deleted).")
    paper_author: bool = Field(description="The author is a claimed author of the paper.")
    html: str
    body: str | None = Field(description="The Markdown source: your own comments only.")
    created_at: datetime
    edited_at: datetime | None = Field(description="Set once the author edited it.")
    mine: bool

    @classmethod
    def of(cls, c: Comment, paper_id: str) -> CommentOut:
        return cls(
            id=c.pk,
            paper=paper_id,
            parent=c.parent_pk,
            depth=c.depth,
            state=c.state,  # type: ignore[arg-type]
            author=c.author_name,
            paper_author=c.is_author,
            html=c.html,
            body=c.body if c.mine and c.body else None,
            created_at=c.created_at,
            edited_at=c.edited_at,
            mine=c.mine,
        )


class CommentsOut(BaseModel):
    paper: str
    count: int = Field(description="Visible comments.")
    comments: list[CommentOut] = Field(description="Reading order: each before its replies.")


class ReportOut(BaseModel):
    comment: int
    reported: bool


class ModerateIn(BaseModel):
    action: Literal["hide", "restore", "delete", "dismiss"] = Field(
        description="hide (from everyone but admins), restore, delete (erase the text), "
        "or dismiss the reports; each closes the comment's open reports."
    )


class NotificationOut(BaseModel):
    id: int
    kind: Literal["mention", "reply"]
    unread: bool
    created_at: datetime
    paper: str
    paper_title: str
    comment: int
    by: str = Field(description="Who wrote the comment.")
    url: str = Field(description="The comment on its paper's page (a path on this server).")

    @classmethod
    def of(cls, n: Notification) -> NotificationOut:
        return cls(
            id=n.pk,
            kind=n.kind,  # type: ignore[arg-type]
            unread=n.unread,
            created_at=n.created_at,
            paper=n.paper_id,
            paper_title=n.paper_title,
            comment=n.comment_pk,
            by=n.actor_name,
            url=n.url,
        )


class NotificationsOut(BaseModel):
    unread: int
    notifications: list[NotificationOut] = Field(description="Newest first (at most 100).")


# -- a reader's own data ----------------------------------------------------------------------


class ImportOut(BaseModel):
    counts: dict[str, int] = Field(
        description="Rows imported per kind, and skipped_unknown_papers: papers this "
        "server does not hold."
    )
    not_imported: dict[str, str] = Field(
        description="Sections of the archive never imported, with the reason."
    )


# -- onboarding ---------------------------------------------------------------------------------


class QuestionOut(BaseModel):
    paper: PaperSummary
    why: str


class OnboardingOut(BaseModel):
    categories: list[str]
    liked: int
    disliked: int
    enough: bool = Field(description="Whether the feed has enough ratings to start.")
    questions: list[QuestionOut]

    @classmethod
    def of(cls, st: OnboardingState) -> OnboardingOut:
        return cls(
            categories=st.categories,
            liked=st.liked,
            disliked=st.disliked,
            enough=st.enough,
            questions=[
                QuestionOut(paper=PaperSummary.of(q.paper), why=q.why) for q in st.questions
            ],
        )


class RatingIn(BaseModel):
    paper: str = Field(max_length=128, description="A paper id, e.g. 2401.00001.")
    liked: bool


# -- facets and drafts ----------------------------------------------------------------


class FacetMatchOut(BaseModel):
    """A similar paper with its reason: the query's sentence and this paper's sentence
    that match best (null when the paper has no sentences indexed)."""

    paper: PaperSummary
    score: float
    query_sentence: str | None = Field(description="The query paper's (or draft's) sentence.")
    matched_sentence: str | None = Field(description="This paper's best-matching sentence.")
    pair_similarity: float = Field(description="Cosine of the two sentences.")

    @classmethod
    def of(cls, m: FacetMatch) -> FacetMatchOut:
        return cls(
            paper=PaperSummary.of(m.paper),
            score=round(m.score, 6),
            query_sentence=m.query_sentence,
            matched_sentence=m.matched_sentence,
            pair_similarity=round(m.pair_score, 6),
        )


class FacetSimilarOut(BaseModel):
    """Papers most like one paper in one facet (background, method or result)."""

    id: str
    facet: Literal["background", "method", "result"]
    similar: list[FacetMatchOut]


class DraftIn(BaseModel):
    text: str = Field(
        max_length=MAX_DRAFT_CHARS * 2,
        description=f"The draft: a title and abstract (at most {MAX_DRAFT_CHARS} characters "
        "after cleaning). Never stored.",
    )
    limit: int = Field(default=10, ge=1, le=50)


class SentenceRoleOut(BaseModel):
    sentence: str
    role: Literal["background", "objective", "method", "result"]


class DraftOut(BaseModel):
    """Papers like a draft, the best matches per facet and notes for the reader (for
    example that the text does not look like English). Nothing is stored."""

    similar: list[FacetMatchOut]
    by_facet: dict[Literal["background", "method", "result"], list[FacetMatchOut]]
    notes: list[str]
    sentences: list[SentenceRoleOut] = Field(description="The draft's sentences, labelled.")

    @classmethod
    def of(cls, d: DraftMatches) -> DraftOut:
        return cls(
            similar=[FacetMatchOut.of(m) for m in d.similar],
            by_facet={f: [FacetMatchOut.of(m) for m in ms] for f, ms in d.by_facet.items()},
            notes=list(d.notes),
            sentences=[SentenceRoleOut(sentence=s, role=r) for s, r in d.roles],
        )


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

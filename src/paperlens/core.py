"""The one object front ends use: :class:`PaperLens` ties store, indexes and model together.

The CLI, the web app and the API call :class:`PaperLens` and the services it holds, and
nothing below them; this module knows nothing of HTTP or terminals. PaperLens itself
answers for papers (ingest, index, search, similar, one paper, the daily feed, stats);
each other feature is one service beside it, reached one way only:

- ``lens.community``: votes, trending, submissions and their queue's worker
  (:class:`paperlens.community.Community`, :mod:`paperlens.jobs`);
- ``lens.library``: collections, notes, "not interested" (:class:`paperlens.library.Library`);
- ``lens.recommender``: "For you" (:class:`paperlens.recommend.Recommender`);
- ``lens.accounts``: readers, sessions, tokens (:class:`paperlens.accounts.Accounts`);
- ``lens.digests``: email digests (:class:`paperlens.digest.Digests`);
- ``lens.discussions``: comments on papers, mentions, moderation
  (:class:`paperlens.discussions.Discussions`).

Services take stored papers' primary keys; ``lens.paper(id).pk`` resolves an id in any
accepted form. Heavy parts (the embedding model, the vector index) load on first use,
so a lexical search never pays for torch.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from paperlens.accounts import Accounts, clean_categories
from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.authors import Authors
from paperlens.citations import Citations
from paperlens.code import Code
from paperlens.community import Community
from paperlens.config import Settings
from paperlens.digest.gather import Found, votes_note
from paperlens.digest.service import Digests
from paperlens.digest.validation import SavedSearch
from paperlens.discussions import Discussions
from paperlens.drafts import Draft
from paperlens.embedding import Encoder, build_encoder, encoder_key
from paperlens.embedding.cache import usable_cpus
from paperlens.errors import CollectionNotFound, PaperNotFound
from paperlens.facets import DraftMatches, FacetMatch, Facets
from paperlens.filters import SearchFilters
from paperlens.index.lexical import LexicalIndex
from paperlens.index.neighbours import NeighbourIndex
from paperlens.index.pgvector import PgVectorIndex
from paperlens.index.sentences import SentenceIndex
from paperlens.index.terms import TermIndex
from paperlens.index.vector import DenseIndex, HnswParams, VectorIndex
from paperlens.indexer import (
    EmbedStep,
    IndexBusy,
    IndexProgress,
    IndexReport,
    build_all,
    build_keywords,
    exclusively,
)
from paperlens.ingest import IngestReport, ingest
from paperlens.library import Library
from paperlens.paper import Paper
from paperlens.portability.reader import ReaderData
from paperlens.recommend import Onboarding, Recommender
from paperlens.rhetoric import Facet
from paperlens.search.engine import MAX_DEPTH, IndexNotBuilt, Mode, Ranking, Retriever
from paperlens.search.neighbours import update_lists
from paperlens.sources.base import Source
from paperlens.store.authors import AuthorStore
from paperlens.store.candidates import CandidateStore
from paperlens.store.citations import CitationStore
from paperlens.store.code import CodeStore, paper_stars
from paperlens.store.community import CommunityStore
from paperlens.store.db import create_db_engine, open_engine
from paperlens.store.discussions import DiscussionStore
from paperlens.store.embeddings import EmbeddingStore
from paperlens.store.feed import SORTS as FEED_SORTS
from paperlens.store.feed import FeedDay, FeedItem, FeedStore, StarSource
from paperlens.store.jobs import JobStore
from paperlens.store.library import Collection, DuplicateName, LibraryStore
from paperlens.store.papers import PaperStore, StoredPaper, embedding_text
from paperlens.store.schema import utcnow

MAX_QUERY_CHARS = 1000
#: How many best matches a search sorted by citations re-orders.
CITATION_SORT_DEPTH = 200
MAX_PER_PAGE = 100
#: How often a long-running process (the web server) looks for an HNSW index that
#: another process (`paperlens index`) published: one stat() of its state file.
VECTORS_RELOAD_SECONDS = 2.0
#: The notice of a hybrid search answered by keywords alone (no paper embedded yet).
DENSE_NOT_READY = (
    "Semantic search is not ready yet: no paper is embedded (a first run embeds them "
    "in the background; otherwise run `paperlens index`). Keyword results are shown."
)


@dataclass(frozen=True, slots=True)
class Result:
    paper: Paper
    pk: int
    score: float
    added_at: datetime
    lexical_rank: int | None = None
    semantic_rank: int | None = None
    #: Why this paper is listed (similar papers only), or ``None``.
    reason: Reason | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """One line saying why a similar paper is listed. ``kind`` says how it was found:
    ``"terms"`` (key terms both papers share, heaviest tf-idf first); other kinds
    (e.g. ``"sentences"``: the best-matching sentence pair) may be added."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class SearchResults:
    query: str
    mode: Mode
    filters: SearchFilters
    page: int
    per_page: int
    total: int
    seconds: float
    results: list[Result]
    #: False when ``total`` is an estimate (an unfiltered lexical search does not count
    #: every match): pages print "about N".
    total_is_exact: bool = True
    #: Why the results differ from what was asked (a hybrid search answered by keywords
    #: alone while no paper is embedded yet: :data:`DENSE_NOT_READY`); empty otherwise.
    notice: str = ""

    @property
    def pages(self) -> int:
        """Pages a reader can reach: results are ranked to :data:`MAX_DEPTH`, whatever
        the total says."""
        return max(1, -(-min(self.total, MAX_DEPTH) // self.per_page))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


#: "Similar" lists computed ahead when a submission is indexed (its own comes first).
SUBMISSION_LISTS = 10


class PaperLens:
    """One paperlens instance: its store, indexes and model, and the services beside it
    (see the module docstring). Thread-safe; open one per process and share it."""

    def __init__(self, settings: Settings | None = None, *, hnsw: HnswParams | None = None) -> None:
        self.settings = settings or Settings()
        self.engine = open_engine(self.settings.resolved_database_url)
        #: Read-only queries that tolerate replication lag (search result papers, the
        #: daily feed) may go to a replica; never migrated from here.
        read_url = self.settings.read_database_url
        self.read_engine = create_db_engine(read_url) if read_url else self.engine
        self.papers = PaperStore(self.engine)
        self.embeddings = EmbeddingStore(self.engine)
        self.hnsw = hnsw or HnswParams()
        self._lock = threading.Lock()
        self._lexical: LexicalIndex | None = None
        self._vectors: DenseIndex | None = None
        self._vectors_checked = time.monotonic()
        self._terms: TermIndex | None = None
        self._terms_checked = time.monotonic()
        self._neighbours: NeighbourIndex | None = None
        self._neighbours_checked = time.monotonic()
        self._encoder: Encoder | None = None
        self._accounts: Accounts | None = None
        self._sentences: SentenceIndex | None = None
        self._sentences_checked = time.monotonic()
        #: Each paper's GitHub stars for the daily feed's ``stars`` sort (without one
        #: that sort falls back to votes).
        self.star_source: StarSource | None = paper_stars

    # -- parts, loaded on first use -----------------------------------------------------

    @property
    def lexical(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex(self.settings.index_dir / "lexical")
            return self._lexical

    @property
    def terms(self) -> TermIndex:
        """The tf-idf term vectors of "similar papers" (:mod:`paperlens.index.terms`),
        picked up afresh when ``paperlens index`` publishes a new generation."""
        with self._lock:
            if self._terms is None:
                self._terms = TermIndex(self.settings.index_dir / "terms")
            elif time.monotonic() - self._terms_checked > VECTORS_RELOAD_SECONDS:
                self._terms_checked = time.monotonic()
                self._terms.reload()
            return self._terms

    @property
    def neighbours(self) -> NeighbourIndex:
        """The "similar papers" lists ``paperlens index`` computed ahead
        (:mod:`paperlens.index.neighbours`), picked up afresh like :attr:`terms`."""
        with self._lock:
            if self._neighbours is None:
                self._neighbours = NeighbourIndex(self.settings.index_dir / "neighbours")
            elif time.monotonic() - self._neighbours_checked > VECTORS_RELOAD_SECONDS:
                self._neighbours_checked = time.monotonic()
                self._neighbours.reload()
            return self._neighbours

    @property
    def encoder(self) -> Encoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = build_encoder(self.settings)
            return self._encoder

    @property
    def model_key(self) -> str:
        return self._encoder.key if self._encoder is not None else encoder_key(self.settings)

    @property
    def vector_path(self) -> Path:
        """Where the usearch backend saves the HNSW index of the configured model (the
        main graph; its state and delta files sit next to it). Unused with pgvector."""
        return self.settings.index_dir / "vectors" / f"{_slug(self.model_key)}.usearch"

    @property
    def vector_backend(self) -> str:
        """``usearch`` or ``pgvector``, from ``Settings.vector_backend``."""
        backend = self.settings.vector_backend
        on_postgres = self.engine.dialect.name == "postgresql"
        if backend == "auto":
            return "pgvector" if on_postgres else "usearch"
        if backend == "pgvector" and not on_postgres:
            raise ValueError("vector_backend 'pgvector' needs a PostgreSQL database_url")
        return backend

    def _saved_ndim(self) -> int | None:
        if self.vector_backend == "pgvector":
            return PgVectorIndex.saved_ndim(self.engine, self.model_key)
        return VectorIndex.saved_ndim(self.vector_path)

    @property
    def vectors(self) -> DenseIndex:
        """The HNSW index for the configured model (its dimension read from the saved
        index or the stored embeddings, so neither searching a built index nor indexing
        vectors embedded elsewhere needs the model loaded)."""
        if self._vectors is not None:
            now = time.monotonic()
            if now - self._vectors_checked > VECTORS_RELOAD_SECONDS:
                self._vectors_checked = now
                self._vectors.reload()  # published by `paperlens index` in another process
        else:
            ndim = self._saved_ndim() or self._stored_dim()
            if ndim is None:
                ndim = self.encoder.dim
            if self.vector_backend == "pgvector":
                self._vectors = PgVectorIndex(self.engine, ndim, self.model_key, self.hnsw)
            else:
                self._vectors = VectorIndex(self.vector_path, ndim, self.model_key, self.hnsw)
        return self._vectors

    def open_vectors(self, *, view: bool = True) -> VectorIndex:
        """Open the saved usearch index afresh, memory-mapped (``view=True``, as
        :attr:`vectors` opens it) or loaded into memory (``view=False``), and use it for
        every search and ``similar`` from now on, in place of any index opened before.

        For tools that must choose how the graph is held (benchmarks compare the two);
        servers just use :attr:`vectors`. Raises :class:`IndexNotBuilt` when no index is
        saved for the configured model and ``ValueError`` with the pgvector backend (its
        index lives in PostgreSQL: there is no file to map or load).
        """
        if self.vector_backend != "usearch":
            raise ValueError("open_vectors needs the usearch vector backend")
        ndim = VectorIndex.saved_ndim(self.vector_path)
        if ndim is None:
            raise IndexNotBuilt(f"no saved HNSW index at {self.vector_path}")
        index = VectorIndex(self.vector_path, ndim, self.model_key, self.hnsw, view=view)
        self._vectors = index
        self._vectors_checked = time.monotonic()
        return index

    def _stored_dim(self) -> int | None:
        for _pks, matrix in self.embeddings.changed_since(self.model_key, 0, batch_size=1):
            return int(matrix.shape[1])
        return None

    @cached_property
    def retriever(self) -> Retriever:
        """One per instance: its query-vector and "similar" caches live as long."""
        return Retriever(
            self.lexical,
            lambda: self.vectors,
            lambda: self.encoder,
            lambda: self.terms,
            threads=self.settings.search_threads,
            neighbours=lambda: self.neighbours,
        )

    def refresh(self) -> None:
        """Pick up indexes published by another process (``paperlens index``)."""
        if self._lexical is not None:
            self._lexical.reload()
        if self._vectors is not None:
            self._vectors.reload()
        if self._terms is not None:
            self._terms.reload()
        if self._neighbours is not None:
            self._neighbours.reload()

    @property
    def accounts(self) -> Accounts:
        """Readers' accounts, sessions, reset links and API tokens."""
        with self._lock:
            if self._accounts is None:
                self._accounts = Accounts(self.engine, self.settings)
            return self._accounts

    @cached_property
    def digests(self) -> Digests:
        """Email digests: subscriptions, confirmation, unsubscribe, sending."""
        return Digests(self.engine, self.settings, LensSources(self))

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # -- ingest and index ---------------------------------------------------------------

    def ingest(self, source: Source, **kwargs: Any) -> IngestReport:
        return ingest(source, self.papers, **kwargs)

    def index(
        self,
        progress: IndexProgress | None = None,
        *,
        embed: EmbedStep | None = None,
        similar_lists: int | None = None,
    ) -> IndexReport:
        """Bring embeddings and indexes up to date. ``embed`` replaces the local embed
        step (e.g. :class:`paperlens.embedding.ray.RayEmbedder`); the model is then not
        loaded here. One updater at a time: raises :class:`~paperlens.indexer.IndexBusy`
        while another process runs this, which then indexes what is new here too.
        ``similar_lists`` caps the "similar" lists computed ahead (default
        ``Settings.similar_lists_per_run``; papers just written come first)."""
        lists_budget = (
            self.settings.similar_lists_per_run if similar_lists is None else similar_lists
        )

        sentences = (
            (lambda: (self.sentences, self.encoder)) if self.settings.sentence_index else None
        )

        def build() -> IndexReport:
            report = build_indexes()
            # "Similar" lists ahead, from the indexes just brought up to date (bounded
            # per run: a large first index spreads them over runs).
            started = time.perf_counter()
            report.similar_lists = update_lists(
                self.retriever,
                self.papers,
                self.neighbours,
                lists_budget,
                progress,
                workers=usable_cpus(),
            )
            report.seconds["similar"] = time.perf_counter() - started
            return report

        def build_indexes() -> IndexReport:
            if embed is None:
                return build_all(
                    self.papers,
                    self.embeddings,
                    self.lexical,
                    self.vectors,
                    self.encoder,
                    progress,
                    terms=self.terms,
                    sentences=sentences,
                )
            return build_all(
                self.papers,
                self.embeddings,
                self.lexical,
                lambda: self.vectors,
                None,
                progress,
                embed=embed,
                terms=self.terms,
                sentences=sentences,
            )

        def behind() -> bool:
            current = self.papers.current_seq()
            done = min(self.lexical.seq, self.vectors.seq, self.terms.seq)
            if sentences is not None:
                done = min(done, self.sentences.seq)
            return current > done

        return exclusively(self.settings.index_dir / "writer.lock", build, behind)

    def index_keywords(self, progress: IndexProgress | None = None) -> IndexReport:
        """Bring only the keyword side up to date (BM25 and the term vectors): seconds
        without loading the model, so keyword search can be served while :meth:`index`
        embeds (``paperlens demo`` on a first run). Same lock as :meth:`index`."""

        def behind() -> bool:
            return self.papers.current_seq() > min(self.lexical.seq, self.terms.seq)

        return exclusively(
            self.settings.index_dir / "writer.lock",
            lambda: build_keywords(self.papers, self.lexical, self.terms, progress),
            behind,
        )

    # -- reading ----------------------------------------------------------------------

    def paper(self, paper_id: str) -> StoredPaper:
        """A paper by id; arXiv ids may come with a version, prefix or as a URL. Raises
        :class:`~paperlens.errors.PaperNotFound`."""
        key = paper_id.strip()
        with contextlib.suppress(BadArxivId):
            key, _version = parse_arxiv_id(key)
        stored = self.papers.get(key)
        if stored is None or stored.deleted:
            raise PaperNotFound(f"no paper with id {paper_id!r}")
        return stored

    def _results(self, ranking: Ranking) -> list[Result]:
        # From the read replica when there is one: a paper it does not hold yet is
        # left out of the page rather than failing it.
        stored = PaperStore(self.read_engine).get_by_pks(h.pk for h in ranking.hits)
        return [
            Result(
                stored[h.pk].paper,
                h.pk,
                h.score,
                stored[h.pk].added_at,
                h.lexical_rank,
                h.semantic_rank,
            )
            for h in ranking.hits
            if h.pk in stored and not stored[h.pk].deleted
        ]

    def search(
        self,
        query: str,
        mode: Mode | str = Mode.HYBRID,
        filters: SearchFilters | None = None,
        page: int = 1,
        per_page: int = 10,
    ) -> SearchResults:
        """Search; a blank query with filters lists the newest papers passing them."""
        mode = Mode(mode)
        filters = filters or SearchFilters()
        query = query.strip()
        if len(query) > MAX_QUERY_CHARS:
            raise ValueError(
                f"query is too long ({len(query)} characters; at most {MAX_QUERY_CHARS})"
            )
        if not query and not filters.active:
            raise ValueError("empty query: type some words, or give a filter to browse")
        if page < 1:
            raise ValueError("page must be 1 or more")
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
        offset = (page - 1) * per_page
        notice = ""
        if not query:
            ranking = self.retriever.browse(filters, limit=per_page, offset=offset)
        else:
            try:
                ranking = self.retriever.search(query, mode, filters, limit=per_page, offset=offset)
            except IndexNotBuilt:
                if mode is not Mode.HYBRID:
                    raise  # semantic alone was asked for: say it cannot be had yet
                # Keyword results now beat an error while the papers are being embedded
                # (a first `paperlens demo` serves before its embedding is done).
                mode, notice = Mode.LEXICAL, DENSE_NOT_READY
                ranking = self.retriever.search(query, mode, filters, limit=per_page, offset=offset)
        return SearchResults(
            query,
            mode,
            filters,
            page,
            per_page,
            ranking.total,
            ranking.seconds,
            self._results(ranking),
            ranking.exact,
            notice,
        )

    def similar(
        self, paper_id: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[Result]:
        """Papers most like ``paper_id``: dense neighbours re-ranked by dense + tf-idf
        cosine (:meth:`Retriever.similar`), each with a :class:`Reason`; never the paper
        itself, nor a copy of it under another id (same title from another source).
        Every front end (page, API, CLI) and "For you" take this one list."""
        stored = self.paper(paper_id)
        own_title = title_id(stored.paper.title)
        text = embedding_text(stored.paper.title, stored.paper.abstract)
        ranking = Ranking(self.retriever.similar(stored.pk, k + 5, filters, text=text), 0)
        results = [r for r in self._results(ranking) if title_id(r.paper.title) != own_title]
        results = results[:k]
        own = (stored.paper.title, stored.paper.abstract)
        shared = self.terms.reasons(
            own, [(r.paper.title, r.paper.abstract) for r in results], pks=[r.pk for r in results]
        )
        return [
            replace(r, reason=Reason("terms", "shared: " + ", ".join(terms)) if terms else None)
            for r, terms in zip(results, shared, strict=True)
        ]

    def daily(
        self,
        day: date | None = None,
        page: int = 1,
        per_page: int = 30,
        *,
        categories: Sequence[str] = (),
        sort: str = "newest",
        hide_for: int | None = None,
        has_code: bool = False,
    ) -> FeedDay | None:
        """Papers first published on ``day`` (UTC; default the newest day with papers
        in ``categories``), newest first or by ``sort`` (:data:`FEED_SORTS`), with
        prev/next days; ``hide_for`` leaves out what that reader marked read or "not
        interested"; ``has_code`` keeps only papers linking a code repository. ``None``
        when no paper has a date. Bad categories or sorts raise
        ``ValueError`` naming the choices."""
        cats = tuple(clean_categories(list(categories)))
        if sort not in FEED_SORTS:
            raise ValueError(f"sort must be one of {', '.join(FEED_SORTS)}, not {sort[:40]!r}")
        feed = FeedStore(self.read_engine, stars=self.star_source)
        day = day or feed.latest_day(cats)
        if day is None:
            return None
        return feed.day(
            day, page, per_page, categories=cats, sort=sort, hide_for=hide_for, has_code=has_code
        )

    # -- the services beside the lens ---------------------------------------------------

    @cached_property
    def community(self) -> Community:
        """Votes, trending and submissions."""
        return Community(
            CommunityStore(self.engine),
            self.papers,
            JobStore(self.engine, utcnow),
            self.settings,
            # A submission's paper (written last, so first in line) and few others: the
            # backlog of lists is left to `paperlens index`.
            lambda: self.index(similar_lists=SUBMISSION_LISTS),
            code=CodeStore(self.engine),
        )

    @cached_property
    def library(self) -> Library:
        """Collections, notes and "not interested" marks."""
        return Library(LibraryStore(self.engine), self.papers)

    @cached_property
    def code(self) -> Code:
        """Code, artifacts, summaries and keywords of papers, and their refreshers."""
        return Code(
            CodeStore(self.engine),
            lambda pks: {pk: s.paper for pk, s in self.papers.get_by_pks(pks).items()},
            self.settings,
        )

    @cached_property
    def recommender(self) -> Recommender:
        """ "For you": recommendations from a reader's library, each with its reason."""
        return Recommender(
            self.papers,
            self.embeddings,
            self.library.store,
            CandidateStore(self.engine),
            lambda: self.model_key,
            vectors=self._built_vectors,
            community=self.community,
            categories_of=self._categories_of,
            similar=self._similar_pks,
        )

    @cached_property
    def discussions(self) -> Discussions:
        """Threaded comments on papers, mentions, reports and moderation; readers whose
        authorship claim was approved are marked as the paper's authors."""
        return Discussions(
            DiscussionStore(self.engine), self.papers, self.settings, claims=self.authors
        )

    @cached_property
    def onboarding(self) -> Onboarding:
        """A new reader's first ratings (categories, then 👍/👎 on a few papers)."""
        return Onboarding(self.recommender, lambda user_pk, pk: self.library.save(user_pk, pk))

    @cached_property
    def reader_data(self) -> ReaderData:
        """A reader's export archive, its import elsewhere, and account deletion."""
        return ReaderData(self.engine, self.library, self.settings.public_url)

    def _similar_pks(self, pk: int, k: int) -> list[int]:
        """The served "similar papers" ranking of paper ``pk`` (as pks), for "For you"."""
        stored = self.papers.get_by_pks([pk]).get(pk)
        if stored is None or stored.deleted:
            return []
        text = embedding_text(stored.paper.title, stored.paper.abstract)
        try:
            return [h.pk for h in self.retriever.similar(pk, k, text=text)]
        except IndexNotBuilt:
            return []

    def _built_vectors(self) -> DenseIndex | None:
        """The dense index if one was built; ``None`` rather than loading the model to
        make an empty one (recommendations then use the recent pool alone)."""
        if self._vectors is None and self._saved_ndim() is None:
            return None
        return self.vectors

    def _categories_of(self, user_pk: int) -> tuple[str, ...]:
        user = self.accounts.get_user(user_pk)
        return tuple(user.categories) if user is not None else ()

    @cached_property
    def authors(self) -> Authors:
        """Author pages, following authors, authorship claims."""
        return Authors(AuthorStore(self.engine), self.papers, self.settings)

    @cached_property
    def citations(self) -> Citations:
        """Citation counts, "cited by" and references (filled by ``refresh citations``)."""
        return Citations(CitationStore(self.engine), self.settings)

    def by_citations(self, found: SearchResults) -> SearchResults:
        """``found`` re-ranked by citation count: the best :data:`CITATION_SORT_DEPTH`
        matches of its query are ordered most cited first and ``found``'s page of them
        is returned (relevance decides which papers, citations their order)."""
        results: list[Result] = []
        total = 0
        for number in range(1, CITATION_SORT_DEPTH // MAX_PER_PAGE + 1):
            chunk = self.search(found.query, found.mode, found.filters, number, MAX_PER_PAGE)
            results.extend(chunk.results)
            total = chunk.total
            # An estimated total may be short of the matches: go on until a page is.
            if not chunk.results or (chunk.total_is_exact and number * MAX_PER_PAGE >= total):
                break
        by_pk = {r.pk: r for r in results}
        order = self.citations.ranked([r.pk for r in results])
        start = (found.page - 1) * found.per_page
        chosen = [by_pk[pk] for pk in order[start : start + found.per_page]]
        total = min(total, len(results))
        return SearchResults(
            found.query,
            found.mode,
            found.filters,
            found.page,
            found.per_page,
            total,
            found.seconds,
            chosen,
            # The last page's estimate is at least what was fetched: so total is the
            # count of papers ranked, unless that page estimated fewer.
            total_is_exact=chunk.total_is_exact or total == len(results),
        )

    def stats(self) -> dict[str, Any]:
        stats = self.papers.stats()
        stats["model"] = self.model_key
        stats["embedded"] = self.embeddings.count(self.model_key)
        stats["lexical_docs"] = self.lexical.num_docs()
        stats["vector_backend"] = self.vector_backend
        if self.vector_backend == "pgvector":
            stats["vectors"] = PgVectorIndex.saved_count(self.engine, self.model_key)
        else:
            stats["vectors"] = VectorIndex.saved_count(self.vector_path)
        return stats

    # -- facets and drafts (similar by background / method / results) ---------------

    @property
    def sentences(self) -> SentenceIndex:
        """The sentence index of the configured model (``Settings.sentence_index``
        builds it; see :mod:`paperlens.index.sentences`), reloaded like :attr:`vectors`."""
        if self._sentences is None:
            # The dimension first, outside the lock (the encoder takes it too).
            ndim = self._saved_ndim() or self._stored_dim() or self.encoder.dim
            path = self.settings.index_dir / "sentences" / _slug(self.model_key)
            with self._lock:
                if self._sentences is None:
                    self._sentences = SentenceIndex(path, ndim, self.model_key)
                return self._sentences
        if time.monotonic() - self._sentences_checked > VECTORS_RELOAD_SECONDS:
            self._sentences_checked = time.monotonic()
            self._sentences.reload()
        return self._sentences

    @cached_property
    def facets(self) -> Facets:
        """Facet-aware similarity and "papers like my draft" (:mod:`paperlens.facets`)."""
        return Facets(
            PaperStore(self.read_engine),
            lambda: self.sentences,
            lambda: self.retriever,
            lambda: self.encoder,
            lambda: self.lexical,
        )

    def similar_by_facet(self, paper_id: str, facet: Facet, limit: int = 10) -> list[FacetMatch]:
        """Papers most like ``paper_id`` in one facet, each with its best sentence pair.
        Raises :class:`~paperlens.errors.Invalid` for a paper without an abstract and
        :class:`~paperlens.errors.Unavailable` when the sentence index is not built."""
        return self.facets.similar(self.paper(paper_id), facet, limit)

    def like_draft(self, draft: Draft, limit: int = 10) -> DraftMatches:
        """Papers like a reader's draft (from :func:`paperlens.drafts.from_text` or
        ``from_pdf``); the draft is not stored."""
        return self.facets.like_draft(draft, limit)


__all__ = [
    "FEED_SORTS",
    "MAX_DEPTH",
    "Collection",
    "DuplicateName",
    "EmbedStep",
    "FeedDay",
    "FeedItem",
    "IndexBusy",
    "IndexNotBuilt",
    "IndexProgress",
    "IndexReport",
    "IngestReport",
    "LensSources",
    "Mode",
    "PaperLens",
    "PaperNotFound",
    "Reason",
    "Result",
    "SearchFilters",
    "SearchResults",
    "StoredPaper",
]


class LensSources:
    """The papers a digest gathers (:class:`~paperlens.digest.gather.DigestSources`),
    taken from a :class:`PaperLens`: the digest package itself never sees the lens."""

    def __init__(self, lens: PaperLens) -> None:
        self.lens = lens

    def trending(self, window: Literal["day", "week"], limit: int, now: datetime) -> list[Found]:
        items = self.lens.community.trending(window, limit=limit, now=now)
        return [Found(t.paper, t.added_at, votes_note(t.votes, t.external)) for t in items]

    def recommend(self, user_pk: int, since: datetime, limit: int) -> list[Found]:
        recs = self.lens.recommender.recommend(user_pk, limit=limit, since=since)
        return [Found(r.paper, r.added_at, r.reason) for r in recs]

    def recommend_collection(
        self, user_pk: int, collection_pk: int, since: datetime, limit: int
    ) -> tuple[str, list[Found]] | None:
        try:
            name = self.lens.library.owned(user_pk, collection_pk).name
        except CollectionNotFound:
            return None
        recs = self.lens.recommender.recommend(
            user_pk, limit=limit, since=since, collection_pk=collection_pk
        )
        return name, [Found(r.paper, r.added_at, r.reason) for r in recs if r.collection_pk]

    def search(
        self, search: SavedSearch, limit: int, published_since: datetime | None = None
    ) -> list[Found]:
        """A saved search as a BM25 query (a blank query lists the newest papers that
        pass the filters). ``published_since`` becomes the search's day filter, so the
        depth is spent on papers that can be new rather than on the whole store."""
        since = published_since.astimezone(UTC).date() if published_since else None
        filters = SearchFilters(
            since=since, categories=search.categories, author=search.author or None
        )
        found = self.lens.search(search.query, Mode.LEXICAL, filters, page=1, per_page=limit)
        revised = self.lens.papers.revised_at(r.paper.id for r in found.results)
        return [
            Found(r.paper, r.added_at, revised_at=revised.get(r.paper.id)) for r in found.results
        ]

    def followed(self, user_pk: int, since: datetime, limit: int) -> list[Found]:
        """Papers by the authors the reader follows, stored since ``since``."""
        found = self.lens.authors.new_from_followed(user_pk, added_since=since, limit=limit)
        return [Found(p.paper, p.added_at) for p in found]

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
- ``lens.digests``: email digests (:class:`paperlens.digest.Digests`).

Services take stored papers' primary keys; ``lens.paper(id).pk`` resolves an id in any
accepted form. Heavy parts (the embedding model, the vector index) load on first use,
so a lexical search never pays for torch.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from paperlens.accounts import Accounts
from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.authors import Authors
from paperlens.citations import Citations
from paperlens.community import Community
from paperlens.config import Settings
from paperlens.digest.gather import Found, votes_note
from paperlens.digest.service import Digests
from paperlens.digest.validation import SavedSearch
from paperlens.embedding import Encoder, build_encoder, encoder_key
from paperlens.errors import PaperNotFound
from paperlens.filters import SearchFilters
from paperlens.index.lexical import LexicalIndex
from paperlens.index.pgvector import PgVectorIndex
from paperlens.index.vector import DenseIndex, HnswParams, VectorIndex
from paperlens.indexer import EmbedStep, IndexProgress, IndexReport, build_all, exclusively
from paperlens.ingest import IngestReport, ingest
from paperlens.library import Library
from paperlens.paper import Paper
from paperlens.recommend import Recommender
from paperlens.search.engine import MAX_DEPTH, IndexNotBuilt, Mode, Ranking, Retriever
from paperlens.sources.base import Source
from paperlens.store.authors import AuthorStore
from paperlens.store.candidates import CandidateStore
from paperlens.store.citations import CitationStore
from paperlens.store.community import CommunityStore
from paperlens.store.db import create_db_engine, open_engine
from paperlens.store.embeddings import EmbeddingStore
from paperlens.store.feed import FeedDay, FeedItem, FeedStore, day_bounds
from paperlens.store.jobs import JobStore
from paperlens.store.library import Collection, DuplicateName, LibraryStore
from paperlens.store.papers import PaperStore, StoredPaper
from paperlens.store.schema import utcnow

MAX_QUERY_CHARS = 1000
#: How many best matches a search sorted by citations re-orders.
CITATION_SORT_DEPTH = 200
MAX_PER_PAGE = 100
#: How often a long-running process (the web server) looks for an HNSW index that
#: another process (`paperlens index`) published: one stat() of its state file.
VECTORS_RELOAD_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Result:
    paper: Paper
    pk: int
    score: float
    added_at: datetime
    lexical_rank: int | None = None
    semantic_rank: int | None = None


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

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


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
        self._encoder: Encoder | None = None
        self._accounts: Accounts | None = None

    # -- parts, loaded on first use -----------------------------------------------------

    @property
    def lexical(self) -> LexicalIndex:
        with self._lock:
            if self._lexical is None:
                self._lexical = LexicalIndex(self.settings.index_dir / "lexical")
            return self._lexical

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

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.lexical, lambda: self.vectors, lambda: self.encoder)

    def refresh(self) -> None:
        """Pick up indexes published by another process (``paperlens index``)."""
        if self._lexical is not None:
            self._lexical.reload()
        if self._vectors is not None:
            self._vectors.reload()

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
        self, progress: IndexProgress | None = None, *, embed: EmbedStep | None = None
    ) -> IndexReport:
        """Bring embeddings and indexes up to date. ``embed`` replaces the local embed
        step (e.g. :class:`paperlens.embedding.ray.RayEmbedder`); the model is then not
        loaded here. One updater at a time: raises :class:`~paperlens.indexer.IndexBusy`
        while another process runs this, which then indexes what is new here too."""

        def build() -> IndexReport:
            if embed is None:
                return build_all(
                    self.papers, self.embeddings, self.lexical, self.vectors, self.encoder, progress
                )
            return build_all(
                self.papers,
                self.embeddings,
                self.lexical,
                lambda: self.vectors,
                None,
                progress,
                embed=embed,
            )

        def behind() -> bool:
            current = self.papers.current_seq()
            return current > min(self.lexical.seq, self.vectors.seq)

        return exclusively(self.settings.index_dir / "writer.lock", build, behind)

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
        if query:
            ranking = self.retriever.search(query, mode, filters, limit=per_page, offset=offset)
        else:
            ranking = self.retriever.browse(filters, limit=per_page, offset=offset)
        return SearchResults(
            query,
            mode,
            filters,
            page,
            per_page,
            ranking.total,
            ranking.seconds,
            self._results(ranking),
        )

    def similar(
        self, paper_id: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[Result]:
        """Papers most like ``paper_id`` by embedding: never the paper itself, nor a
        copy of it under another id (same title from another source)."""
        stored = self.paper(paper_id)
        own_title = title_id(stored.paper.title)
        ranking = Ranking(self.retriever.similar(stored.pk, k + 5, filters), 0)
        results = [r for r in self._results(ranking) if title_id(r.paper.title) != own_title]
        return results[:k]

    def daily(self, day: date | None = None, page: int = 1, per_page: int = 30) -> FeedDay | None:
        """Papers first published on ``day`` (UTC; default the newest day with papers),
        newest first, with prev/next days; ``None`` when no paper has a date."""
        feed = FeedStore(self.read_engine)
        day = day or feed.latest_day()
        return None if day is None else feed.day(day, page, per_page)

    # -- the services beside the lens ---------------------------------------------------

    @cached_property
    def community(self) -> Community:
        """Votes, trending and submissions."""
        return Community(
            CommunityStore(self.engine),
            self.papers,
            JobStore(self.engine, utcnow),
            self.settings,
            self.index,
        )

    @cached_property
    def library(self) -> Library:
        """Collections, notes and "not interested" marks."""
        return Library(LibraryStore(self.engine), self.papers)

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
        )

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
            if number * MAX_PER_PAGE >= chunk.total:
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
        )

    def daily_by_citations(
        self, day: date | None = None, page: int = 1, per_page: int = 30
    ) -> FeedDay | None:
        """:meth:`daily`, its papers ordered most cited first (the whole day is ranked,
        in SQL; papers never fetched come last). Curated upvotes are not shown here."""
        feed = self.daily(day, page, per_page)
        if feed is None:
            return None
        start, end = day_bounds(feed.day)
        pks = CitationStore(self.read_engine).day_by_citations(
            start, end, per_page, (page - 1) * per_page
        )
        stored = PaperStore(self.read_engine).get_by_pks(pks)
        items = [FeedItem(stored[pk], None) for pk in pks if pk in stored]
        return replace(feed, items=items)

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


__all__ = [
    "MAX_DEPTH",
    "Collection",
    "DuplicateName",
    "EmbedStep",
    "FeedDay",
    "FeedItem",
    "IndexNotBuilt",
    "IndexProgress",
    "IndexReport",
    "IngestReport",
    "LensSources",
    "Mode",
    "PaperLens",
    "PaperNotFound",
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

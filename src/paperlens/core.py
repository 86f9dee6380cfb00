"""The one object front ends use: :class:`PaperLens` ties store, indexes and model together.

The CLI, the web app and the API call these methods and nothing below them; this
module knows nothing of HTTP or terminals. Heavy parts (the embedding model, the
vector index) load on first use, so a lexical search never pays for torch.
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.config import Settings
from paperlens.embedding import Encoder, SentenceTransformerEncoder
from paperlens.index.lexical import LexicalIndex
from paperlens.index.vector import HnswParams, VectorIndex
from paperlens.indexer import IndexProgress, IndexReport, build_all
from paperlens.ingest import IngestReport, ingest
from paperlens.paper import Paper
from paperlens.search.engine import IndexNotBuilt, Mode, Ranking, Retriever
from paperlens.search.filters import SearchFilters
from paperlens.sources.base import Source
from paperlens.store.db import open_engine
from paperlens.store.embeddings import EmbeddingStore
from paperlens.store.feed import FeedDay, FeedStore
from paperlens.store.papers import PaperStore, StoredPaper

MAX_QUERY_CHARS = 1000
MAX_PER_PAGE = 100


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


class PaperNotFound(LookupError):
    pass


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def encoder_key(settings: Settings) -> str:
    """The key :class:`SentenceTransformerEncoder` will report, without loading it."""
    from paperlens.embedding import BUNDLED_ALIASES

    name = "all-MiniLM-L6-v2" if settings.model.lower() in BUNDLED_ALIASES else settings.model
    return f"{name}@{settings.max_seq_length}"


class PaperLens:
    def __init__(self, settings: Settings | None = None, *, hnsw: HnswParams | None = None) -> None:
        self.settings = settings or Settings()
        self.engine = open_engine(self.settings.resolved_database_url)
        self.papers = PaperStore(self.engine)
        self.embeddings = EmbeddingStore(self.engine)
        self.hnsw = hnsw or HnswParams()
        self._lock = threading.Lock()
        self._lexical: LexicalIndex | None = None
        self._vectors: VectorIndex | None = None
        self._encoder: Encoder | None = None

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
                s = self.settings
                self._encoder = SentenceTransformerEncoder(
                    s.model, max_seq_length=s.max_seq_length, batch_size=s.embed_batch_size
                )
            return self._encoder

    @property
    def model_key(self) -> str:
        return self._encoder.key if self._encoder is not None else encoder_key(self.settings)

    def _vector_path(self) -> Any:
        return self.settings.index_dir / "vectors" / f"{_slug(self.model_key)}.usearch"

    @property
    def vectors(self) -> VectorIndex:
        """The HNSW index for the configured model (its dimension read from the saved
        index, so searching a built index does not need the model loaded to start)."""
        if self._vectors is None:
            path = self._vector_path()
            ndim = VectorIndex.saved_ndim(path)
            if ndim is None:
                ndim = self.encoder.dim
            self._vectors = VectorIndex(path, ndim, self.model_key, self.hnsw)
        return self._vectors

    @property
    def retriever(self) -> Retriever:
        return Retriever(self.lexical, lambda: self.vectors, lambda: self.encoder)

    def refresh(self) -> None:
        """Pick up indexes published by another process (``paperlens index``)."""
        if self._lexical is not None:
            self._lexical.reload()
        if self._vectors is not None:
            self._vectors.reload()

    def close(self) -> None:
        self.engine.dispose()

    # -- ingest and index ---------------------------------------------------------------

    def ingest(self, source: Source, **kwargs: Any) -> IngestReport:
        return ingest(source, self.papers, **kwargs)

    def index(self, progress: IndexProgress | None = None) -> IndexReport:
        kwargs = {"progress": progress} if progress is not None else {}
        return build_all(
            self.papers, self.embeddings, self.lexical, self.vectors, self.encoder, **kwargs
        )

    # -- reading ----------------------------------------------------------------------

    def paper(self, paper_id: str) -> StoredPaper:
        """A paper by id; arXiv ids may come with a version, prefix or as a URL."""
        key = paper_id.strip()
        with contextlib.suppress(BadArxivId):
            key, _version = parse_arxiv_id(key)
        stored = self.papers.get(key)
        if stored is None or stored.deleted:
            raise PaperNotFound(f"no paper with id {paper_id!r}")
        return stored

    def _results(self, ranking: Ranking) -> list[Result]:
        stored = self.papers.get_by_pks(h.pk for h in ranking.hits)
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
        feed = FeedStore(self.engine)
        day = day or feed.latest_day()
        return None if day is None else feed.day(day, page, per_page)

    def stats(self) -> dict[str, Any]:
        stats = self.papers.stats()
        stats["model"] = self.model_key
        stats["embedded"] = self.embeddings.count(self.model_key)
        stats["lexical_docs"] = self.lexical.num_docs()
        path = self._vector_path()
        stats["vectors"] = VectorIndex.saved_count(path)
        return stats


__all__ = [
    "IndexNotBuilt",
    "Mode",
    "PaperLens",
    "PaperNotFound",
    "Result",
    "SearchFilters",
    "SearchResults",
]

"""Facet-aware similar papers ("similar by background / method / results") and "papers
like my draft", each result with its reason: the best-matching sentence pair.

The reasons come from :func:`paperlens.search.facets.rank_by_facet` over the sentence
index (:mod:`paperlens.index.sentences`, built by the opt-in indexer step,
``Settings.sentence_index``). This service finds the query's sentences (from the index,
or split and embedded on the spot for a paper the index has not reached yet, and always
for a draft), ranks with :func:`paperlens.search.facets.fuse` over the paper's
similar-papers ranking (and, when weighed, facet-specific lists) and turns hits into
:class:`FacetMatch` values with the sentence texts (split again from the stored
abstracts; the index keeps only vectors).

A draft is never stored (see :mod:`paperlens.drafts`): its text and vectors live only
for the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from paperlens.arxiv_ids import title_id
from paperlens.drafts import Draft
from paperlens.embedding import Encoder
from paperlens.errors import Invalid, Unavailable
from paperlens.filters import SearchFilters
from paperlens.index.lexical import LexicalIndex
from paperlens.index.sentences import SentenceIndex
from paperlens.paper import Paper
from paperlens.rhetoric import FACETS, Facet, Role, label_sentences, split_sentences
from paperlens.search.engine import Retriever
from paperlens.search.facets import (
    DEFAULT,
    FacetHit,
    FacetParams,
    facet_rows,
    fuse,
    rank_by_facet,
)
from paperlens.search.fusion import reciprocal_rank_fusion
from paperlens.store.papers import PaperStore, StoredPaper, embedding_text
from paperlens.text import strip_latex

#: How many facet matches a draft gets per facet.
DRAFT_FACET_MATCHES = 3


@dataclass(frozen=True, slots=True)
class FacetMatch:
    """A similar paper and why: the query's sentence and the paper's sentence that
    match best (``None`` when the paper has no sentences indexed)."""

    paper: Paper
    pk: int
    score: float
    query_sentence: str | None
    matched_sentence: str | None
    pair_score: float
    added_at: datetime


@dataclass(frozen=True, slots=True)
class DraftMatches:
    """What "papers like my draft" answers: the overall list and the best matches per
    facet, plus notes for the reader (language, PDF without an abstract)."""

    similar: list[FacetMatch]
    by_facet: dict[Facet, list[FacetMatch]]
    notes: tuple[str, ...]
    sentences: int
    #: The draft's sentences with their labelled roles (shown back to the reader).
    roles: list[tuple[str, Role]] = field(default_factory=list)


def parse_facet(value: str) -> Facet:
    """``background``, ``method`` or ``result`` (``results`` too); else :class:`Invalid`."""
    facet = value.strip().lower().rstrip("s") if value.strip().lower() != "all" else ""
    if facet == "result" or facet in FACETS:
        return facet  # type: ignore[return-value]
    raise Invalid(f"unknown facet {value!r}: use one of background, method, result")


class Facets:
    """Facet-aware similarity over one lens's store and indexes."""

    def __init__(
        self,
        papers: PaperStore,
        sentences: Callable[[], SentenceIndex],
        retriever: Callable[[], Retriever],
        encoder: Callable[[], Encoder],
        lexical: Callable[[], LexicalIndex],
        params: FacetParams = DEFAULT,
    ) -> None:
        self.papers = papers
        self._sentences = sentences
        self._retriever = retriever
        self._encoder = encoder
        self._lexical = lexical
        self.params = params
        #: Draw every list, even those the params weigh 0 (the benchmark's grid).
        self.collect_all = False

    def _index(self) -> SentenceIndex:
        index = self._sentences()
        if not index.built:
            raise Unavailable(
                "facet similarity needs the sentence index: set PAPERLENS_SENTENCE_INDEX=1 "
                "and run `paperlens index`"
            )
        return index

    def _embed(self, sentences: list[str]) -> NDArray[np.float32]:
        return self._encoder().encode(sentences)

    def _own_sentences(
        self, stored: StoredPaper, index: SentenceIndex
    ) -> tuple[list[str], NDArray[np.float32], list[Role]]:
        sentences = split_sentences(stored.paper.abstract)
        if not sentences:
            raise Invalid(
                "this paper has no abstract, so it cannot be compared by background, "
                "method or results; see its similar papers instead"
            )
        own = index.get(stored.pk)
        if own is not None and len(own.roles) == len(sentences):
            return sentences, own.vectors, list(own.roles)
        # Not indexed yet (or its abstract changed since): embed it now.
        return sentences, self._embed(sentences), label_sentences(sentences)

    def lists(
        self, stored: StoredPaper, facet: Facet, depth: int | None = None
    ) -> tuple[dict[str, list[int]], list[str], NDArray[np.float32], list[Role]]:
        """The ranked lists :func:`paperlens.search.facets.fuse` fuses for ``stored``
        in ``facet`` (each ``depth`` long, default the pool; the paper itself left
        out), and the query's sentences, vectors and roles."""
        index = self._index()
        sentences, vectors, roles = self._own_sentences(stored, index)
        size = depth or self.params.pool
        whole = embedding_text(stored.paper.title, stored.paper.abstract)
        # The "similar papers" ranking (same candidates and fused score as the page's).
        dense = [
            (h.pk, h.score)
            for h in self._retriever().similar(stored.pk, size, SearchFilters(), text=whole)
        ]
        title = strip_latex(stored.paper.title)
        lists = self._lists(dense, whole, title, sentences, vectors, roles, facet, size, stored.pk)
        return lists, sentences, vectors, roles

    def _lists(
        self,
        dense: list[tuple[int, float]],
        whole_text: str,
        title: str,
        sentences: list[str],
        vectors: NDArray[np.float32],
        roles: list[Role],
        facet: Facet,
        size: int,
        skip: int | None,
    ) -> dict[str, list[int]]:
        lexical = self._lexical()
        facet_text = " ".join(sentences[i] for i in facet_rows(roles, facet))

        def bm25(text: str, weight: float) -> list[int]:
            if weight <= 0 and not self.collect_all:
                return []  # not fused: skip the search
            hits = lexical.search(lexical.terms_query(text), limit=size + 1).hits
            return [pk for pk, _ in hits if pk != skip][:size]

        facet_query = f"{title}. {facet_text}" if title else facet_text
        facet_dense: list[int] = []
        if self.params.facet_dense > 0 or self.collect_all:
            vector = self._encoder().encode([facet_query])[0]
            found = self._retriever().dense(vector, SearchFilters(), size + 1)
            facet_dense = [pk for pk, _ in found if pk != skip][:size]
        maxsim: list[FacetHit] = []
        if self.params.maxsim > 0 or self.collect_all:
            pool = FacetParams(size, 1.0, self.params.candidate_side)
            maxsim = rank_by_facet(
                vectors, roles, facet, dense[:size], self._index(), pool, pairs=False
            )
        return {
            "dense": [pk for pk, _ in dense],
            "lexical": bm25(whole_text, self.params.lexical),
            "facet_lexical": bm25(facet_query, self.params.facet_lexical),
            "maxsim": [h.pk for h in maxsim],
            "facet_dense": facet_dense,
        }

    def similar(self, stored: StoredPaper, facet: Facet, limit: int = 10) -> list[FacetMatch]:
        """Papers most like ``stored`` in ``facet``: never itself nor a copy of it; each
        with its best sentence pair."""
        lists, sentences, vectors, roles = self.lists(stored, facet)
        fused = fuse(lists, self.params)[: limit + 5]
        hits = self._explain(vectors, roles, facet, fused)
        own_title = title_id(stored.paper.title)
        matches = self._matches(hits, sentences, limit + 5)
        return [m for m in matches if title_id(m.paper.title) != own_title][:limit]

    def _explain(
        self,
        vectors: NDArray[np.float32],
        roles: list[Role],
        facet: Facet | None,
        ranked: list[tuple[int, float]],
    ) -> list[FacetHit]:
        """``ranked`` in its order, each with its best sentence pair (from the query's
        ``facet`` sentences; all of them for ``None``)."""
        pairs = {
            h.pk: h
            for h in rank_by_facet(
                vectors, roles, facet, [(pk, 0.0) for pk, _ in ranked], self._index()
            )
        }
        return [
            FacetHit(
                pk,
                score,
                pairs[pk].query_sentence if pk in pairs else -1,
                pairs[pk].candidate_sentence if pk in pairs else -1,
                pairs[pk].pair_score if pk in pairs else 0.0,
            )
            for pk, score in ranked
        ]

    def _matches(
        self, hits: list[FacetHit], query_sentences: list[str], limit: int
    ) -> list[FacetMatch]:
        top = hits[:limit]
        stored = self.papers.get_by_pks(h.pk for h in top)
        out: list[FacetMatch] = []
        for h in top:
            sp = stored.get(h.pk)
            if sp is None or sp.deleted:
                continue
            theirs = split_sentences(sp.paper.abstract)
            matched = (
                theirs[h.candidate_sentence] if 0 <= h.candidate_sentence < len(theirs) else None
            )
            mine = (
                query_sentences[h.query_sentence]
                if 0 <= h.query_sentence < len(query_sentences)
                else None
            )
            out.append(
                FacetMatch(sp.paper, h.pk, h.score, mine, matched, h.pair_score, sp.added_at)
            )
        return out

    def like_draft(self, draft: Draft, limit: int = 10) -> DraftMatches:
        """Similar papers for a draft (dense + BM25 over its text, fused) and its best
        matches per facet (its own sentences against the dense pool's)."""
        sentences = split_sentences(draft.text)
        if not sentences:
            raise Invalid("the draft is empty: paste an abstract or upload a PDF")
        self._index()  # Unavailable when not built, before any work
        retriever = self._retriever()
        text = embedding_text("", draft.text)
        whole = self._encoder().encode([text])[0]
        vectors = self._embed(sentences)
        roles = label_sentences(sentences)
        size = max(self.params.pool, limit)
        dense = retriever.dense(whole, SearchFilters(), size)
        lexical = self._lexical()
        lexical_pks = [pk for pk, _ in lexical.search(lexical.terms_query(text), limit=size).hits]
        ranked = reciprocal_rank_fusion([lexical_pks, [pk for pk, _ in dense]])
        fused = ranked[:limit]
        # The overall list's reason: its best pair over all the draft's sentences.
        overall = self._explain(vectors, roles, None, fused)
        # Per facet: the same fusion as for a stored paper, with the draft as the query
        # and the overall list in the place of the paper's similar-papers ranking.
        by_facet: dict[Facet, list[FacetMatch]] = {}
        for facet in FACETS:
            lists = self._lists(ranked, text, "", sentences, vectors, roles, facet, size, None)
            fused_facet = fuse(lists, self.params)[:DRAFT_FACET_MATCHES]
            hits = self._explain(vectors, roles, facet, fused_facet)
            by_facet[facet] = self._matches(hits, sentences, DRAFT_FACET_MATCHES)
        return DraftMatches(
            self._matches(overall, sentences, limit),
            by_facet,
            draft.notes,
            len(sentences),
            list(zip(sentences, roles, strict=True)),
        )

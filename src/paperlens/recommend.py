"""Personal recommendations ("For you"), explained.

As arxiv-sanity-lite does per tag, a linear SVM is trained for one reader, here on the
stored dense embeddings (unit vectors): positives are the papers in the reader's
collections; negatives are the papers they marked "not interested" (weighted
:data:`DISMISS_WEIGHT`) plus :data:`BACKGROUND` papers drawn at random from the whole
store (arxiv-sanity uses every other paper; a random sample keeps training cheap on a
large store). The SVM is scikit-learn's ``LinearSVC(C=SVM_C, class_weight="balanced")``
(squared hinge loss, L2, regularised intercept), solved in numpy by
:func:`linear_svm` so the default install needs no scikit-learn and SciPy (about 190 MB);
``tests/test_recommend.py`` checks it against ``LinearSVC``. A candidate's score is
the z-scored SVM decision value plus the z-scored cosine to the saved papers' centroid
(:func:`blend_scores`): ``bench/recommend.py`` found dense features better than
arxiv-sanity-lite's tf-idf, adding tf-idf no help, and the centroid as good as or
better than the SVM alone on held-out recall; the blend keeps the centroid's recall,
has the best MRR, and still learns from "not interested" through the SVM.

Candidates are the :data:`POOL` newest embedded papers (or those since ``since``) plus
the nearest neighbours of the positives' centroid in the HNSW index and the "similar
papers" lists (the paper page's ranking) of a few saved papers; saved and
dismissed papers are never recommended. Each recommendation names the one or two saved
papers nearest to it (cosine) as its reason.

Cold start (nothing saved, or nothing embedded yet): the trending papers of the last
month in the reader's categories, then trending papers overall (:func:`cold_start`).

The whole policy lives here; ``PaperLens.recommender`` only wires the stores, the dense
index (``None`` while none is built: the recent pool alone is used, and no model is
loaded) and the reader's categories into one :class:`Recommender`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from paperlens.community import Community, TrendingItem
from paperlens.errors import Invalid
from paperlens.index.vector import DenseIndex
from paperlens.paper import Paper
from paperlens.store.candidates import CandidateStore
from paperlens.store.embeddings import EmbeddingStore
from paperlens.store.library import LibraryStore
from paperlens.store.papers import PaperStore

log = logging.getLogger(__name__)

Matrix = NDArray[np.float32]

SVM_C = 0.1
BACKGROUND = 1000
DISMISS_WEIGHT = 3.0
POOL = 2000
NEIGHBOURS = 200
MAX_REASONS = 2
MAX_LIMIT = 100
#: Saved papers whose "similar papers" list (the one the paper page shows) joins the
#: candidates, and how many of each.
SIMILAR_SEEDS = 3
SIMILAR_PER_SEED = 20


@dataclass(frozen=True, slots=True)
class Because:
    id: str
    title: str
    similarity: float


@dataclass(frozen=True, slots=True)
class Recommendation:
    pk: int
    paper: Paper
    score: float
    reason: str
    because: list[Because] = field(default_factory=list)
    added_at: datetime | None = None

    @property
    def because_ids(self) -> list[str]:
        return [b.id for b in self.because]

    @property
    def because_titles(self) -> list[str]:
        return [b.title for b in self.because]


def unit_rows(x: Matrix) -> Matrix:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out: Matrix = (x / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def linear_svm(
    x: NDArray[np.float64], y: NDArray[np.float64], cost: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """``(w, b)`` minimising ``0.5 (|w|² + b²) + Σ cost_i · max(0, 1 - y_i (w·x_i + b))²``
    (labels ±1): liblinear's L2-regularised squared-hinge SVM with its bias as a feature
    of value 1 (``LinearSVC``'s ``intercept_scaling=1``), so the bias is regularised
    too. The objective is strictly convex and piecewise quadratic, so Newton steps on
    the current margin violators with a backtracking line search reach its one minimum
    in a few iterations (Keerthi & DeCoste, 2005)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])

    def objective(v: NDArray[np.float64]) -> float:
        slack = np.maximum(0.0, 1.0 - y * (xb @ v))
        return float(0.5 * v @ v + cost @ (slack * slack))

    for _ in range(100):
        margins = y * (xb @ w)
        active = margins < 1.0
        xa = xb[active]
        grad = w - 2.0 * xa.T @ (cost[active] * y[active] * (1.0 - margins[active]))
        if float(np.linalg.norm(grad)) <= 1e-10 * max(1.0, float(np.linalg.norm(w))):
            break
        hessian = np.eye(len(w)) + 2.0 * (xa.T * cost[active]) @ xa
        step = -np.linalg.solve(hessian, grad)
        before, slope, t = objective(w), float(grad @ step), 1.0
        while t > 1e-12 and objective(w + t * step) > before + 1e-4 * t * slope:
            t *= 0.5
        w = w + t * step
    return w[:-1], float(w[-1])


def svm_scores(
    positives: Matrix,
    negatives: Matrix,
    candidates: Matrix,
    *,
    c: float = SVM_C,
    negative_weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Signed distances of ``candidates`` from a linear SVM separating ``positives``
    from ``negatives`` (balanced class weights); higher is more like the positives.
    The same SVM as ``LinearSVC(class_weight="balanced", C=c)`` fitted with
    ``sample_weight``: each class's weight is the total sample weight over twice the
    class's own."""
    x = np.vstack([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), -np.ones(len(negatives))])
    weights = np.ones(len(x))
    if negative_weights is not None:
        weights[len(positives) :] = negative_weights
    total, pos_total = weights.sum(), weights[: len(positives)].sum()
    balanced = np.where(y > 0, total / (2.0 * pos_total), total / (2.0 * (total - pos_total)))
    w, b = linear_svm(x, y, c * balanced * weights)
    scores: NDArray[np.float64] = candidates.astype(np.float64) @ w + b
    return scores


def centroid_scores(positives: Matrix, candidates: Matrix) -> NDArray[np.float64]:
    """Cosine of each candidate to the positives' mean direction (the baseline)."""
    centre = unit_rows(positives.mean(axis=0, keepdims=True))[0]
    scores: NDArray[np.float64] = (unit_rows(candidates) @ centre).astype(np.float64)
    return scores


def _on_or_after(paper: Paper, since: datetime) -> bool:
    return paper.published is not None and paper.published >= since


def zscore(scores: NDArray[np.float64]) -> NDArray[np.float64]:
    spread = float(scores.std())
    out: NDArray[np.float64] = (scores - scores.mean()) / (spread if spread > 1e-12 else 1.0)
    return out


def blend_scores(
    positives: Matrix,
    negatives: Matrix,
    candidates: Matrix,
    *,
    c: float = SVM_C,
    negative_weights: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """The product's ranking: the z-scored SVM decision values plus the z-scored cosine
    to the positives' centroid (bench/recommend.py: as good as the centroid alone on
    recall@20, better on MRR, and the SVM part still learns from dismissals)."""
    svm = svm_scores(positives, negatives, candidates, c=c, negative_weights=negative_weights)
    return zscore(svm) + zscore(centroid_scores(positives, candidates))


def reason_text(because: Sequence[Because]) -> str:
    titles = [f"“{b.title}”" for b in because]
    if not titles:
        return "Close to papers you saved"
    return "Because you saved " + " and ".join(titles)


def cold_start(
    community: Community, categories: Sequence[str], limit: int
) -> tuple[list[TrendingItem], str]:
    """What a reader with nothing saved sees, and why: this month's trending papers in
    their categories (the first three named in the reason), else trending overall."""
    limit = min(limit, MAX_LIMIT)
    cats = list(categories)
    if cats:
        found = community.trending("month", limit=limit, categories=cats)
        if found:
            return found, f"Trending this month in {', '.join(cats[:3])}"
    return community.trending("month", limit=limit), "Trending this month"


def nearest_papers(index: DenseIndex | None, vector: Matrix, k: int) -> list[int]:
    """The ``k`` papers nearest ``vector`` in the dense index; none while no index is
    built (or it cannot be searched), so recommendations fall back to the recent pool."""
    if index is None:
        return []
    try:
        return [pk for pk, _ in index.search(vector, k)]
    except Exception:  # an index still being built, or of another dimension
        log.warning("dense index not searchable; recommending from recent papers only")
        return []


class Recommender:
    """Recommendations for one reader at a time (see the module docstring)."""

    def __init__(
        self,
        papers: PaperStore,
        embeddings: EmbeddingStore,
        library: LibraryStore,
        candidates: CandidateStore,
        model_key: Callable[[], str],
        *,
        vectors: Callable[[], DenseIndex | None] = lambda: None,
        community: Community | None = None,
        categories_of: Callable[[int], Sequence[str]] = lambda _user_pk: (),
        similar: Callable[[int, int], list[int]] = lambda _pk, _k: [],
    ) -> None:
        self.papers = papers
        self.embeddings = embeddings
        self.library = library
        self.candidates = candidates
        self.model_key = model_key
        self.vectors = vectors
        self.community = community
        self.categories_of = categories_of
        #: ``similar(pk, k)``: the pks of the served "similar papers" list of a paper.
        self.similar = similar

    def _cold_start(self, user_pk: int, limit: int) -> tuple[list[TrendingItem], str]:
        if self.community is None:
            return [], ""
        return cold_start(self.community, self.categories_of(user_pk), limit)

    def _matrix(self, vectors: dict[int, Matrix], pks: Sequence[int]) -> tuple[list[int], Matrix]:
        kept = [pk for pk in pks if pk in vectors]
        if not kept:
            return [], np.zeros((0, 0), dtype=np.float32)
        return kept, unit_rows(np.vstack([vectors[pk] for pk in kept]))

    def recommend(
        self,
        user_pk: int,
        *,
        limit: int = 20,
        since: datetime | None = None,
    ) -> list[Recommendation]:
        """Up to ``limit`` papers for ``user_pk``, best first, each with its reason."""
        if not 1 <= limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
        model = self.model_key()
        saved = self.library.saved(user_pk)
        dismissed = self.library.dismissed(user_pk)
        excluded = set(saved) | set(dismissed)
        pos_pks, pos = self._matrix(self.embeddings.get(model, saved), saved)
        if not pos_pks:
            items, why = self._cold_start(user_pk, limit + len(excluded))
            return [
                Recommendation(t.pk, t.paper, t.score, why, [], t.added_at)
                for t in items
                if t.pk not in excluded
            ][:limit]
        pool = self.candidates.recent(model, POOL, since)
        index = self.vectors()
        if index is not None:
            centre = unit_rows(pos.mean(axis=0, keepdims=True))[0]
            near = nearest_papers(index, centre, NEIGHBOURS)
            for pk in pos_pks[:SIMILAR_SEEDS]:
                near += self.similar(pk, SIMILAR_PER_SEED)
            if since is not None:
                fresh = self.papers.get_by_pks(near)
                near = [pk for pk in near if pk in fresh and _on_or_after(fresh[pk].paper, since)]
            pool += near
        pool = [pk for pk in dict.fromkeys(pool) if pk not in excluded]
        background = [pk for pk in self.candidates.sample(model, BACKGROUND) if pk not in saved]
        negatives_wanted = list(dict.fromkeys([*dismissed, *background]))
        vectors = self.embeddings.get(model, [*pool, *negatives_wanted])
        cand_pks, cand = self._matrix(vectors, pool)
        neg_pks, neg = self._matrix(vectors, negatives_wanted)
        if not cand_pks:
            return []
        if neg_pks:
            dismissed_set = set(dismissed)
            weights = np.array([DISMISS_WEIGHT if pk in dismissed_set else 1.0 for pk in neg_pks])
            scores = blend_scores(pos, neg, cand, negative_weights=weights)
        else:  # a store with only the reader's papers: nothing to contrast with
            scores = centroid_scores(pos, cand)
        order = np.argsort(-scores, kind="stable")[:limit]
        chosen = [cand_pks[i] for i in order]
        stored = self.papers.get_by_pks([*chosen, *pos_pks])
        similarity = cand[order] @ pos.T  # (chosen, positives)
        out: list[Recommendation] = []
        for row, i in enumerate(order):
            pk = cand_pks[i]
            if pk not in stored or stored[pk].deleted:
                continue
            nearest = np.argsort(-similarity[row], kind="stable")[:MAX_REASONS]
            because = [
                Because(
                    stored[pos_pks[j]].paper.id,
                    stored[pos_pks[j]].paper.title,
                    round(float(similarity[row, j]), 4),
                )
                for j in nearest
                if pos_pks[j] in stored
            ]
            out.append(
                Recommendation(
                    pk,
                    stored[pk].paper,
                    float(scores[i]),
                    reason_text(because),
                    because,
                    stored[pk].added_at,
                )
            )
        return out

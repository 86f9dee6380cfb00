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

Several interests: each collection is a model of its own (positives: its papers), all
sharing one candidate pool and background sample. A collection's feed is that model's
ranking; the combined feed merges the collections' rankings by a weighted round-robin,
each collection's share of the top in proportion to its size (:func:`merge_round_robin`;
``bench/recommend.py``: on libraries of two or three CSFCube topics it beats one model
over the whole library on recall@20, and serves the worst-served topic far better).
Past :data:`MAX_MODELS` collections the smallest share one model.

Candidates are the :data:`POOL` newest embedded papers (or those since ``since``) plus
the nearest neighbours of each collection's centroid in the HNSW index and the "similar
papers" lists (the paper page's ranking) of a few saved papers of each; saved and
dismissed papers are never recommended. Each recommendation names the one or two saved
papers of its collection nearest to it (cosine), and the collection, as its reason.

Onboarding (:class:`Onboarding`): a new reader rates papers from their categories 👍/👎;
after the first 👍 the next questions are those the SVM is least sure about
(:func:`most_uncertain`; ``bench/recommend.py`` found it better than random questions
from 20 ratings on).

Cold start (nothing saved, or nothing embedded yet): the trending papers of the last
month in the reader's categories, then trending papers overall (:func:`cold_start`).

The whole policy lives here; ``PaperLens.recommender`` only wires the stores, the dense
index (``None`` while none is built: the recent pool alone is used, and no model is
loaded) and the reader's categories into one :class:`Recommender`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from paperlens.community import Community, TrendingItem
from paperlens.errors import CollectionNotFound, Invalid
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
#: At most this many models (collections) per combined feed.
MAX_MODELS = 8
#: A collection's share of the combined feed grows as its size to this power
#: (:func:`merge_round_robin`; 1 = in proportion to size, 0 = equal shares).
SHARE_EXPONENT = 1.0
#: Saved papers whose "similar papers" list (the one the paper page shows) joins the
#: candidates, and how many of each.
SIMILAR_SEEDS = 3
SIMILAR_PER_SEED = 20


@dataclass(frozen=True, slots=True)
class Because:
    id: str
    title: str
    similarity: float
    #: The name of the collection the saved paper is in ("" when not told).
    collection: str = ""


@dataclass(frozen=True, slots=True)
class Recommendation:
    pk: int
    paper: Paper
    score: float
    reason: str
    because: list[Because] = field(default_factory=list)
    added_at: datetime | None = None
    #: The collection whose model picked it (``None``: cold start, or several small
    #: collections modelled together).
    collection_pk: int | None = None

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


@dataclass(frozen=True, slots=True)
class Group:
    """One interest: a collection's primary key, name and saved papers (``None`` and
    "" for the smaller collections of a reader with many, modelled together)."""

    pk: int | None
    name: str
    papers: list[int]


def reason_text(because: Sequence[Because], collection: str = "") -> str:
    titles = [f"“{b.title}”" for b in because]
    where = f" in your collection “{collection}”" if collection else ""
    if not titles:
        return "Close to papers you saved" + where
    return "Because you saved " + " and ".join(titles) + where


class Ranked(Protocol):
    @property
    def pk(self) -> int: ...

    @property
    def score(self) -> float: ...


R = TypeVar("R", bound=Ranked)


def merge_round_robin(
    feeds: Sequence[Sequence[R]], limit: int, weights: Sequence[float] | None = None
) -> list[R]:
    """The combined "for you" of several interests: a weighted round-robin. Each next
    slot goes to the feed with the highest Sainte-Laguë quotient ``weight / (2 · taken +
    1)`` (ties: the better score), skipping papers already taken, so each interest gets
    a share of the top in proportion to its weight, interleaved from the first rows.
    Equal weights make it a plain round-robin. The product weighs a collection by its
    size (:data:`SHARE_EXPONENT`; ``bench/recommend.py``, multi-topic libraries)."""
    w = [1.0] * len(feeds) if weights is None else [max(float(x), 1e-9) for x in weights]
    taken = [0] * len(feeds)
    cursor = [0] * len(feeds)
    out: list[R] = []
    seen: set[int] = set()
    while len(out) < limit:
        for i, feed in enumerate(feeds):  # skip papers another feed already gave
            while cursor[i] < len(feed) and feed[cursor[i]].pk in seen:
                cursor[i] += 1
        live = [i for i, feed in enumerate(feeds) if cursor[i] < len(feed)]
        if not live:
            break
        best = max(live, key=lambda i: (w[i] / (2 * taken[i] + 1), feeds[i][cursor[i]].score, -i))
        rec = feeds[best][cursor[best]]
        seen.add(rec.pk)
        out.append(rec)
        taken[best] += 1
        cursor[best] += 1
    return out


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

    def _group_of(self, user_pk: int, collection_pk: int) -> tuple[str, list[int]]:
        """The named positives of one of the reader's collections (another reader's
        collection does not exist for them, as everywhere in :mod:`paperlens.library`)."""
        found = self.library.get(collection_pk)
        if found is None or found.user_pk != user_pk:
            raise CollectionNotFound(f"no collection {collection_pk}")
        return found.name, [pk for pk, _ in self.library.items(collection_pk)]

    def _groups(self, user_pk: int) -> list[Group]:
        """One group per non-empty collection; past :data:`MAX_MODELS` collections the
        smallest share one model (one SVM each costs a fit per page view)."""
        names = {c.pk: c.name for c in self.library.of_user(user_pk)}
        groups = [
            Group(pk, names.get(pk, ""), pks)
            for pk, pks in self.library.saved_by_collection(user_pk).items()
        ]
        if len(groups) <= MAX_MODELS:
            return groups
        by_size = sorted(groups, key=lambda g: -len(g.papers))
        kept, rest = by_size[: MAX_MODELS - 1], by_size[MAX_MODELS - 1 :]
        merged = list(dict.fromkeys(pk for g in rest for pk in g.papers))
        return [*kept, Group(None, "", merged)]

    def recommend(
        self,
        user_pk: int,
        *,
        limit: int = 20,
        since: datetime | None = None,
        collection_pk: int | None = None,
    ) -> list[Recommendation]:
        """Up to ``limit`` papers for ``user_pk``, best first, each with its reason.

        With ``collection_pk``: the feed of that one collection (the reader's own; any
        other is :class:`CollectionNotFound`). Without: the combined feed, one model per
        collection merged by a weighted round-robin (:func:`merge_round_robin`), so each
        interest gets its share of the top instead of the largest (or the most compact)
        taking it all (``bench/recommend.py``, multi-topic libraries)."""
        if not 1 <= limit <= MAX_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_LIMIT}")
        if collection_pk is not None:
            name, pks = self._group_of(user_pk, collection_pk)
            groups = [Group(collection_pk, name, pks)] if pks else []
        else:
            groups = self._groups(user_pk)
        feeds = self._feeds(user_pk, groups, limit, since) if groups else None
        if feeds is None:
            saved = self.library.saved(user_pk)
            excluded = set(saved) | set(self.library.dismissed(user_pk))
            items, why = self._cold_start(user_pk, limit + len(excluded))
            return [
                Recommendation(t.pk, t.paper, t.score, why, [], t.added_at)
                for t in items
                if t.pk not in excluded
            ][:limit]
        weights = [float(n) ** SHARE_EXPONENT for n, _ in feeds]
        return merge_round_robin([feed for _, feed in feeds], limit, weights)

    def _feeds(
        self, user_pk: int, groups: Sequence[Group], limit: int, since: datetime | None
    ) -> list[tuple[int, list[Recommendation]]] | None:
        """One ranked list per group (a collection) with an embedded paper, with how
        many it has, from one shared candidate pool and background sample; ``None`` when
        no group has one (cold start)."""
        model = self.model_key()
        saved = self.library.saved(user_pk)
        dismissed = self.library.dismissed(user_pk)
        excluded = set(saved) | set(dismissed)
        all_pos = list(dict.fromkeys(pk for g in groups for pk in g.papers))
        pos_vectors = self.embeddings.get(model, all_pos)
        trained: list[tuple[Group, list[int], Matrix]] = []
        for g in groups:
            pks, pos = self._matrix(pos_vectors, g.papers)
            if pks:
                trained.append((g, pks, pos))
        if not trained:
            return None
        pool = self.candidates.recent(model, POOL, since)
        index = self.vectors()
        if index is not None:
            near: list[int] = []
            # A few seeds in all (each similar list costs a query), at least one per group.
            seeds = max(1, SIMILAR_SEEDS // len(trained))
            for _g, group_pks, pos in trained:
                centre = unit_rows(pos.mean(axis=0, keepdims=True))[0]
                near += nearest_papers(index, centre, NEIGHBOURS)
                for pk in group_pks[:seeds]:
                    near += self.similar(pk, SIMILAR_PER_SEED)
            near = list(dict.fromkeys(near))
            if since is not None:
                fresh = self.papers.get_by_pks(near)
                near = [pk for pk in near if pk in fresh and _on_or_after(fresh[pk].paper, since)]
            pool += near
        pool = [pk for pk in dict.fromkeys(pool) if pk not in excluded]
        background = [pk for pk in self.candidates.sample(model, BACKGROUND) if pk not in excluded]
        negatives_wanted = list(dict.fromkeys([*dismissed, *background]))
        vectors = self.embeddings.get(model, [*pool, *negatives_wanted])
        cand_pks, cand = self._matrix(vectors, pool)
        neg_pks, neg = self._matrix(vectors, negatives_wanted)
        if not cand_pks:
            return [(len(pks), []) for _g, pks, _pos in trained]
        dismissed_set = set(dismissed)
        weights = np.array([DISMISS_WEIGHT if pk in dismissed_set else 1.0 for pk in neg_pks])
        ranked: list[tuple[Group, list[int], Matrix, list[int], NDArray[np.float64], Matrix]] = []
        wanted = set(all_pos)
        for g, pks, pos in trained:
            if neg_pks:
                scores = blend_scores(pos, neg, cand, negative_weights=weights)
            else:  # a store with only the reader's papers: nothing to contrast with
                scores = centroid_scores(pos, cand)
            order = [int(i) for i in np.argsort(-scores, kind="stable")[:limit]]
            wanted.update(cand_pks[i] for i in order)
            ranked.append((g, pks, pos, order, scores, cand[order] @ pos.T))
        stored = self.papers.get_by_pks(list(wanted))
        feeds: list[tuple[int, list[Recommendation]]] = []
        for g, pks, _pos, order, scores, similarity in ranked:
            out: list[Recommendation] = []
            for row, i in enumerate(order):
                pk = cand_pks[i]
                if pk not in stored or stored[pk].deleted:
                    continue
                nearest = np.argsort(-similarity[row], kind="stable")[:MAX_REASONS]
                because = [
                    Because(
                        stored[pks[j]].paper.id,
                        stored[pks[j]].paper.title,
                        round(float(similarity[row, j]), 4),
                        g.name,
                    )
                    for j in nearest
                    if pks[j] in stored
                ]
                out.append(
                    Recommendation(
                        pk,
                        stored[pk].paper,
                        float(scores[i]),
                        reason_text(because, g.name),
                        because,
                        stored[pk].added_at,
                        g.pk,
                    )
                )
            feeds.append((len(pks), out))
        return feeds


# -- onboarding: a new reader rates a handful of papers -------------------------------------

#: How many papers of the reader's categories the questions are drawn from.
ONBOARDING_POOL = 500
#: Papers asked about at a time.
ONBOARDING_ROUND = 5
#: Ratings after which the feed has enough to learn from (the page says so).
ONBOARDING_ENOUGH = 10


def most_uncertain(scores: NDArray[np.float64], k: int) -> list[int]:
    """Indices of the ``k`` scores nearest the SVM's decision boundary (``|score|``
    smallest): the papers whose rating would teach the model most (uncertainty
    sampling; ``bench/recommend.py`` compares it with random questions)."""
    return [int(i) for i in np.argsort(np.abs(scores), kind="stable")[:k]]


@dataclass(frozen=True, slots=True)
class Question:
    """A paper the reader is asked to rate, and why it was picked."""

    pk: int
    paper: Paper
    why: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class OnboardingState:
    categories: list[str]
    liked: int
    disliked: int
    questions: list[Question]

    @property
    def rated(self) -> int:
        return self.liked + self.disliked

    @property
    def enough(self) -> bool:
        return self.liked >= 1 and self.rated >= ONBOARDING_ENOUGH


class Onboarding:
    """Scholar-Inbox-style start: the reader picks categories, is asked about papers from
    them, and rates each 👍 (saved to their default collection: a positive) or 👎 ("not
    interested": a negative). Before the first 👍 the questions are a random draw from
    the newest papers of the categories; after it, the papers the reader's SVM is least
    sure about (:func:`most_uncertain`)."""

    def __init__(self, recommender: Recommender, save: Callable[[int, int], object]) -> None:
        self.recommender = recommender
        self.save = save

    def state(self, user_pk: int, limit: int = ONBOARDING_ROUND) -> OnboardingState:
        if not 1 <= limit <= 20:
            raise Invalid("limit must be between 1 and 20")
        r = self.recommender
        cats = list(r.categories_of(user_pk))
        model = r.model_key()
        saved = r.library.saved(user_pk)
        dismissed = r.library.dismissed(user_pk)
        rated = set(saved) | set(dismissed)
        pool = [
            pk
            for pk in r.candidates.recent(model, ONBOARDING_POOL, categories=cats)
            if pk not in rated
        ]
        vectors = r.embeddings.get(model, [*pool, *saved, *dismissed])
        pool_pks, pool_m = r._matrix(vectors, pool)
        pos_pks, pos = r._matrix(vectors, saved)
        chosen: list[int]
        if not pool_pks:
            chosen, why = [], ""
        elif not pos_pks:
            rng = random.Random(f"{user_pk}-{len(rated)}")  # noqa: S311  # not a secret
            chosen = rng.sample(range(len(pool_pks)), min(limit, len(pool_pks)))
            where = ", ".join(cats[:3]) if cats else "the newest papers"
            why = f"New in {where}: does it interest you?"
        else:
            background = [pk for pk in r.candidates.sample(model, BACKGROUND) if pk not in rated]
            neg_wanted = list(dict.fromkeys([*dismissed, *background]))
            neg_vectors = {**vectors, **r.embeddings.get(model, background)}
            neg_pks, neg = r._matrix(neg_vectors, neg_wanted)
            dismissed_set = set(dismissed)
            weights = np.array([DISMISS_WEIGHT if pk in dismissed_set else 1.0 for pk in neg_pks])
            scores = (
                svm_scores(pos, neg, pool_m, negative_weights=weights)
                if neg_pks
                else centroid_scores(pos, pool_m) - 0.5
            )
            chosen = most_uncertain(scores, limit)
            why = "Your ratings so far leave this one open"
        stored = r.papers.get_by_pks([pool_pks[i] for i in chosen])
        questions = [
            Question(pool_pks[i], stored[pool_pks[i]].paper, why, stored[pool_pks[i]].added_at)
            for i in chosen
            if pool_pks[i] in stored
        ]
        return OnboardingState(cats, len(saved), len(dismissed), questions)

    def rate(self, user_pk: int, paper_pk: int, liked: bool) -> None:
        """👍 saves the paper (a positive), 👎 marks it "not interested" (a negative);
        a changed mind moves it from one to the other."""
        lib = self.recommender.library
        if liked:
            lib.undismiss(user_pk, paper_pk)
            self.save(user_pk, paper_pk)
        else:
            for collection_pk, pks in lib.saved_by_collection(user_pk).items():
                if paper_pk in pks:
                    lib.remove(collection_pk, paper_pk)
            lib.dismiss(user_pk, paper_pk)

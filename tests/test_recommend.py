"""The recommender on synthetic embeddings (no model loaded): it ranks papers like the
saved ones first, explains each by the nearest saved papers, never recommends saved or
dismissed papers, learns from dismissals, and falls back to trending in the reader's
categories on a cold start. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.errors import CollectionNotFound, Invalid
from paperlens.paper import make_paper
from paperlens.recommend import (
    Because,
    Recommendation,
    centroid_scores,
    merge_round_robin,
    most_uncertain,
    reason_text,
    svm_scores,
)
from paperlens.sources.base import Parsed
from paperlens.store.papers import text_hash

NOW = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
DIM = 16


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    yield pl
    pl.close()


def corpus(lens: PaperLens, per_topic: int = 20) -> dict[str, list[int]]:
    """Three topics: vectors near axis 0, 1 and 2 (plus noise); published over 60 days."""
    rng = np.random.default_rng(7)
    topics: dict[str, list[int]] = {"a": [], "b": [], "c": []}
    rows = []
    for t, topic in enumerate(topics):
        for i in range(per_topic):
            pid = f"2403.{t}{i:04d}"
            cats = ("cs.LG",) if topic != "c" else ("math.AG",)
            paper = make_paper(
                id=pid,
                title=f"Topic {topic} paper {i}",
                abstract="x",
                categories=cats,
                published=NOW - timedelta(days=(i * 3) % 60),
                source="test",
            )
            lens.papers.write_batch([Parsed(paper, "t")])
            stored = lens.papers.get(pid)
            assert stored is not None
            vector = rng.normal(0, 0.25, DIM).astype(np.float32)
            vector[t] += 1.0
            rows.append((stored.pk, text_hash(paper.title, paper.abstract), vector))
            topics[topic].append(stored.pk)
    lens.embeddings.put(lens.model_key, rows)
    return topics


def user(lens: PaperLens, categories: list[str] | None = None) -> int:
    u = lens.accounts.create_user(f"r-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery")
    if categories:
        lens.accounts.set_categories(u.pk, categories)
    return u.pk


def test_recommends_papers_like_the_saved_ones_with_reasons(lens: PaperLens) -> None:
    topics = corpus(lens)
    reader = user(lens)
    saved = topics["a"][:4]
    for pk in saved:
        lens.library.save(reader, pk)
    recs = lens.recommender.recommend(reader, limit=10)
    assert len(recs) == 10
    assert {r.pk for r in recs} <= set(topics["a"]) - set(saved)  # 16 remain in topic a
    assert not {r.pk for r in recs} & set(saved)
    assert [r.score for r in recs] == sorted((r.score for r in recs), reverse=True)
    saved_ids = {lens.papers.get_by_pks(saved)[pk].paper.id for pk in saved}
    for r in recs:
        assert 1 <= len(r.because) <= 2 and set(r.because_ids) <= saved_ids
        assert r.reason.startswith("Because you saved “Topic a paper")
        assert r.because[0].similarity >= r.because[-1].similarity


def test_dismissed_papers_are_never_recommended_and_pull_away(lens: PaperLens) -> None:
    topics = corpus(lens)
    reader = user(lens)
    for pk in topics["a"][:3] + topics["b"][:3]:  # a mixed library
        lens.library.save(reader, pk)
    before = lens.recommender.recommend(reader, limit=12)
    b_before = sum(r.pk in topics["b"] for r in before)
    assert b_before > 0
    for pk in topics["b"][3:12]:
        lens.library.dismiss(reader, pk)
    after = lens.recommender.recommend(reader, limit=12)
    assert not {r.pk for r in after} & set(topics["b"][3:12])
    assert sum(r.pk in topics["b"] for r in after) < b_before
    assert lens.library.dismissed(reader)


def test_since_limits_candidates(lens: PaperLens) -> None:
    topics = corpus(lens)
    reader = user(lens)
    lens.library.save(reader, topics["a"][0])
    since = NOW - timedelta(days=10)
    recs = lens.recommender.recommend(reader, limit=20, since=since)
    assert recs and all(r.paper.published and r.paper.published >= since for r in recs)


def test_cold_start_is_trending_in_the_readers_categories(lens: PaperLens) -> None:
    topics = corpus(lens)
    voters = [user(lens) for _ in range(3)]
    for v in voters:
        lens.community.vote(v, topics["c"][1])  # math.AG
        lens.community.vote(v, topics["a"][1])  # cs.LG
    lens.community.vote(voters[0], topics["a"][2])
    math_reader = user(lens, ["math"])
    recs = lens.recommender.recommend(math_reader)
    assert [r.pk for r in recs] == [topics["c"][1]]
    assert recs[0].reason == "Trending this month in math" and recs[0].because == []
    anyone = user(lens)
    assert [r.pk for r in lens.recommender.recommend(anyone)][:2] == [
        topics["a"][1],
        topics["c"][1],
    ]
    # Once something is saved, the classifier takes over.
    lens.library.save(math_reader, topics["c"][0])
    assert lens.recommender.recommend(math_reader, limit=3)[0].reason.startswith(
        "Because you saved"
    )


def test_limits_are_checked(lens: PaperLens) -> None:
    with pytest.raises(ValueError, match="limit"):
        lens.recommender.recommend(user(lens), limit=0)


def test_the_numpy_svm_is_linear_svc() -> None:
    """``svm_scores`` solves scikit-learn's ``LinearSVC(class_weight="balanced")`` with
    sample weights (dismissed papers weigh more), in numpy: same decision values."""
    svm = pytest.importorskip("sklearn.svm", reason="scikit-learn comes with the dev extra")
    rng = np.random.default_rng(1)

    def unit(a: np.ndarray) -> np.ndarray:
        return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)

    centre = rng.normal(size=384)
    for n_pos, n_neg, c in [(5, 200, 0.1), (30, 1000, 0.1), (3, 50, 1.0)]:
        pos = unit(rng.normal(size=(n_pos, 384)) * 0.5 + centre)
        neg = unit(rng.normal(size=(n_neg, 384)))
        cand = unit(rng.normal(size=(300, 384)) + 0.3 * centre)
        dismissed = np.where(rng.random(n_neg) < 0.1, 3.0, 1.0)
        ours = svm_scores(pos, neg, cand, c=c, negative_weights=dismissed)
        clf = svm.LinearSVC(class_weight="balanced", C=c, max_iter=10000, tol=1e-6)
        clf.fit(
            np.vstack([pos, neg]),
            np.concatenate([np.ones(n_pos), np.zeros(n_neg)]),
            sample_weight=np.concatenate([np.ones(n_pos), dismissed]),
        )
        theirs = clf.decision_function(cand)
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
        assert list(np.argsort(-ours)[:20]) == list(np.argsort(-theirs)[:20])


def test_scoring_functions() -> None:
    rng = np.random.default_rng(0)
    pos = rng.normal(0, 0.1, (5, 4)).astype(np.float32) + np.array([1, 0, 0, 0], np.float32)
    neg = rng.normal(0, 0.1, (50, 4)).astype(np.float32) + np.array([0, 1, 0, 0], np.float32)
    cand = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32)
    assert svm_scores(pos, neg, cand)[0] > svm_scores(pos, neg, cand)[1]
    assert centroid_scores(pos, cand)[0] > centroid_scores(pos, cand)[1]
    assert reason_text([Because("1", "A", 0.9), Because("2", "B", 0.8)]) == (
        "Because you saved “A” and “B”"
    )


def test_a_feed_per_collection_and_a_combined_feed_that_serves_every_interest(
    lens: PaperLens,
) -> None:
    """A reader with a big interest (topic a, 8 papers) and a small one (topic c, 2
    papers): each collection's feed stays on its topic and names it in its reasons; the
    combined feed gives each interest a share of the top in proportion to its size,
    interleaved (the small one is in the first three, not drowned below the big one)."""
    topics = corpus(lens)
    reader = user(lens)
    big = lens.library.create(reader, "Vision").pk
    small = lens.library.create(reader, "Algebra").pk
    for pk in topics["a"][:8]:
        lens.library.save(reader, pk, big)
    for pk in topics["c"][:2]:
        lens.library.save(reader, pk, small)
    only_small = lens.recommender.recommend(reader, limit=10, collection_pk=small)
    assert {r.pk for r in only_small} <= set(topics["c"][2:])
    assert all(r.collection_pk == small for r in only_small)
    assert all(r.reason.endswith("in your collection “Algebra”") for r in only_small)
    assert all(b.collection == "Algebra" for r in only_small for b in r.because)
    only_big = lens.recommender.recommend(reader, limit=10, collection_pk=big)
    assert {r.pk for r in only_big} <= set(topics["a"][8:])
    combined = lens.recommender.recommend(reader, limit=10)
    assert len(combined) == 10 and len({r.pk for r in combined}) == 10
    assert sum(r.pk in topics["c"] for r in combined) == 2  # 2 of 10 papers: 2 of 10 slots
    assert small in {r.collection_pk for r in combined[:3]}
    # Another reader's collection does not exist for this one.
    other = user(lens)
    with pytest.raises(CollectionNotFound):
        lens.recommender.recommend(other, collection_pk=small)
    # An empty collection of one's own falls back to the cold start.
    empty = lens.library.create(reader, "Empty").pk
    assert all(
        r.collection_pk is None for r in lens.recommender.recommend(reader, collection_pk=empty)
    )


def test_round_robin_merge_skips_duplicates() -> None:
    paper = make_paper(id="2401.00001", title="t", abstract="a", source="test")
    a = [Recommendation(1, paper, 3.0, ""), Recommendation(2, paper, 1.0, "")]
    b = [Recommendation(1, paper, 2.0, ""), Recommendation(3, paper, 2.5, "")]
    assert [r.pk for r in merge_round_robin([a, b], 10)] == [1, 3, 2]
    assert [r.pk for r in merge_round_robin([a, b], 2)] == [1, 3]
    many = [Recommendation(pk, paper, 1.0, "") for pk in range(10, 20)]
    few = [Recommendation(pk, paper, 9.0, "") for pk in range(20, 30)]
    merged = merge_round_robin([many, few], 8, [3.0, 1.0])  # shares 3:1
    assert sum(r.pk >= 20 for r in merged) == 2 and merged[0].pk == 10


def test_onboarding_asks_from_the_categories_then_where_the_model_is_unsure(
    lens: PaperLens,
) -> None:
    topics = corpus(lens)  # a and b in cs.LG, c in math.AG
    reader = user(lens, ["cs.LG"])
    first = lens.onboarding.state(reader, 5)
    assert len(first.questions) == 5 and first.rated == 0 and not first.enough
    pool = set(topics["a"]) | set(topics["b"])
    assert {q.pk for q in first.questions} <= pool  # only the chosen categories
    assert first.questions[0].why.startswith("New in cs.LG")
    liked = topics["a"][0]
    lens.onboarding.rate(reader, liked, True)
    lens.onboarding.rate(reader, topics["b"][0], False)
    after = lens.onboarding.state(reader, 5)
    assert after.liked == 1 and after.disliked == 1
    assert not {q.pk for q in after.questions} & {liked, topics["b"][0]}
    assert after.questions[0].why.startswith("Your ratings so far")
    # The questions are the pool papers nearest the decision boundary: neither the
    # surest topic-a papers nor the surest topic-b ones, so scores straddle zero less
    # than the pool's extremes.
    assert lens.library.saved(reader) == [liked]
    assert lens.library.dismissed(reader) == [topics["b"][0]]
    lens.onboarding.rate(reader, liked, False)  # a changed mind
    assert lens.library.saved(reader) == [] and liked in lens.library.dismissed(reader)
    with pytest.raises(Invalid):
        lens.onboarding.state(reader, 50)


def test_most_uncertain_picks_the_scores_nearest_zero() -> None:
    scores = np.array([3.0, -0.1, 0.5, -2.0, 0.05])
    assert most_uncertain(scores, 2) == [4, 1]


def test_a_digest_section_per_chosen_collection(lens: PaperLens) -> None:
    from paperlens.core import LensSources
    from paperlens.digest.gather import gather
    from paperlens.digest.subscriptions import Preferences, Subscription
    from paperlens.digest.validation import InvalidSubscription, clean_sections

    topics = corpus(lens)
    reader = user(lens)
    algebra = lens.library.create(reader, "Algebra").pk
    for pk in topics["c"][:3]:
        lens.library.save(reader, pk, algebra)
    lens.library.save(reader, topics["a"][0])  # "Saved": not chosen for the digest
    sections = clean_sections(["trending", f"collection:{algebra}"])
    assert sections == ["trending", f"collection:{algebra}"]
    with pytest.raises(InvalidSubscription):
        clean_sections(["collection:abc"])
    with pytest.raises(InvalidSubscription, match="at most 10"):
        clean_sections([f"collection:{n}" for n in range(1, 12)])
    sub = Subscription(
        1, "r@example.org", reader, Preferences(sections=(f"collection:{algebra}",)), NOW, NOW, None
    )
    got = gather(
        LensSources(lens),
        sub,
        NOW - timedelta(days=90),
        NOW,
        max_papers=10,
        public_url="http://x",
    )
    assert [s.title for s in got] == ["For you: Algebra"]
    ids = {lens.papers.get_by_pks([pk])[pk].paper.id for pk in topics["c"]}
    assert got[0].items and all(i.paper_id in ids for i in got[0].items)
    assert "in your collection “Algebra”" in got[0].items[0].note
    # A collection that is not (or no longer) the reader's gives no section.
    other = user(lens)
    stranger = Subscription(
        2, "o@example.org", other, Preferences(sections=(f"collection:{algebra}",)), NOW, NOW, None
    )
    assert (
        gather(
            LensSources(lens),
            stranger,
            NOW - timedelta(days=90),
            NOW,
            max_papers=10,
            public_url="http://x",
        )
        == []
    )


def test_many_collections_share_models_past_the_cap(lens: PaperLens) -> None:
    from paperlens.recommend import MAX_MODELS

    topics = corpus(lens)
    reader = user(lens)
    pool = topics["a"] + topics["b"]
    for n in range(MAX_MODELS + 2):
        col = lens.library.create(reader, f"c{n}").pk
        for pk in pool[n * 2 : n * 2 + 1 + (n == 0)]:
            lens.library.save(reader, pk, col)
    groups = lens.recommender._groups(reader)
    assert len(groups) == MAX_MODELS and groups[-1].pk is None and groups[-1].name == ""
    recs = lens.recommender.recommend(reader, limit=10)
    assert len(recs) == 10

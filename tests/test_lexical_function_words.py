"""Plain queries do not look up function words (``of``, ``for``...), on a real tantivy
index: matches, totals (counted and estimated), filters, and what keeps them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from paperlens.filters import SearchFilters
from paperlens.index.lexical import FUNCTION_WORDS, LexicalIndex
from paperlens.paper import Paper
from paperlens.store.papers import StoredPaper

PAPERS = {
    1: ("Functions of several variables", "We study functions.", "math.CA"),
    2: ("Entire functions", "Growth of entire functions.", "math.CV"),
    3: ("A survey of the field", "A review of the state of the art.", "cs.LG"),
    4: ("Analysis of variance", "The analysis of variance in experiments.", "stat.ME"),
    5: ("Variance of analysis", "Analysis first, variance after.", "stat.ME"),
    6: ("State-of-the-art parsing", "We present a state-of-the-art parser.", "cs.CL"),
    7: ("To be or not to be", "A question.", "math.HO"),
    **{pk: (f"Notes of type {pk}", "A collection of notes.", "math.HO") for pk in range(8, 20)},
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> LexicalIndex:
    path: Path = tmp_path_factory.mktemp("lexical") / "lexical"
    idx = LexicalIndex(path)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    batch = [
        StoredPaper(
            pk,
            pk,
            False,
            now,
            Paper(id=f"p{pk}", title=t, abstract=a, authors=("A. Author",), categories=(c,)),
        )
        for pk, (t, a, c) in PAPERS.items()
    ]
    idx.apply([batch], upto_seq=len(batch))
    return idx


def pks(found: list[tuple[int, float]]) -> set[int]:
    return {pk for pk, _ in found}


@pytest.mark.parametrize("query", ["functions of", "Functions OF the", "of functions, for"])
def test_a_plain_query_does_not_look_up_function_words(index: LexicalIndex, query: str) -> None:
    found = index.search(query)
    assert pks(found.hits) == {1, 2}  # "of" is in 17 of the 19 papers
    assert found.exact and found.total == 2
    assert index.search(query, total="exact").total == 2


def test_the_estimate_counts_the_words_looked_up(index: LexicalIndex) -> None:
    page = index.search("functions of", limit=1)  # a full page: the total is estimated
    assert len(page.hits) == 1 and not page.exact
    assert page.total == 2  # "functions" alone (2 papers), not "of" (17)
    assert index.estimate("functions of") == 2
    assert index.estimate('"functions of"') > 2  # syntax: every word, as before


def test_filtered_totals_are_counted_over_the_words_looked_up(index: LexicalIndex) -> None:
    filters = SearchFilters(categories=("math",))
    found = index.search("functions of", filters, limit=1, total="exact")
    assert found.exact and found.total == 2 and len(found.hits) == 1
    only = index.search("functions of", SearchFilters(categories=("math.CA",)), total="exact")
    assert pks(only.hits) == {1} and only.total == 1


def test_a_query_of_function_words_alone_keeps_them(index: LexicalIndex) -> None:
    assert all(w in FUNCTION_WORDS for w in ("to", "be", "or"))
    found = index.search("to be or", limit=3)
    assert found.hits and found.hits[0][0] == 7


def test_phrases_and_split_words_keep_function_words(index: LexicalIndex) -> None:
    phrase = index.search('"analysis of variance"', total="exact")
    assert pks(phrase.hits) == {4} and phrase.total == 1
    # A word the analysers split is a phrase of its parts, "the" and "of" included.
    assert pks(index.search("state-of-the-art").hits) == {3, 6}


def test_plain_hits_score_as_the_parsed_content_words(index: LexicalIndex) -> None:
    from paperlens.index.lexical import DEFAULT_FIELDS, TITLE_BOOST

    parsed, _ = index.index.parse_query_lenient(
        "variance analysis",
        default_field_names=list(DEFAULT_FIELDS),
        field_boosts={"title": TITLE_BOOST},
    )
    want = index.index.searcher().search(parsed, 10).hits
    got = index.search("analysis of variance").hits
    assert [round(s, 4) for _, s in got] == [round(s, 4) for s, _ in want]
    assert pks(got) == {4, 5}

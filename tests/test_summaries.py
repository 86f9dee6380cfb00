"""The extractive summary sentence and key phrases (paperlens.summaries)."""

from __future__ import annotations

from paperlens.summaries import extract_sentence, key_phrases, sentences


def test_sentences_keep_abbreviations_together() -> None:
    text = (
        "Methods, e.g. transformers, work (Smith et al. 2020). We propose X. "
        "It is 3.5 times faster."
    )
    assert sentences(text) == [
        "Methods, e.g. transformers, work (Smith et al. 2020).",
        "We propose X.",
        "It is 3.5 times faster.",
    ]


def test_extract_prefers_the_contribution_sentence_else_the_first() -> None:
    abstract = (
        "Deep networks are widely used. They are expensive to train. "
        "We propose a cheaper optimiser. It converges twice as fast."
    )
    assert extract_sentence(abstract) == "We propose a cheaper optimiser."
    assert extract_sentence("Stars form in clouds. Clouds collapse.") == "Stars form in clouds."
    assert extract_sentence("") is None


def test_key_phrases_skip_urls_and_stop_words() -> None:
    phrases = key_phrases(
        "Sparse Attention for Long Documents",
        "We introduce sparse attention for long documents. Code: https://github.com/a/b and "
        "javascript:alert(1). Sparse attention halves memory.",
    )
    assert set(phrases[:2]) == {"sparse attention", "long documents"}
    joined = " ".join(phrases)
    assert "github" not in joined and "javascript" not in joined and "alert" not in joined

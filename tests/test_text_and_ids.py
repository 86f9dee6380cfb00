"""Normalisation of text and arXiv identifiers."""

from __future__ import annotations

import pytest

from paperlens.arxiv_ids import BadArxivId, parse_arxiv_id, title_id
from paperlens.text import decode_accents, fold, normalise_whitespace, strip_latex


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2106.09685", ("2106.09685", None)),
        ("2106.09685v2", ("2106.09685", 2)),
        ("arXiv:2106.09685v3", ("2106.09685", 3)),
        ("https://arxiv.org/abs/2106.09685v2", ("2106.09685", 2)),
        ("https://arxiv.org/pdf/2106.09685.pdf", ("2106.09685", None)),
        ("http://export.arxiv.org/abs/0704.0001", ("0704.0001", None)),
        ("oai:arXiv.org:0704.0001", ("0704.0001", None)),
        ("hep-th/9901001v1", ("hep-th/9901001", 1)),
        ("math.AG/0601001", ("math.AG/0601001", None)),
        ("  1706.03762  ", ("1706.03762", None)),
    ],
)
def test_parse_arxiv_id_accepts_every_form(given: str, expected: tuple[str, int | None]) -> None:
    assert parse_arxiv_id(given) == expected


@pytest.mark.parametrize(
    "bad", ["", "hello", "2106.0968", "2113.09685", "2106.09685v", "../etc/passwd", "1' OR '1'='1"]
)
def test_parse_arxiv_id_rejects_non_ids(bad: str) -> None:
    with pytest.raises(BadArxivId, match="not an arXiv id"):
        parse_arxiv_id(bad)


def test_title_id_is_stable_across_case_accents_and_line_breaks() -> None:
    a = title_id("Neural ODEs for Image\n  Segmentation")
    assert a == title_id("neural odes for image segmentation")
    assert title_id("Café au lait") == title_id("cafe AU LAIT")
    assert a != title_id("Neural ODEs for Image Classification")
    assert a.startswith("title-") and len(a) == len("title-") + 16


def test_whitespace_and_hard_line_breaks_are_collapsed() -> None:
    assert (
        normalise_whitespace("  A fully\ndifferential\n  calculation  ")
        == "A fully differential calculation"
    )


def test_latex_accents_become_unicode() -> None:
    assert decode_accents(r"C. Bal\'azs") == "C. Balázs"
    assert (
        decode_accents(r"Djokovi\'{c} and {\"o}zt\"urk, \c{c}a, \ss")
        == "Djoković and öztürk, ça, ß"
    )


def test_strip_latex_keeps_words_and_drops_markup() -> None:
    text = r"the $(k,\ell)$-pebble game on $\mathcal{G}$ with \emph{colors} \& $\alpha<\beta$"
    out = strip_latex(text)
    assert "$" not in out and "\\" not in out and "{" not in out
    for word in ("pebble", "game", "ℓ", "G", "colors", "&", "α", "β"):
        assert word in out


def test_fold_removes_accents_and_case() -> None:
    assert fold("Balázs ÖZTÜRK") == "balazs ozturk"

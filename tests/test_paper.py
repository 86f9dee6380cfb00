"""The Paper record: normalisation, content hash and merging of versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from paperlens.paper import Version, make_paper, merge


def _paper(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = {
        "id": "2106.09685",
        "title": "LoRA: Low-Rank Adaptation\n  of Large Language Models",
        "abstract": "An important paradigm   of natural language processing...",
        "authors": ["Edward J. Hu", "Yelong Shen"],
        "categories": ["cs.CL", "cs.AI", "cs.CL"],
        "versions": [Version(1, datetime(2021, 6, 17, tzinfo=UTC))],
        "source": "test",
    }
    base.update(kw)
    return make_paper(**base)  # type: ignore[arg-type]


def test_make_paper_normalises_fields_and_adds_links() -> None:
    p = _paper()
    assert p.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert p.abstract == "An important paradigm of natural language processing..."
    assert p.categories == ("cs.CL", "cs.AI")  # primary first, de-duplicated
    assert p.primary_category == "cs.CL"
    assert p.published == datetime(2021, 6, 17, tzinfo=UTC)
    assert p.links["abs"] == "https://arxiv.org/abs/2106.09685"
    assert p.links["pdf"] == "https://arxiv.org/pdf/2106.09685"
    assert p.version == 1


def test_make_paper_requires_a_title() -> None:
    with pytest.raises(ValueError, match="missing title"):
        _paper(title="  \n ")


def test_content_hash_ignores_source_but_not_content() -> None:
    a = _paper(source="arxiv-snapshot")
    assert a.content_hash == _paper(source="arxiv-oai").content_hash
    assert a.content_hash != _paper(abstract="different").content_hash


def test_newer_version_replaces_older_whatever_the_order() -> None:
    v1 = _paper(title="Old title")
    v2 = _paper(
        title="New title",
        versions=[
            Version(1, datetime(2021, 6, 17, tzinfo=UTC)),
            Version(2, datetime(2021, 10, 16, tzinfo=UTC)),
        ],
    )
    assert merge(v1, v2).title == "New title"
    assert merge(v2, v1) is v2  # an older version changes nothing
    assert merge(v1, v2).version == 2
    assert merge(v1, v2).published == datetime(2021, 6, 17, tzinfo=UTC)


def test_merge_is_idempotent_and_fills_missing_fields() -> None:
    full = _paper(doi="10.1000/xyz")
    sparse = replace(_paper(categories=[], doi=None), source="hf-daily")
    merged = merge(full, sparse)
    assert merged.categories == ("cs.CL", "cs.AI")
    assert merged.doi == "10.1000/xyz"
    assert merge(merged, sparse) is merged

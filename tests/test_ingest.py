"""Ingest of files: every format, bad input, idempotence, versions and resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from corpus import sample_records, write_jsonl
from paperlens.ingest import ingest
from paperlens.sources.base import Entry, Parsed, Rejected, SourceError
from paperlens.sources.jsonl import JsonlSource
from paperlens.sources.snapshot import SnapshotSource
from paperlens.store.db import open_engine
from paperlens.store.papers import PaperStore


@pytest.fixture
def store(database_url: str) -> Iterator[PaperStore]:
    engine = open_engine(database_url)
    yield PaperStore(engine)
    engine.dispose()


def test_snapshot_sample_imports_every_record(store: PaperStore) -> None:
    from paperlens.cli.main import sample_paths

    report = ingest(SnapshotSource(sample_paths()[0]), store)
    assert report.counts.added == 2000
    assert report.rejected == 0
    assert store.count() == 2000
    p = store.get("0704.0001")
    assert p is not None
    paper = p.paper
    assert paper.title.startswith("Calculation of prompt diphoton production cross sections")
    assert "\n" not in paper.abstract and "  " not in paper.abstract
    assert paper.authors[0] == "C. Balázs"  # LaTeX accent decoded
    assert paper.categories == ("hep-ph",)
    assert [v.number for v in paper.versions] == [1, 2]
    assert (
        paper.published is not None and paper.published.isoformat() == "2007-04-02T19:18:42+00:00"
    )
    assert paper.doi == "10.1103/PhysRevD.76.013009"
    assert paper.journal_ref == "Phys.Rev.D76:013009,2007"


def test_reimport_changes_nothing(store: PaperStore) -> None:
    from paperlens.cli.main import sample_paths

    ingest(SnapshotSource(sample_paths()[0]), store)
    seq = store.current_seq()
    again = ingest(SnapshotSource(sample_paths()[0]), store)
    assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, 2000)
    assert store.current_seq() == seq  # nothing was written, so no index work either


def test_jsonl_without_ids_gets_stable_title_ids(store: PaperStore, tmp_path: Path) -> None:
    records = sample_records("ml-abstracts-1000", limit=50)
    path = write_jsonl(tmp_path / "ml.jsonl", records)
    first = ingest(JsonlSource(path), store)
    ids = sorted(str(p.paper.id) for b in store.changed_since(0) for p in b)
    assert first.counts.added == len(ids) > 0
    assert all(i.startswith("title-") for i in ids)
    # Same titles with other whitespace and case: same ids, nothing new.
    reworded = [{**r, "title": "  " + r["title"].upper().replace(" ", "\n ")} for r in records]
    second = ingest(JsonlSource(write_jsonl(tmp_path / "ml2.jsonl", reworded)), store)
    assert second.counts.added == 0
    assert store.count() == len(ids)


def test_jsonl_accepts_ids_dates_and_author_strings(store: PaperStore, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {
                "id": "https://arxiv.org/abs/1706.03762v5",
                "title": "Attention Is All You Need",
                "abstract": "The dominant sequence transduction models...",
                "authors": "Ashish Vaswani, Noam Shazeer and Niki Parmar",
                "categories": "cs.CL cs.LG",
                "published": "2017-06-12T17:57:34Z",
            },
            {"id": "internal:report-7", "title": "Our lab report", "authors": ["A. B."]},
        ],
    )
    report = ingest(JsonlSource(path), store)
    assert report.counts.added == 2 and report.rejected == 0
    attn = store.get("1706.03762")
    assert attn is not None
    assert attn.paper.authors == ("Ashish Vaswani", "Noam Shazeer", "Niki Parmar")
    assert attn.paper.categories == ("cs.CL", "cs.LG")
    assert attn.paper.version == 5
    assert store.get("internal:report-7") is not None


def _bad_file(tmp_path: Path) -> Path:
    good = sample_records("arxiv-snapshot-sample", limit=3)
    lines: list[bytes] = [
        json.dumps(good[0]).encode(),
        b'{"id": "0704.9999", "title": "truncated',  # malformed JSON
        json.dumps({**good[1], "title": "   "}).encode(),  # missing title
        json.dumps({**good[1], "id": "not-an-id"}).encode(),  # bad id
        b'{"id": "0704.0002", "title": "caf\xe9"}',  # Latin-1 byte, not UTF-8
        b"[1, 2, 3]",  # not an object
        b"",  # blank: skipped silently
        json.dumps(good[2]).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_bad_lines_are_named_and_the_rest_imported(store: PaperStore, tmp_path: Path) -> None:
    report = ingest(SnapshotSource(_bad_file(tmp_path)), store)
    assert report.counts.added == 2
    assert report.rejected == 5
    reasons = {r.where: r.reason for r in report.rejects}
    assert reasons["bad.jsonl line 2"].startswith("malformed JSON")
    assert reasons["bad.jsonl line 3"] == "missing title"
    assert "not an arXiv id" in reasons["bad.jsonl line 4"]
    assert reasons["bad.jsonl line 5"] == "not valid UTF-8"
    assert reasons["bad.jsonl line 6"] == "expected a JSON object"


def test_bad_input_never_touches_stored_papers(store: PaperStore, tmp_path: Path) -> None:
    good = sample_records("arxiv-snapshot-sample", limit=1)[0]
    ingest(SnapshotSource(write_jsonl(tmp_path / "good.jsonl", [good])), store)
    before = store.get(good["id"])
    ingest(SnapshotSource(write_jsonl(tmp_path / "evil.jsonl", [{**good, "title": ""}])), store)
    assert store.get(good["id"]) == before


def test_missing_file_is_a_clear_error(store: PaperStore, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        ingest(JsonlSource(tmp_path / "nope.jsonl"), store)


def test_newer_version_replaces_older_in_the_store(store: PaperStore, tmp_path: Path) -> None:
    rec = sample_records("arxiv-snapshot-sample", limit=1)[0]
    v1 = {**rec, "title": "Old title", "versions": rec["versions"][:1]}
    v2 = {**rec, "title": "New title"}
    ingest(SnapshotSource(write_jsonl(tmp_path / "v2.jsonl", [v2])), store)
    report = ingest(SnapshotSource(write_jsonl(tmp_path / "v1.jsonl", [v1])), store)
    assert report.counts.unchanged == 1
    stored = store.get(rec["id"])
    assert stored is not None and stored.paper.title == "New title"


class _Interrupted(Exception):
    pass


class _DyingSource:
    """Wraps a source and raises after ``n`` entries, like a crash mid-import."""

    def __init__(self, inner: SnapshotSource, n: int) -> None:
        self.inner, self.n = inner, n

    @property
    def key(self) -> str:
        return self.inner.key

    def entries(self, resume_from: str | None = None) -> Iterator[Entry]:
        for i, e in enumerate(self.inner.entries(resume_from)):
            if i == self.n:
                raise _Interrupted
            yield e


def test_interrupted_import_resumes_with_every_paper_once(store: PaperStore) -> None:
    from paperlens.cli.main import sample_paths

    source = SnapshotSource(sample_paths()[0])
    with pytest.raises(_Interrupted):
        ingest(_DyingSource(source, 1234), store, batch_size=100)
    assert store.count() == 1200  # the committed batches, no partial one
    assert store.checkpoint(source.key) is not None

    seen: list[Entry] = []
    original = source.entries

    def spy(resume_from: str | None = None) -> Iterator[Entry]:
        for e in original(resume_from):
            seen.append(e)
            yield e

    source.entries = spy  # type: ignore[method-assign]
    report = ingest(source, store, batch_size=100)
    assert report.resumed_from is not None
    assert len(seen) == 800  # only the rest of the file was read
    assert isinstance(seen[0], Parsed) and seen[0].where.endswith("line 1201")
    assert report.counts.added == 800
    assert store.count() == 2000
    assert store.checkpoint(source.key) is None  # finished: next run starts over
    ids = [p.paper.id for b in store.changed_since(0) for p in b]
    assert len(ids) == len(set(ids)) == 2000


def test_rejects_in_a_resumed_import_are_not_lost(store: PaperStore, tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    with pytest.raises(_Interrupted):
        ingest(_DyingSource(SnapshotSource(path), 3), store, batch_size=1)
    report = ingest(SnapshotSource(path), store, batch_size=1)
    assert all(isinstance(r, Rejected) for r in report.rejects)
    assert store.count() == 2


def test_database_stays_consistent(store: PaperStore) -> None:
    from paperlens.cli.main import sample_paths

    ingest(SnapshotSource(sample_paths()[0]), store)
    with store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.execute(text("PRAGMA integrity_check")).one() == ("ok",)
        n_cats = conn.execute(
            text("SELECT count(DISTINCT paper_pk) FROM paper_categories")
        ).scalar_one()
    assert n_cats == 2000

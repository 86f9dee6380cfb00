""" "Similar papers" lists computed ahead by ``paperlens index`` (``index/neighbours.py``,
``search/neighbours.py``): stored lists equal the ones a request computes, pages serve
them, the per-run budget goes newest first and then through the backlog, new papers
enter older lists, changed papers are computed again, and the files survive a killed
write, a merge, a change of ranking and a second process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from corpus import sample_records, write_jsonl
from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.filters import SearchFilters
from paperlens.index.neighbours import (
    MAX_SEGMENTS,
    WIDTH,
    NeighbourIndex,
    empty_rows,
    row_entries,
    set_entries,
)
from paperlens.search.neighbours import update_lists
from paperlens.sources.base import Deleted
from paperlens.sources.jsonl import JsonlSource
from paperlens.store.papers import embedding_text

N = 120


def _records(n: int = N, start: int = 0) -> list[dict[str, Any]]:
    """ML abstracts with distinct publication days (record i is the i-th newest)."""
    out = []
    for i, r in enumerate(sample_records("ml-abstracts-1000", limit=start + n)[start:]):
        day = 28 - (start + i) % 28
        month = 12 - (start + i) // 28 % 12
        out.append(
            {
                "id": f"ml-{start + i}",
                "title": r["title"],
                "abstract": r["abstract"],
                "categories": r.get("categories") or ["cs.LG"],
                "published": f"2024-{month:02d}-{day:02d}",
            }
        )
    return out


def _open(tmp: Path, url: str, **settings: Any) -> PaperLens:
    return PaperLens(
        Settings(data_dir=tmp / "data", database_url=url, max_seq_length=128, **settings)
    )


def _ingest(lens: PaperLens, tmp: Path, records: list[dict[str, Any]], name: str) -> None:
    lens.ingest(JsonlSource(write_jsonl(tmp / f"{name}.jsonl", records)))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PaperLens, Path, str]]:
    tmp = tmp_path_factory.mktemp("neighbours")
    with fresh_database(tmp) as url:
        lens = _open(tmp, url)
        _ingest(lens, tmp, _records(), "first")
        report = lens.index()
        assert report.similar_lists == N
        yield lens, tmp, url
        lens.close()


def _text(lens: PaperLens, paper_id: str) -> tuple[int, str]:
    stored = lens.paper(paper_id)
    return stored.pk, embedding_text(stored.paper.title, stored.paper.abstract)


def test_stored_lists_equal_what_a_request_computes(built: tuple[PaperLens, Path, str]) -> None:
    lens, _tmp, _url = built
    retriever = lens.retriever
    for i in range(0, N, 7):
        pk, text = _text(lens, f"ml-{i}")
        stored = retriever.stored_similar(pk, WIDTH)
        fresh = retriever.compute_similar(pk, WIDTH, text)
        assert stored is not None and len(stored) == WIDTH
        assert [h.pk for h in stored] == [h.pk for h in fresh]
        assert np.allclose([h.score for h in stored], [h.score for h in fresh], atol=1e-6)
        assert [h.lexical_rank for h in stored] == [h.lexical_rank for h in fresh]
        assert [h.semantic_rank for h in stored] == [h.semantic_rank for h in fresh]


def test_lists_do_not_depend_on_the_number_of_threads(
    built: tuple[PaperLens, Path, str],
) -> None:
    """``paperlens index`` computes lists on a thread per CPU: the rows written by three
    threads equal, row for row, those written by one, and those the index stored."""
    lens, tmp, _url = built
    key = lens.retriever.lists_key()
    pks = [lens.paper(f"ml-{i}").pk for i in range(0, N, 3)]
    rows = {}
    for workers in (1, 3):
        scratch = NeighbourIndex(tmp / f"threads-{workers}")
        done = update_lists(
            lens.retriever, lens.papers, scratch, len(pks), only=pks, workers=workers
        )
        assert done == len(pks)
        rows[workers] = {pk: scratch.get(pk, key) for pk in pks}
    assert rows[1] == rows[3]
    for pk in pks:
        assert rows[3][pk] is not None and len(rows[3][pk] or []) == WIDTH
        assert [e[0] for e in rows[3][pk] or []] == [
            e[0] for e in lens.neighbours.get(pk, key) or []
        ]


def test_pages_serve_the_stored_list(tmp_path: Path) -> None:
    """What is stored is what ``PaperLens.similar`` shows (here a list written by hand,
    which no computation would give), and a filter is computed on request instead."""
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url)
        _ingest(lens, tmp_path, _records(40), "few")
        lens.index()
        pk = lens.paper("ml-0").pk
        chosen = [lens.paper(f"ml-{i}").pk for i in (39, 20, 7)]
        row = empty_rows(1)
        row[0]["pk"], row[0]["computed"] = pk, lens.paper("ml-0").seq
        set_entries(row[0], [(p, 0.9 - 0.1 * j, None, j + 1) for j, p in enumerate(chosen)])
        lens.neighbours.write(row, lens.retriever.lists_key())
        shown = lens.similar("ml-0", k=10)
        assert [r.pk for r in shown] == chosen
        assert [r.score for r in shown] == pytest.approx([0.9, 0.8, 0.7])
        # A filter (or more than WIDTH papers) is not what was stored: computed now.
        assert [r.pk for r in lens.similar("ml-0", k=5, filters=SearchFilters())] == chosen
        until = date(2024, 11, 30)  # leaves out ml-20 and ml-7 (December)
        filtered = lens.similar("ml-0", k=5, filters=SearchFilters(until=until))
        assert len(filtered) == 5
        assert all(r.paper.published and r.paper.published.date() <= until for r in filtered)
        longer = lens.similar("ml-0", k=WIDTH + 2)
        assert len(longer) > 3
        lens.close()


def test_budget_goes_newest_first_then_through_the_backlog(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url, similar_lists_per_run=25)
        records = _records(60)
        _ingest(lens, tmp_path, records, "sixty")
        assert lens.index().similar_lists == 25
        key = lens.retriever.lists_key()
        pks, _seqs = lens.papers.live_by_recency()
        done = lens.neighbours.computed(np.asarray(pks), key) >= 0
        assert done[:25].all() and not done[25:].any()  # the newest 25
        assert lens.index().similar_lists == 25  # nothing new: the next 25
        assert lens.index().similar_lists == 10
        assert lens.index().similar_lists == 0
        assert (lens.neighbours.computed(np.asarray(pks), key) >= 0).all()
        lens.close()
    with fresh_database(tmp_path / "off") as url:
        lens = _open(tmp_path / "off", url, similar_lists_per_run=0)
        _ingest(lens, tmp_path, records[:10], "ten")
        assert lens.index().similar_lists == 0
        assert len(lens.neighbours) == 0
        assert len(lens.similar("ml-0", k=3)) == 3  # computed on request
        lens.close()


def test_a_new_paper_enters_the_older_lists_it_belongs_to(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url)
        records = _records(50)
        _ingest(lens, tmp_path, records, "fifty")
        lens.index()
        key = lens.retriever.lists_key()
        source = records[3]
        twin = {
            **source,
            "id": "ml-new",
            "title": "A study of " + source["title"],
            "abstract": source["abstract"] + " We release our code.",
            "published": "2025-01-01",
        }
        old_pk = lens.paper("ml-3").pk
        before = lens.neighbours.computed(np.asarray([old_pk]), key)
        _ingest(lens, tmp_path, [twin], "new")
        report = lens.index()
        assert report.similar_lists == 1  # only the new paper's list was computed
        new_pk = lens.paper("ml-new").pk
        # ml-3's list was not computed again, yet now starts with the new paper.
        assert (lens.neighbours.computed(np.asarray([old_pk]), key) == before).all()
        entries = lens.neighbours.get(old_pk, key)
        assert entries is not None and entries[0][0] == new_pk
        assert entries[0][2] is None and entries[0][3] is None  # ranks unknown
        # ... at the score its own list gives the pair (the fused score is symmetric).
        own = lens.neighbours.get(new_pk, key)
        assert own is not None
        assert dict((p, s) for p, s, _l, _s in own)[old_pk] == pytest.approx(entries[0][1])
        assert lens.similar("ml-3", k=3)[0].paper.id == "ml-new"
        lens.close()


def test_changed_papers_are_computed_again_and_deleted_ones_not_shown(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url)
        records = _records(40)
        _ingest(lens, tmp_path, records, "forty")
        lens.index()
        key = lens.retriever.lists_key()
        shown = lens.similar("ml-5", k=5)
        gone = shown[0].paper.id
        before = lens.paper("ml-5").seq
        changed = {**records[5], "abstract": records[5]["abstract"] + " Revised."}
        _ingest(lens, tmp_path, [changed], "changed")
        lens.papers.write_batch([Deleted(gone, "test")])
        report = lens.index()
        assert report.similar_lists == 1  # the changed paper; the deleted one has none
        stored = lens.paper("ml-5")
        assert stored.seq > before
        assert lens.neighbours.computed(np.asarray([stored.pk]), key)[0] == stored.seq
        # Another paper's stored list that held the deleted paper skips it on the page.
        holders = [
            r["id"]
            for r in records
            if r["id"] not in (gone, "ml-5")
            and any(
                e[0] == shown[0].pk for e in lens.neighbours.get(lens.paper(r["id"]).pk, key) or []
            )
        ]
        assert holders
        for paper_id in holders:
            assert gone not in [r.paper.id for r in lens.similar(paper_id, k=10)]
        lens.close()


def test_lists_of_another_ranking_are_not_served_and_are_replaced(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url)
        _ingest(lens, tmp_path, _records(30), "thirty")
        lens.index()
        pk = lens.paper("ml-1").pk
        key = lens.retriever.lists_key()
        row = empty_rows(1)
        row[0]["pk"], row[0]["computed"] = pk, 10**9
        set_entries(row[0], [(lens.paper("ml-2").pk, 0.5, 1, 1)])
        lens.neighbours.write(row, "an older ranking")  # drops every list of `key`
        assert lens.retriever.stored_similar(pk, 5) is None
        assert len(lens.similar("ml-1", k=5)) == 5  # computed on request
        assert lens.index().similar_lists == 30  # all again, under today's key
        assert lens.neighbours.key == key
        assert lens.retriever.stored_similar(pk, 5) is not None
        lens.close()


def _row(pk: int, computed: int, hits: list[int]) -> np.ndarray:
    row = empty_rows(1)
    row[0]["pk"], row[0]["computed"] = pk, computed
    set_entries(row[0], [(h, 1.0 / (i + 1), i + 1, i + 1) for i, h in enumerate(hits)])
    return row


def test_segments_merge_keeping_the_newest_row(tmp_path: Path) -> None:
    index = NeighbourIndex(tmp_path / "lists")
    for gen in range(MAX_SEGMENTS + 3):
        rows = np.concatenate([_row(pk, gen, [pk + 1, pk + gen + 2]) for pk in (1, 2, 3 + gen)])
        index.write(rows, "k")
    state = json.loads((tmp_path / "lists" / "state.json").read_text())
    assert len(state["segments"]) <= MAX_SEGMENTS
    assert sorted(p.name for p in (tmp_path / "lists").glob("seg-*.npy")) == sorted(
        f"{s}.npy" for s in state["segments"]
    )
    last = MAX_SEGMENTS + 2
    assert [e[0] for e in index.get(1, "k") or []] == [2, 1 + last + 2]
    assert index.computed(np.asarray([1, 2, 3, 3 + last, 999]), "k").tolist() == [
        last,
        last,
        0,
        last,
        -1,
    ]
    assert len(index) == 2 + MAX_SEGMENTS + 3
    # A second reader (another process) sees the same after loading.
    other = NeighbourIndex(tmp_path / "lists")
    assert other.get(1, "k") == index.get(1, "k")
    assert other.get(1, "another key") is None


def test_a_killed_write_leaves_the_previous_lists(tmp_path: Path) -> None:
    index = NeighbourIndex(tmp_path / "lists")
    index.write(_row(1, 5, [2, 3]), "k")
    # A writer killed after its segment and before state.json: the file is there, named
    # by no state, and ignored; the next write removes it.
    np.save(tmp_path / "lists" / "seg-000002.npy", _row(1, 6, [9]))
    (tmp_path / "lists" / "seg-000003.tmp.npy").write_bytes(b"half")
    reader = NeighbourIndex(tmp_path / "lists")
    assert [e[0] for e in reader.get(1, "k") or []] == [2, 3]
    index.write(_row(4, 1, [1]), "k")
    names = {p.name for p in (tmp_path / "lists").glob("seg-*.npy")}
    assert "seg-000002.npy" in names  # the new generation took that name, fresh
    reader.reload()
    assert [e[0] for e in reader.get(1, "k") or []] == [2, 3]
    assert [e[0] for e in reader.get(4, "k") or []] == [1]


def test_row_entries_round_trip() -> None:
    row = empty_rows(1)[0]
    entries = [(10 + i, 1.0 - i / 100, i + 1 if i % 2 else None, i + 2) for i in range(WIDTH + 4)]
    set_entries(row, entries)
    back = row_entries(row)
    assert len(back) == WIDTH
    assert [e[0] for e in back] == [e[0] for e in entries[:WIDTH]]
    assert [e[2] for e in back] == [e[2] for e in entries[:WIDTH]]
    assert back[1][1] == pytest.approx(0.99)


def test_the_cli_reports_the_lists(tmp_path: Path) -> None:
    with fresh_database(tmp_path) as url:
        env = {
            **os.environ,
            "PAPERLENS_DATA_DIR": str(tmp_path / "data"),
            "PAPERLENS_DATABASE_URL": url,
            "PAPERLENS_MAX_SEQ_LENGTH": "128",
            "PAPERLENS_SIMILAR_LISTS_PER_RUN": "7",
            "HF_HUB_OFFLINE": "1",
            "COLUMNS": "200",
        }
        path = write_jsonl(tmp_path / "c.jsonl", _records(12))

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "paperlens.cli.main", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
                check=False,
            )

        assert run("ingest", "jsonl", str(path)).returncode == 0
        proc = run("index")
        assert proc.returncode == 0, proc.stderr
        assert "7 similar lists" in proc.stdout
        proc = run("index", "--similar-lists", "2")
        assert "2 similar lists" in proc.stdout
        proc = run("index")
        assert "3 similar lists" in proc.stdout
        proc = run("index", "--similar-lists", "-3")
        assert proc.returncode != 0
        assert "--similar-lists" in proc.stderr
        env["PAPERLENS_SIMILAR_LISTS_PER_RUN"] = "-1"
        proc = run("index")
        assert proc.returncode != 0
        assert proc.stderr.startswith("error: bad setting: PAPERLENS_SIMILAR_LISTS_PER_RUN")


def test_papers_written_last_come_before_the_backlog(tmp_path: Path) -> None:
    """A harvest or a submission gets its lists before the backlog of a large first
    index, however old the paper (a submission's does: ``SUBMISSION_LISTS``)."""
    with fresh_database(tmp_path) as url:
        lens = _open(tmp_path, url, similar_lists_per_run=5)
        _ingest(lens, tmp_path, _records(30), "thirty")
        assert lens.index().similar_lists == 5
        key = lens.retriever.lists_key()
        old = {**_records(1, start=40)[0], "id": "ml-old", "published": "2001-05-01"}
        _ingest(lens, tmp_path, [old], "old")
        assert lens.index(similar_lists=1).similar_lists == 1
        pk = lens.paper("ml-old").pk
        assert lens.neighbours.computed(np.asarray([pk]), key)[0] == lens.paper("ml-old").seq
        pks, _seqs = lens.papers.live_by_recency()
        assert pks[-1] == pk  # the oldest paper, yet computed before 25 newer ones
        assert (lens.neighbours.computed(np.asarray(pks[5:-1]), key) < 0).all()
        lens.close()

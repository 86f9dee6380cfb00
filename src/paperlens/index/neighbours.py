"""Neighbour lists: each paper's "similar papers" list, computed ahead and kept on disk.

Computing a list on request costs a dense search, a BM25 query and a tf-idf re-scoring
(~7 ms at 200,000 papers, ~18 ms at 1M on two idle cores; bench/README.md). A paper page
needs the same list every time, so ``paperlens index`` computes lists ahead
(:mod:`paperlens.search.neighbours`) and stores them here; a page then reads one row.
Every process reads the same files, so a list computed once serves every web worker.

Storage (``index_dir/neighbours/``), append-only like the term vectors:

* a **row** per paper: its ``pk``, ``computed`` (the paper's store ``seq`` when its list
  was computed: a paper written since has ``seq > computed`` and is due again) and its
  best :data:`WIDTH` hits (``hits`` pks, 0 where the list is shorter; fused ``scores``;
  each hit's lexical and semantic rank among the candidates, 0 for unknown);
* **segments**: ``seg-<generation>.npy``, structured arrays of rows sorted by pk,
  memory-mapped; the newest row of a pk wins (a lookup is a ``searchsorted`` in the
  merged pk array this process keeps: 16 bytes a paper);
* ``state.json`` names the live segments and the **key** the lists were computed under
  (the model and every constant of the ranking): lists written under another key are
  not served, and a write under a new key starts afresh. It is replaced atomically
  last, so a killed write leaves the previous generation in force; files no generation
  names are removed after it (a reader that mapped them keeps reading them until it
  reloads).
* more than :data:`MAX_SEGMENTS` segments are merged into one, a piece at a time into
  a memory-mapped output, so memory does not grow with the corpus.

Disk: :data:`ROW`'s 336 bytes a paper (336 MB at 1M papers), of which RAM holds only
the pages read, plus the lookup arrays.

Only ``paperlens index`` writes (under ``index/writer.lock``).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap

#: Hits kept per paper: a page shows 10 and asks for 5 more in case title twins (the
#: same paper from another source) are dropped; "For you" asks 20 per seed paper
#: (``recommend.SIMILAR_PER_SEED``).
WIDTH = 20
#: One stored list.
ROW = np.dtype(
    [
        ("pk", "<i8"),
        ("computed", "<i8"),
        ("hits", "<i8", (WIDTH,)),
        ("scores", "<f4", (WIDTH,)),
        ("lexical_rank", "<u2", (WIDTH,)),
        ("semantic_rank", "<u2", (WIDTH,)),
    ]
)
#: Segments merged into one beyond this many.
MAX_SEGMENTS = 8
#: Rows copied at a time by a merge.
MERGE_PIECE = 50_000
FORMAT = 1

#: ``(pk, score, lexical rank or None, semantic rank or None)``: one entry of a list.
Entry = tuple[int, float, int | None, int | None]


def empty_rows(n: int) -> np.ndarray:
    """``n`` zeroed rows (no hits) to fill in."""
    return np.zeros(n, dtype=ROW)


def row_entries(row: np.void | np.ndarray) -> list[Entry]:
    """A row's hits, best first, as :data:`Entry` values."""
    out: list[Entry] = []
    for pk, score, lex, sem in zip(
        row["hits"].tolist(),
        row["scores"].tolist(),
        row["lexical_rank"].tolist(),
        row["semantic_rank"].tolist(),
        strict=True,
    ):
        if pk == 0:
            break
        out.append((int(pk), float(score), int(lex) or None, int(sem) or None))
    return out


def set_entries(row: np.void | np.ndarray, entries: list[Entry]) -> None:
    """Write ``entries`` (best first; at most :data:`WIDTH` are kept) into ``row``."""
    entries = entries[:WIDTH]
    hits = np.zeros(WIDTH, np.int64)
    scores = np.zeros(WIDTH, np.float32)
    lex = np.zeros(WIDTH, np.uint16)
    sem = np.zeros(WIDTH, np.uint16)
    for i, (pk, score, lrank, srank) in enumerate(entries):
        hits[i], scores[i] = pk, score
        lex[i] = min(lrank or 0, 65535)
        sem[i] = min(srank or 0, 65535)
    row["hits"], row["scores"] = hits, scores
    row["lexical_rank"], row["semantic_rank"] = lex, sem


class NeighbourIndex:
    """Stored "similar papers" lists, keyed by pk (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state_path = path / "state.json"
        self._lock = threading.Lock()
        self._state: dict[str, Any] = self._empty_state()
        self._segments: list[np.ndarray] = []
        self._pks = np.zeros(0, np.int64)
        self._seg = np.zeros(0, np.int32)
        self._row = np.zeros(0, np.int64)
        self._loaded: str | None = None
        self._load()

    @staticmethod
    def _empty_state() -> dict[str, Any]:
        return {"format": FORMAT, "key": "", "generation": 0, "segments": []}

    def _read_state(self) -> tuple[dict[str, Any], str]:
        try:
            text = self.state_path.read_text()
        except FileNotFoundError:
            return self._empty_state(), ""
        state = json.loads(text)
        if state.get("format") != FORMAT:  # an older layout: computed again
            return self._empty_state(), text
        return state, text

    def _load(self) -> None:
        state, text = self._read_state()
        if text == self._loaded and self._loaded is not None:
            return
        segments = [np.load(self.path / f"{name}.npy", mmap_mode="r") for name in state["segments"]]
        pks = [np.asarray(s["pk"]) for s in segments]
        if pks:
            all_pks = np.concatenate(pks)
            all_seg = np.concatenate([np.full(len(p), i, np.int32) for i, p in enumerate(pks)])
            all_row = np.concatenate([np.arange(len(p), dtype=np.int64) for p in pks])
            # The newest segment's row wins: reverse, then take each pk's first.
            rev = slice(None, None, -1)
            uniq, first = np.unique(all_pks[rev], return_index=True)
            seg, row = all_seg[rev][first], all_row[rev][first]
        else:
            uniq, seg, row = np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, np.int64)
        with self._lock:
            self._state, self._segments = state, segments
            self._pks, self._seg, self._row = uniq, seg, row
            self._loaded = text

    def reload(self) -> None:
        """Pick up a generation written by another process."""
        self._load()

    # -- reading ----------------------------------------------------------------------

    @property
    def key(self) -> str:
        """The key the loaded lists were computed under ("" when there are none)."""
        return str(self._state["key"])

    def __len__(self) -> int:
        return len(self._pks)

    def row(self, pk: int, key: str) -> np.void | None:
        """Paper ``pk``'s stored row, if it has one computed under ``key``."""
        with self._lock:
            if self._state["key"] != key or not len(self._pks):
                return None
            at = int(np.searchsorted(self._pks, pk))
            if at >= len(self._pks) or int(self._pks[at]) != pk:
                return None
            row: np.void = self._segments[int(self._seg[at])][int(self._row[at])]
            return row

    def get(self, pk: int, key: str) -> list[Entry] | None:
        """Paper ``pk``'s list (best first), or ``None`` when none was computed under
        ``key``."""
        row = self.row(pk, key)
        return None if row is None else row_entries(row)

    def computed(self, pks: np.ndarray, key: str) -> np.ndarray:
        """For each of ``pks``, the store ``seq`` its list was computed at, -1 where it
        has none under ``key``."""
        pks = np.asarray(pks, dtype=np.int64)
        out = np.full(len(pks), -1, np.int64)
        with self._lock:
            if self._state["key"] != key or not len(self._pks) or not len(pks):
                return out
            at = np.searchsorted(self._pks, pks)
            at[at >= len(self._pks)] = 0
            found = self._pks[at] == pks
            seg, row = self._seg[at], self._row[at]
            for i, segment in enumerate(self._segments):
                mine = found & (seg == i)
                if mine.any():
                    out[mine] = np.asarray(segment["computed"])[row[mine]]
        return out

    def newest_computed(self, key: str) -> int:
        """The highest store ``seq`` any list under ``key`` was computed at (-1: none): a
        paper written after it was written after every stored list was made."""
        with self._lock:
            if self._state["key"] != key:
                return -1
            tops = [int(np.max(s["computed"])) for s in self._segments if len(s)]
        return max(tops, default=-1)

    # -- writing (``paperlens index`` only, under the writer lock) ---------------------

    def write(self, rows: np.ndarray, key: str) -> None:
        """Store ``rows`` (of :data:`ROW`; a later row of a pk replaces the earlier) as a
        new segment under ``key``; a key other than the stored one drops every older
        list. Readers see the rows once ``state.json`` is replaced."""
        self._load()
        self.path.mkdir(parents=True, exist_ok=True)
        state = dict(self._state) if self._state["key"] == key else self._empty_state()
        state["key"] = key
        order = np.argsort(rows["pk"], kind="stable")
        rows = rows[order]
        if len(rows):  # a pk written twice in one batch: the last one wins
            keep = np.ones(len(rows), bool)
            keep[:-1] = rows["pk"][1:] != rows["pk"][:-1]
            rows = rows[keep]
        generation = int(self._state["generation"]) + 1
        name = f"seg-{generation:06d}"
        self._save(name, rows)
        state["generation"] = generation
        state["segments"] = [*state["segments"], name]
        self._commit(state)
        if len(state["segments"]) > MAX_SEGMENTS:
            self._merge()

    def _save(self, name: str, rows: np.ndarray) -> None:
        tmp = self.path / f"{name}.tmp.npy"
        with tmp.open("wb") as f:
            np.save(f, rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path / f"{name}.npy")

    def _commit(self, state: dict[str, Any]) -> None:
        tmp = self.path / "state.json.tmp"
        with tmp.open("w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
        self._load()
        live = {f"{name}.npy" for name in state["segments"]}
        for path in self.path.glob("seg-*.npy"):
            if path.name not in live:
                path.unlink(missing_ok=True)

    def _merge(self) -> None:
        """Rewrite the live rows (the newest of each pk) as one segment, a piece at a
        time."""
        with self._lock:
            state, segments = dict(self._state), self._segments
            seg, row = self._seg, self._row
        generation = int(state["generation"]) + 1
        name = f"seg-{generation:06d}"
        tmp = self.path / f"{name}.tmp.npy"
        out = open_memmap(tmp, mode="w+", dtype=ROW, shape=(len(seg),))
        for start in range(0, len(seg), MERGE_PIECE):
            piece = slice(start, start + MERGE_PIECE)
            for i, source in enumerate(segments):
                mine = np.flatnonzero(seg[piece] == i)
                if len(mine):
                    out[start + mine] = source[row[piece][mine]]
        out.flush()
        del out
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path / f"{name}.npy")
        state["generation"] = generation
        state["segments"] = [name]
        self._commit(state)

"""Sentence vectors of every paper's abstract, for facet-aware similarity.

Each abstract is split into sentences (:func:`paperlens.rhetoric.split_sentences`),
each sentence labelled with its rhetorical role and embedded with the default encoder.
The vectors are kept as **int8 with one float32 scale per row** (``v ≈ q * scale``,
``scale = max|v| / 127``): 384 + 4 + 1 bytes a sentence for MiniLM, about 2.6 kB a
paper (6.6 sentences on CSFCube), memory-mapped, so 1M papers cost ~2.6 GB of disk and
only the pages a query touches of memory. Scoring a candidate pool of a few hundred papers reads
a few thousand rows.

Files, in ``index_dir/sentences/<model slug>/``:

- ``rows-G.i8`` (rows x dim int8), ``scales-G.f32`` and ``roles-G.u8``: appended to
  only, G the generation;
- ``papers-G.npy``: int64 ``(max pk + 1, 2)``, each paper's first row and row count
  (count 0: not indexed or deleted);
- ``state.json``: the change counter (``seq``) the index is current to, the model, the
  dimension, the generation and how many rows are valid. Rows past that count (a crash
  mid-write) are ignored and overwritten by the next writer.

``save`` writes ``papers-G.npy`` and then ``state.json`` beside and renames them into
place, state last, so a reader that reloads sees one consistent version; the row files
only grow, so rows a published paper table points at never change. A re-embedded paper
gets new rows and its old ones become dead; once dead rows are more than half of all,
:meth:`SentenceIndex.save` writes the live ones to generation G+1 and publishes that
(generation G-1's files are deleted then, never the ones a reader may still map).

The sentence text is not stored: it is split again from the stored abstract (the
splitter is deterministic), so row ``i`` of a paper is sentence ``i`` of its abstract.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from paperlens.rhetoric import ROLES, Role

ROLE_CODES: dict[Role, int] = {r: i for i, r in enumerate(ROLES)}
STATE = "state.json"
#: Dead rows may be at most this share of all rows before a save compacts.
DEAD_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class PaperSentences:
    """One paper's sentence vectors (float32, unit length up to quantisation) and roles."""

    pk: int
    vectors: NDArray[np.float32]
    roles: tuple[Role, ...]


def quantise(matrix: NDArray[np.float32]) -> tuple[NDArray[np.int8], NDArray[np.float32]]:
    """Rows to int8 with one scale each (``row ≈ q * scale``)."""
    peak = np.abs(matrix).max(axis=1) if len(matrix) else np.zeros(0, np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    q = np.clip(np.rint(matrix / scales[:, None]), -127, 127).astype(np.int8)
    return q, scales


class SentenceIndex:
    """Sentence vectors keyed by paper pk (see the module docstring). One writer at a
    time (the indexer holds ``writer.lock``); readers call :meth:`reload` to see what
    it published."""

    def __init__(self, path: Path, dim: int, model: str) -> None:
        self.path = path
        self.dim = dim
        self.model = model
        self._lock = threading.Lock()
        self._state_mtime = -1.0
        self.seq = 0
        self._rows = 0
        self._papers: NDArray[np.int64] = np.zeros((0, 2), np.int64)
        self._vectors: NDArray[np.int8] = np.zeros((0, dim), np.int8)
        self._scales: NDArray[np.float32] = np.zeros(0, np.float32)
        self._roles: NDArray[np.uint8] = np.zeros(0, np.uint8)
        # Rows written since the last save (the writer's side).
        self._pending: list[tuple[NDArray[np.int8], NDArray[np.float32], NDArray[np.uint8]]] = []
        self._pending_rows = 0
        self._next: NDArray[np.int64] | None = None
        self._generation = 0
        self._load()

    # -- reading ----------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return (self.path / STATE).exists()

    def _load(self) -> None:
        state_path = self.path / STATE
        if not state_path.exists():
            return
        state = json.loads(state_path.read_text(encoding="utf-8"))
        if state["model"] != self.model or state["dim"] != self.dim:
            raise ValueError(f"sentence index at {self.path} is for {state['model']}")
        rows = int(state["rows"])
        self._generation = gen = int(state.get("generation", 0))
        papers = np.load(self.path / f"papers-{gen}.npy")
        vectors: NDArray[np.int8] = np.zeros((0, self.dim), np.int8)
        scales: NDArray[np.float32] = np.zeros(0, np.float32)
        roles: NDArray[np.uint8] = np.zeros(0, np.uint8)
        if rows:
            vectors = np.memmap(self._file("rows.i8"), np.int8, "r", shape=(rows, self.dim))
            scales = np.memmap(self._file("scales.f32"), np.float32, "r", shape=(rows,))
            roles = np.memmap(self._file("roles.u8"), np.uint8, "r", shape=(rows,))
        self._vectors, self._scales, self._roles = vectors, scales, roles
        self._papers = papers
        self._rows = rows
        self.seq = int(state["seq"])
        self._state_mtime = state_path.stat().st_mtime

    def _file(self, name: str, generation: int | None = None) -> Path:
        stem, ext = name.split(".")
        return self.path / f"{stem}-{self._generation if generation is None else generation}.{ext}"

    def reload(self) -> None:
        """Pick up what a writer in another process published since."""
        state_path = self.path / STATE
        try:
            mtime = state_path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self._state_mtime:
            with self._lock:
                self._load()

    def __contains__(self, pk: int) -> bool:
        return 0 <= pk < len(self._papers) and self._papers[pk, 1] > 0

    def __len__(self) -> int:
        return int(np.count_nonzero(self._papers[:, 1])) if len(self._papers) else 0

    @property
    def live_rows(self) -> int:
        return int(self._papers[:, 1].sum()) if len(self._papers) else 0

    def get(self, pk: int) -> PaperSentences | None:
        """One paper's sentences, or ``None`` when it has none indexed."""
        found = self.get_many([pk])
        return found[0] if found else None

    def get_many(self, pks: Iterable[int]) -> list[PaperSentences]:
        """The papers of ``pks`` that have sentences, in the order given (one gather
        from the mapped files for all of them)."""
        papers = self._papers
        vectors, scales, roles = (np.asarray(a) for a in (self._vectors, self._scales, self._roles))
        wanted = [pk for pk in pks if 0 <= pk < len(papers) and papers[pk, 1] > 0]
        if not wanted:
            return []
        starts, counts = papers[wanted, 0], papers[wanted, 1]
        rows = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        matrix = vectors[rows].astype(np.float32) * scales[rows, None]
        codes = roles[rows]
        out: list[PaperSentences] = []
        at = 0
        for pk, n in zip(wanted, counts.tolist(), strict=True):
            out.append(
                PaperSentences(
                    pk, matrix[at : at + n], tuple(ROLES[int(c)] for c in codes[at : at + n])
                )
            )
            at += n
        return out

    # -- writing (the indexer) --------------------------------------------------------

    def _draft(self) -> NDArray[np.int64]:
        # The writer edits a copy of the paper table, so readers of this same object
        # never see rows that are not written yet; save() publishes it.
        if self._next is None:
            self._next = self._papers.copy()
        return self._next

    def put(self, pk: int, vectors: NDArray[np.float32], roles: Sequence[Role]) -> None:
        """Replace ``pk``'s sentences (an empty matrix removes it)."""
        if len(vectors) != len(roles):
            raise ValueError("one role per sentence vector")
        papers = self._grow(pk)
        if len(vectors) == 0:
            papers[pk] = (0, 0)
            return
        q, scales = quantise(np.asarray(vectors, np.float32))
        codes = np.array([ROLE_CODES[r] for r in roles], np.uint8)
        start = self._rows + self._pending_rows
        self._pending.append((q, scales, codes))
        self._pending_rows += len(q)
        papers[pk] = (start, len(q))

    def remove(self, pks: Iterable[int]) -> None:
        papers = self._draft()
        for pk in pks:
            if 0 <= pk < len(papers):
                papers[pk] = (0, 0)

    def _grow(self, pk: int) -> NDArray[np.int64]:
        papers = self._draft()
        if pk >= len(papers):
            grown = np.zeros((max(pk + 1, len(papers) * 2, 1024), 2), np.int64)
            grown[: len(papers)] = papers
            self._next = papers = grown
        return papers

    def save(self, seq: int) -> None:
        """Append the pending rows, then publish the paper table and the state (and
        compact first when dead rows have come to outnumber live ones)."""
        self.path.mkdir(parents=True, exist_ok=True)
        papers = self._draft()
        if self._pending:
            self._append()
        self._publish(papers, seq)
        live = int(papers[:, 1].sum())
        if self._rows and live < self._rows * (1 - DEAD_SHARE):
            self._publish(self._compact(papers), seq)

    def _publish(self, papers: NDArray[np.int64], seq: int) -> None:
        gen = self._generation
        tmp = self.path / "papers.npy.tmp"
        with tmp.open("wb") as fh:
            np.save(fh, papers)
        os.replace(tmp, self.path / f"papers-{gen}.npy")
        state: dict[str, Any] = {"seq": seq, "rows": self._rows, "model": self.model}
        state.update(dim=self.dim, generation=gen)
        tmp = self.path / f"{STATE}.tmp"
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self.path / STATE)
        self._next = None
        with self._lock:
            self._load()

    def _append(self) -> None:
        # Truncate to the published row count first: rows past it are a dead writer's.
        files = (("rows.i8", self.dim), ("scales.f32", 4), ("roles.u8", 1))
        for index, (name, width) in enumerate(files):
            with self._file(name).open("ab") as fh:
                fh.truncate(self._rows * width)
                for chunk in self._pending:
                    fh.write(chunk[index].tobytes())
                fh.flush()
                os.fsync(fh.fileno())
        self._rows += self._pending_rows
        self._pending, self._pending_rows = [], 0

    def _compact(self, papers: NDArray[np.int64]) -> NDArray[np.int64]:
        """Write the live rows to the next generation's files; the caller publishes it.
        Readers keep the previous generation (its files stay until the one after) until
        they reload. Runs on the published version, right after :meth:`_publish`."""
        compacted = np.zeros_like(papers)
        arrays: dict[str, NDArray[Any]] = {
            "rows.i8": self._vectors,
            "scales.f32": self._scales,
            "roles.u8": self._roles,
        }
        old, new = self._generation - 1, self._generation + 1
        for stale in self.path.glob(f"*-{old}.*"):
            stale.unlink()
        handles = {name: self._file(name, new).open("wb") for name in arrays}
        start = 0
        try:
            for pk in np.flatnonzero(papers[:, 1]):
                first, count = int(papers[pk, 0]), int(papers[pk, 1])
                for name, array in arrays.items():
                    chunk = np.ascontiguousarray(array[first : first + count])
                    handles[name].write(chunk.tobytes())
                compacted[pk] = (start, count)
                start += count
        finally:
            for fh in handles.values():
                fh.close()
        self._generation = new
        self._rows = start
        return compacted

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob("*") if p.is_file())

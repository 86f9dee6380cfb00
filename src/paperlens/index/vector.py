r"""Approximate nearest neighbours over paper embeddings: a usearch HNSW index on disk.

Keys are the store's integer ``pk``. Vectors are unit length, so inner product is
cosine similarity. The index lives in two files: the **main** graph, memory-mapped by
default (the OS pages it in on demand and shares it between processes; at 3M papers it
is ~3 GB), and a small **delta** of the papers added or changed since, held in memory
and saved beside it. A JSON state file records the change counter the index is current
to, the model, the HNSW settings, which delta file goes with the main one, and the keys
of the main graph that the delta replaces or that were removed. Saving a small change
(a submitted paper, a day's harvest) writes only the delta and the state; once the
delta outgrows ``compact_share`` of the main graph, :meth:`VectorIndex.save` folds it in
and rewrites the main file. Every file is written beside and renamed into place, the
state last, so a reader (another web worker) that reloads (:meth:`~VectorIndex.reload`) sees
one consistent version.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from usearch.index import Index

Vector = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW settings. The graph's quality (connectivity, expansion_add) matters more
    than the search breadth, so both are set high and searches use a breadth of 256,
    still cheap next to encoding the query: measured in bench/README.md (sections
    "Choosing the HNSW parameters" and "scale.py")."""

    connectivity: int = 32
    expansion_add: int = 256
    expansion_search: int = 256
    dtype: str = "f16"


def usearch_index_class() -> type[Index]:
    """usearch's ``Index``, imported on first use and after onnxruntime.

    usearch's extension carries its own statically linked C++ runtime, which breaks other
    native libraries loaded after it: Ray (``std::regex_error`` in ``ray.init``; a Ray
    driver, ``paperlens.embedding.ray``, imports this module before connecting) and
    onnxruntime, whose import then crashes the process (SIGSEGV; usearch 2.26.6,
    onnxruntime 1.32.0). So usearch is never imported at module load, and onnxruntime,
    the default encoder's runtime, is imported before it wherever it is installed.
    """
    with contextlib.suppress(ImportError):
        import onnxruntime  # noqa: F401  (only its load order matters here)
    from usearch.index import Index

    return Index


class DenseIndex(Protocol):
    """What the indexer and the retriever use of a dense index: :class:`VectorIndex`
    (usearch file) or :class:`paperlens.index.pgvector.PgVectorIndex` (PostgreSQL)."""

    model: str
    ndim: int
    checkpoint_every: int | None  # vectors between checkpoints of a long build, or None
    building: bool  # saved by a checkpoint: the build it belongs to is not finished

    @property
    def seq(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, pk: int) -> bool: ...
    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None: ...
    def remove(self, keys: NDArray[np.uint64]) -> None: ...
    def save(self, seq: int) -> None: ...
    def checkpoint(self, seq: int) -> bool: ...
    def reload(self) -> bool: ...
    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]: ...
    def get(self, pk: int) -> Vector | None: ...
    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]: ...


# Reachability. usearch's concurrent ``add()`` can leave a node stored but unreachable by
# any search (unum-cloud/USearch#735, open as of 2.26), and the neighbour pruning of later
# inserts strands a few more: papers that no query would ever return (how many:
# bench/README.md, section "hnsw_reach.py"). So every graph is checked before it is
# published: each node is searched for with its own vector, and the ones not found are
# re-inserted on one thread.
REACH_CHECK_EF = 16  # the whole-graph pass searches narrowly; a miss is re-inserted
REACH_CHUNK = 65_536  # vectors fetched from the graph per step of the whole-graph pass
REACH_ROUNDS = 3


@contextlib.contextmanager
def _search_breadth(index: Index, expansion: int) -> Iterator[None]:
    """Search ``index`` with another ``expansion_search`` meanwhile. usearch has no
    per-call setting, so other searches of this graph in this process use it too: only
    a writer (a build, a fold) does this, on a graph no reader has yet."""
    breadth = index.expansion_search
    setattr(index, "expansion_search", expansion)  # noqa: B010 (typed read-only; it works)
    try:
        yield
    finally:
        setattr(index, "expansion_search", breadth)  # noqa: B010


def _unreached(
    index: Index, keys: NDArray[np.uint64], vectors: Vector, threads: int
) -> NDArray[np.bool_]:
    """Which of ``keys`` a search for their own vector does not return (top 4, so a
    few exact duplicates do not count)."""
    found = np.asarray(index.search(vectors, min(4, len(index)), threads=threads).keys)
    hit: NDArray[np.bool_] = (found.reshape(len(keys), -1) == keys[:, None]).any(axis=1)
    return ~hit


def _reinsert(index: Index, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> int:
    """Re-insert ``keys`` one at a time until a full-breadth search finds each (at most
    ``REACH_ROUNDS`` tries); returns how many insertions that took."""
    inserted = 0
    for _ in range(REACH_ROUNDS):
        if len(keys) == 0:
            break
        index.remove(keys)
        index.add(keys, vectors, threads=1)
        inserted += len(keys)
        lost = _unreached(index, keys, vectors, threads)
        keys, vectors = keys[lost], vectors[lost]
    return inserted


def add_reachable(index: Index, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> int:
    """Add to a small graph (the delta) and re-insert what a search cannot find at once;
    returns how many were re-inserted."""
    keys = np.asarray(keys, dtype=np.uint64)
    vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), -1)
    index.add(keys, vectors, threads=threads)
    lost = _unreached(index, keys, vectors, threads)
    return _reinsert(index, keys[lost], vectors[lost], threads)


def repair_reachability(index: Index, threads: int = 0) -> int:
    """Search every node of ``index`` for its own vector (narrowly, ``REACH_CHECK_EF``)
    and re-insert the ones not found; returns how many were re-inserted. Its cost against
    the build's: bench/README.md (section "hnsw_reach.py")."""
    if len(index) == 0:
        return 0
    every = np.asarray(index.keys[:], dtype=np.uint64)
    lost_keys: list[NDArray[np.uint64]] = []
    lost_vectors: list[Vector] = []
    with _search_breadth(index, min(REACH_CHECK_EF, index.expansion_search)):
        for start in range(0, len(every), REACH_CHUNK):
            keys = every[start : start + REACH_CHUNK]
            rows = cast(tuple[NDArray[Any], ...], index.get(keys))
            vectors = np.vstack(rows).astype(np.float32)
            lost = _unreached(index, keys, vectors, threads)
            lost_keys.append(keys[lost])
            lost_vectors.append(vectors[lost])
    return _reinsert(index, np.concatenate(lost_keys), np.vstack(lost_vectors), threads)


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


#: The delta is folded into the main graph (which is then rewritten) once it holds this
#: share of the main graph's size, and at least ``COMPACT_MIN`` changes; until then a
#: save writes only the delta. Past that point a long update (a first build, a big
#: harvest) inserts straight into a writable main graph (each vector is inserted once).
COMPACT_SHARE = 0.05
COMPACT_MIN = 20_000
#: A long build saves the main graph every this many vectors, so a crash loses at most
#: that much work (``paperlens index`` resumes from the last checkpoint).
CHECKPOINT_EVERY = 500_000


class VectorIndex:
    """A usearch HNSW index on disk: main graph (mapped or loaded) + in-memory delta.

    ``view=True`` (the default) memory-maps the main graph; ``view=False`` loads it
    into memory. Small changes go to the delta; keys of the main graph that were
    replaced or removed are ``masked`` and never returned from it. Once the changes
    outgrow the delta threshold the index switches to *bulk* mode: the main graph is
    loaded writable (the delta folded in) and later changes go straight into it.
    """

    checkpoint_every: int | None = CHECKPOINT_EVERY

    def __init__(
        self,
        path: Path,
        ndim: int,
        model: str,
        params: HnswParams | None = None,
        *,
        view: bool = True,
        compact_share: float = COMPACT_SHARE,
        compact_min: int = COMPACT_MIN,
    ) -> None:
        self.path = path
        self.state_path = path.with_name(path.name + ".json")
        self.ndim = ndim
        self.model = model
        self.params = params or HnswParams()
        self.view = view
        self.compact_share = compact_share
        self.compact_min = compact_min
        self.seq = 0
        self.main_id: str | None = None
        self.building = False  # saved by a checkpoint of a long build, not yet finished
        self._bulk = False  # changes go straight into a writable main graph
        self._main_mapped = False
        self.delta_file: str | None = None
        self._state_mtime: int | None = None
        self.main = self._new_index()
        self.delta = self._new_index()
        self.masked: set[int] = set()
        # Changes since the last save: a reload then would drop them, so it waits.
        self._dirty = False
        self._lock = threading.RLock()
        self.reload()

    @staticmethod
    def _state_of(path: Path) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(
                path.with_name(path.name + ".json").read_text(encoding="utf-8")
            )
        except FileNotFoundError:
            return None
        return state

    @staticmethod
    def saved_ndim(path: Path) -> int | None:
        state = VectorIndex._state_of(path)
        return int(state["ndim"]) if state else None

    @staticmethod
    def saved_count(path: Path) -> int:
        state = VectorIndex._state_of(path)
        return int(state["count"]) if state else 0

    def _new_index(self) -> Index:
        Index = usearch_index_class()
        return Index(
            ndim=self.ndim,
            metric="ip",
            dtype=self.params.dtype,
            connectivity=self.params.connectivity,
            expansion_add=self.params.expansion_add,
            expansion_search=self.params.expansion_search,
            multi=False,
        )

    @property
    def index(self) -> Index:
        """The main graph (everything, right after a full build or a compaction)."""
        return self.main

    # -- reading the saved state --------------------------------------------------------

    def reload(self) -> bool:
        """(Re)load the saved index if the saved one differs from what is in memory:
        the main graph only if it was rewritten, the (small) delta always. A saved index
        for another model or dimension is ignored (and will be rebuilt); so is any while
        this process holds unsaved changes."""
        with self._lock:
            return False if self._dirty else self._reload()

    def _reload(self) -> bool:
        try:
            mtime = self.state_path.stat().st_mtime_ns
        except FileNotFoundError:
            return False
        if mtime == self._state_mtime:
            return False
        state = self._state_of(self.path)
        if (
            state is None
            or state.get("model") != self.model
            or state.get("ndim") != self.ndim
            or not self.path.exists()
        ):
            return False
        # Indexes saved before the delta existed have no main_id: their file is the main.
        main_id = str(state.get("main_id") or f"legacy-{mtime}")
        delta_file = state.get("delta")
        try:
            delta = self._new_index()
            if delta_file:
                delta.load(str(self.path.with_name(delta_file)))
            if main_id != self.main_id:
                main = self._open_main(int(state.get("main_count", state["count"])))
                self.main, self.main_id = main, main_id
        except (FileNotFoundError, RuntimeError):
            return False  # replaced under us by a newer save: pick that one up next time
        self.delta, self.delta_file = delta, delta_file
        self.masked = {int(k) for k in state.get("masked", [])}
        self.building = bool(state.get("building", False))
        self.seq = int(state["seq"])
        self._state_mtime = mtime
        return True

    def _open_main(self, count: int) -> Index:
        if not self.path.exists():
            raise FileNotFoundError(self.path)
        main = self._new_index()
        self._main_mapped = False
        if count == 0:
            return main  # nothing to map; stays writable
        if self.view:
            main.view(str(self.path))
            self._main_mapped = True
        else:
            main.load(str(self.path))
        return main

    def reset(self) -> None:
        self.main, self.delta, self.masked = self._new_index(), self._new_index(), set()
        self.main_id = self.delta_file = None
        self.seq, self.building, self._bulk, self._main_mapped = 0, False, False, False

    # -- membership -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.main) - len(self.masked) + len(self.delta)

    def __contains__(self, pk: int) -> bool:
        if self.delta.contains(pk):
            return True
        return pk not in self.masked and bool(self.main.contains(pk))

    def _present(self, index: Index, keys: NDArray[np.uint64]) -> NDArray[np.bool_]:
        if len(index) == 0:
            return np.zeros(len(keys), dtype=bool)
        return np.atleast_1d(np.asarray(index.contains(keys), dtype=bool))

    # -- changes (to the delta) ---------------------------------------------------------

    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None:
        if len(keys) == 0:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        with self._lock:
            pending = len(self.delta) + len(self.masked) + len(keys)
            if not self._bulk and pending > self._threshold():
                self._enter_bulk()
            self.remove(keys)
            if self._bulk:  # checked whole before it is published (_write_main)
                self.main.add(keys, vectors, threads=threads)
            else:
                add_reachable(self.delta, keys, vectors, threads)

    def remove(self, keys: NDArray[np.uint64]) -> None:
        if len(keys) == 0:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        with self._lock:
            self._dirty = True
            in_main = self._present(self.main, keys)
            if self._bulk:
                if in_main.any():
                    self.main.remove(keys[in_main])
                return
            in_delta = self._present(self.delta, keys)
            if in_delta.any():
                self.delta.remove(keys[in_delta])
            self.masked.update(int(k) for k in keys[in_main])

    def _threshold(self) -> float:
        return max(self.compact_min, self.compact_share * len(self.main))

    def _enter_bulk(self) -> None:
        """Make the main graph writable, with the delta and the masked keys folded in."""
        if len(self.main) == 0:
            main = self.delta  # a first build: the delta is everything so far
        else:
            main = self.main
            if self._main_mapped:  # a mapped graph is read-only: work on a loaded copy
                main = self._new_index()
                main.load(str(self.path))
            if self.masked:
                main.remove(np.fromiter(self.masked, dtype=np.uint64, count=len(self.masked)))
            if len(self.delta):
                keys = np.asarray(self.delta.keys[:], dtype=np.uint64)
                rows = cast(tuple[NDArray[Any], ...], self.delta.get(keys))
                main.add(keys, np.vstack(rows).astype(np.float32))
        self.main, self._main_mapped = main, False
        self.delta, self.masked, self._bulk = self._new_index(), set(), True

    # -- saving -----------------------------------------------------------------------

    def save(self, seq: int) -> None:
        """Publish the index as current to change counter ``seq``: the delta alone while
        it is small, else the whole main graph (then memory-mapped again)."""
        with self._lock:
            changes = len(self.delta) + len(self.masked)
            small = changes <= self._threshold() and len(self.main) > 0
            if self._bulk or not small or not self.path.exists():
                self._write_main(remap=True)
            else:
                self._save_delta()
            self._write_state(seq, building=False)
            self._dirty = False

    def checkpoint(self, seq: int) -> bool:
        """Mid-way through a long build, save the main graph as current to ``seq`` and
        keep building; a crash then resumes from here. Only in bulk mode (else the
        changes are small and :meth:`save` is cheap): returns whether it saved."""
        with self._lock:
            if not self._bulk:
                return False
            self._write_main(remap=False)
            self._write_state(seq, building=True)
            return True

    def _write_state(self, seq: int, *, building: bool) -> None:
        self.seq, self.building = seq, building
        state: dict[str, Any] = {
            "seq": seq,
            "model": self.model,
            "ndim": self.ndim,
            "count": len(self),
            "hnsw": asdict(self.params),
            "main_id": self.main_id,
            "main_count": len(self.main),
            "delta": self.delta_file,
            "masked": sorted(self.masked),
            "building": building,
        }
        _atomic_write_text(self.state_path, json.dumps(state))
        self._state_mtime = self.state_path.stat().st_mtime_ns
        self._remove_stale_deltas()

    def _write_main(self, *, remap: bool) -> None:
        """Write the main graph (the delta folded in) beside, rename it into place; with
        ``remap``, leave bulk mode and map the new file (the built graph's memory is
        given back)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._bulk:
            self._enter_bulk()
        if remap:  # a finished build or fold (checkpoints skip it; the end does it)
            repair_reachability(self.main)
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.main.save(str(tmp))
        os.replace(tmp, self.path)
        self.main_id, self.delta_file = secrets.token_hex(8), None
        if remap:
            self._bulk = False
            if self.view and len(self.main):
                self.main = self._open_main(len(self.main))

    def _save_delta(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if len(self.delta) == 0:
            self.delta_file = None
            return
        name = f"{self.path.name}.delta-{secrets.token_hex(6)}"
        tmp = self.path.with_name(name + ".tmp")
        self.delta.save(str(tmp))
        os.replace(tmp, self.path.with_name(name))
        self.delta_file = name

    def _remove_stale_deltas(self) -> None:
        for stale in self.path.parent.glob(f"{self.path.name}.delta-*"):
            if stale.name != self.delta_file:
                stale.unlink(missing_ok=True)

    # -- searching --------------------------------------------------------------------

    @staticmethod
    def _matches(index: Index, vector: Vector, count: int) -> list[tuple[int, float]]:
        matches = index.search(vector, count)
        return [
            (int(key), 1.0 - float(d))
            for key, d in zip(matches.keys, matches.distances, strict=True)
        ]

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest keys with their cosine similarity, best first."""
        main, delta, masked = self.main, self.delta, self.masked  # one version throughout
        if k <= 0:
            return []
        found = self._matches(delta, vector, min(k, len(delta))) if len(delta) else []
        total = len(main)
        if total:
            # Over-fetch in proportion to the masked share, and more while short.
            fetch = min(total, k + (8 + math.ceil(2 * k * len(masked) / total) if masked else 0))
            while True:
                kept = [
                    (key, s) for key, s in self._matches(main, vector, fetch) if key not in masked
                ]
                if len(kept) >= k or fetch >= total:
                    break
                fetch = min(total, fetch * 4)
            found += kept
        found.sort(key=lambda hit: -hit[1])
        return found[:k]

    def get(self, pk: int) -> Vector | None:
        v = self.delta.get(pk) if self.delta.contains(pk) else None
        if v is None and pk not in self.masked:
            v = self.main.get(pk) if len(self.main) else None
        return None if v is None else np.asarray(v, dtype=np.float32)

    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]:
        """Vectors of those ``pks`` present, as a matrix, with the pks found (in one
        batched lookup per graph: the exact path of a filtered search asks for
        thousands)."""
        main, delta, masked = self.main, self.delta, self.masked
        keys = np.asarray(pks, dtype=np.uint64)
        in_delta = self._present(delta, keys)
        from_main = ~in_delta & self._present(main, keys)
        if masked:
            from_main &= np.array([int(k) not in masked for k in keys], dtype=bool)
        rows: dict[int, NDArray[Any]] = {}
        for index, wanted in ((delta, in_delta), (main, from_main)):
            chosen = keys[wanted]
            if len(chosen):
                got = cast(tuple[NDArray[Any] | None, ...], index.get(chosen))
                rows.update((int(k), v) for k, v in zip(chosen, got, strict=True) if v is not None)
        found = [pk for pk in pks if pk in rows]
        if not found:
            return [], np.zeros((0, self.ndim), dtype=np.float32)
        return found, np.vstack([rows[pk] for pk in found]).astype(np.float32)

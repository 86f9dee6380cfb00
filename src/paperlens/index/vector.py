r"""Approximate nearest neighbours over paper embeddings: usearch HNSW graphs on disk.

Keys are the store's integer ``pk``. Vectors are unit length, so inner product is
cosine similarity. The index lives in these files (``NAME`` is the index path):

* ``NAME``, the **main** graph, memory-mapped by default (shared between processes).
  It holds **compressed** codes of the vectors (``HnswParams.main_dtype``, 8-bit by
  default: 384 bytes a paper at 384 dimensions, half of float16), so less of it has to
  be resident and it builds faster (bench/README.md, section "ann.py"). Its ``rerank``
  best candidates for a query are re-scored exactly.
* ``NAME.rows-ID`` and ``NAME.keys-ID.npy``, its **rows file**: the full vectors
  (``HnswParams.dtype``, float16) of exactly the keys the main graph holds, one row
  each, in ascending key order, and those keys (sorted, so row = searchsorted(keys,
  key)). Rows are read with ``os.pread``: they live in the OS page cache, shared by
  every process, not in a process's resident memory. ``ID`` is the main graph's
  ``main_id``: a graph and its rows file are written, renamed into place and replaced
  together, and a reader opens the pair a state file names.
* ``NAME.delta-X``: a small exact graph (float16, ``connectivity``) of the papers added
  or changed since, held in memory and saved beside it. Its vectors are the full ones.
* ``NAME.json``, the state: the change counter the index is current to, the model, the
  layout (graph codes and rows precision; a saved index of another layout is ignored and
  rebuilt), which delta and rows file go with the main graph, and the keys of the main
  graph that the delta replaces or that were removed (``masked``: never returned from it;
  their rows stay in the rows file until the next rewrite).

Saving a small change (a submitted paper, a day's harvest) writes only the delta and the
state; once the delta outgrows ``compact_share`` of the main graph, :meth:`VectorIndex.save`
folds it in (*bulk* mode: the main graph loaded writable, changes added straight to it and
their full vectors appended to a scratch **journal** file ``NAME.journal-X``) and rewrites
the main graph and the rows file (old rows + journal, the latest row of a key winning,
only keys the graph still holds). A checkpoint of a long build does the same without
leaving bulk mode. Every file is written beside and renamed into place, the state last,
so a reader (another web worker) that reloads (:meth:`~VectorIndex.reload`) sees one
consistent version; files of older versions are unlinked (a reader that has them open
keeps reading them).

``get`` / ``get_many`` return full vectors (delta graph, journal or rows file), never the
compressed codes. With ``rerank=0`` the main graph is a plain ``dtype`` graph and there is
no rows file (the layout before 2026-12).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import threading
from collections.abc import Callable, Container, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from usearch.index import Index

Vector = NDArray[np.float32]
#: A filter of a dense search: which of these keys pass (see :meth:`DenseIndex.search`).
Keep = Callable[[list[int]], Container[int]]


@dataclass(frozen=True, slots=True)
class HnswParams:
    """HNSW settings (bench/README.md, sections "ann.py", "Choosing the HNSW parameters"
    and "scale.py").

    ``connectivity``, ``expansion_add`` and ``dtype`` are those of the exact graphs: the
    delta (and PostgreSQL's pgvector index); ``dtype`` is also the precision of the rows
    file. The main graph holds ``main_dtype`` codes with ``main_connectivity`` links,
    searched with ``expansion_search``; its best ``rerank`` candidates are re-scored with
    the full vectors (``rerank=0``: a plain ``dtype`` graph with the exact settings, no
    rows file). 8-bit codes make the main graph ~660 bytes a paper instead of ~1,045
    (what a server maps) and cheaper to build; re-scoring 200 candidates gives recall
    above the float16 graph's top 10. Fewer links (16, 24) were smaller and faster to
    build but lost recall on dense corpora: bench/README.md, section "ann.py".
    """

    connectivity: int = 32
    expansion_add: int = 256
    expansion_search: int = 256
    dtype: str = "f16"
    main_dtype: str = "i8"
    main_connectivity: int = 32
    main_expansion_add: int = 256
    rerank: int = 200


#: numpy types of the rows file, by ``HnswParams.dtype``.
_ROW_DTYPES = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


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
    def search(
        self, vector: Vector, k: int, *, fetch: int = 0, keep: Keep | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest keys, best first; with ``keep``, the nearest of those it
        passes among the ``fetch`` (at least ``k``) nearest candidates."""
        ...

    def get(self, pk: int) -> Vector | None: ...
    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]: ...


# Reachability. usearch's concurrent ``add()`` can leave a node stored but unreachable by
# any search (unum-cloud/USearch#735, open as of 2.26), and the neighbour pruning of later
# inserts strands a few more: papers that no query would ever return (how many:
# bench/README.md, section "hnsw_reach.py"). So every main graph is checked before it is
# published: each node is searched for with its own stored vector (narrowly), the misses
# are confirmed at full breadth and re-inserted on one thread; re-inserting a node prunes
# its new neighbours' lists, which can strand others, so the neighbourhoods of the
# re-inserted nodes are checked again, round after round, until a round finds nothing.
# A last whole-graph pass then finds what is still stranded (a handful at 1M papers:
# re-inserting never links some of them back) and changes nothing in the graph, so its
# answer is final: :class:`VectorIndex` moves those papers to the delta (an exact small
# graph searched with every query) and masks them in the main graph. No paper is left
# that a search cannot return.
#
# A compressed graph (8-bit codes) is checked with the full vectors (``queries``: its rows
# file), not with its codes: a query arrives as floats, and in a sparse graph a search
# from the float vector can take another path than one from the node's own code (seen
# at connectivity 4: found by its code, missed by its vector, about 1 build in 30).
REACH_CHECK_EF = 16  # the whole-graph pass searches narrowly; a miss is then confirmed
REACH_CHUNK = 65_536  # vectors fetched from the graph per step of the whole-graph pass
REACH_ROUNDS = 3  # insertions of one node before giving up on it in a round
REACH_NEIGHBOURHOOD = 32  # nearest nodes re-checked around each re-inserted node
REACH_LOCAL_ROUNDS = 8


@dataclass(frozen=True, slots=True)
class Repair:
    """What :func:`repair_reachability` did: re-insertions, rounds of neighbourhood
    checks, and the nodes still stranded after them (found by a final whole-graph pass
    that changed nothing: for the caller to serve some other way)."""

    reinserted: int = 0
    rounds: int = 0
    stranded: tuple[int, ...] = ()


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


#: The vectors a reachability check searches with for some keys (all in the graph).
Queries = Callable[[NDArray[np.uint64]], NDArray[Any]]


def _stored(index: Index, keys: NDArray[np.uint64]) -> NDArray[Any]:
    """The stored vectors (or binary codes) of ``keys``, all present, in a form
    ``index.add`` takes back: float32 for float graphs, packed bytes for ``b1``."""
    rows = np.vstack(cast(tuple[NDArray[Any], ...], index.get(keys)))
    return rows if rows.dtype in (np.uint8, np.int8) else rows.astype(np.float32)


def _unreached(
    index: Index, keys: NDArray[np.uint64], vectors: NDArray[Any], threads: int
) -> NDArray[np.bool_]:
    """Which of ``keys`` a search for their own vector does not return (top 4, so a
    few exact duplicates do not count)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=bool)
    found = np.asarray(index.search(vectors, min(4, len(index)), threads=threads).keys)
    hit: NDArray[np.bool_] = (found.reshape(len(keys), -1) == keys[:, None]).any(axis=1)
    return ~hit


def _reinsert(
    index: Index, keys: NDArray[np.uint64], vectors: NDArray[Any], threads: int = 0
) -> tuple[int, NDArray[np.uint64]]:
    """Re-insert ``keys`` one thread at a time until a full-breadth search finds each
    (at most ``REACH_ROUNDS`` tries); returns how many insertions that took and the
    keys still not found."""
    inserted = 0
    for _ in range(REACH_ROUNDS):
        if len(keys) == 0:
            break
        index.remove(keys)
        index.add(keys, vectors, threads=1)
        inserted += len(keys)
        lost = _unreached(index, keys, vectors, threads)
        keys, vectors = keys[lost], vectors[lost]
    return inserted, keys


def add_reachable(
    index: Index, keys: NDArray[np.uint64], vectors: NDArray[Any], threads: int = 0
) -> int:
    """Add to a small graph (the delta) and re-insert what a search cannot find at once;
    returns how many were re-inserted."""
    keys = np.asarray(keys, dtype=np.uint64)
    vectors = np.asarray(vectors).reshape(len(keys), -1)
    if vectors.dtype not in (np.uint8, np.int8):
        vectors = vectors.astype(np.float32)
    index.add(keys, vectors, threads=threads)
    lost = _unreached(index, keys, vectors, threads)
    return _reinsert(index, keys[lost], vectors[lost], threads)[0]


def _narrow_misses(index: Index, threads: int, queries: Queries) -> NDArray[np.uint64]:
    """Every node searched for with its own vector at ``REACH_CHECK_EF``: the missed."""
    every = np.asarray(index.keys[:], dtype=np.uint64)
    missed: list[NDArray[np.uint64]] = []
    with _search_breadth(index, min(REACH_CHECK_EF, index.expansion_search)):
        for start in range(0, len(every), REACH_CHUNK):
            keys = every[start : start + REACH_CHUNK]
            missed.append(keys[_unreached(index, keys, queries(keys), threads)])
    return np.concatenate(missed) if missed else np.zeros(0, dtype=np.uint64)


def _repair_local(
    index: Index, suspects: NDArray[np.uint64], threads: int, queries: Queries
) -> tuple[int, int, NDArray[np.uint64]]:
    """Confirm ``suspects`` at full breadth, re-insert the lost, then re-check the
    neighbourhoods of the re-inserted until a round finds nothing (or
    ``REACH_LOCAL_ROUNDS``). Returns insertions, rounds, and keys given up on."""
    inserted = rounds = 0
    given_up: list[NDArray[np.uint64]] = []
    check = np.unique(suspects)
    while len(check) and rounds < REACH_LOCAL_ROUNDS:
        rounds += 1
        vectors = queries(check)
        lost = _unreached(index, check, vectors, threads)
        if not lost.any():
            break
        keys, vectors = check[lost], vectors[lost]
        done, failed = _reinsert(index, keys, vectors, threads)
        inserted += done
        given_up.append(failed)
        near = np.asarray(
            index.search(vectors, min(REACH_NEIGHBOURHOOD, len(index)), threads=threads).keys
        ).ravel()
        check = np.setdiff1d(np.unique(near.astype(np.uint64)), keys)
        check = check[np.atleast_1d(np.asarray(index.contains(check), dtype=bool))]
    left = np.concatenate(given_up) if given_up else np.zeros(0, dtype=np.uint64)
    return inserted, rounds, left


def repair_reachability(index: Index, threads: int = 0, queries: Queries | None = None) -> Repair:
    """Re-insert the nodes of ``index`` that a search for their own vector (from
    ``queries``, default: the graph's stored vectors) misses, then list those still
    stranded (see the comment above). Its cost against the build's: bench/README.md
    (sections "hnsw_reach.py" and "ann.py")."""
    if len(index) == 0:
        return Repair()
    suspects = unreachable_keys(index, threads, queries)
    inserted, rounds, _ = _repair_local(index, suspects, threads, queries or _stored_of(index))
    stranded = unreachable_keys(index, threads, queries)  # the graph is final from here on
    return Repair(inserted, rounds, tuple(int(k) for k in stranded))


def unreachable_keys(
    index: Index, threads: int = 0, queries: Queries | None = None
) -> NDArray[np.uint64]:
    """Nodes a full-breadth search for their own vector (from ``queries``, default: the
    graph's stored vectors) does not return (top 4)."""
    if len(index) == 0:
        return np.zeros(0, dtype=np.uint64)
    queries = queries or _stored_of(index)
    suspects = _narrow_misses(index, threads, queries)
    if len(suspects) == 0:
        return suspects
    return suspects[_unreached(index, suspects, queries(suspects), threads)]


def _stored_of(index: Index) -> Queries:
    return lambda keys: _stored(index, keys)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
#: Rows of the rows file at most this many apart are read with one ``preadv`` (the gap
#: is read too; gaps of 0 to 32 rows measured alike at 20,000 of 100k rows, 4 a little
#: best: bench/README.md, section "ann.py"), within spans of at most ``READ_SPAN`` rows.
READ_GAP = 4
READ_SPAN = 8192
#: A long build saves the main graph every this many vectors, so a crash loses at most
#: that much work (``paperlens index`` resumes from the last checkpoint).
CHECKPOINT_EVERY = 500_000


class _Rows:
    """The full vectors of the main graph's keys: a flat file of rows (``dtype``) in
    ascending key order, with the sorted keys beside it (``.npy``, mapped: a lookup
    touches a few pages). Rows are read with ``os.pread``, so they sit in the OS page
    cache, shared by every process, and never in a process's resident memory."""

    def __init__(self, rows: Path, keys: Path, ndim: int, dtype: np.dtype[Any]) -> None:
        self.keys: NDArray[np.uint64] = np.load(keys, mmap_mode="r")
        self.ndim, self.dtype = ndim, dtype
        self.row_bytes = ndim * dtype.itemsize
        self.fd = os.open(rows, os.O_RDONLY)
        if os.fstat(self.fd).st_size != len(self.keys) * self.row_bytes:
            os.close(self.fd)
            raise RuntimeError(f"{rows} does not match {keys}")

    def __del__(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            os.close(self.fd)

    def rows_of(self, keys: NDArray[np.uint64]) -> NDArray[np.int64]:
        """Row numbers of ``keys`` (-1 where absent)."""
        if len(self.keys) == 0 or len(keys) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, at, -1).astype(np.int64)

    def vectors(self, keys: NDArray[np.uint64]) -> NDArray[np.float32]:
        """The rows of ``keys`` (all present, distinct, in any order), as float32."""
        at = self.rows_of(keys)
        if (at < 0).any():
            raise KeyError(f"{int((at < 0).sum())} keys have no row")
        order = np.argsort(at, kind="stable")
        out = np.empty((len(keys), self.ndim), dtype=np.float32)
        out[order] = self.read(at[order])
        return out

    def read(self, rows: NDArray[np.int64]) -> NDArray[Any]:
        """Rows ``rows`` (all present, ascending) in the file's ``dtype``, in that order.

        Rows at most :data:`READ_GAP` rows apart are read together, one ``pread`` of the
        span between them (the rows in the gap are read and dropped: cheaper than a
        system call each), and a span never crosses a :data:`READ_SPAN`-row boundary,
        so one read stays a few MB however dense the request. The exact path of a
        filtered search asks for up to 20,000 rows: a few hundred reads instead of one
        per row (bench/README.md, section "ann.py")."""
        count = len(rows)
        if count == 0:
            return np.empty((0, self.ndim), dtype=self.dtype)
        rows = np.asarray(rows, dtype=np.int64)
        apart = (np.diff(rows) > READ_GAP) | (rows[1:] // READ_SPAN != rows[:-1] // READ_SPAN)
        group = np.concatenate(([0], np.cumsum(apart)))
        starts = np.flatnonzero(np.concatenate(([True], apart)))
        firsts = rows[starts]
        spans = rows[np.concatenate((starts[1:], [count])) - 1] - firsts + 1
        offsets = np.cumsum(spans) - spans
        # The spans, back to back, read straight into one buffer (no joining copy).
        block = np.empty((int(spans.sum()), self.ndim), dtype=self.dtype)
        view = block.data.cast("B")
        size = self.row_bytes
        for first, span, offset in zip(
            firsts.tolist(), spans.tolist(), offsets.tolist(), strict=True
        ):
            want, at = span * size, offset * size
            if os.preadv(self.fd, [view[at : at + want]], first * size) != want:
                raise RuntimeError(f"short read of the rows file (row {first})")
        chosen: NDArray[Any] = block[rows - firsts[group] + offsets[group]]
        return chosen


class _Journal:
    """Full vectors added to a writable main graph since its rows file was written
    (a bulk build, a fold): appended to a scratch file, keys kept in memory; merged
    into the next rows file by :meth:`VectorIndex._write_rows`."""

    def __init__(self, path: Path, ndim: int, dtype: np.dtype[Any]) -> None:
        self.path, self.ndim, self.dtype = path, ndim, dtype
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("wb")
        self.parts: list[NDArray[np.uint64]] = []
        self.count = 0
        self._lookup: tuple[NDArray[np.uint64], NDArray[np.int64]] | None = None

    def append(self, keys: NDArray[np.uint64], vectors: Vector) -> None:
        self.fh.write(np.ascontiguousarray(vectors, dtype=self.dtype).tobytes())
        self.parts.append(np.asarray(keys, dtype=np.uint64).copy())
        self.count += len(keys)
        self._lookup = None

    def keys(self) -> NDArray[np.uint64]:
        return np.concatenate(self.parts) if self.parts else np.zeros(0, dtype=np.uint64)

    def matrix(self) -> NDArray[Any]:
        self.fh.flush()
        if self.count == 0:
            return np.zeros((0, self.ndim), dtype=self.dtype)
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count, self.ndim))

    def find(self, keys: NDArray[np.uint64]) -> tuple[NDArray[np.bool_], Vector]:
        """Which of ``keys`` the journal holds, and their latest vectors."""
        if self.count == 0:
            return np.zeros(len(keys), dtype=bool), np.zeros((0, self.ndim), dtype=np.float32)
        if self._lookup is None:
            every = self.keys()
            last = len(every) - 1 - np.unique(every[::-1], return_index=True)[1]
            self._lookup = (every[last], last.astype(np.int64))
        sorted_keys, rows = self._lookup
        at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        hit = sorted_keys[at] == keys
        return hit, np.asarray(self.matrix()[rows[at[hit]]], dtype=np.float32)

    def close(self) -> None:
        self.fh.close()
        self.path.unlink(missing_ok=True)


class VectorIndex:
    """A usearch HNSW index on disk: main graph (mapped or loaded) + its rows file +
    in-memory delta (module docstring).

    ``view=True`` (the default) memory-maps the main graph; ``view=False`` loads it
    into memory. Small changes go to the delta; keys of the main graph that were
    replaced or removed are ``masked`` and never returned from it. Once the changes
    outgrow the delta threshold the index switches to *bulk* mode: the main graph is
    loaded writable (the delta folded in) and later changes go straight into it (their
    full vectors to the journal).
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
        self._row_dtype = np.dtype(_ROW_DTYPES[self.params.dtype])
        self.main = self._new_main()
        self.delta = self._new_delta()
        self.rows: _Rows | None = None  # the main graph's full vectors (when it reranks)
        self.journal: _Journal | None = None  # full vectors added since, in bulk mode
        self.masked: set[int] = set()
        # Changes since the last save: a reload then would drop them, so it waits.
        self._dirty = False
        self._lock = threading.RLock()
        self.reload()

    @property
    def reranks(self) -> bool:
        """Whether the main graph holds compressed codes, re-ranked with a rows file."""
        return self.params.rerank > 0

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

    def _new_index(self, dtype: str, connectivity: int, expansion_add: int) -> Index:
        Index = usearch_index_class()
        return Index(
            ndim=self.ndim,
            metric="ip",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=self.params.expansion_search,
            multi=False,
        )

    def _new_main(self) -> Index:
        p = self.params
        if not self.reranks:
            return self._new_index(p.dtype, p.connectivity, p.expansion_add)
        return self._new_index(p.main_dtype, p.main_connectivity, p.main_expansion_add)

    def _new_delta(self) -> Index:
        p = self.params
        return self._new_index(p.dtype, p.connectivity, p.expansion_add)

    def _layout(self) -> dict[str, Any]:
        """What a saved main graph must match to be used (else it is rebuilt)."""
        p = self.params
        if not self.reranks:
            return {"graph": p.dtype, "rows": None}
        return {"graph": p.main_dtype, "rows": p.dtype}

    def _side_paths(self, main_id: str) -> tuple[Path, Path]:
        return (
            self.path.with_name(f"{self.path.name}.rows-{main_id}"),
            self.path.with_name(f"{self.path.name}.keys-{main_id}.npy"),
        )

    @property
    def index(self) -> Index:
        """The main graph (everything, right after a full build or a compaction)."""
        return self.main

    # -- reading the saved state --------------------------------------------------------

    def reload(self) -> bool:
        """(Re)load the saved index if the saved one differs from what is in memory:
        the main graph (and its rows file) only if it was rewritten, the (small) delta
        always. A saved index for another model, dimension or layout is ignored (and
        will be rebuilt); so is any while this process holds unsaved changes."""
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
            or state.get("layout", {"graph": state.get("hnsw", {}).get("dtype"), "rows": None})
            != self._layout()
            or not self.path.exists()
        ):
            return False
        # Indexes saved before the delta existed have no main_id: their file is the main.
        main_id = str(state.get("main_id") or f"legacy-{mtime}")
        delta_file = state.get("delta")
        try:
            delta = self._new_delta()
            if delta_file:
                delta.load(str(self.path.with_name(delta_file)))
            if main_id != self.main_id:
                count = int(state.get("main_count", state["count"]))
                rows = self._open_rows(main_id) if self.reranks and count else None
                main = self._open_main(count)
                self.main, self.main_id, self.rows = main, main_id, rows
        except (FileNotFoundError, RuntimeError, ValueError):
            return False  # replaced under us by a newer save: pick that one up next time
        self.delta, self.delta_file = delta, delta_file
        self.masked = {int(k) for k in state.get("masked", [])}
        self.building = bool(state.get("building", False))
        self.seq = int(state["seq"])
        self._state_mtime = mtime
        return True

    def _open_rows(self, main_id: str) -> _Rows:
        rows, keys = self._side_paths(main_id)
        return _Rows(rows, keys, self.ndim, self._row_dtype)

    def _open_main(self, count: int) -> Index:
        if not self.path.exists():
            raise FileNotFoundError(self.path)
        main = self._new_main()
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
        self.main, self.delta, self.masked = self._new_main(), self._new_delta(), set()
        self.rows = None
        if self.journal is not None:
            self.journal.close()
        self.journal = None
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
        if len(index) == 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        return np.atleast_1d(np.asarray(index.contains(keys), dtype=bool))

    # -- changes (to the delta) ---------------------------------------------------------

    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None:
        if len(keys) == 0:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(keys), self.ndim)
        with self._lock:
            pending = len(self.delta) + len(self.masked) + len(keys)
            if not self._bulk and pending > self._threshold():
                self._enter_bulk()
            self.remove(keys)
            if self._bulk:  # checked whole before it is published (_write_main)
                self._add_main(keys, vectors, threads)
            else:
                add_reachable(self.delta, keys, vectors, threads)

    def _add_main(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None:
        """Add to the writable main graph, and the full vectors to the journal."""
        if self.reranks:
            if self.journal is None:
                name = f"{self.path.name}.journal-{os.getpid()}-{secrets.token_hex(6)}"
                self.journal = _Journal(self.path.with_name(name), self.ndim, self._row_dtype)
            self.journal.append(keys, vectors)
        self.main.add(keys, vectors, threads=threads)

    def remove(self, keys: NDArray[np.uint64]) -> None:
        if len(keys) == 0:
            return
        keys = np.asarray(keys, dtype=np.uint64)
        with self._lock:
            self._dirty = True
            in_main = self._present(self.main, keys)
            if self._bulk:  # the rows file keeps only the keys the graph holds
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
        if self._main_mapped:  # a mapped graph is read-only: work on a loaded copy
            main = self._new_main()
            main.load(str(self.path))
        elif len(self.main) == 0:
            main = self._new_main()  # a first build: the delta is everything so far
        else:
            main = self.main
        self.main, self._main_mapped, self._bulk = main, False, True
        if self.masked:
            masked = np.fromiter(self.masked, dtype=np.uint64, count=len(self.masked))
            main.remove(masked[self._present(main, masked)])
        delta = self.delta
        self.delta, self.masked = self._new_delta(), set()
        if len(delta):
            keys = np.asarray(delta.keys[:], dtype=np.uint64)
            self._add_main(keys, _stored(delta, keys).astype(np.float32))

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
            "layout": self._layout(),
            "main_id": self.main_id,
            "main_count": len(self.main),
            "delta": self.delta_file,
            "masked": sorted(self.masked),
            "building": building,
        }
        _atomic_write_text(self.state_path, json.dumps(state))
        self._state_mtime = self.state_path.stat().st_mtime_ns
        self._remove_stale_files()

    def _write_main(self, *, remap: bool) -> None:
        """Write the main graph (the delta folded in) and its rows file beside, rename
        them into place; with ``remap``, leave bulk mode and map the new files (the
        built graph's memory is given back)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._bulk:
            self._enter_bulk()
        main_id = secrets.token_hex(8)
        rows = None
        if self.reranks:
            # Before the check, which searches with these full vectors (the comment
            # above "Reachability"); the check changes no key or vector.
            self._write_rows(main_id)
            rows = self._open_rows(main_id) if len(self.main) else None
        stranded: tuple[int, ...] = ()
        if remap:  # a finished build or fold (checkpoints skip it; the end does it)
            queries = rows.vectors if rows is not None else None
            stranded = repair_reachability(self.main, queries=queries).stranded
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.main.save(str(tmp))
        os.replace(tmp, self.path)
        self.main_id, self.delta_file = main_id, None
        if self.reranks:
            self.rows = rows
        if remap:
            self._bulk = False
            if self.view and len(self.main):
                self.main = self._open_main(len(self.main))
            if stranded:
                self._serve_from_delta(np.array(stranded, dtype=np.uint64))

    def _serve_from_delta(self, keys: NDArray[np.uint64]) -> None:
        """Put main-graph ``keys`` that no search of it reaches into the delta (which
        is searched with every query) and mask them in the main graph."""
        found, vectors = self.get_many([int(k) for k in keys])
        add_reachable(self.delta, np.array(found, dtype=np.uint64), vectors)
        self.masked.update(found)
        self._save_delta()

    def _write_rows(self, main_id: str) -> None:
        """The new rows file: the old one's rows and the journal's (the latest row of a
        key wins), only for keys the graph holds, in key order. The journal is then
        emptied."""
        old_keys = self.rows.keys if self.rows is not None else np.zeros(0, dtype=np.uint64)
        journal = self.journal
        new_keys = journal.keys() if journal is not None else np.zeros(0, dtype=np.uint64)
        every = np.concatenate([np.asarray(old_keys, dtype=np.uint64), new_keys])
        # Latest occurrence of each key (the journal comes after the old rows).
        unique, first_from_end = np.unique(every[::-1], return_index=True)
        source = len(every) - 1 - first_from_end
        kept = self._present(self.main, unique)
        unique, source = unique[kept], source[kept]
        if len(unique) != len(self.main):
            raise RuntimeError(f"{len(self.main) - len(unique)} vectors of the graph have no row")
        rows_path, keys_path = self._side_paths(main_id)
        tmp = rows_path.with_name(rows_path.name + ".tmp")
        n_old = len(old_keys)
        fresh = journal.matrix() if journal is not None else None
        with tmp.open("wb") as fh:
            for start in range(0, len(source), REACH_CHUNK):
                part = source[start : start + REACH_CHUNK]
                block = np.empty((len(part), self.ndim), dtype=self._row_dtype)
                from_old = part < n_old
                if from_old.any() and self.rows is not None:
                    block[from_old] = self.rows.read(part[from_old]).astype(self._row_dtype)
                if (~from_old).any() and fresh is not None:
                    block[~from_old] = fresh[part[~from_old] - n_old]
                fh.write(block.tobytes())
        os.replace(tmp, rows_path)
        keys_tmp = keys_path.with_name(keys_path.name + ".tmp.npy")
        np.save(keys_tmp, unique)
        os.replace(keys_tmp, keys_path)
        if journal is not None:
            journal.close()
        self.journal = None

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

    def _remove_stale_files(self) -> None:
        """Deltas and rows files of earlier versions (a reader that still has one open
        keeps reading it: unlinking leaves its open file alone), and journals of dead
        writers."""
        keep = {self.delta_file}
        if self.main_id is not None:
            keep |= {p.name for p in self._side_paths(self.main_id)}
        for pattern in ("delta-*", "rows-*", "keys-*"):
            for stale in self.path.parent.glob(f"{self.path.name}.{pattern}"):
                if stale.name not in keep and not stale.name.endswith(".tmp"):
                    stale.unlink(missing_ok=True)
        # A journal outlives its writer only if that process died mid-build (2+ GB at 3M).
        for journal in self.path.parent.glob(f"{self.path.name}.journal-*"):
            pid = journal.name.removeprefix(f"{self.path.name}.journal-").split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                journal.unlink(missing_ok=True)

    # -- searching --------------------------------------------------------------------

    @staticmethod
    def _matches(index: Index, vector: Vector, count: int) -> list[tuple[int, float]]:
        matches = index.search(vector, count)
        return [
            (int(key), 1.0 - float(d))
            for key, d in zip(matches.keys, matches.distances, strict=True)
        ]

    def search(
        self, vector: Vector, k: int, *, fetch: int = 0, keep: Keep | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest keys with their cosine similarity, best first.

        A filtered search passes ``keep`` (which of these keys pass) and ``fetch``, how
        many candidates to consider: the ``fetch`` best by the graphs' own order (the
        main graph's compressed codes) go through ``keep``, and only the best
        ``max(k, rerank)`` of those passing are re-scored exactly (re-scoring all of
        thousands of candidates, a ``pread`` each, cost 20 times the search). Fewer than
        ``k`` results: too few passed; ask again with a larger ``fetch``."""
        # One version throughout, though a reload may swap them meanwhile.
        main, delta, masked, rows = self.main, self.delta, self.masked, self.rows
        if k <= 0:
            return []
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        pool = max(k, fetch)
        found = self._matches(delta, vector, min(pool, len(delta))) if len(delta) else []
        if keep is not None and found:
            passing = keep([key for key, _ in found])
            found = [hit for hit in found if hit[0] in passing]
        total = len(main)
        if total:
            want = max(pool, self.params.rerank) if self.reranks else pool
            # Over-fetch in proportion to the masked share, and more while short.
            extra = 8 + math.ceil(2 * want * len(masked) / total) if masked else 0
            fetch = min(total, want + extra)
            while True:
                kept = [
                    (key, s) for key, s in self._matches(main, vector, fetch) if key not in masked
                ]
                if len(kept) >= want or fetch >= total:
                    break
                fetch = min(total, fetch * 4)
            if keep is not None and kept:
                passing = keep([key for key, _ in kept])
                kept = [hit for hit in kept if hit[0] in passing]
            if self.reranks:
                kept = self._rescored(kept[: max(k, self.params.rerank)], vector, rows)
            found += kept
        found.sort(key=lambda hit: -hit[1])
        return found[:k]

    def _rescored(
        self, hits: list[tuple[int, float]], vector: Vector, rows: _Rows | None
    ) -> list[tuple[int, float]]:
        """``hits`` (from the compressed graph) with exact similarities from the full
        vectors."""
        if not hits:
            return hits
        keys = np.array([key for key, _ in hits], dtype=np.uint64)
        have, matrix = self._full_vectors(keys, rows)
        exact = dict(zip(keys[have].tolist(), (matrix[have] @ vector).tolist(), strict=True))
        # A graph key without a row cannot happen (_write_rows checks); skip it if it does.
        return [(key, float(exact[key])) for key, _ in hits if key in exact]

    def _full_vectors(
        self, keys: NDArray[np.uint64], rows: _Rows | None
    ) -> tuple[NDArray[np.bool_], Vector]:
        """Full vectors of main-graph ``keys``: from the journal (bulk mode) or the
        rows file; which were found, and a row per key (undefined where not found)."""
        have = np.zeros(len(keys), dtype=bool)
        out = np.empty((len(keys), self.ndim), dtype=np.float32)
        journal = self.journal
        if journal is not None:
            hit, matrix = journal.find(keys)
            out[hit], have = matrix, hit.copy()
        if rows is not None:
            at = rows.rows_of(keys)
            take = np.flatnonzero((at >= 0) & ~have)
            if len(take):
                order = np.argsort(at[take], kind="stable")  # read in file order
                block = rows.read(at[take][order])
                back = np.empty_like(order)
                back[order] = np.arange(len(order))
                # Gathering back into the order asked, then widening, is several times
                # faster than scattering float16 rows into a float32 matrix.
                block = np.take(block, back, axis=0)
                if len(take) == len(keys):
                    out = block.astype(np.float32)
                else:
                    out[take] = block
                have[take] = True
        return have, out

    def get(self, pk: int) -> Vector | None:
        found, matrix = self.get_many([pk])
        return matrix[0] if found else None

    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]:
        """Vectors of those ``pks`` present, as a matrix, with the pks found, in the order
        asked (in one batched lookup per source and with numpy throughout: the exact path
        of a filtered search asks for up to 20,000). Main-graph vectors come from the
        rows file when the graph is compressed, so they are the full vectors either way."""
        main, delta, masked, rows = self.main, self.delta, self.masked, self.rows
        keys = np.asarray(pks, dtype=np.uint64).reshape(-1)
        out = np.empty((len(keys), self.ndim), dtype=np.float32)
        in_delta = self._present(delta, keys)
        if in_delta.any():
            out[in_delta] = _stored(delta, keys[in_delta])
        have = in_delta.copy()
        from_main = ~in_delta & self._present(main, keys)
        if masked:
            from_main &= ~np.isin(keys, np.fromiter(masked, dtype=np.uint64, count=len(masked)))
        where = np.flatnonzero(from_main)
        if len(where) == len(keys) and self.reranks:
            # All from the rows file (the usual case): no copy into ``out``.
            have, out = self._full_vectors(keys, rows)
        elif len(where):
            if self.reranks:
                got, matrix = self._full_vectors(keys[where], rows)
                out[where[got]], have[where[got]] = matrix[got], True
            else:
                stored = cast(tuple[NDArray[Any] | None, ...], main.get(keys[where]))
                for at, vector in zip(where.tolist(), stored, strict=True):
                    if vector is not None:
                        out[at], have[at] = vector, True
        if have.all():
            return keys.astype(np.int64).tolist(), out
        return keys[have].astype(np.int64).tolist(), out[have]

"""Approximate nearest neighbours over paper embeddings: a usearch HNSW index on disk.

Keys are the store's integer ``pk``. Vectors are unit length, so inner product is
cosine similarity. The index is saved atomically (written beside, then renamed), with
a small JSON state file recording the change counter it is current to, the model and
the HNSW settings; a reader may memory-map it (``view=True``) and :meth:`reload` when
the indexer publishes a new one.
"""

from __future__ import annotations

import json
import os
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
    """HNSW settings; bench/speed.py measures recall@10 against exact search for them.

    The graph's quality matters more than the search breadth: on 100k papers (proxy
    embeddings, bench/README.md), connectivity 16 / expansion_add 128 gave recall@10
    0.958 at expansion_search 128 and still only 0.982 at 512, while connectivity 32 /
    expansion_add 256 gave 0.998 at 128, for a build about 2.5 times slower and about
    128 more bytes of links per paper. At 1M papers (bench/scale.py) the same graph gave
    text-query recall@10 0.954 at expansion_search 128 and 0.982 at 256 (similar-paper
    queries 0.981 / 0.987), so searches use 256: a few milliseconds, against the ~10 ms
    of encoding the query.
    """

    connectivity: int = 32
    expansion_add: int = 256
    expansion_search: int = 256
    dtype: str = "f16"


class DenseIndex(Protocol):
    """What the indexer and the retriever use of a dense index: :class:`VectorIndex`
    (usearch file) or :class:`paperlens.index.pgvector.PgVectorIndex` (PostgreSQL)."""

    model: str
    ndim: int

    @property
    def seq(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, pk: int) -> bool: ...
    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None: ...
    def remove(self, keys: NDArray[np.uint64]) -> None: ...
    def save(self, seq: int) -> None: ...
    def reload(self) -> bool: ...
    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]: ...
    def get(self, pk: int) -> Vector | None: ...
    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]: ...


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class VectorIndex:
    def __init__(
        self,
        path: Path,
        ndim: int,
        model: str,
        params: HnswParams | None = None,
        *,
        view: bool = False,
    ) -> None:
        self.path = path
        self.state_path = path.with_name(path.name + ".json")
        self.ndim = ndim
        self.model = model
        self.params = params or HnswParams()
        self.view = view
        self.seq = 0
        self._state_mtime: float | None = None
        self.index = self._new_index()
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
        # Imported here, not at module load: usearch's statically linked C++ runtime
        # breaks Ray's (std::regex_error in ray.init) if it is loaded first, and a Ray
        # driver (paperlens.distributed) imports this module before connecting.
        from usearch.index import Index

        return Index(
            ndim=self.ndim,
            metric="ip",
            dtype=self.params.dtype,
            connectivity=self.params.connectivity,
            expansion_add=self.params.expansion_add,
            expansion_search=self.params.expansion_search,
            multi=False,
        )

    def reload(self) -> bool:
        """(Re)load the saved index if the saved one differs from what is in memory.
        A saved index for another model or dimension is ignored (and will be rebuilt)."""
        try:
            mtime = self.state_path.stat().st_mtime
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
        index = self._new_index()
        if self.view:
            index.view(str(self.path))
        else:
            index.load(str(self.path))
        self.index = index
        self.seq = int(state["seq"])
        self._state_mtime = mtime
        return True

    def reset(self) -> None:
        self.index = self._new_index()
        self.seq = 0

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, pk: int) -> bool:
        return bool(self.index.contains(pk))

    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None:
        if len(keys) == 0:
            return
        present = np.array([self.index.contains(int(k)) for k in keys], dtype=bool)
        if present.any():
            self.index.remove(keys[present])
        self.index.add(keys, vectors, threads=threads)

    def remove(self, keys: NDArray[np.uint64]) -> None:
        present = [int(k) for k in keys if self.index.contains(int(k))]
        if present:
            self.index.remove(np.array(present, dtype=np.uint64))

    def save(self, seq: int) -> None:
        """Publish the index as current to change counter ``seq``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        self.index.save(str(tmp))
        os.replace(tmp, self.path)
        self.seq = seq
        state = {"seq": seq, "model": self.model, "ndim": self.ndim, "count": len(self.index)}
        state["hnsw"] = asdict(self.params)
        _atomic_write_text(self.state_path, json.dumps(state))
        self._state_mtime = self.state_path.stat().st_mtime

    def search(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        """The ``k`` nearest keys with their cosine similarity, best first."""
        if len(self.index) == 0 or k <= 0:
            return []
        matches = self.index.search(vector, min(k, len(self.index)))
        return [
            (int(key), 1.0 - float(d))
            for key, d in zip(matches.keys, matches.distances, strict=True)
        ]

    def get(self, pk: int) -> Vector | None:
        v = self.index.get(pk)
        return None if v is None else np.asarray(v, dtype=np.float32)

    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]:
        """Vectors of those ``pks`` present, as a matrix, with the pks found."""
        if not pks:
            return [], np.zeros((0, self.ndim), dtype=np.float32)
        got = cast(tuple[NDArray[Any] | None, ...], self.index.get(np.array(pks, dtype=np.uint64)))
        found = [pk for pk, v in zip(pks, got, strict=True) if v is not None]
        rows = [np.asarray(v, dtype=np.float32) for v in got if v is not None]
        matrix = np.vstack(rows) if rows else np.zeros((0, self.ndim), dtype=np.float32)
        return found, matrix

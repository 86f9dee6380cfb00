"""Approximate nearest neighbours in PostgreSQL with pgvector's HNSW: the dense index of
the shared service, so every web worker on every host searches the same index.

Same interface as :class:`paperlens.index.vector.VectorIndex` (:class:`DenseIndex`).
Layout: one table per (model, dimension), ``vectors_<model>_<ndim>_<hash>`` with
``paper_pk`` (the store's pk) and ``embedding halfvec(ndim)`` (``vector(ndim)`` when
:attr:`HnswParams.dtype` is ``f32``) under an HNSW index on inner product (vectors are
unit length, so it ranks as cosine). A table per model rather than one table with an
untyped column and a partial expression index per model: the column is typed (pgvector
checks the dimension), the planner uses the index without having to prove a
``model = '...'`` predicate (it cannot for a bound parameter in a generic plan), and a
model is dropped with its table. The tables are made on demand (the dimension is
known only once a model is chosen), so they are not part of the migrations; the
``vector_indexes`` row of a model (revision 0002) names its table and holds the
watermark ``seq`` and the row ``count``.

Table names are made by :func:`table_name` (``[a-z0-9_]`` only) and interpolated into
SQL as quoted identifiers (hence the ``noqa: S608``); every value is a bound parameter.

Writes commit as they come (every worker sees them at once); :meth:`save` records the
watermark afterwards, so a crash in between only costs re-applying some changes. The
HNSW index itself is built at the first :meth:`save`, over the rows loaded by then (a
bulk build is far faster than inserting row by row; until then queries scan exactly).
"""

from __future__ import annotations

import hashlib
import re
import zlib
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.exc import ProgrammingError

from paperlens.index.vector import HnswParams, Keep, Vector
from paperlens.store.migrate import RUNTIME_TABLE_PREFIX
from paperlens.store.schema import VectorIndexRow, table

registry = table(VectorIndexRow)

#: pgvector's limits: ``hnsw.ef_search`` is at most 1000; beyond that (and for deep
#: over-fetching) the scan continues iteratively.
MAX_EF_SEARCH = 1000
#: Where a pooled connection remembers the ``hnsw.*`` settings it was given.
SESSION_KEY = "paperlens.hnsw"
#: SQLSTATE of "relation does not exist".
UNDEFINED_TABLE = "42P01"
#: Rows per upsert statement.
UPSERT_CHUNK = 1000


class PgVectorUnavailable(RuntimeError):
    pass


def table_name(model: str, ndim: int) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", model.lower()).strip("_")[:32]
    digest = hashlib.sha1(model.encode(), usedforsecurity=False).hexdigest()[:8]
    name = f"{RUNTIME_TABLE_PREFIX}{slug}_{ndim}_{digest}"
    assert re.fullmatch(r"[a-z0-9_]{1,63}", name), name
    return name


def _to_text(vector: NDArray[np.floating]) -> str:
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).tolist())) + "]"


class PgVectorIndex:
    def __init__(
        self, engine: Engine, ndim: int, model: str, params: HnswParams | None = None
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise PgVectorUnavailable("the pgvector backend needs a PostgreSQL database")
        self.engine = engine
        self.ndim = ndim
        self.model = model
        self.params = params or HnswParams()
        half = self.params.dtype == "f16"
        self.type = f"halfvec({ndim})" if half else f"vector({ndim})"
        self._ops = "halfvec_ip_ops" if half else "vector_ip_ops"
        self._send = "halfvec_send" if half else "vector_send"
        self._wire = np.dtype(">f2") if half else np.dtype(">f4")
        self.table = table_name(model, ndim)
        self._lock_key = zlib.crc32(f"paperlens vectors {model}".encode())

    # -- what is saved ------------------------------------------------------------------

    @staticmethod
    def saved_ndim(engine: Engine, model: str) -> int | None:
        with engine.connect() as conn:
            ndim = conn.execute(select(registry.c.ndim).where(registry.c.model == model)).scalar()
        return None if ndim is None else int(ndim)

    @staticmethod
    def saved_count(engine: Engine, model: str) -> int:
        with engine.connect() as conn:
            count = conn.execute(select(registry.c.count).where(registry.c.model == model))
            return int(count.scalar() or 0)

    def _row(self, conn: Connection) -> tuple[int, int] | None:
        """``(seq, count)`` of this model's index when its table is the one for ``ndim``."""
        row = conn.execute(
            select(registry.c.seq, registry.c.count).where(
                registry.c.model == self.model, registry.c.table_name == self.table
            )
        ).first()
        return None if row is None else (int(row[0]), int(row[1]))

    @property
    def seq(self) -> int:
        with self.engine.connect() as conn:
            row = self._row(conn)
        return 0 if row is None else row[0]

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            row = self._row(conn)
        return 0 if row is None else row[1]

    def reload(self) -> bool:
        """Nothing to reload: every search reads the live index."""
        return False

    #: Rows are committed as they are written, and the HNSW index is built at the first
    #: :meth:`save` (far faster than row by row), so a build is not checkpointed.
    checkpoint_every: int | None = None
    building = False

    def checkpoint(self, seq: int) -> bool:
        return False

    # -- writing ------------------------------------------------------------------------

    def _ensure(self, conn: Connection) -> None:
        """Create this model's table and registry row unless they exist (in ``conn``'s
        transaction, serialised per model); a table of another dimension is dropped. The
        HNSW index comes at :meth:`save`."""
        if self._row(conn) is not None:
            return
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
        if self._row(conn) is not None:
            return
        installed = conn.execute(
            text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        ).first()
        if installed is None:
            raise PgVectorUnavailable(
                "the pgvector extension is not installed in this database (CREATE EXTENSION "
                "vector as a superuser, or set PAPERLENS_VECTOR_BACKEND=usearch)"
            )
        old = conn.execute(
            select(registry.c.table_name).where(registry.c.model == self.model)
        ).scalar()
        if old is not None:
            conn.execute(text(f'DROP TABLE IF EXISTS "{old}"'))
            conn.execute(registry.delete().where(registry.c.model == self.model))
        conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{self.table}" ('
                " paper_pk integer PRIMARY KEY REFERENCES papers (pk) ON DELETE CASCADE,"
                f" embedding {self.type} NOT NULL)"
            )
        )
        conn.execute(
            registry.insert().values(
                model=self.model,
                table_name=self.table,
                ndim=self.ndim,
                seq=0,
                count=0,
                updated_at=datetime.now(UTC),
            )
        )

    def _lock_row(self, conn: Connection) -> None:
        """Serialise writers of this index (the count is kept by difference)."""
        conn.execute(
            select(registry.c.model).where(registry.c.model == self.model).with_for_update()
        )

    def _add_count(self, conn: Connection, delta: int) -> None:
        if delta:
            conn.execute(
                registry.update()
                .where(registry.c.model == self.model)
                .values(count=registry.c.count + delta)
            )

    def upsert(self, keys: NDArray[np.uint64], vectors: Vector, threads: int = 0) -> None:
        if len(keys) == 0:
            return
        if vectors.shape[1] != self.ndim:
            raise ValueError(f"vectors have {vectors.shape[1]} dimensions; the index {self.ndim}")
        statement = text(
            f'WITH up AS (INSERT INTO "{self.table}" (paper_pk, embedding) '  # noqa: S608
            f"SELECT * FROM unnest(CAST(:pks AS integer[]), CAST(:vectors AS {self.type}[])) "
            "ON CONFLICT (paper_pk) DO UPDATE SET embedding = EXCLUDED.embedding "
            "RETURNING xmax = 0 AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted) FROM up"
        )
        with self.engine.begin() as conn:
            self._ensure(conn)
            self._lock_row(conn)
            added = 0
            for start in range(0, len(keys), UPSERT_CHUNK):
                pks = [int(k) for k in keys[start : start + UPSERT_CHUNK]]
                texts = [_to_text(v) for v in vectors[start : start + UPSERT_CHUNK]]
                added += int(conn.execute(statement, {"pks": pks, "vectors": texts}).scalar_one())
            self._add_count(conn, added)

    def remove(self, keys: NDArray[np.uint64]) -> None:
        if len(keys) == 0:
            return
        with self.engine.begin() as conn:
            if self._row(conn) is None:
                return
            self._lock_row(conn)
            gone = conn.execute(
                text(
                    f'WITH gone AS (DELETE FROM "{self.table}" WHERE paper_pk = ANY(:pks) '  # noqa: S608
                    "RETURNING 1) SELECT count(*) FROM gone"
                ),
                {"pks": [int(k) for k in keys]},
            ).scalar_one()
            self._add_count(conn, -int(gone))

    def _ensure_hnsw(self, conn: Connection) -> None:
        """The HNSW index is made at the first :meth:`save`, once the first batch of
        vectors is in: building it over a loaded table is many times faster than
        inserting into it row by row (later rows are inserted into it)."""
        p = self.params
        conn.execute(
            text(
                f'CREATE INDEX IF NOT EXISTS "{self.table}_hnsw" ON "{self.table}" '
                f"USING hnsw (embedding {self._ops}) "
                f"WITH (m = {int(p.connectivity)}, ef_construction = {int(p.expansion_add)})"
            )
        )

    def save(self, seq: int) -> None:
        """Record that the index is current to change counter ``seq`` (and recount)."""
        with self.engine.begin() as conn:
            self._ensure(conn)
            self._ensure_hnsw(conn)
            conn.execute(
                registry.update()
                .where(registry.c.model == self.model)
                .values(
                    seq=seq,
                    count=text(f'(SELECT count(*) FROM "{self.table}")'),  # noqa: S608
                    updated_at=datetime.now(UTC),
                )
            )

    # -- reading ------------------------------------------------------------------------

    def __contains__(self, pk: int) -> bool:
        with self.engine.connect() as conn:
            if not self._exists(conn):
                return False
            sql = f'SELECT 1 FROM "{self.table}" WHERE paper_pk = :pk'  # noqa: S608
            found = conn.execute(text(sql), {"pk": int(pk)})
            return found.first() is not None

    def _exists(self, conn: Connection) -> bool:
        found = conn.execute(text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{self.table}"'})
        return bool(found.scalar())

    def search(
        self, vector: Vector, k: int, *, fetch: int = 0, keep: Keep | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` nearest keys with their cosine similarity, best first; with
        ``keep`` (a filter), the nearest it passes among the ``fetch`` nearest
        (:meth:`paperlens.index.vector.DenseIndex.search`). pgvector's distances are
        exact already, so filtering is all there is to do."""
        if k <= 0:
            return []
        if keep is None:
            return self._nearest(vector, k)
        found = self._nearest(vector, max(k, fetch))
        passing = keep([pk for pk, _ in found])
        return [hit for hit in found if hit[0] in passing][:k]

    def _nearest(self, vector: Vector, k: int) -> list[tuple[int, float]]:
        ef = min(MAX_EF_SEARCH, max(self.params.expansion_search, k))
        deep = k > ef
        query = f"CAST(:q AS {self.type})"
        nearest = (
            f'SELECT paper_pk, embedding <#> {query} AS distance FROM "{self.table}" '  # noqa: S608
            "ORDER BY distance LIMIT :k"
        )
        if deep:
            # More than one HNSW scan returns: continue the scan iteratively; its
            # relaxed order is put right by sorting the materialised rows.
            nearest = (
                f"WITH found AS MATERIALIZED ({nearest}) "  # noqa: S608
                "SELECT paper_pk, distance FROM found ORDER BY distance"
            )
        # One round trip when the pooled connection already has these settings: the
        # query runs in autocommit, the settings are the session's (kept per connection).
        wanted = (str(ef), "relaxed_order" if deep else "off", str(max(20_000, 4 * k)))
        try:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                if conn.info.get(SESSION_KEY) != wanted:
                    conn.info.pop(SESSION_KEY, None)
                    conn.execute(
                        text(
                            "SELECT set_config('hnsw.ef_search', :ef, false), "
                            "set_config('hnsw.iterative_scan', :iterative, false), "
                            "set_config('hnsw.max_scan_tuples', :tuples, false)"
                        ),
                        dict(zip(("ef", "iterative", "tuples"), wanted, strict=True)),
                    )
                    conn.info[SESSION_KEY] = wanted
                rows = conn.execute(text(nearest), {"q": _to_text(vector), "k": int(k)}).all()
        except ProgrammingError as exc:
            if getattr(exc.orig, "sqlstate", None) == UNDEFINED_TABLE:
                return []  # nothing indexed for this model yet
            raise
        return [(int(pk), -float(distance)) for pk, distance in rows]

    def _decode(self, blob: bytes) -> Vector:
        # pgvector's binary form: int16 dimension, int16 unused, then big-endian floats.
        return np.frombuffer(blob, dtype=self._wire, offset=4).astype(np.float32)

    def get(self, pk: int) -> Vector | None:
        with self.engine.connect() as conn:
            if not self._exists(conn):
                return None
            blob = conn.execute(
                text(f'SELECT {self._send}(embedding) FROM "{self.table}" WHERE paper_pk = :pk'),  # noqa: S608
                {"pk": int(pk)},
            ).scalar()
        return None if blob is None else self._decode(bytes(blob))

    def get_many(self, pks: list[int]) -> tuple[list[int], Vector]:
        """Vectors of those ``pks`` present, as a matrix, with the pks found (in the
        order asked)."""
        empty = np.zeros((0, self.ndim), dtype=np.float32)
        if not pks:
            return [], empty
        with self.engine.connect() as conn:
            if not self._exists(conn):
                return [], empty
            rows = conn.execute(
                text(
                    f'SELECT paper_pk, {self._send}(embedding) FROM "{self.table}" '  # noqa: S608
                    "WHERE paper_pk = ANY(:pks)"
                ),
                {"pks": [int(pk) for pk in pks]},
            ).all()
        got = {int(pk): bytes(blob) for pk, blob in rows}
        found = [pk for pk in pks if pk in got]
        if not found:
            return [], empty
        blob = b"".join(got[pk][4:] for pk in found)
        matrix = np.frombuffer(blob, dtype=self._wire).astype(np.float32)
        return found, matrix.reshape(len(found), self.ndim)

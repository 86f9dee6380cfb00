"""A whole instance's rows, streamed out table by table and loaded into an empty database
of either backend (the move between SQLite and PostgreSQL).

Every table of :mod:`paperlens.store.schema` moves, in foreign-key order, except
:data:`LEFT_BEHIND`: sign-in sessions and reset links (readers sign in again on the new
server), the pgvector bookkeeping and the arXiv pace (derived or runtime state). Rows are
read with ``yield_per`` and written in batches of :data:`BATCH`, so memory stays flat
whatever the size. Values are JSON: datetimes and dates as ISO 8601, bytes (embedding
vectors) as base64; everything else as stored.

Invariants: the target must hold no papers and no accounts (no merging of two instances);
the load is one transaction (all or nothing); on PostgreSQL the id sequences are moved
past the highest loaded id. Search indexes (BM25, HNSW, pgvector tables) are not part
of the dump: ``paperlens index`` rebuilds them from the loaded rows and embeddings.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import Connection, Date, DateTime, Engine, LargeBinary, Table, func, select

from paperlens.errors import Conflict, Invalid
from paperlens.store.schema import Base, PaperRow, UserRow, table

BATCH = 1000
LEFT_BEHIND = frozenset({"user_sessions", "password_resets", "vector_indexes", "fetch_pace"})


def moved_tables() -> list[Table]:
    return [t for t in Base.metadata.sorted_tables if t.name not in LEFT_BEHIND]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


def _decoder(t: Table) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turns a dumped row of ``t`` back into column values (unknown columns refused)."""
    kinds: dict[str, Callable[[Any], Any]] = {}
    for col in t.columns:
        impl = getattr(col.type, "impl", col.type)
        if isinstance(impl, DateTime):
            kinds[col.name] = datetime.fromisoformat
        elif isinstance(impl, Date):
            kinds[col.name] = date.fromisoformat
        elif isinstance(impl, LargeBinary):
            kinds[col.name] = base64.b64decode
        else:
            kinds[col.name] = lambda v: v

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        unknown = set(row) - set(kinds)
        if unknown:
            raise Invalid(f"{t.name}: unknown columns {sorted(unknown)[:5]}")
        try:
            return {k: (None if v is None else kinds[k](v)) for k, v in row.items()}
        except (ValueError, TypeError) as exc:
            raise Invalid(f"{t.name}: a value cannot be read: {exc}") from None

    return decode


def dump_table(engine: Engine, t: Table, out: IO[bytes]) -> int:
    """Writes ``t``'s rows to ``out`` as JSON lines, in primary-key order; the count."""
    n = 0
    order = list(t.primary_key.columns)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
            select(t).order_by(*order)
        )
        for row in result.mappings():
            line = json.dumps({k: _encode(v) for k, v in row.items()}, ensure_ascii=False)
            out.write(line.encode("utf-8") + b"\n")
            n += 1
    return n


def _batches(
    lines: Iterable[bytes], decode: Callable[[dict[str, Any]], dict[str, Any]], where: str
) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Invalid(f"{where} line {number} is not JSON") from None
        if not isinstance(row, dict):
            raise Invalid(f"{where} line {number} is not a JSON object")
        batch.append(decode(row))
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def check_empty(conn: Connection) -> None:
    for model, what in ((PaperRow, "papers"), (UserRow, "accounts")):
        if conn.execute(select(func.count()).select_from(table(model))).scalar_one():
            raise Conflict(f"the target database already holds {what}; load into an empty one")


def load_tables(
    engine: Engine, sources: Callable[[Table], Iterable[bytes] | None]
) -> dict[str, int]:
    """Loads every moved table from ``sources(table)`` (its JSON lines, or ``None`` when
    the dump has none) in one transaction; rows loaded per table."""
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        check_empty(conn)
        for t in moved_tables():
            lines = sources(t)
            if lines is None:
                continue
            decode = _decoder(t)
            n = 0
            if t.name == "counters":  # the migration seeded them: the dump's values win
                conn.execute(t.delete())
            for batch in _batches(lines, decode, t.name):
                conn.execute(t.insert(), batch)
                n += len(batch)
            counts[t.name] = n
        if conn.dialect.name == "postgresql":
            _advance_sequences(conn)
    return counts


def _advance_sequences(conn: Connection) -> None:
    """Moves each serial ``pk`` sequence past the loaded ids (PostgreSQL only)."""
    for t in moved_tables():
        pk = t.c.get("pk")
        if pk is None or not pk.autoincrement or len(t.primary_key.columns) != 1:
            continue
        seq = conn.execute(select(func.pg_get_serial_sequence(t.name, "pk"))).scalar()
        if seq is None:
            continue
        top = conn.execute(select(func.max(pk))).scalar()
        conn.execute(select(func.setval(seq, (top or 0) + 1, False)))

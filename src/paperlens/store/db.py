"""Opening the database: one SQLAlchemy engine per process, SQLite tuned for safe
concurrent use, PostgreSQL by URL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, insert, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from paperlens.store.migrate import ensure_current
from paperlens.store.schema import CounterRow, table

SEQ = "seq"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; a process killed mid-write leaves the last
    # committed transaction intact. NORMAL sync is durable across process crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would otherwise pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_db_engine(url: str) -> Engine:
    """The engine for ``url``, schema untouched (see :func:`open_engine`)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_json_dumps, json_deserializer=orjson.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(
            url,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            pool_pre_ping=True,
        )
    return engine


def open_engine(url: str) -> Engine:
    """Create the engine for ``url`` and bring its schema up to date (migrations, see
    :mod:`paperlens.store.migrate`)."""
    engine = create_db_engine(url)
    ensure_current(engine)
    counters = table(CounterRow)
    with engine.begin() as conn:
        exists = conn.execute(select(counters.c.value).where(counters.c.name == SEQ)).first()
        if exists is None:
            try:
                with conn.begin_nested():
                    conn.execute(insert(counters).values(name=SEQ, value=0))
            except IntegrityError:  # another process created it first
                pass
    return engine


def next_seq(conn: Connection) -> int:
    """Bump and return the change counter inside the caller's transaction."""
    counters = table(CounterRow)
    value = conn.execute(
        update(counters)
        .where(counters.c.name == SEQ)
        .values(value=counters.c.value + 1)
        .returning(counters.c.value)
    ).scalar_one()
    return int(value)


def current_seq(conn: Connection) -> int:
    counters = table(CounterRow)
    value = conn.execute(select(counters.c.value).where(counters.c.name == SEQ)).scalar()
    return int(value or 0)


T = TypeVar("T")

#: SQLite allows 32766 bound parameters; ``IN`` lists stay well below.
IN_CHUNK = 900


def chunked(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]

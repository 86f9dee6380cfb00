"""Schema migrations: Alembic, configured in code (no ``alembic.ini``), with the scripts
in ``store/migrations/`` shipped inside the package.

:func:`ensure_current` runs whenever a database is opened, so the embedded default
stays zero-setup: an up-to-date database costs one query; otherwise :func:`upgrade`
applies what is missing, one process at a time (PostgreSQL: a transaction-scoped
advisory lock; SQLite: an exclusive transaction), so several processes opening the same
database at once are safe. A database made before migrations existed (tables created by
``create_all``, no ``alembic_version``) is recognised and stamped with :data:`BASELINE`,
the schema it has, before the later migrations are applied.

Adding a migration: see ARCHITECTURE.md ("Schema migrations").
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: The schema ``Base.metadata.create_all`` made before migrations existed.
BASELINE = "0001"
#: Tables made at run time rather than by migrations (pgvector: one per model and
#: dimension, see :mod:`paperlens.index.pgvector`); autogenerate leaves them alone.
RUNTIME_TABLE_PREFIX = "vectors_"
#: ``pg_advisory_xact_lock`` key serialising migrations on one PostgreSQL database.
LOCK_KEY = zlib.crc32(b"paperlens schema migration")


class MigrationError(RuntimeError):
    pass


def include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Autogenerate filter: compare everything but the run-time tables."""
    return not (type_ == "table" and (name or "").startswith(RUNTIME_TABLE_PREFIX))


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision the installed code knows."""
    found = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert found is not None
    return found


def current(conn: Connection) -> str | None:
    """The database's revision; ``None`` when it has none (empty, or made before
    migrations)."""
    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True, slots=True)
class Upgrade:
    before: str | None
    after: str
    #: The database had tables but no revision: it was stamped :data:`BASELINE` first.
    stamped: bool = False

    @property
    def changed(self) -> bool:
        return self.stamped or self.before != self.after


def _sqlite_migration_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver must not open transactions on its own: the migration is one
    # ``BEGIN EXCLUSIVE`` transaction (DDL included) issued on the "begin" event.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=120000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # Batch migrations copy and drop tables; with foreign keys on, the DROP would
    # cascade into child tables. Checked with ``foreign_key_check`` before commit.
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


def _sqlite_begin_exclusive(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN EXCLUSIVE")


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction no other migrating process can enter at once."""
    dialect = engine.dialect.name
    database = engine.url.database
    if dialect == "sqlite" and database and database != ":memory:":
        migrator = create_engine(engine.url, poolclass=NullPool)
        event.listen(migrator, "connect", _sqlite_migration_connect)
        event.listen(migrator, "begin", _sqlite_begin_exclusive)
        try:
            with migrator.begin() as conn:
                yield conn
        finally:
            migrator.dispose()
        return
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        yield conn


def upgrade(engine: Engine, revision: str = "head") -> Upgrade:
    """Bring the schema to ``revision`` in one transaction (stamping a database made
    before migrations first)."""
    with _migration_transaction(engine) as conn:
        before = current(conn)
        stamped = before is None and inspect(conn).has_table("papers")
        if stamped:
            command.stamp(alembic_config(conn), BASELINE)
        command.upgrade(alembic_config(conn), revision)
        after = current(conn)
        if after is None:
            raise MigrationError("the migration left no revision in alembic_version")
        if conn.dialect.name == "sqlite" and after != before:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise MigrationError(f"the migration broke foreign keys: {broken[:5]}")
    return Upgrade(before, after, stamped)


def ensure_current(engine: Engine) -> Upgrade | None:
    """Upgrade to head unless the database is there already (one query)."""
    latest = head()
    with engine.connect() as conn:
        revision = current(conn)
    if revision == latest:
        return None
    known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if revision is not None and revision not in known:
        raise MigrationError(
            f"the database is at schema revision {revision}, which this paperlens does not "
            "know (made by a newer version?)"
        )
    return upgrade(engine)

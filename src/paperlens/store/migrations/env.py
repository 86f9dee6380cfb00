"""Alembic's environment: run by :mod:`paperlens.store.migrate` (configured in code, no
``alembic.ini``) with an open connection in ``config.attributes["connection"]``, inside
a transaction the caller commits."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from paperlens.store.migrate import include_name
from paperlens.store.schema import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError(
        "paperlens migrations run through `paperlens db upgrade` (or opening the database), "
        "not the alembic command"
    )
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    include_name=include_name,
    # SQLite cannot ALTER most things: batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

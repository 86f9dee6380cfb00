"""Test databases: SQLite in a temporary directory by default; with
``PAPERLENS_TEST_DATABASE_URL`` set to a PostgreSQL server URL, a fresh PostgreSQL
database per use, dropped afterwards. ``./test.sh`` runs the suite once each way."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paperlens.store.db import normalise_url

SERVER_URL_ENV = "PAPERLENS_TEST_DATABASE_URL"


def backend() -> str:
    return "postgresql" if os.environ.get(SERVER_URL_ENV) else "sqlite"


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty database; PostgreSQL ones are dropped afterwards."""
    server = os.environ.get(SERVER_URL_ENV)
    if not server:
        yield f"sqlite:///{tmp_dir / 'paperlens.db'}"
        return
    admin_url = make_url(normalise_url(server))
    name = f"paperlens_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

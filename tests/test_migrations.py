"""Schema migrations (Alembic, store/migrate.py) on SQLite and PostgreSQL: an empty
database upgrades to exactly the declared schema, upgrading again changes nothing, a
database made before migrations is stamped and keeps its data, several processes may
open a new database at once, and ``paperlens db upgrade|current`` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from databases import SERVER_URL_ENV, backend
from paperlens.cli.main import app
from paperlens.store import migrate
from paperlens.store.db import SEQ, create_db_engine, open_engine
from paperlens.store.schema import (
    Base,
    CounterRow,
    PaperAuthorRow,
    PaperRow,
    UserRow,
    VectorIndexRow,
    table,
)


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": migrate.include_name, "compare_type": True}
        )
        return list(compare_metadata(context, Base.metadata))


def revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return migrate.current(conn)


def test_empty_database_upgrades_to_the_declared_schema(database_url: str) -> None:
    engine = open_engine(database_url)
    try:
        assert revision(engine) == migrate.head()
        assert schema_differences(engine) == []
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        assert "alembic_version" in tables
    finally:
        engine.dispose()


def test_upgrade_is_idempotent_and_keeps_data(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        first = migrate.upgrade(engine)
        assert (first.before, first.after, first.stamped) == (None, migrate.head(), False)
        with engine.begin() as conn:
            conn.execute(insert(table(CounterRow)).values(name="probe", value=7))
        again = migrate.upgrade(engine)
        assert (again.before, again.after, again.changed) == (migrate.head(), migrate.head(), False)
        assert migrate.ensure_current(engine) is None  # the fast path: nothing to do
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            counters = table(CounterRow)
            value = conn.execute(select(counters.c.value).where(counters.c.name == "probe"))
            assert value.scalar_one() == 7
    finally:
        engine.dispose()


#: Columns that revisions after 0002 add to tables that existed before migrations.
LATER_COLUMNS = [
    ("papers", "revised_at"),
    ("users", "email_verified_at"),
    ("api_tokens", "scope"),
    ("api_tokens", "expires_at"),
]


def _paper_values(pk: int) -> dict[str, Any]:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return {
        "pk": pk,
        "id": f"2611.0000{pk}",
        "title": f"Paper {pk}",
        "abstract": "An abstract.",
        "authors": ["A. Author"],
        "categories": ["cs.LG"],
        "primary_category": "cs.LG",
        "published": now,
        "versions": [[1, None]],
        "source": "test",
        "links": {},
        "content_hash": "c" * 32,
        "text_hash": "t" * 32,
        "seq": 1,
        "deleted": False,
        "added_at": now,
    }


def test_database_made_before_migrations_is_stamped_and_keeps_its_data(
    database_url: str,
) -> None:
    # What open_engine did before migrations: create_all of the tables of the time
    # (everything but what later revisions add: the tables in ``later`` and
    # LATER_COLUMNS), no alembic_version.
    engine = create_db_engine(database_url)
    try:
        later = {
            "vector_indexes",  # 0002
            "submission_jobs",  # 0005
            "fetch_pace",
            "paper_links",  # 0007: code and artifacts
            "repo_stats",
            "paper_hf",
            "comments",  # 0009: discussions
            "comment_reports",
            "comment_bans",
            "notifications",
            "notification_prefs",
            "paper_authors",  # 0008: authors, follows, claims, citations
            "author_follows",
            "authorship_claims",
            "citations",
            "citation_counts",
        }
        old_tables = [t for t in Base.metadata.sorted_tables if t.name not in later]
        Base.metadata.create_all(engine, tables=old_tables)
        with engine.begin() as conn:  # columns later revisions add were not there yet
            for name, column in LATER_COLUMNS:
                conn.execute(text(f"ALTER TABLE {name} DROP COLUMN {column}"))
        now = datetime(2026, 11, 2, tzinfo=UTC)
        with engine.begin() as conn:
            conn.execute(insert(table(CounterRow)).values(name=SEQ, value=41))
            conn.execute(insert(table(PaperRow)), [_paper_values(1), _paper_values(2)])
            conn.execute(
                insert(table(UserRow)).values(
                    email="old@example.org",
                    password_hash="x",
                    display_name="Old",
                    is_admin=True,
                    categories=[],
                    created_at=now,
                )
            )
        assert revision(engine) is None
        done = migrate.upgrade(engine)
        assert done.stamped
        assert (done.before, done.after) == (None, migrate.head())
    finally:
        engine.dispose()

    engine = open_engine(database_url)  # and opening it again is a no-op
    try:
        assert revision(engine) == migrate.head()
        assert schema_differences(engine) == []
        assert inspect(engine).has_table(table(VectorIndexRow).name)
        with engine.connect() as conn:
            papers = table(PaperRow)
            assert conn.execute(select(papers.c.id).order_by(papers.c.pk)).scalars().all() == [
                "2611.00001",
                "2611.00002",
            ]
            # A paper stored before 0003 was revised, if ever, when it was added.
            revised = conn.execute(select(papers.c.revised_at, papers.c.added_at)).all()
            assert revised and all(r.revised_at == r.added_at for r in revised)
            assert conn.execute(select(table(UserRow).c.email)).scalar_one() == "old@example.org"
            # 0008 backfilled the author keys of papers stored before it.
            authors = table(PaperAuthorRow)
            keys = conn.execute(select(authors.c.paper_pk, authors.c.key, authors.c.variant))
            assert sorted(keys) == [(1, "a author", "author a"), (2, "a author", "author a")]
            counters = table(CounterRow)
            seq = conn.execute(select(counters.c.value).where(counters.c.name == SEQ))
            assert seq.scalar_one() == 41
    finally:
        engine.dispose()


OPEN_SCRIPT = """
import sys
from paperlens.store.db import open_engine
open_engine(sys.argv[1]).dispose()
print("opened")
"""


def test_processes_opening_a_new_database_at_once(database_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_SCRIPT, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outcomes = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == "opened"
    engine = create_db_engine(database_url)
    try:
        assert revision(engine) == migrate.head()
        assert schema_differences(engine) == []
        with engine.connect() as conn:
            counters = table(CounterRow)
            rows = conn.execute(select(func.count()).select_from(counters)).scalar_one()
            assert rows == 1  # one seq counter, created once
    finally:
        engine.dispose()


def test_cli_db_current_and_upgrade(database_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["--data-dir", str(tmp_path / "data"), "--database-url", database_url]

    def run(*args: str) -> str:
        result = runner.invoke(app, [*base, *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    head = migrate.head()
    assert (
        run("db", "current")
        == f"none (an empty database; head is {head}: run `paperlens db upgrade`)"
    )
    assert run("db", "upgrade") == f"upgraded the schema from nothing to {head}"
    assert run("db", "current") == f"{head} (head)"
    assert run("db", "upgrade") == f"already at the newest schema revision: {head}"


def test_cli_db_errors_are_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "PAPERLENS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    env["PAPERLENS_DATABASE_URL"] = "nosuchdialect://x/y"
    proc = subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", "db", "current"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(backend() != "postgresql", reason="PostgreSQL roles and extensions")
def test_role_without_the_right_to_create_pgvector_still_migrates() -> None:
    import numpy as np

    from paperlens.index.pgvector import PgVectorIndex, PgVectorUnavailable
    from paperlens.store.db import normalise_url

    admin_url = make_url(normalise_url(os.environ[SERVER_URL_ENV]))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    suffix = uuid.uuid4().hex[:10]
    role, name = f"plain_{suffix}", f"paperlens_test_{suffix}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))  # not a superuser
        conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{role}"'))
    try:
        url = admin_url.set(database=name, username=role, password=None)
        engine = open_engine(url.render_as_string(hide_password=False))
        try:
            assert revision(engine) == migrate.head()
            assert schema_differences(engine) == []
            index = PgVectorIndex(engine, 4, "m@1")
            with pytest.raises(PgVectorUnavailable, match="CREATE EXTENSION vector"):
                index.upsert(np.array([1], dtype=np.uint64), np.ones((1, 4), dtype=np.float32))
        finally:
            engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()

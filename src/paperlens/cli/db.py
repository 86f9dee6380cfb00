"""``paperlens db ...``: the database schema (Alembic migrations, see store/migrate.py).

Opening the database upgrades it anyway; ``db upgrade`` does it on purpose (say, once
before restarting every web worker on a new version) and ``db current`` only reads.
"""

from __future__ import annotations

import typer
from sqlalchemy import inspect

from paperlens.cli.context import state
from paperlens.cli.output import console, errors_as_one_line
from paperlens.store import migrate
from paperlens.store.db import create_db_engine

app = typer.Typer(help="The database schema (migrations).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply every schema migration the database lacks (safe while others use it)."""
    with errors_as_one_line():
        engine = create_db_engine(state(ctx).settings.resolved_database_url)
        try:
            done = migrate.upgrade(engine)
        finally:
            engine.dispose()
    if done.stamped:
        console.print(f"recognised a database made before migrations: stamped {migrate.BASELINE}")
    if done.before == done.after:
        console.print(f"already at the newest schema revision: {done.after}")
    else:
        console.print(f"upgraded the schema from {done.before or 'nothing'} to {done.after}")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the database's schema revision and the newest one (changes nothing)."""
    with errors_as_one_line():
        engine = create_db_engine(state(ctx).settings.resolved_database_url)
        try:
            with engine.connect() as conn:
                revision = migrate.current(conn)
                has_tables = inspect(conn).has_table("papers")
        finally:
            engine.dispose()
        head = migrate.head()
    if revision == head:
        console.print(f"{revision} (head)")
    elif revision is None:
        what = "tables made before migrations" if has_tables else "an empty database"
        console.print(f"none ({what}; head is {head}: run `paperlens db upgrade`)")
    else:
        console.print(f"{revision} (head is {head}: run `paperlens db upgrade`)")

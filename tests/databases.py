"""Test databases: SQLite in a temporary directory by default; with
``PAPERLENS_TEST_DATABASE_URL`` set to a PostgreSQL server URL, a fresh PostgreSQL
database per use, dropped afterwards. ``./test.sh`` runs the suite once each way."""

from __future__ import annotations

import ast
import inspect
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from paperlens.store.db import normalise_url

SERVER_URL_ENV = "PAPERLENS_TEST_DATABASE_URL"


def backend() -> str:
    check_marked("backend()")
    return "postgresql" if os.environ.get(SERVER_URL_ENV) else "sqlite"


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """Yield the URL of an empty database; PostgreSQL ones are dropped afterwards."""
    check_marked("fresh_database()")
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


# -- which tests depend on the backend: the `db` marker ------------------------------------
#
# Only tests that reach this module (fresh_database, backend(), SERVER_URL_ENV), directly,
# through a helper or through a fixture, can behave differently on PostgreSQL; the rest
# (parsing, rendering, models, SQLite under Settings(data_dir=...)) run the same either way.
# conftest marks the first kind `db` and ./test.sh runs only those again on PostgreSQL.
# `check_marked` keeps the marking honest: on any pass, a test not marked `db` that opens a
# test database fails, naming itself, rather than silently missing from the PostgreSQL pass.

_TESTS_DIR = Path(__file__).resolve().parent
_tainted_cache: dict[Path, frozenset[str]] = {}


def _reaches_this_module(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.ImportFrom) and sub.module == __name__:
            return True
        if isinstance(sub, ast.Import) and any(a.name == __name__ for a in sub.names):
            return True
    return False


def _bound_names(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign):
        targets = [stmt.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def tainted_names(path: Path) -> frozenset[str]:
    """Top-level names of a test module that reach this module: imported from it, or
    defined by a statement (function, fixture, class, assignment, decorator) that refers to
    such a name or imports this module inside; to a fixpoint, across the helper modules in
    tests/ it imports from."""
    path = path.resolve()
    if path in _tainted_cache:
        return _tainted_cache[path]
    _tainted_cache[path] = frozenset()  # import cycles: no taint through the cycle
    tree = ast.parse(path.read_text(encoding="utf-8"))
    tainted: set[str] = set()
    statements: list[tuple[ast.stmt, set[str], set[str]]] = []
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
            names = {a.asname or a.name for a in stmt.names}
            if stmt.module == __name__:
                tainted |= names
            elif (helper := _TESTS_DIR / f"{stmt.module}.py").exists():
                upstream = tainted_names(helper)
                tainted |= {a.asname or a.name for a in stmt.names if a.name in upstream}
            continue
        if isinstance(stmt, ast.Import):
            tainted |= {a.asname or a.name for a in stmt.names if a.name == __name__}
            continue
        refs = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        bound = _bound_names(stmt)
        if _reaches_this_module(stmt):
            tainted |= bound
        statements.append((stmt, bound, refs))
    changed = True
    while changed:
        changed = False
        for _stmt, bound, refs in statements:
            if not bound <= tainted and refs & tainted:
                tainted |= bound
                changed = True
    _tainted_cache[path] = frozenset(tainted)
    return _tainted_cache[path]


def _defined_in_tests(func: Any) -> tuple[Path, str] | None:
    try:
        source = Path(inspect.getsourcefile(func) or "").resolve()
    except TypeError:
        return None
    if _TESTS_DIR not in source.parents:
        return None
    return source, func.__name__


def uses_test_database(item: Any) -> bool:
    """Whether a collected pytest item reaches this module: its test function (or class),
    or any fixture in its closure, is a tainted name of the module defining it."""
    owner = item.cls if getattr(item, "cls", None) is not None else item.function
    funcs = [owner] + [
        fixturedef.func
        for fixturedefs in item._fixtureinfo.name2fixturedefs.values()
        for fixturedef in fixturedefs
    ]
    for func in funcs:
        where = _defined_in_tests(func)
        if where is not None and where[1] in tainted_names(where[0]):
            return True
    return False


#: (node id, marked db) of the test being set up, run or torn down; set by conftest.
current_test: tuple[str, bool] | None = None


def check_marked(what: str) -> None:
    """Fail the current test if it opens a test database without the ``db`` marker."""
    if current_test is not None and not current_test[1]:
        raise AssertionError(
            f"{current_test[0]} uses {what} from tests/databases.py but is not marked `db`, "
            "so the PostgreSQL pass of ./test.sh would leave it out: see uses_test_database"
        )

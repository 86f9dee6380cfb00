"""ARCHITECTURE.md's module map stays true to the tree.

The map is the table under "## Module map": its first column names modules and packages
under ``src/paperlens/`` (``core.py``, ``store/``, ``web/api/``...), its second column
says what they hold and may name files inside the package of its row. This test fails
when the map names something that does not exist, or when a module or package of the
tree is missing from the map, so the five-minute read cannot drift from the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "paperlens"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
#: What the map need not name: package faces, and folders of data rather than code.
NOT_MAPPED = {"__init__.py", "__main__.py", "py.typed"}
DATA_DIRS = {"templates", "static", "sample", "migrations", "versions", "__pycache__"}

_CODE = re.compile(r"`([^`]+)`")


def map_rows() -> list[tuple[list[str], str]]:
    """The map's rows as (names in the first column, the description)."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = text.split("## Module map", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[0].startswith("`"):
            continue
        rows.append((_CODE.findall(cells[0]), cells[1]))
    assert rows, "ARCHITECTURE.md has no module map table"
    return rows


def mapped_names() -> set[str]:
    return {name for names, _ in map_rows() for name in names}


def tree_names() -> set[str]:
    """Every top-level module, and every package at any depth (``web/api/``), as the
    map writes them. Modules inside a package are described by its row."""
    names = {p.name for p in PACKAGE.glob("*.py") if p.name not in NOT_MAPPED}
    for init in PACKAGE.rglob("__init__.py"):
        folder = init.parent
        if folder == PACKAGE or DATA_DIRS & set(folder.relative_to(PACKAGE).parts):
            continue
        names.add(folder.relative_to(PACKAGE).as_posix() + "/")
    return names


def test_every_name_in_the_map_exists() -> None:
    missing = sorted(n for n in mapped_names() if not (PACKAGE / n.rstrip("/")).exists())
    assert not missing, f"ARCHITECTURE.md names modules that do not exist: {missing}"


def test_every_module_and_package_is_in_the_map() -> None:
    unmapped = sorted(tree_names() - mapped_names())
    assert not unmapped, f"ARCHITECTURE.md's module map misses: {unmapped}"


@pytest.mark.parametrize(("names", "description"), map_rows(), ids=lambda v: str(v)[:40])
def test_files_named_in_a_package_row_exist(names: list[str], description: str) -> None:
    """A package row's description names files of that package (``app.py``, ``api/``)."""
    for name in names:
        if not name.endswith("/"):
            continue
        for mentioned in _CODE.findall(description):
            if re.fullmatch(r"[a-z_0-9]+(\.py|/)", mentioned):
                path = PACKAGE / name / mentioned.rstrip("/")
                assert path.exists(), (
                    f"ARCHITECTURE.md: {name} row names {mentioned}, not in {name}"
                )

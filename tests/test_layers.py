"""The import contracts in ``.importlinter`` hold, and they really catch a breach.

``test.sh`` runs ``lint-imports`` on the tree; this test also shows the contracts are not
vacuous: a copy of the package in which the web front end imports a store module, or
the store imports the lens, must fail them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint(src: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / ".importlinter")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    src = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "paperlens",
        src / "paperlens",
        ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "sample"),
    )
    target = src / "paperlens" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    return src


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = lint(ROOT / "src", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("web/app.py", "from paperlens.store import papers", "web front end calls PaperLens"),
        ("store/papers.py", "import paperlens.core", "One-way house"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, line: str, broken: str
) -> None:
    done = lint(copy_with(tmp_path, module, line), tmp_path)
    assert done.returncode != 0
    assert broken in done.stdout and "BROKEN" in done.stdout

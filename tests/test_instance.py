"""An admin's move of a whole instance: dump a SQLite instance (directory and zip), load
it into an empty database (PostgreSQL when ``PAPERLENS_TEST_DATABASE_URL`` is set, else
SQLite), and back again into SQLite: every moved table holds the same rows after both
hops, new rows get fresh ids, a non-empty target or a broken dump is refused with nothing
loaded. Plus the CLI commands (``admin export|import``, ``account export|import``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, text

from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.errors import Conflict, Invalid
from paperlens.paper import make_paper
from paperlens.portability.instance import export_instance, import_instance
from paperlens.sources.base import Parsed
from paperlens.store.instance import LEFT_BEHIND, _encode, moved_tables
from paperlens.store.papers import text_hash

PASSWORD = "correct horse battery"


def open_lens(d: Path, url: str) -> PaperLens:
    d.mkdir(parents=True, exist_ok=True)
    return PaperLens(Settings(data_dir=d, database_url=url, max_seq_length=128))


@pytest.fixture
def source(tmp_path: Path) -> Iterator[PaperLens]:
    """A SQLite instance with a bit of everything."""
    lens = open_lens(tmp_path / "src", f"sqlite:///{tmp_path / 'src.db'}")
    papers = [
        make_paper(
            id=f"2401.{i:05d}",
            title=f"Paper {i} — ünïcode $x^2$",
            abstract="a",
            categories=("cs.LG",),
            source="test",
        )
        for i in range(1, 31)
    ]
    lens.papers.write_batch([Parsed(p, "t") for p in papers])
    stored = {p.id: lens.papers.get(p.id) for p in papers}
    rng = np.random.default_rng(1)
    lens.embeddings.put(
        lens.model_key,
        [
            (
                s.pk,
                text_hash(s.paper.title, s.paper.abstract),
                rng.normal(size=8).astype(np.float32),
            )
            for s in stored.values()
            if s is not None
        ],
    )
    admin = lens.accounts.create_user("admin@example.org", PASSWORD, "Admin", verified=True)
    ada = lens.accounts.create_user("ada@example.org", PASSWORD, "Ada")
    lens.accounts.create_api_token(ada.pk, "laptop")
    lens.accounts.start_session(ada.pk)
    col = lens.library.create(ada.pk, "Reading", public=True).pk
    pk1 = stored["2401.00001"].pk  # type: ignore[union-attr]
    lens.library.save(ada.pk, pk1, col)
    lens.library.set_note(ada.pk, pk1, "note", read=True)
    lens.community.vote(ada.pk, pk1)
    lens.community.vote(admin.pk, pk1)
    lens.library.dismiss(ada.pk, stored["2401.00002"].pk)  # type: ignore[union-attr]
    yield lens
    lens.close()


def snapshot(lens: PaperLens) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    with lens.engine.connect() as conn:
        for t in moved_tables():
            rows = conn.execute(select(t).order_by(*t.primary_key.columns)).mappings()
            out[t.name] = [{k: _encode(v) for k, v in r.items()} for r in rows]
    return out


@pytest.mark.parametrize("as_zip", [False, True])
def test_round_trip_sqlite_to_target_and_back(
    source: PaperLens, tmp_path: Path, as_zip: bool
) -> None:
    before = snapshot(source)
    assert before["papers"] and before["embeddings"] and before["votes"]
    assert not {"user_sessions"} & set(before)
    dump = tmp_path / ("dump.zip" if as_zip else "dump")
    manifest = export_instance(source.engine, dump)
    assert manifest["tables"]["papers"] == 30 and "user_sessions" not in manifest["tables"]
    with fresh_database(tmp_path) as url:
        target = open_lens(tmp_path / "t", url)
        try:
            counts = import_instance(target.engine, dump)
            assert counts["papers"] == 30 and counts["embeddings"] == 30
            assert snapshot(target) == before
            # Ids continue after the loaded ones (PostgreSQL sequences were advanced).
            newcomer = target.accounts.create_user("new@example.org", PASSWORD)
            assert newcomer.pk == max(u["pk"] for u in before["users"]) + 1
            assert target.accounts.authenticate("ada@example.org", PASSWORD) is not None
            with target.engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM user_sessions")).scalar_one() == 0
            # The second hop: back into a new SQLite database.
            back_dump = tmp_path / "back"
            export_instance(target.engine, back_dump)
            back = open_lens(tmp_path / "b", f"sqlite:///{tmp_path / 'back.db'}")
            try:
                import_instance(back.engine, back_dump)
                after = snapshot(back)
                after["users"] = [u for u in after["users"] if u["email"] != "new@example.org"]
                assert after == before
            finally:
                back.close()
        finally:
            target.close()


def test_refusals_leave_nothing_loaded(source: PaperLens, tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    export_instance(source.engine, dump)
    # Not empty: refused.
    with pytest.raises(Conflict, match="already holds"):
        import_instance(source.engine, dump)
    target = open_lens(tmp_path / "t", f"sqlite:///{tmp_path / 't.db'}")
    try:
        # A broken line in a late table: nothing of the earlier tables stays.
        with (dump / "votes.jsonl").open("ab") as fh:
            fh.write(b"{not json\n")
        with pytest.raises(Invalid, match="votes line 3 is not JSON"):
            import_instance(target.engine, dump)
        with target.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM papers")).scalar_one() == 0
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
        manifest = json.loads((dump / "manifest.json").read_text())
        (dump / "manifest.json").write_text(json.dumps({**manifest, "schema_revision": "0001"}))
        with pytest.raises(Invalid, match="schema revision"):
            import_instance(target.engine, dump)
        with pytest.raises(Invalid, match="no dump"):
            import_instance(target.engine, tmp_path / "nowhere")
        bad = tmp_path / "evil.zip"
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("../manifest.json", "{}")
        with pytest.raises(Invalid, match="unsafe name"):
            import_instance(target.engine, bad)
    finally:
        target.close()


def test_left_behind_tables_are_runtime_state() -> None:
    assert {t.name for t in moved_tables()}.isdisjoint(LEFT_BEHIND)
    assert "papers" in {t.name for t in moved_tables()}


def run(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(data_dir),
        "PAPERLENS_DATABASE_URL": url,
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_exports_and_imports(source: PaperLens, tmp_path: Path) -> None:
    src_url = str(source.engine.url.render_as_string(hide_password=False))
    d = source.settings.data_dir
    out = tmp_path / "ada.zip"
    proc = run(d, src_url, "account", "export", "ada@example.org", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(zipfile.ZipFile(out).read("paperlens-export.json"))
    assert doc["sections"]["account"]["email"] == "ada@example.org"
    proc = run(d, src_url, "account", "export", "nobody@example.org", "--out", str(out))
    assert proc.returncode != 0 and "no account" in proc.stderr
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    proc = run(d, src_url, "account", "import", "admin@example.org", str(bad))
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and lines == ["error: this is not a zip archive"]
    proc = run(d, src_url, "account", "import", "admin@example.org", str(out))
    assert proc.returncode == 0 and "collection_papers: 1" in proc.stdout, proc.stderr
    dump = tmp_path / "instance.zip"
    proc = run(d, src_url, "admin", "export", "--out", str(dump))
    assert proc.returncode == 0 and "rows of" in proc.stdout, proc.stderr
    target_url = f"sqlite:///{tmp_path / 'cli-target.db'}"
    (tmp_path / "cli-t").mkdir()
    proc = run(tmp_path / "cli-t", target_url, "admin", "import", str(dump))
    assert proc.returncode == 0 and "paperlens index" in proc.stdout, proc.stderr
    proc = run(tmp_path / "cli-t", target_url, "admin", "import", str(dump))
    assert proc.returncode != 0 and "already holds" in proc.stderr
    proc = run(d, src_url, "account", "delete", "ada@example.org", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert source.accounts.get_by_email("ada@example.org") is None

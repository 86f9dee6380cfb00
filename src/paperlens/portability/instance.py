"""An admin's move of a whole instance: ``paperlens admin export --out DIR|FILE.zip``
writes ``manifest.json`` plus one ``TABLE.jsonl`` per table (streamed, see
:mod:`paperlens.store.instance`); ``paperlens admin import DIR|FILE.zip`` loads it into
the (empty, migrated) database the settings name, SQLite or PostgreSQL, in one
transaction. The dump and the target must be at the same schema revision. Search indexes
are not moved: run ``paperlens index`` after an import (embeddings are moved, so nothing
is re-embedded)."""

from __future__ import annotations

import contextlib
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, Table

from paperlens.errors import Invalid
from paperlens.portability.archive import safe_name
from paperlens.store.instance import dump_table, load_tables, moved_tables
from paperlens.store.migrate import current

FORMAT = "paperlens-instance"
VERSION = 1
MANIFEST = "manifest.json"


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return current(conn)


def export_instance(engine: Engine, out: Path) -> dict[str, Any]:
    """Writes the dump to the directory ``out`` or, when it ends in ``.zip``, one zip
    archive (members written as streams). Returns the manifest."""
    tables: dict[str, int] = {}
    as_zip = out.suffix == ".zip"
    with contextlib.ExitStack() as stack:
        archive = (
            stack.enter_context(zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, allowZip64=True))
            if as_zip
            else None
        )
        if archive is None:
            out.mkdir(parents=True, exist_ok=True)
        for t in moved_tables():
            name = f"{t.name}.jsonl"
            with (
                archive.open(name, "w", force_zip64=True)
                if archive is not None
                else (out / name).open("wb")
            ) as fh:
                tables[t.name] = dump_table(engine, t, fh)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "schema_revision": _revision(engine),
            "exported_at": datetime.now(UTC).isoformat(),
            "backend": engine.dialect.name,
            "tables": tables,
        }
        body = json.dumps(manifest, indent=1).encode()
        if archive is not None:
            archive.writestr(MANIFEST, body)
        else:
            (out / MANIFEST).write_bytes(body)
    return manifest


def _lines(fh: IO[bytes]) -> Iterator[bytes]:
    with fh:
        yield from fh


def import_instance(engine: Engine, src: Path) -> dict[str, int]:
    """Loads a dump made by :func:`export_instance`; rows loaded per table."""
    archive: zipfile.ZipFile | None = None
    names: set[str] = set()
    if src.is_file():
        try:
            archive = zipfile.ZipFile(src)
        except zipfile.BadZipFile:
            raise Invalid(f"{src} is neither a directory nor a zip archive") from None
        names = set(archive.namelist())
        if not all(safe_name(n) for n in names):
            raise Invalid("the archive holds a file with an unsafe name")
    elif not src.is_dir():
        raise Invalid(f"no dump at {src}")

    def opener(name: str) -> IO[bytes] | None:
        if archive is not None:
            return archive.open(name) if name in names else None
        return (src / name).open("rb") if (src / name).is_file() else None

    fh = opener(MANIFEST)
    if fh is None:
        raise Invalid(f"no {MANIFEST} in {src}; is it a paperlens instance export?")
    with fh:
        try:
            manifest = json.loads(fh.read(1_000_000))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise Invalid(f"{MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise Invalid("this is not a paperlens instance export")
    if manifest.get("version") != VERSION:
        raise Invalid(f"instance export version {manifest.get('version')!r}; this reads {VERSION}")
    here = _revision(engine)
    if manifest.get("schema_revision") != here:
        raise Invalid(
            f"the export is at schema revision {manifest.get('schema_revision')!r} and this "
            f"database at {here!r}: upgrade both to the same paperlens version first"
        )

    def source(t: Table) -> Iterable[bytes] | None:
        member = opener(f"{t.name}.jsonl")
        return None if member is None else _lines(member)

    return load_tables(engine, source)

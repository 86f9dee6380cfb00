"""One reader's data: the export archive, its import into another server, and account
deletion. Front ends reach it as ``PaperLens.reader_data`` (:class:`ReaderData`); they
decide *who* may ask (the signed-in reader for themselves, an admin on the CLI).

The archive is a zip of

* ``paperlens-export.json``: ``{"format": FORMAT, "version": VERSION, "exported_at",
  "server", "sections": {name: data}}``, one entry per section of
  :data:`paperlens.store.portability.READER_SECTIONS` (no password hash, no token,
  session or reset secret);
* ``collections/NNN-name.bib`` and ``.ris``: each collection for reference managers
  (ignored on import).

Import reads only the JSON, checks the whole document, then writes every section in ONE
transaction: a malformed or hostile archive (see :mod:`.archive`; wrong format or
version; duplicate collections or papers; bad types) is refused with a message and
leaves nothing behind. Papers this server does not hold are skipped and counted.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from paperlens.cite import bibtex, ris
from paperlens.errors import Invalid, NotFound
from paperlens.library import Library
from paperlens.portability.archive import check_archive, read_json
from paperlens.store.portability import READER_SECTIONS, Counts, PaperIds, delete_user

FORMAT = "paperlens-reader-export"
VERSION = 1
DOCUMENT = "paperlens-export.json"


@dataclass(frozen=True, slots=True)
class ImportReport:
    #: Rows written per kind, plus ``skipped_unknown_papers``.
    counts: dict[str, int]
    #: Sections present in the archive but never imported, with the reason.
    not_imported: dict[str, str] = field(default_factory=dict)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "collection"


class ReaderData:
    def __init__(self, engine: Engine, library: Library, server: str) -> None:
        self.engine = engine
        self.library = library
        self.server = server

    def document(self, user_pk: int) -> dict[str, Any]:
        """Everything the reader owns, as the archive's JSON document."""
        with self.engine.connect() as conn:
            sections = {s.name: s.export(conn, user_pk) for s in READER_SECTIONS}
        return {
            "format": FORMAT,
            "version": VERSION,
            "exported_at": datetime.now(UTC).isoformat(),
            "server": self.server,
            "sections": sections,
        }

    def export_archive(self, user_pk: int) -> bytes:
        doc = self.document(user_pk)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
            out.writestr(DOCUMENT, json.dumps(doc, ensure_ascii=False, indent=1))
            for n, c in enumerate(doc["sections"]["collections"], start=1):
                view = self.library.view(user_pk, int(c["id"]))
                papers = [i.paper for i in view.items]
                stem = f"collections/{n:03d}-{_slug(c['name'])}"
                out.writestr(f"{stem}.bib", bibtex(papers))
                out.writestr(f"{stem}.ris", ris(papers))
        return buffer.getvalue()

    def import_archive(self, user_pk: int, data: bytes) -> ImportReport:
        doc = read_json(check_archive(data), DOCUMENT)
        return self.import_document(user_pk, doc)

    def import_document(self, user_pk: int, doc: dict[str, Any]) -> ImportReport:
        if doc.get("format") != FORMAT:
            raise Invalid("this is not a paperlens reader export")
        if doc.get("version") != VERSION:
            raise Invalid(
                f"archive version {str(doc.get('version'))[:20]!r}; this server reads "
                f"version {VERSION}"
            )
        sections = doc.get("sections")
        if not isinstance(sections, dict):
            raise Invalid("the archive has no 'sections' object")
        known = {s.name for s in READER_SECTIONS}
        unknown = sorted(set(sections) - known)
        if unknown:
            raise Invalid(f"unknown sections in the archive: {', '.join(unknown)[:200]}")
        counts = Counts()
        not_imported: dict[str, str] = {}
        with self.engine.begin() as conn:  # one transaction: all or nothing
            papers = PaperIds(conn)
            for section in READER_SECTIONS:
                if section.name not in sections:
                    continue
                if section.load is None:
                    not_imported[section.name] = section.not_imported
                    continue
                section.load(conn, user_pk, sections[section.name], papers, counts)
        return ImportReport(dict(counts), not_imported)

    def delete_account(self, user_pk: int) -> None:
        """Deletes the account and everything every section holds of it, at once."""
        with self.engine.begin() as conn:
            if not delete_user(conn, user_pk):
                raise NotFound("no such account")

"""Downloads: a collection (BibTeX, RIS, CSL-JSON or paperlens JSON) and one paper's
citation, for the API and the pages (the formatting is :mod:`paperlens.cite`'s); and
a reader's whole export archive (:func:`archive_response`).

The file is named after the collection. HTTP headers are Latin-1 at best, so the name
travels twice (RFC 6266): ``filename*=UTF-8''...`` carries it whole, percent-encoded
(RFC 5987), and ``filename="..."`` an ASCII fallback for clients that ignore the first.
Neither can hold a quote, a semicolon or a line break.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal, get_args
from urllib.parse import quote

import orjson
from fastapi import Response

from paperlens import cite
from paperlens.core import PaperLens
from paperlens.library import CollectionView
from paperlens.paper import Paper

#: A collection's export formats: the three citation formats, and paperlens' own JSON
#: (with the owner's notes and read marks).
ExportFormat = Literal["bibtex", "ris", "csl-json", "json"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)
#: The collection page's download links: extension -> format.
EXPORT_EXTENSIONS: dict[str, ExportFormat] = {
    "bib": "bibtex",
    "ris": "ris",
    "csl.json": "csl-json",
    "json": "json",
}


def _stem(name: str) -> str:
    """Letters and digits of ``name`` (any script), every run of anything else one dash."""
    kept = "".join(ch if ch.isalnum() else "-" for ch in name)
    return "-".join(part for part in kept.split("-") if part)


def content_disposition(name: str, pk: int, extension: str) -> str:
    """``attachment`` with the file named after collection ``name`` (number ``pk``)."""
    stem = _stem(name) or "collection"
    folded = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    ascii_stem = _stem(folded) or "collection"
    fallback = f"{ascii_stem}-{pk}.{extension}"
    full = f"{stem}-{pk}.{extension}"
    if full == fallback:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(full, safe='')}"


def export_response(lens: PaperLens, view: CollectionView, format: ExportFormat) -> Response:
    """The collection as an attachment named after it."""
    c = view.collection
    if format == "json":
        return Response(
            orjson.dumps(lens.library.export_json(view), option=orjson.OPT_INDENT_2),
            media_type="application/json",
            headers={"content-disposition": content_disposition(c.name, c.pk, "json")},
        )
    info = cite.FORMATS[format]
    extension = "csl.json" if format == "csl-json" else info.extension
    # BibTeX keeps the media type it always had here; the others are the formats' own.
    media_type = "text/x-bibtex; charset=utf-8" if format == "bibtex" else info.media_type
    return Response(
        lens.library.export_citations(view, info.name),
        media_type=media_type,
        headers={"content-disposition": content_disposition(c.name, c.pk, extension)},
    )


def cite_response(paper: Paper, fmt: cite.CiteFormat, download: bool = True) -> Response:
    """One paper's citation; ``download`` names the file (``2106.09685.bib``), else it
    is shown inline (the API's answer)."""
    info = cite.FORMATS[fmt]
    headers: dict[str, str] = {}
    if download:
        # ASCII letters, digits, dots and dashes only: no quote or ";" reaches the header.
        stem = re.sub(r"[^A-Za-z0-9.-]+", "-", paper.id).strip(".-")[:100] or "paper"
        headers["content-disposition"] = f'attachment; filename="{stem}.{info.extension}"'
    return Response(cite.render([paper], fmt), media_type=info.media_type, headers=headers)


def archive_response(data: bytes) -> Response:
    """A reader's export archive as a download (a fixed ASCII name: nothing of the
    address goes into a header)."""
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="paperlens-export.zip"',
            "Cache-Control": "no-store",
        },
    )

"""A collection as a download (BibTeX or JSON), for the API and the collection page;
and a reader's whole export archive (:func:`archive_response`).

The file is named after the collection. HTTP headers are Latin-1 at best, so the name
travels twice (RFC 6266): ``filename*=UTF-8''...`` carries it whole, percent-encoded
(RFC 5987), and ``filename="..."`` an ASCII fallback for clients that ignore the first.
Neither can hold a quote, a semicolon or a line break.
"""

from __future__ import annotations

import unicodedata
from typing import Literal
from urllib.parse import quote

import orjson
from fastapi import Response

from paperlens.core import PaperLens
from paperlens.library import CollectionView


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


def export_response(
    lens: PaperLens, view: CollectionView, format: Literal["bibtex", "json"]
) -> Response:
    """The collection as an attachment named after it."""
    c = view.collection
    if format == "json":
        return Response(
            orjson.dumps(lens.library.export_json(view), option=orjson.OPT_INDENT_2),
            media_type="application/json",
            headers={"content-disposition": content_disposition(c.name, c.pk, "json")},
        )
    return Response(
        lens.library.export_bibtex(view),
        media_type="text/x-bibtex; charset=utf-8",
        headers={"content-disposition": content_disposition(c.name, c.pk, "bib")},
    )


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

"""A collection as a download (BibTeX or JSON), for the API and the collection page."""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import Response

from paperlens.core import PaperLens
from paperlens.library import CollectionView


def export_response(
    lens: PaperLens, view: CollectionView, format: Literal["bibtex", "json"]
) -> Response:
    """The collection as an attachment named after it (letters and digits kept, any
    other character a dash, so no quote or newline reaches the header)."""
    name = "".join(ch if ch.isalnum() else "-" for ch in view.collection.name).strip("-")
    filename = f"{name or 'collection'}-{view.collection.pk}"
    if format == "json":
        return Response(
            orjson.dumps(lens.library.export_json(view), option=orjson.OPT_INDENT_2),
            media_type="application/json",
            headers={"content-disposition": f'attachment; filename="{filename}.json"'},
        )
    return Response(
        lens.library.export_bibtex(view),
        media_type="text/x-bibtex; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}.bib"'},
    )

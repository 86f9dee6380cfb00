"""A reader's own data over the API: ``GET /api/v1/account/export`` (the zip archive)
and ``POST /api/v1/account/import`` (an archive as the raw ``application/zip`` body,
imported all or nothing). Both act on the caller's own account only; exports and imports
are rate limited per account. Account deletion takes a browser session and the password
(``POST /account/delete``), never a token."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from paperlens.errors import Invalid
from paperlens.portability.archive import MAX_ARCHIVE_BYTES
from paperlens.web.api import schemas as s
from paperlens.web.api.schemas import Responses, error_doc
from paperlens.web.deps import CurrentUser, LensDep, ThrottleDep
from paperlens.web.exports import archive_response

router = APIRouter(prefix="/api/v1", tags=["v1"])

AUTH: Responses = {
    401: error_doc("No valid API token or session."),
    429: error_doc("Too many exports or imports; wait and try again."),
}


@router.get(
    "/account/export",
    responses={**AUTH, 200: {"content": {"application/zip": {}}}},
    response_class=Response,
    summary="Everything paperlens holds about you, as a zip archive",
)
def export_account(user: CurrentUser, lens: LensDep, throttle: ThrottleDep) -> Response:
    """``paperlens-export.json`` (account without secrets, collections, notes, votes,
    "not interested" marks, subscriptions, submissions) plus BibTeX and RIS of each
    collection."""
    throttle.hit("export_account", str(user.pk))
    return archive_response(lens.reader_data.export_archive(user.pk))


@router.post(
    "/account/import",
    response_model=s.ImportOut,
    responses={
        **AUTH,
        400: error_doc("Not a valid paperlens archive; nothing was imported."),
        413: error_doc("Larger than the upload limit."),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("application/zip", "application/octet-stream")
            },
        }
    },
    summary="Import an export archive from another paperlens server",
)
async def import_account(
    request: Request, user: CurrentUser, lens: LensDep, throttle: ThrottleDep
) -> s.ImportOut:
    """All or nothing. Papers this server does not hold are skipped and counted
    (``skipped_unknown_papers``)."""
    throttle.hit("import_account", str(user.pk))
    data = await request.body()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise Invalid(f"the archive is larger than {MAX_ARCHIVE_BYTES // (1024 * 1024)} MB")
    report = lens.reader_data.import_archive(user.pk, data)
    return s.ImportOut(counts=report.counts, not_imported=report.not_imported)

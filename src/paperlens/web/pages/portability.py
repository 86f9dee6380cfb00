"""A reader's own data on the web: download everything (``GET /account/export``, a zip),
import an archive from another paperlens server (``POST /account/import``, an upload
with the CSRF token), delete the account (``POST /account/delete``, with the current
password). All of it takes a browser session of the reader themselves; the work is
``PaperLens.reader_data``'s (:mod:`paperlens.portability.reader`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from paperlens.errors import Invalid
from paperlens.portability.archive import MAX_ARCHIVE_BYTES
from paperlens.web.deps import SESSION_COOKIE, ClientIp, LensDep, SessionUser, ThrottleDep
from paperlens.web.exports import archive_response
from paperlens.web.rendering import render

router = APIRouter(include_in_schema=False)

#: What the import form may carry beyond the archive itself (the CSRF token, a boundary).
FORM_SLACK = 64 * 1024
IMPORT_PATHS = ("/account/import", "/api/v1/account/import")


@router.get("/account/export")
def export_page(user: SessionUser, lens: LensDep, throttle: ThrottleDep) -> Response:
    """The reader's whole archive (rate-limited per account: it is a heavy request)."""
    throttle.hit("export_account", str(user.pk))
    return archive_response(lens.reader_data.export_archive(user.pk))


def _account_page(request: Request, message: str, status: int, **extra: Any) -> HTMLResponse:
    return render(request, "account_data.html", {"message": message, **extra}, status)


@router.get("/account/data", response_class=HTMLResponse)
def data_page(request: Request, user: SessionUser) -> HTMLResponse:
    return _account_page(request, "", 200)


@router.post("/account/import", response_class=HTMLResponse)
async def import_page(
    request: Request, user: SessionUser, lens: LensDep, throttle: ThrottleDep
) -> HTMLResponse:
    throttle.hit("import_account", str(user.pk))
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("archive")
    if not isinstance(upload, UploadFile):
        return _account_page(request, "Choose an archive to import.", 400)
    data = await upload.read(MAX_ARCHIVE_BYTES + 1)
    try:
        report = lens.reader_data.import_archive(user.pk, data)
    except Invalid as exc:
        return _account_page(request, f"Nothing was imported: {exc}", 400)
    return _account_page(request, "Imported.", 200, report=report)


@router.post("/account/delete")
async def delete_page(
    request: Request,
    user: SessionUser,
    lens: LensDep,
    throttle: ThrottleDep,
    ip: ClientIp,
) -> Response:
    """Deletes the account after the current password (checks counted as in Settings)."""
    form = await request.form(max_files=0, max_fields=5)
    password = form.get("password")
    throttle.check("reauth_account", str(user.pk))
    throttle.check("reauth_ip", ip)
    if not isinstance(password, str) or lens.accounts.authenticate(user.email, password) is None:
        throttle.record("reauth_account", str(user.pk))
        throttle.record("reauth_ip", ip)
        return _account_page(request, "The password is wrong; nothing was deleted.", 400)
    lens.reader_data.delete_account(user.pk)
    response = RedirectResponse("/?done=deleted", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", path="/")
    return response


__all__ = ["IMPORT_PATHS", "router"]

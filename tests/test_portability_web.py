"""A reader's data on the web and the API: only the signed-in reader downloads their own
archive (rate limited); an import needs the CSRF token and a session, is size-limited,
and a bad archive shows a message with nothing imported; deletion needs the password and
signs the browser out. A small app of its own (rate limits on)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.paper import make_paper
from paperlens.portability.reader import DOCUMENT
from paperlens.sources.base import Parsed
from paperlens.web import create_app
from paperlens.web.throttle import RateLimits

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    pl.papers.write_batch(
        [Parsed(make_paper(id="2401.00001", title="T", abstract="A", source="t"), "t")]
    )
    yield pl
    pl.close()


@pytest.fixture
def app(lens: PaperLens) -> Any:
    return create_app(lens, rate_limit=None, auth_limits=RateLimits(export_account="2/hour"))


def browser(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def csrf(client: TestClient, path: str) -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field"
    return match.group(1)


def signed_in(app: Any, lens: PaperLens, email: str) -> TestClient:
    lens.accounts.create_user(email, PASSWORD, verified=True)
    c = browser(app)
    r = c.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(c, "/login")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return c


def test_export_is_the_readers_own_and_rate_limited(app: Any, lens: PaperLens) -> None:
    anon = browser(app)
    assert anon.get("/account/export", follow_redirects=False).status_code in (303, 401)
    assert anon.get("/api/v1/account/export").status_code == 401
    ada = signed_in(app, lens, "ada@example.org")
    bob = signed_in(app, lens, "bob@example.org")
    pk = lens.accounts.get_by_email("bob@example.org").pk  # type: ignore[union-attr]
    lens.library.save(pk, lens.papers.get("2401.00001").pk)  # type: ignore[union-attr]
    r = bob.get("/account/export")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert "attachment" in r.headers["content-disposition"]
    doc = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read(DOCUMENT))
    assert doc["sections"]["account"]["email"] == "bob@example.org"
    r = ada.get("/account/export")
    doc = json.loads(zipfile.ZipFile(io.BytesIO(r.content)).read(DOCUMENT))
    assert doc["sections"]["account"]["email"] == "ada@example.org"
    assert "bob@" not in r.content.decode("latin-1")
    assert bob.get("/account/export").status_code == 200
    r = bob.get("/account/export")  # the third in an hour
    assert r.status_code == 429 and "Retry-After" in r.headers


def test_web_import_needs_csrf_and_reports_or_refuses(app: Any, lens: PaperLens) -> None:
    src = signed_in(app, lens, "src@example.org")
    src_pk = lens.accounts.get_by_email("src@example.org").pk  # type: ignore[union-attr]
    lens.library.save(src_pk, lens.papers.get("2401.00001").pk)  # type: ignore[union-attr]
    archive = src.get("/account/export").content
    dest = signed_in(app, lens, "dest@example.org")
    files = {"archive": ("mine.zip", archive, "application/zip")}
    r = dest.post("/account/import", files=files)  # no CSRF token
    assert r.status_code == 403
    token = csrf(dest, "/account/data")
    r = dest.post("/account/import", files=files, data={"csrf_token": token})
    assert r.status_code == 200 and "Imported." in r.text and "collection papers: 1" in r.text
    dest_pk = lens.accounts.get_by_email("dest@example.org").pk  # type: ignore[union-attr]
    assert lens.library.saved(dest_pk) == lens.library.saved(src_pk)
    bad = {"archive": ("x.zip", b"<script>not a zip</script>", "application/zip")}
    r = dest.post("/account/import", files=bad, data={"csrf_token": token})
    assert r.status_code == 400 and "Nothing was imported: this is not a zip archive" in r.text
    assert "<script>not" not in r.text
    anon = browser(app)
    assert anon.post("/account/import", files=files).status_code == 403
    # Over the upload limit: refused before the app reads it.
    huge = {"archive": ("big.zip", b"0" * (21 * 1024 * 1024), "application/zip")}
    assert dest.post("/account/import", files=huge, data={"csrf_token": token}).status_code == 413


def test_api_import_and_export_with_a_token(app: Any, lens: PaperLens) -> None:
    user = lens.accounts.create_user("api@example.org", PASSWORD)
    lens.library.save(user.pk, lens.papers.get("2401.00001").pk)  # type: ignore[union-attr]
    _id, token = lens.accounts.create_api_token(user.pk, "t")
    c = browser(app)
    auth = {"Authorization": f"Bearer {token}"}
    archive = c.get("/api/v1/account/export", headers=auth).content
    other = lens.accounts.create_user("api2@example.org", PASSWORD)
    _id, token2 = lens.accounts.create_api_token(other.pk, "t")
    auth2 = {"Authorization": f"Bearer {token2}", "Content-Type": "application/zip"}
    r = c.post("/api/v1/account/import", content=archive, headers=auth2)
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["collection_papers"] == 1
    r = c.post("/api/v1/account/import", content=b"nope", headers=auth2)
    assert r.status_code == 400 and "not a zip" in r.json()["detail"]


def test_delete_needs_the_password_and_signs_out(app: Any, lens: PaperLens) -> None:
    c = signed_in(app, lens, "gone@example.org")
    token = csrf(c, "/account/data")
    r = c.post("/account/delete", data={"password": "wrong one", "csrf_token": token})
    assert r.status_code == 400 and lens.accounts.get_by_email("gone@example.org") is not None
    assert c.post("/account/delete", data={"password": PASSWORD}).status_code == 403
    r = c.post(
        "/account/delete",
        data={"password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert lens.accounts.get_by_email("gone@example.org") is None
    assert c.get("/account/data", follow_redirects=False).status_code != 200

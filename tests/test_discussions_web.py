"""Discussions through the web: the paper page's thread and its forms (CSRF, login,
ownership), the API under ``/api/v1/papers/{id}/comments`` (tokens, bad input, who may
edit and delete, bans, 429), reports and the moderators' page, notifications and their
badge, comment counts on feed cards, and the discussion's Atom feed. On an app of its
own over a fresh database (a few papers, no index needed)."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperlens.accounts import User
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.discussions import MAX_CHARS, MAX_DEPTH
from paperlens.paper import make_paper
from paperlens.sources.base import Parsed
from paperlens.web import create_app
from paperlens.web.throttle import RateLimits

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
PAPER = "2401.00001"
OTHER = "hep-th/9901001"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperLens]:
    from databases import fresh_database

    root = tmp_path_factory.mktemp("discuss-web")
    with fresh_database(root) as url:
        lens = PaperLens(Settings(data_dir=root / "data", database_url=url, max_seq_length=128))
        for pid in (PAPER, OTHER):
            p = make_paper(
                id=pid,
                title=f"Paper {pid}",
                abstract="Abstract.",
                authors=["Ada Lovelace"],
                categories=("cs.LG",),
                published=datetime(2024, 1, 2, tzinfo=UTC),
                source="test",
            )
            lens.papers.write_batch([Parsed(p, "test")])
        yield lens
        lens.close()


@pytest.fixture(scope="module")
def app(lens: PaperLens) -> Any:
    return create_app(lens, rate_limit=None, auth_limits=None)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def new_user(lens: PaperLens, name: str, *, verified: bool = True, admin: bool = False) -> User:
    user = lens.accounts.create_user(
        f"r-{uuid.uuid4().hex[:10]}@example.org", PASSWORD, name, verified=verified
    )
    return lens.accounts.set_admin(user.email) if admin else user


def token(lens: PaperLens, user: User) -> dict[str, str]:
    _id, plain = lens.accounts.create_api_token(user.pk, "tests")
    return {"Authorization": f"Bearer {plain}"}


def csrf(client: TestClient, path: str = "/") -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field"
    return match.group(1)


def login(client: TestClient, user: User) -> None:
    r = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf(client, "/login")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:300]


def post_form(client: TestClient, path: str, **data: str) -> Any:
    data.setdefault("csrf_token", csrf(client, f"/paper/{PAPER}"))
    return client.post(path, data=data, follow_redirects=False)


def comment_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="c(\d+)"', html)]


# -- the paper page ---------------------------------------------------------------------------


def test_comment_reply_edit_delete_on_the_page(client: TestClient, lens: PaperLens) -> None:
    ann = new_user(lens, "Ann")
    login(client, ann)
    hostile = "Math $a_1 * b_2$ <script>alert(1)</script> [x](javascript:alert(2))"
    r = post_form(client, "/comments", paper=PAPER, body=hostile)
    assert r.status_code == 303
    first = int(r.headers["location"].rsplit("#c", 1)[1])
    assert r.headers["location"] == f"/paper/{PAPER}#c{first}"
    page = client.get(f"/paper/{PAPER}").text
    assert '<span class="math">$a_1 * b_2$</span>' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "javascript:" not in page.split('id="discussion"')[1].split("</section>")[0].replace(
        "[x](javascript:alert(2))", ""
    )
    assert "katex.min.js" in page  # the comment's math loads KaTeX
    # Reply, then edit the reply: the "edited" mark.
    r = post_form(client, "/comments", paper=PAPER, body="a reply", parent=str(first))
    reply = int(r.headers["location"].rsplit("#c", 1)[1])
    r = post_form(client, f"/comments/{reply}/edit", paper=PAPER, body="a **better** reply")
    assert r.status_code == 303
    page = client.get(f"/paper/{PAPER}").text
    assert "<strong>better</strong>" in page and 'class="edited"' in page
    assert comment_ids(page)[:2] == [first, reply]
    # Delete the first: a stub, the reply stays under it.
    r = post_form(client, f"/comments/{first}/delete", paper=PAPER)
    assert r.status_code == 303
    page = client.get(f"/paper/{PAPER}").text
    assert "[deleted]" in page and "alert(1)" not in page
    assert comment_ids(page)[:2] == [first, reply]


def test_writing_needs_login_and_csrf(client: TestClient, lens: PaperLens) -> None:
    r = client.post("/comments", data={"paper": PAPER, "body": "x"}, follow_redirects=False)
    assert r.status_code in (303, 403)
    login(client, new_user(lens, "Carl"))
    r = client.post("/comments", data={"paper": PAPER, "body": "x"}, follow_redirects=False)
    assert r.status_code == 403
    page = client.get(f"/paper/{PAPER}").text
    assert 'action="/comments"' in page  # the form is there for a verified reader


def test_anonymous_and_unverified_readers_see_why_they_cannot_write(
    client: TestClient, lens: PaperLens
) -> None:
    page = client.get(f"/paper/{PAPER}").text
    assert "to join the discussion" in page and 'id="new-comment"' not in page
    login(client, new_user(lens, "Newbie", verified=False))
    page = client.get(f"/paper/{PAPER}").text
    assert "Verify your email address before commenting" in page
    r = post_form(client, "/comments", paper=PAPER, body="hello")
    assert r.status_code == 403 and "Verify your email" in r.text


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("", 400, "The comment is empty"),
        ("nul\x00byte", 400, "control characters"),
        ("x" * (MAX_CHARS + 1), 400, "too long"),
    ],
)
def test_refused_comments_come_back_with_the_message(
    client: TestClient, lens: PaperLens, body: str, status: int, message: str
) -> None:
    login(client, new_user(lens, "Typo"))
    r = post_form(client, "/comments", paper=PAPER, body=body)
    assert r.status_code == status and message in r.text
    assert 'name="body"' in r.text  # the text is offered again


def test_a_long_non_ascii_comment_fits_the_body_limit(client: TestClient, lens: PaperLens) -> None:
    login(client, new_user(lens, "Long"))
    r = post_form(client, "/comments", paper=PAPER, body="你" * MAX_CHARS)
    assert r.status_code == 303


# -- the API ---------------------------------------------------------------------------------


def api(path: str = PAPER) -> str:
    return f"/api/v1/papers/{path}/comments"


def test_api_ownership_and_admin_moderation(client: TestClient, lens: PaperLens) -> None:
    ann, bob = new_user(lens, "Anna"), new_user(lens, "Bobby")
    admin = new_user(lens, "Boss", admin=True)
    a, b, boss = token(lens, ann), token(lens, bob), token(lens, admin)
    r = client.post(api(OTHER), json={"body": "old-style id, $x$"}, headers=a)
    assert r.status_code == 201, r.text
    c = r.json()
    assert r.headers["location"] == f"/api/v1/papers/{OTHER}/comments/{c['id']}"
    assert (c["paper"], c["depth"], c["mine"], c["body"]) == (OTHER, 0, True, "old-style id, $x$")
    one = f"{api(OTHER)}/{c['id']}"
    assert client.patch(one, json={"body": "hijack"}, headers=b).status_code == 403
    assert client.delete(one, headers=b).status_code == 403
    assert client.patch(one, json={"body": "hijack"}, headers=boss).status_code == 403
    r = client.patch(one, json={"body": "fixed"}, headers=a)
    assert r.status_code == 200 and r.json()["edited_at"] is not None
    seen = client.get(api(OTHER)).json()  # anonymous
    assert seen["count"] >= 1
    mine = next(x for x in seen["comments"] if x["id"] == c["id"])
    assert mine["body"] is None and mine["mine"] is False and mine["html"] == "<p>fixed</p>\n"
    assert client.get(one).json()["id"] == c["id"]
    r = client.delete(one, headers=boss)
    assert r.status_code == 200 and r.json()["state"] == "deleted" and r.json()["html"] == ""
    # Moderation through the API: admins only.
    other = client.post(api(OTHER), json={"body": "to hide"}, headers=a).json()
    mod = f"{api(OTHER)}/{other['id']}/moderate"
    assert client.post(mod, json={"action": "hide"}, headers=b).status_code == 403
    r = client.post(mod, json={"action": "hide"}, headers=boss)
    assert r.status_code == 200 and r.json()["state"] == "hidden" and r.json()["html"]
    assert client.get(f"{api(OTHER)}/{other['id']}").json()["html"] == ""
    assert client.post(mod, json={"action": "explode"}, headers=boss).status_code == 422
    assert (
        client.post(f"{one}/moderate", json={"action": "restore"}, headers=boss).status_code == 409
    )
    # The same comment under another paper's path does not exist.
    assert client.get(f"{api(PAPER)}/{c['id']}").status_code == 404


def test_api_needs_auth_and_read_only_tokens_cannot_write(
    client: TestClient, lens: PaperLens
) -> None:
    assert client.post(api(), json={"body": "x"}).status_code == 401
    user = new_user(lens, "Reader")
    _id, plain = lens.accounts.create_api_token(user.pk, "ro", scope="read")
    r = client.post(api(), json={"body": "x"}, headers={"Authorization": f"Bearer {plain}"})
    assert r.status_code == 403


def test_api_bad_input(client: TestClient, lens: PaperLens) -> None:
    h = token(lens, new_user(lens, "Deep"))
    for body, message in (("  ", "empty"), ("a\x07b", "control"), ("y" * (MAX_CHARS + 5), "long")):
        r = client.post(api(), json={"body": body}, headers=h)
        assert r.status_code == 400 and message in r.json()["detail"], r.text
    parent = None
    for _ in range(MAX_DEPTH):
        r = client.post(api(), json={"body": "deeper", "parent": parent}, headers=h)
        assert r.status_code == 201
        parent = r.json()["id"]
    r = client.post(api(), json={"body": "too deep", "parent": parent}, headers=h)
    assert r.status_code == 400 and "levels deep" in r.json()["detail"]
    r = client.post(api(OTHER), json={"body": "wrong paper", "parent": parent}, headers=h)
    assert r.status_code == 404
    assert client.post(api(), json={"body": "x", "parent": 0}, headers=h).status_code == 422
    assert client.post(api("9999.99999"), json={"body": "x"}, headers=h).status_code == 404
    assert client.patch(f"{api()}/{2**40}", json={"body": "x"}, headers=h).status_code == 422


def test_banned_reader_is_refused(client: TestClient, lens: PaperLens) -> None:
    troll, admin = new_user(lens, "Troll"), new_user(lens, "Mod", admin=True)
    h = token(lens, troll)
    assert client.post(api(), json={"body": "bait"}, headers=h).status_code == 201
    login(client, admin)
    r = post_form(client, "/admin/bans", user=str(troll.pk), reason="spam")
    assert r.status_code == 303
    r = client.post(api(), json={"body": "more bait"}, headers=h)
    assert r.status_code == 403 and "barred" in r.json()["detail"]
    assert "Troll" in client.get("/admin/comments").text
    post_form(client, "/admin/bans", user=str(troll.pk), action="unban")
    assert client.post(api(), json={"body": "sorry"}, headers=h).status_code == 201


def test_rate_limit_per_account(lens: PaperLens) -> None:
    app = create_app(lens, rate_limit=None, auth_limits=RateLimits(comment_account="2/minute"))
    h = token(lens, new_user(lens, "Spammy"))
    with TestClient(app, raise_server_exceptions=False) as c:
        for _ in range(2):
            assert c.post(api(), json={"body": "hi"}, headers=h).status_code == 201
        r = c.post(api(), json={"body": "hi"}, headers=h)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        # The page form says so too, with the text kept.
        other = new_user(lens, "Chatty")
        login(c, other)
        for _ in range(2):
            assert post_form(c, "/comments", paper=PAPER, body="hello").status_code == 303
        r = post_form(c, "/comments", paper=PAPER, body="hello again")
        assert r.status_code == 429 and "hello again" in r.text and "Too many comment" in r.text


# -- reports and moderation --------------------------------------------------------------------


def test_report_once_then_admin_hides(client: TestClient, lens: PaperLens, app: Any) -> None:
    author, reporter = new_user(lens, "Rude"), new_user(lens, "Polite")
    admin = new_user(lens, "Chief", admin=True)
    c = client.post(api(), json={"body": "nasty words"}, headers=token(lens, author)).json()
    h = token(lens, reporter)
    path = f"{api()}/{c['id']}/report"
    assert client.post(path, json={"reason": "insult"}, headers=h).json()["reported"] is True
    assert client.post(path, json={"reason": "again"}, headers=h).status_code == 409
    login(client, reporter)
    assert client.get("/admin/comments").status_code == 403
    with TestClient(app, raise_server_exceptions=False) as mod:
        login(mod, admin)
        page = mod.get("/admin/comments").text
        assert "nasty words" in page and "insult" in page
        token_ = csrf(mod, "/admin/comments")
        r = mod.post(
            f"/comments/{c['id']}/moderate",
            data={"action": "hide", "csrf_token": token_},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert "nasty words" not in mod.get("/admin/comments").text  # reports closed
        admin_view = mod.get(f"/paper/{PAPER}").text
        assert "nasty words" in admin_view  # admins still see it
        assert f'name="user" value="{author.pk}"' in admin_view  # and may ban its author
    page = client.get(f"/paper/{PAPER}").text
    assert "nasty words" not in page and "[hidden by a moderator]" in page
    r = client.post(
        f"/comments/{c['id']}/moderate",
        data={"action": "restore", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert r.status_code == 403


# -- notifications, counts, feed ------------------------------------------------------------------


def test_mentions_show_on_the_notifications_page(client: TestClient, lens: PaperLens) -> None:
    target = new_user(lens, f"Grace Hopper{uuid.uuid4().hex[:4]}")
    handle = target.display_name.replace(" ", "_")
    h = token(lens, new_user(lens, "Writer"))
    c = client.post(api(), json={"body": f"cc @{handle}"}, headers=h).json()
    assert f'<span class="mention">@{handle}</span>' in c["html"]
    listed = client.get("/api/v1/notifications", headers=token(lens, target)).json()
    assert listed["unread"] == 1
    assert listed["notifications"][0]["url"] == f"/paper/{PAPER}#c{c['id']}"
    assert listed["notifications"][0]["by"] == "Writer"
    assert client.get("/api/v1/notifications").status_code == 401
    login(client, target)
    home = client.get("/").text
    assert 'aria-label="1 unread"' in home
    page = client.get("/notifications").text
    assert "Writer mentioned you" in page and f"/paper/{PAPER}#c{c['id']}" in page
    r = client.post(
        "/notifications/read", data={"csrf_token": csrf(client)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "unread" not in client.get("/").text.split("</header>")[0]
    # Opting in to mail, in settings.
    r = client.post(
        "/settings/notifications",
        data={"mail_mentions": "1", "csrf_token": csrf(client, "/settings/notifications")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and lens.discussions.mail_mentions(target.pk)
    assert "checked" in client.get("/settings/notifications").text


def test_feed_cards_show_comment_counts(client: TestClient, lens: PaperLens) -> None:
    pk = lens.paper(OTHER).pk
    n = lens.discussions.counts([pk]).get(pk, 0)
    client.post(api(OTHER), json={"body": "counted"}, headers=token(lens, new_user(lens, "C")))
    home = client.get("/?date=2024-01-02").text
    assert f'<span aria-hidden="true">💬</span> {n + 1}' in home


def test_discussion_atom_feed(client: TestClient, lens: PaperLens) -> None:
    h = token(lens, new_user(lens, "Feeder"))
    c = client.post(api(OTHER), json={"body": "feed <b>me</b> & $x<y$"}, headers=h).json()
    r = client.get(f"/feeds/discussion/{OTHER}.xml")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(r.content)
    entries = root.findall(f"{ATOM}entry")
    assert entries and entries[0].find(f"{ATOM}id").text.endswith(f"#c{c['id']}")  # type: ignore[union-attr]
    content = entries[0].find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert content.text == c["html"]  # the sanitised HTML, escaped once as XML text
    assert "<b>" not in (content.text or "")
    # A hidden comment leaves the feed.
    lens.discussions.moderate(new_user(lens, "Feedmod", admin=True), c["id"], "hide")
    again = ET.fromstring(client.get(f"/feeds/discussion/{OTHER}.xml").content)
    ids = [e.find(f"{ATOM}id").text for e in again.findall(f"{ATOM}entry")]  # type: ignore[union-attr]
    assert not any(i.endswith(f"#c{c['id']}") for i in ids)  # type: ignore[union-attr]
    rss = client.get(f"/feeds/discussion/{OTHER}.xml?format=rss")
    assert rss.status_code == 200 and b"<rss" in rss.content
    assert client.get("/feeds/discussion/0000.00000.xml").status_code == 404
    page = client.get(f"/paper/{OTHER}").text
    assert f'href="/feeds/discussion/{OTHER}.xml"' in page


def test_openapi_documents_the_comment_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/api/v1/papers/{paper_id}/comments"]) == {"get", "post"}
    assert set(paths["/api/v1/papers/{paper_id}/comments/{comment_id}"]) == {
        "get",
        "patch",
        "delete",
    }
    assert "post" in paths["/api/v1/papers/{paper_id}/comments/{comment_id}/report"]


def test_rate_limit_per_address(lens: PaperLens) -> None:
    app = create_app(lens, rate_limit=None, auth_limits=RateLimits(comment_ip="1/minute"))
    first, second = token(lens, new_user(lens, "One")), token(lens, new_user(lens, "Two"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post(api(), json={"body": "hi"}, headers=first).status_code == 201
        r = c.post(api(), json={"body": "hi"}, headers=second)  # another account, same address
        assert r.status_code == 429 and "comment" in r.json()["detail"]

"""The community pages and API over the shared indexed test app: votes on listings,
trending, collections and their permissions (private = 404 to others, by page and by
API), exports, notes, "For you", and submissions (against the replay server, on an app
of their own so the shared corpus is not changed)."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import HOSTILE_ID, WebCorpus
from paperlens.config import Settings
from paperlens.core import PaperLens
from replay_server import ReplayServer

API = Path(__file__).parent / "fixtures" / "arxiv_api"
PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, path: str = "/") -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field on the page"
    return match.group(1)


def sign_up(client: TestClient, name: str = "reader") -> str:
    email = f"{name}-{uuid.uuid4().hex[:10]}@example.org"
    r = client.post(
        "/signup",
        data={
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "csrf_token": csrf(client, "/signup"),
        },
        follow_redirects=False,
    )
    assert r.status_code == 200, r.text[:500]  # "check your inbox": sign-up only mails
    r = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(client, "/login")},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text[:500]
    return email


def rec_ids(html: str) -> list[str]:
    """Ids of the papers on a "For you" page, in order (from their dismiss forms)."""
    return re.findall(r'action="/for-you/dismiss".*?name="paper" value="([^"]+)"', html, re.S)


def bearer(lens: PaperLens, name: str = "api") -> tuple[int, dict[str, str]]:
    user = lens.accounts.create_user(f"{name}-{uuid.uuid4().hex[:10]}@example.org", PASSWORD)
    _id, token = lens.accounts.create_api_token(user.pk, "tests")
    return user.pk, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def other_client(web_app: Any) -> Iterator[TestClient]:
    with TestClient(web_app, raise_server_exceptions=False) as c:
        yield c


# -- votes on pages ------------------------------------------------------------------------


def test_upvote_from_the_feed_shows_on_every_listing(
    client: TestClient, web_corpus: WebCorpus, indexed_lens: PaperLens
) -> None:
    sign_up(client, "voter")
    pid = web_corpus.upvoted_id
    pk = indexed_lens.paper(pid).pk
    before = indexed_lens.community.counts([pk]).get(pk, 0)
    r = client.post(
        "/vote",
        data={"paper": pid, "up": "1", "next": "/", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert indexed_lens.community.counts([pk])[pk] == before + 1
    # Voting twice from the page counts once.
    client.post("/vote", data={"paper": pid, "up": "1", "csrf_token": csrf(client)})
    assert indexed_lens.community.counts([pk])[pk] == before + 1
    home = client.get(f"/?date={web_corpus.latest_day.isoformat()}").text
    assert 'aria-pressed="true"' in home and f"Remove your upvote ({before + 1} vote" in home
    assert "HF <span" in home  # Hugging Face upvotes shown apart
    paper = client.get(f"/paper/{pid}").text
    assert f'<span class="vote-count">{before + 1}</span>' in paper
    # Undo.
    client.post("/vote", data={"paper": pid, "up": "0", "csrf_token": csrf(client)})
    assert indexed_lens.community.counts([pk]).get(pk, 0) == before


def test_vote_needs_sign_in_and_csrf(client: TestClient, web_corpus: WebCorpus) -> None:
    r = client.post("/vote", data={"paper": web_corpus.upvoted_id}, follow_redirects=False)
    assert r.status_code in (303, 403)
    sign_up(client)
    r = client.post("/vote", data={"paper": web_corpus.upvoted_id}, follow_redirects=False)
    assert r.status_code == 403  # no CSRF token
    anon = client.get("/search?q=learning&mode=lexical")
    assert "vote-button" in anon.text  # signed in: buttons on search results


def test_anonymous_listing_shows_counts_and_login_link(other_client: TestClient) -> None:
    page = other_client.get("/search?q=learning&mode=lexical").text
    assert "vote-link" in page and "log in to upvote" in page
    assert "vote-button" not in page


# -- API votes and trending -------------------------------------------------------------


def test_api_vote_unvote_and_trending(
    client: TestClient, indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    _pk, headers = bearer(indexed_lens)
    pid = web_corpus.snapshot_ids[5]
    r = client.post(f"/api/v1/papers/{pid}/vote", headers=headers)
    assert r.status_code == 200 and r.json()["voted"] is True
    votes = r.json()["votes"]
    assert client.post(f"/api/v1/papers/{pid}/vote", headers=headers).json()["votes"] == votes
    month = client.get("/api/v1/trending?window=month").json()
    assert pid in [p["paper"]["id"] for p in month["papers"]] or month["papers"]
    r = client.delete(f"/api/v1/papers/{pid}/vote", headers=headers)
    assert r.json() == {"id": pid, "votes": votes - 1, "voted": False}
    assert client.post("/api/v1/papers/nope-404/vote", headers=headers).status_code == 404
    assert client.post(f"/api/v1/papers/{pid}/vote").status_code == 401
    assert client.get("/api/v1/trending?window=year").status_code == 422


def test_trending_page_tabs(client: TestClient, web_corpus: WebCorpus) -> None:
    sign_up(client)
    client.post("/vote", data={"paper": web_corpus.upvoted_id, "csrf_token": csrf(client)})
    page = client.get("/trending?window=day")
    assert page.status_code == 200
    assert 'aria-current="page">This day<' in page.text
    assert f"/paper/{web_corpus.upvoted_id}" in page.text
    assert client.get("/trending?window=year").status_code == 400


# -- collections and permissions -------------------------------------------------------------


def test_private_collection_is_invisible_to_others(
    client: TestClient, other_client: TestClient, indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    sign_up(client, "owner")
    r = client.post(
        "/library/collections",
        data={"name": "Secret reading", "csrf_token": csrf(client, "/library")},
        follow_redirects=False,
    )
    assert r.status_code == 303
    url = r.headers["location"]
    cid = int(url.rsplit("/", 1)[1])
    pid = web_corpus.snapshot_ids[0]
    client.post(
        "/library/save",
        data={"paper": pid, "collection": str(cid), "csrf_token": csrf(client)},
    )
    mine = client.get(url)
    assert mine.status_code == 200 and "Secret reading" in mine.text and pid in mine.text
    # Anonymous and another reader: 404, by page, export and API.
    for c in (other_client,):
        assert c.get(url).status_code == 404
        assert "Secret reading" not in c.get(url).text
        assert c.get(f"{url}/export.bib").status_code == 404
        assert c.get(f"/api/v1/collections/{cid}").status_code == 404
    sign_up(other_client, "other")
    assert other_client.get(url).status_code == 404
    _pk, headers = bearer(indexed_lens, "snoop")
    assert client.get(f"/api/v1/collections/{cid}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/collections/{cid}/export", headers=headers).status_code == 404
    assert client.put(f"/api/v1/collections/{cid}/papers/{pid}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/collections/{cid}", headers=headers).status_code == 404
    # Made public, it is readable by anyone (without the owner's notes).
    client.post(f"/c/{cid}/settings", data={"public": "1", "csrf_token": csrf(client, url)})
    client.post(
        "/library/note",
        data={"paper": pid, "note": "private thought", "csrf_token": csrf(client)},
    )
    assert "private thought" in client.get(url).text
    shared = other_client.get(url)
    assert shared.status_code == 200 and pid in shared.text
    assert "private thought" not in shared.text
    body = other_client.get(f"/api/v1/collections/{cid}").json()
    assert body["public"] is True and body["papers"][0]["note"] is None


def test_collections_api_crud_and_exports(client: TestClient, indexed_lens: PaperLens) -> None:
    _pk, headers = bearer(indexed_lens, "crud")
    r = client.post("/api/v1/collections", json={"name": "Reading group"}, headers=headers)
    assert r.status_code == 201
    cid = r.json()["id"]
    assert (
        client.post(
            "/api/v1/collections", json={"name": "Reading group"}, headers=headers
        ).status_code
        == 409
    )
    for pid in (HOSTILE_ID, "hep-th/0001001"):
        if pid != HOSTILE_ID:
            pid = indexed_lens.papers.get_by_pks([1])[1].paper.id
        r = client.put(f"/api/v1/collections/{cid}/papers/{pid}", headers=headers)
        assert r.status_code == 200
    assert r.json()["size"] == 2
    names = [c["name"] for c in client.get("/api/v1/collections", headers=headers).json()]
    assert names == ["Saved", "Reading group"]
    r = client.patch(
        "/api/v1/library/papers/" + HOSTILE_ID, json={"note": "odd", "read": True}, headers=headers
    )
    assert r.json() == {"note": "odd", "read": True}
    bib = client.get(f"/api/v1/collections/{cid}/export?format=bibtex", headers=headers)
    assert bib.status_code == 200 and bib.headers["content-type"].startswith("text/x-bibtex")
    # A sentence-case title: its capitalised names are braced so styles keep them.
    assert r"{Tom} \& {Jerry}: when $\alpha < \beta$ holds" in bib.text
    assert "archivePrefix = {arXiv}" in bib.text
    exported = json.loads(
        client.get(f"/api/v1/collections/{cid}/export?format=json", headers=headers).text
    )
    assert {p["id"] for p in exported["papers"]} >= {HOSTILE_ID}
    assert next(p for p in exported["papers"] if p["id"] == HOSTILE_ID)["note"] == "odd"
    r = client.patch(f"/api/v1/collections/{cid}", json={"public": True}, headers=headers)
    assert r.json()["public"] is True
    assert (
        client.delete(f"/api/v1/collections/{cid}/papers/{HOSTILE_ID}", headers=headers).json()[
            "size"
        ]
        == 1
    )
    assert client.delete(f"/api/v1/collections/{cid}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/collections/{cid}", headers=headers).status_code == 404


# -- for you ---------------------------------------------------------------------------------


def test_for_you_page_and_api_explain_and_learn_from_dismissals(
    client: TestClient, indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    sign_up(client, "fy")
    cold = client.get("/for-you")
    assert cold.status_code == 200 and "Save papers to get recommendations" in cold.text
    results = indexed_lens.search("neural network training", "lexical", per_page=3).results
    for found in results[:2]:
        client.post("/library/save", data={"paper": found.paper.id, "csrf_token": csrf(client)})
    page = client.get("/for-you")
    assert page.status_code == 200 and "Because you saved" in page.text
    shown = rec_ids(page.text)
    assert len(shown) > 5
    dismissed = shown[0]
    r = client.post(
        "/for-you/dismiss",
        data={"paper": dismissed, "next": "/for-you", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert dismissed not in rec_ids(client.get("/for-you").text)
    api = client.get("/api/v1/recommendations?limit=5").json()["recommendations"]
    assert len(api) == 5 and dismissed not in [r["paper"]["id"] for r in api]
    saved_ids = {found.paper.id for found in results[:2]}
    assert all(b["id"] in saved_ids for r in api for b in r["because"])
    assert api[0]["reason"].startswith("Because you saved")


def test_recommendations_api_needs_an_account(other_client: TestClient) -> None:
    assert other_client.get("/api/v1/recommendations").status_code == 401


# -- submissions -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def submit_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, ReplayServer]]:
    from databases import fresh_database
    from paperlens.web import create_app

    root = tmp_path_factory.mktemp("submit-app")
    with ReplayServer() as server, fresh_database(root) as url:
        server.add(
            "/api/query", {"id_list": "2106.09685", "max_results": "1"}, fixture=API / "lora.xml"
        )
        server.add(
            "/api/query", {"id_list": "2106.99999", "max_results": "1"}, fixture=API / "empty.xml"
        )
        server.add(
            "/api/query",
            {"id_list": "1706.03762", "max_results": "1"},
            fixture=API / "lora_attention.xml",
        )
        settings = Settings(
            data_dir=root / "data",
            database_url=url,
            max_seq_length=128,
            arxiv_api_base_url=server.url("/api/query"),
            request_interval=0,
            request_retries=0,
        )
        lens = PaperLens(settings)
        yield create_app(lens, rate_limit=None), server
        lens.close()


def poll(client: TestClient, url: str, headers: dict[str, str], timeout: float = 120) -> Any:
    """GET a submission's status until it is finished (the server's worker fetches it)."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["state"] in ("done", "failed") or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.05)


def test_submit_by_api(submit_app: tuple[Any, ReplayServer]) -> None:
    app, _server = submit_app
    lens = app.state.lens
    user_pk, headers = bearer(lens, "submitter")
    with TestClient(app, raise_server_exceptions=False) as c:
        for bad in ("not-an-id", "https://example.org/abs/2106.09685", "2106.0968"):
            r = c.post("/api/v1/submissions", json={"id": bad}, headers=headers)
            assert r.status_code == 400 and "arXiv id" in r.json()["detail"]
        assert c.post("/api/v1/submissions", json={}, headers=headers).status_code == 422
        r = c.post("/api/v1/submissions", json={"id": "2106.99999"}, headers=headers)
        assert r.status_code == 202 and r.json()["state"] in ("queued", "fetching")
        failed = poll(c, r.headers["location"], headers)
        assert failed["state"] == "failed" and "2106.99999" in failed["error"]
        assert failed["paper"] is None
        r = c.post("/api/v1/submissions", json={"id": "arXiv:2106.09685v2"}, headers=headers)
        assert r.status_code == 202
        location = r.headers["location"]
        assert location == f"/api/v1/submissions/{r.json()['id']}" == r.json()["status_url"]
        done = poll(c, location, headers)
        assert done["state"] == "done" and done["created"] is True and done["indexed"] is True
        assert done["paper"]["id"] == "2106.09685" and done["error"] is None
        r = c.post(
            "/api/v1/submissions", json={"id": "https://arxiv.org/pdf/2106.09685"}, headers=headers
        )
        assert r.status_code == 200 and r.json()["created"] is False  # already here: at once
        assert r.json()["paper"]["id"] == "2106.09685"
        found = c.get("/api/v1/search?q=low-rank%20adaptation&mode=hybrid").json()
        assert found["results"][0]["paper"]["id"] == "2106.09685"
        # No display name: a neutral name, never the email's local part ("submitter-...").
        page = c.get("/paper/2106.09685").text
        assert f"Submitted by reader #{user_pk}" in page and "submitter-" not in page


def wait_for_page(client: TestClient, url: str, timeout: float = 120) -> str:
    """Reload a submission's status page, as its ``Refresh`` header asks, until done."""
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(url)
        assert r.status_code == 200
        if "Refresh" not in r.headers or time.monotonic() > deadline:
            return r.text
        assert "Fetching arXiv:" in r.text and f'href="{url}"' in r.text  # a reload link
        time.sleep(0.05)


def test_submit_page_form_errors_and_success(submit_app: tuple[Any, ReplayServer]) -> None:
    app, _server = submit_app
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/submit", follow_redirects=False).status_code == 303  # log in first
        sign_up(c, "formsub")
        r = c.post("/submit", data={"arxiv_id": "hello world", "csrf_token": csrf(c, "/submit")})
        assert r.status_code == 400 and "is not an arXiv id or link" in r.text
        assert 'aria-invalid="true"' in r.text and 'value="hello world"' in r.text
        r = c.post(
            "/submit",
            data={"arxiv_id": "2106.99999", "csrf_token": csrf(c, "/submit")},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/submissions/")
        page = wait_for_page(c, r.headers["location"])
        assert "Could not add arXiv:2106.99999" in page and "2106.99999" in page
        r = c.post(
            "/submit",
            data={"arxiv_id": "1706.03762", "csrf_token": csrf(c, "/submit")},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = wait_for_page(c, r.headers["location"])
        assert "Paper added" in page and "Attention Is All You Need" in page
        assert "Submitted by formsub" in c.get("/paper/1706.03762").text
        # Already here: answered at once, no status page.
        r = c.post("/submit", data={"arxiv_id": "1706.03762", "csrf_token": csrf(c, "/submit")})
        assert r.status_code == 200 and "Already here" in r.text


@contextlib.contextmanager
def queue_app(tmp_path: Path, arxiv_url: str, **more: Any) -> Iterator[Any]:
    """An app of its own over a fresh database (``more``: settings)."""
    from databases import fresh_database
    from paperlens.web import create_app

    with fresh_database(tmp_path) as url:
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=url,
            max_seq_length=128,
            arxiv_api_base_url=arxiv_url,
            **more,
        )
        lens = PaperLens(settings)
        try:
            yield create_app(lens, rate_limit=None, auth_limits=None)
        finally:
            lens.close()


def test_a_submission_is_visible_to_its_submitter_only(tmp_path: Path) -> None:
    """By API and by page: the owner sees it; another account gets 404 (as for an id
    that does not exist); nobody signed in gets 401 (API) or the login page."""
    with (
        queue_app(tmp_path, "http://127.0.0.1:9/api/query", submission_worker=False) as app,
        TestClient(app, raise_server_exceptions=False) as c,
    ):
        lens = app.state.lens
        _alice, alice = bearer(lens, "alice")
        _bob, bob = bearer(lens, "bob")
        r = c.post("/api/v1/submissions", json={"id": "2401.00001"}, headers=alice)
        assert r.status_code == 202
        url = r.headers["location"]
        mine = c.get(url, headers=alice)
        assert mine.status_code == 200 and mine.json()["state"] == "queued"
        assert mine.json()["arxiv_id"] == "2401.00001" and mine.json()["paper"] is None
        theirs = c.get(url, headers=bob)
        assert theirs.status_code == 404
        missing = c.get(f"/api/v1/submissions/{r.json()['id'] + 1}", headers=alice)
        # The same answer as for no such submission: ids of others' do not leak.
        assert missing.status_code == 404
        assert theirs.json()["detail"] == f"no submission {r.json()['id']} of yours"
        with TestClient(app, raise_server_exceptions=False) as anonymous:
            assert anonymous.get(url).status_code == 401
            page = anonymous.get(f"/submissions/{r.json()['id']}", follow_redirects=False)
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
        for bad in ("0", "-1", "x", "99999999999999999999"):
            assert c.get(f"/api/v1/submissions/{bad}", headers=alice).status_code == 422
        # Pages: the submitter's status page says "fetching" and reloads itself.
        sign_up(c, "pager")
        r = c.post(
            "/submit",
            data={"arxiv_id": "2401.00002", "csrf_token": csrf(c, "/submit")},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = c.get(r.headers["location"])
        assert page.status_code == 200 and page.headers["refresh"] == "3"
        assert "Fetching arXiv:2401.00002" in page.text
        c.cookies.clear()
        sign_up(c, "other")
        assert c.get(r.headers["location"]).status_code == 404
        assert c.get(url).status_code == 404  # alice's, through another session


def test_the_queue_bounds_answer_429_with_the_reason(tmp_path: Path) -> None:
    with (
        queue_app(
            tmp_path,
            "http://127.0.0.1:9/api/query",
            submission_worker=False,
            submission_account_limit=2,
            submission_queue_limit=3,
        ) as app,
        TestClient(app, raise_server_exceptions=False) as c,
    ):
        lens = app.state.lens
        _a, alice = bearer(lens, "alice")
        _b, bob = bearer(lens, "bob")
        for pid in ("2401.00001", "2401.00002"):
            assert c.post("/api/v1/submissions", json={"id": pid}, headers=alice).status_code == 202
        r = c.post("/api/v1/submissions", json={"id": "2401.00003"}, headers=alice)
        assert r.status_code == 429 and "you have 2 submissions waiting" in r.json()["detail"]
        assert (
            c.post("/api/v1/submissions", json={"id": "2401.00003"}, headers=bob).status_code == 202
        )
        r = c.post("/api/v1/submissions", json={"id": "2401.00004"}, headers=bob)
        assert r.status_code == 429 and "queue is full" in r.json()["detail"]
        assert r.headers["retry-after"] == "60"
        sign_up(c, "pager")  # the form shows the same refusal
        r = c.post("/submit", data={"arxiv_id": "2401.00005", "csrf_token": csrf(c, "/submit")})
        assert r.status_code == 429 and "queue is full" in r.text


def test_with_arxiv_unreachable_submissions_answer_at_once_and_stats_stay_fast(
    tmp_path: Path,
) -> None:
    """arXiv accepting connections and never answering used to hold each submission
    for the whole retry schedule (63 s, then 502) and slow every other request."""
    blackhole = socket.socket()
    blackhole.bind(("127.0.0.1", 0))
    blackhole.listen(1)  # never accepted: requests hang until their timeout
    port = blackhole.getsockname()[1]
    try:
        with (
            queue_app(
                tmp_path,
                f"http://127.0.0.1:{port}/api/query",
                request_interval=0,
                request_retries=2,
                request_timeout=3,
            ) as app,
            TestClient(app, raise_server_exceptions=False) as c,
        ):
            lens = app.state.lens
            accounts = [bearer(lens, f"acct{n}")[1] for n in range(3)]
            assert c.get("/api/v1/stats").status_code == 200  # warm
            answers: list[tuple[int, float]] = []
            lock = threading.Lock()

            def submit(n: int) -> None:
                started = time.monotonic()
                r = c.post(
                    "/api/v1/submissions", json={"id": f"2401.{n:05d}"}, headers=accounts[n % 3]
                )
                with lock:
                    answers.append((r.status_code, time.monotonic() - started))

            threads = [threading.Thread(target=submit, args=(n,)) for n in range(1, 43)]
            for t in threads:
                t.start()
            started = time.monotonic()
            assert c.get("/api/v1/stats").status_code == 200
            stats_seconds = time.monotonic() - started
            for t in threads:
                t.join(120)
            started = time.monotonic()  # the server's worker is still stuck on arXiv
            assert c.get("/api/v1/stats").status_code == 200
            stats_seconds = max(stats_seconds, time.monotonic() - started)
            assert len(answers) == 42
            assert {code for code, _ in answers} == {202, 429}  # 5 per account queued
            assert sum(code == 202 for code, _ in answers) == 15
            # A request that waited on arXiv would take its 3 s timeout at least; 42 at
            # once on two busy cores took up to 1.9 s in CI-like load without waiting.
            assert max(seconds for _, seconds in answers) < 3.0, answers
            assert stats_seconds < 3.0
            assert any(t.name.startswith("paperlens-web-") for t in threading.enumerate())
        # The app's shutdown stopped its worker (within its fetch's timeout).
        assert not any(t.name.startswith("paperlens-web-") for t in threading.enumerate())
    finally:
        blackhole.close()

"""Onboarding and the per-collection "for you" on the web and the API: signed-in only,
CSRF on every form, the collection switch shows one collection's feed and refuses
another reader's collection. Synthetic embeddings (``test_recommend.corpus``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.web import create_app
from test_recommend import corpus

PASSWORD = "correct horse battery"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    yield pl
    pl.close()


@pytest.fixture
def app(lens: PaperLens) -> Any:
    return create_app(lens, rate_limit=None, auth_limits=None)


def signed_in(app: Any, lens: PaperLens, email: str) -> TestClient:
    lens.accounts.create_user(email, PASSWORD, verified=True)
    c = TestClient(app, raise_server_exceptions=False)
    c.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": csrf(c, "/login")},
        follow_redirects=False,
    )
    return c


def csrf(client: TestClient, path: str) -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field"
    return match.group(1)


def asked(html: str) -> list[str]:
    return re.findall(r'action="/welcome/rate".*?name="paper" value="([^"]+)"', html, re.S)


def test_onboarding_flow_on_the_web(app: Any, lens: PaperLens) -> None:
    topics = corpus(lens)
    anon = TestClient(app, raise_server_exceptions=False)
    assert anon.get("/welcome", follow_redirects=False).status_code in (303, 401)
    c = signed_in(app, lens, "new@example.org")
    token = csrf(c, "/welcome")
    r = c.post("/welcome/categories", data={"categories": "not a category!"})
    assert r.status_code == 403  # no CSRF token
    r = c.post("/welcome/categories", data={"categories": "<b>x", "csrf_token": token})
    assert r.status_code == 400 and "is not an arXiv category" in r.text and "<b>x" not in r.text
    r = c.post("/welcome/categories", data={"categories": "math.AG", "csrf_token": token})
    assert r.status_code == 200  # redirected to the questions
    ids = asked(r.text)
    assert len(ids) == 5
    math_ids = {lens.papers.get_by_pks([pk])[pk].paper.id for pk in topics["c"]}
    assert set(ids) <= math_ids
    assert c.post("/welcome/rate", data={"paper": ids[0], "liked": "1"}).status_code == 403
    r = c.post("/welcome/rate", data={"paper": ids[0], "liked": "1", "csrf_token": token})
    assert r.status_code == 200 and "Rated 1 (1 👍, 0 👎)" in r.text
    assert ids[0] not in asked(r.text)
    r = c.post("/welcome/rate", data={"paper": "9999.99999", "liked": "1", "csrf_token": token})
    assert r.status_code == 404


def test_onboarding_api(app: Any, lens: PaperLens) -> None:
    corpus(lens)
    user = lens.accounts.create_user("api@example.org", PASSWORD)
    lens.accounts.set_categories(user.pk, ["cs.LG"])
    _id, token = lens.accounts.create_api_token(user.pk, "t")
    c = TestClient(app, raise_server_exceptions=False)
    auth = {"Authorization": f"Bearer {token}"}
    assert c.get("/api/v1/onboarding").status_code == 401
    body = c.get("/api/v1/onboarding", headers=auth).json()
    assert body["categories"] == ["cs.LG"] and len(body["questions"]) == 5
    first = body["questions"][0]["paper"]["id"]
    r = c.post("/api/v1/onboarding/ratings", json={"paper": first, "liked": True}, headers=auth)
    assert r.status_code == 200 and r.json()["liked"] == 1
    assert first not in {q["paper"]["id"] for q in r.json()["questions"]}


def test_for_you_collection_switch(app: Any, lens: PaperLens) -> None:
    topics = corpus(lens)
    c = signed_in(app, lens, "two@example.org")
    pk = lens.accounts.get_by_email("two@example.org").pk  # type: ignore[union-attr]
    a = lens.library.create(pk, "Alpha <i>").pk
    b = lens.library.create(pk, "Beta").pk
    for p in topics["a"][:4]:
        lens.library.save(pk, p, a)
    for p in topics["c"][:4]:
        lens.library.save(pk, p, b)
    page = c.get("/for-you").text
    assert f'href="/for-you?collection={b}"' in page and "Alpha &lt;i&gt;" in page
    only_b = c.get(f"/for-you?collection={b}").text
    assert "in your collection" in only_b and "Topic c paper" in only_b
    recs = re.findall(r'action="/for-you/dismiss".*?name="paper" value="([^"]+)"', only_b, re.S)
    c_ids = {lens.papers.get_by_pks([p])[p].paper.id for p in topics["c"]}
    assert len(recs) >= 10 and set(recs[:10]) <= c_ids
    subscribe = c.get("/subscribe").text  # a digest section per collection to choose
    assert f'value="collection:{b}"' in subscribe and "Alpha &lt;i&gt;" in subscribe
    other = signed_in(app, lens, "three@example.org")
    assert f"collection:{b}" not in other.get("/subscribe").text
    assert other.get(f"/for-you?collection={b}").status_code == 404
    assert other.get("/for-you?collection=abc").status_code == 404
    r = c.get(f"/api/v1/recommendations?collection={a}")
    assert r.status_code == 200 and all(x["collection"] == a for x in r.json()["recommendations"])
    assert other.get(f"/api/v1/recommendations?collection={a}").status_code == 404

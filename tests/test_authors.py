"""Authors: name folding, author pages (service, page and API), following (digest section
and private Atom feed) and authorship claims with their admin review and protections."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from conftest import HOSTILE_ID, WebCorpus
from paperlens.config import Settings
from paperlens.core import LensSources, PaperLens
from paperlens.digest.gather import gather
from paperlens.digest.subscriptions import Preferences, Subscription
from paperlens.paper import make_paper
from paperlens.sources.base import Deleted, Parsed
from paperlens.text import author_key, author_variant
from paperlens.web import create_app
from paperlens.web.throttle import RateLimits
from test_community_web import PASSWORD, bearer, csrf, sign_up

ATOM = "{http://www.w3.org/2005/Atom}"

# -- name folding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key", "variant"),
    [
        ("John Smith", "john smith", "smith j"),
        ("Smith, John", "john smith", "smith j"),
        ("J. Smith", "j smith", "smith j"),
        ("John A. Smith Jr.", "john a smith", "smith j"),
        ("Smith, Jr., John", "john smith", "smith j"),
        ("Balázs Kégl", "balazs kegl", "kegl b"),
        ("KÉGL, Balázs", "balazs kegl", "kegl b"),
        ("Bal\\'azs K\\'egl", "balazs kegl", "kegl b"),  # LaTeX accents as arXiv prints them
        ("Jean-Pierre  Dupont", "jean pierre dupont", "dupont j"),
        ("Aristotle", "aristotle", "aristotle"),
        ("...", "", ""),
    ],
)
def test_name_folding(name: str, key: str, variant: str) -> None:
    assert author_key(name) == key
    assert author_variant(name) == variant


def test_initials_are_only_possibly_the_same_person() -> None:
    # Same variant, different keys: offered as possibly the same, never one page.
    assert author_key("J. Smith") != author_key("John Smith")
    assert author_variant("J. Smith") == author_variant("John Smith")
    assert author_variant("Jane Smith") == author_variant("John Smith")
    assert author_variant("Q. Smith") != author_variant("John Smith")


# -- the service, on a lens of its own ---------------------------------------------------------

T0 = datetime(2026, 11, 20, tzinfo=UTC)


def _paper(n: int, authors: list[str], days: int, cats: tuple[str, ...] = ("cs.LG",)) -> Any:
    return make_paper(
        id=f"2611.{n:05d}",
        title=f"Paper number {n}",
        abstract="An abstract.",
        authors=authors,
        categories=cats,
        published=T0 + timedelta(days=days),
        source="test",
    )


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    lens = PaperLens(settings)
    lens.papers.write_batch(
        [
            Parsed(_paper(1, ["John Smith", "Ada Lovelace"], 0, ("cs.LG", "stat.ML")), "t"),
            Parsed(_paper(2, ["Smith, John", "Alan Turing"], 2), "t"),
            Parsed(_paper(3, ["J. Smith", "Grace Hopper"], 1, ("cs.PL",)), "t"),
            Parsed(_paper(4, ["Jöhn Smîth", "Ada Lovelace"], 3), "t"),
            Parsed(_paper(5, ["Someone Else"], 4), "t"),
        ]
    )
    yield lens
    lens.close()


def test_author_page_lists_papers_newest_first_with_coauthors_and_categories(
    lens: PaperLens,
) -> None:
    view = lens.authors.page("john smith")
    assert view.total == 3  # "John Smith", "Smith, John", "Jöhn Smîth": one name
    assert [p.paper.id for p in view.papers] == ["2611.00004", "2611.00002", "2611.00001"]
    assert {c.name: c.papers for c in view.coauthors} == {"Ada Lovelace": 2, "Alan Turing": 1}
    assert dict(view.categories) == {"cs.LG": 3, "stat.ML": 1}
    # "J. Smith" is offered, not merged.
    assert [(c.name, c.papers) for c in view.possibly_same] == [("J. Smith", 1)]
    assert "2611.00003" not in {p.paper.id for p in view.papers}
    assert lens.authors.page("J. Smith").possibly_same[0].name in view.names


def test_unknown_author_is_an_empty_page(lens: PaperLens) -> None:
    view = lens.authors.page("Nobody Atall")
    assert (view.total, view.papers, view.coauthors) == (0, [], [])
    assert lens.authors.page("...").key == ""


def test_author_rows_follow_updates_and_deletions(lens: PaperLens) -> None:
    lens.papers.write_batch([Parsed(_paper(5, ["Someone Else", "John Smith"], 4), "t")])
    assert lens.authors.page("John Smith").total == 4
    lens.papers.write_batch([Deleted("2611.00005", "t")])
    assert lens.authors.page("John Smith").total == 3
    assert lens.authors.page("Someone Else").total == 0


def test_follow_feeds_the_digest_section(lens: PaperLens) -> None:
    user = lens.accounts.create_user("follower@example.org", PASSWORD)
    lens.authors.follow(user.pk, "Ada Lovelace")
    lens.authors.follow(user.pk, "ada lovelace")  # same author: idempotent
    assert lens.authors.following(user.pk) == [("ada lovelace", "Ada Lovelace")]
    assert [p.paper.id for p in lens.authors.new_from_followed(user.pk)] == [
        "2611.00004",
        "2611.00001",
    ]
    # The digest section keeps papers new in its window (published within the grace).
    sub = Subscription(
        1,
        "follower@example.org",
        user.pk,
        Preferences(sections=("authors",)),
        T0,
        T0,
        None,
    )
    start = datetime.now(UTC) - timedelta(days=1)
    end = datetime.now(UTC) + timedelta(minutes=1)
    sections = gather(
        LensSources(lens),
        sub,
        start,
        end,
        max_papers=10,
        public_url="http://x",
        grace=timedelta(days=3650),
    )
    assert [s.title for s in sections] == ["New from authors you follow"]
    assert len(sections[0].items) == 2
    # Outside the window: nothing.
    later = gather(
        LensSources(lens), sub, end, end + timedelta(days=1), max_papers=10, public_url="http://x"
    )
    assert later == []
    lens.authors.unfollow(user.pk, "Ada  LOVELACE")
    assert lens.authors.following(user.pk) == []


def test_claims_match_by_folding_or_need_a_reason(lens: PaperLens) -> None:
    from paperlens.errors import Conflict, Invalid, NotFound

    user = lens.accounts.create_user("claimer@example.org", PASSWORD, "Claimer")
    paper = lens.paper("2611.00002")
    made = lens.authors.claim(user.pk, paper, "John Smith")  # folds to "Smith, John"
    assert (made.author_name, made.matched, made.status) == ("Smith, John", True, "pending")
    with pytest.raises(Conflict):
        lens.authors.claim(user.pk, paper, "John Smith")
    other = lens.paper("2611.00005")
    with pytest.raises(Invalid, match="reason"):
        lens.authors.claim(user.pk, other, "Totally Different")
    made2 = lens.authors.claim(user.pk, other, "Totally Different", "I publish as S. Else.")
    assert (made2.matched, made2.reason) == (False, "I publish as S. Else.")
    assert lens.authors.approved_claims(paper.pk) == []
    with pytest.raises(NotFound):  # not an admin
        lens.authors.review(made.pk, True, user.pk, False)
    lens.authors.review(made.pk, True, user.pk, True)
    assert [c.display_name for c in lens.authors.approved_claims(paper.pk)] == ["Claimer"]


def test_an_approved_claim_marks_the_author_in_the_discussion(lens: PaperLens) -> None:
    author = lens.accounts.create_user("smith@example.org", PASSWORD, "Smith", verified=True)
    reader = lens.accounts.create_user("reader@example.org", PASSWORD, "Reader", verified=True)
    paper = lens.paper("2611.00003")
    lens.discussions.post(author, paper.pk, "I wrote this.")
    lens.discussions.post(reader, paper.pk, "Nice paper.")
    assert [c.is_author for c in lens.discussions.thread(paper.pk)] == [False, False]
    claim = lens.authors.claim(author.pk, paper, paper.paper.authors[0])
    assert [c.is_author for c in lens.discussions.thread(paper.pk)] == [False, False]  # pending
    lens.authors.review(claim.pk, True, reader.pk, True)
    assert lens.authors.claimed_author_pks(paper.pk) == {author.pk}
    marks = {c.author_name: c.is_author for c in lens.discussions.thread(paper.pk)}
    assert marks == {"Smith": True, "Reader": False}


# -- pages and API over the shared indexed app ---------------------------------------------------


def _snapshot_author(lens: Any, corpus: WebCorpus) -> tuple[str, list[str]]:
    """An author of the first snapshot paper, and the ids of their papers."""
    paper = lens.paper(corpus.snapshot_ids[0]).paper
    name = paper.authors[0]
    key = author_key(name)
    ids = [
        pid
        for pid in corpus.snapshot_ids
        if any(author_key(a) == key for a in lens.paper(pid).paper.authors)
    ]
    return name, ids


def test_author_page_and_links(
    client: TestClient, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    _name, ids = _snapshot_author(indexed_lens, web_corpus)
    paper = client.get(f"/paper/{web_corpus.snapshot_ids[0]}")
    assert paper.status_code == 200
    href = re.search(r'<a href="(/author/[^"]+)">', paper.text)
    assert href, "authors on the paper page link to their pages"
    page = client.get(href.group(1))
    assert page.status_code == 200
    for pid in ids:
        assert f"/paper/{pid}" in page.text
    assert "Co-authors" in page.text or len(indexed_lens.paper(ids[0]).paper.authors) == 1
    # Feed cards link authors too.
    home = client.get("/")
    assert 'class="author-link" href="/author/' in home.text


def test_unknown_author_is_a_friendly_200(client: TestClient) -> None:
    r = client.get("/author/Nobody%20Atall%20Zzyzx")
    assert r.status_code == 200
    assert "No papers by Nobody Atall Zzyzx" in r.text
    api = client.get("/api/v1/authors/Nobody%20Atall%20Zzyzx")
    assert api.status_code == 200
    assert api.json()["total"] == 0


def test_hostile_author_names_are_escaped(client: TestClient) -> None:
    hostile = client.get(f"/paper/{HOSTILE_ID}")
    assert "<b>Evil</b>" not in hostile.text
    r = client.get("/author/Mallory%20%3Cb%3EEvil%3C%2Fb%3E")
    assert r.status_code == 200
    assert "Mallory &lt;b&gt;Evil&lt;/b&gt;" in r.text
    assert "<b>Evil</b>" not in r.text
    assert "/paper/" + quote(HOSTILE_ID, safe="/") in r.text
    typed = client.get("/author/%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert typed.status_code == 200
    assert "<script>alert(1)" not in typed.text
    long = client.get("/author/" + "a" * 400)
    assert long.status_code == 400


def test_author_api(client: TestClient, indexed_lens: Any, web_corpus: WebCorpus) -> None:
    name, ids = _snapshot_author(indexed_lens, web_corpus)
    r = client.get(f"/api/v1/authors/{name}")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == len(ids)
    assert {p["id"] for p in body["papers"]} == set(ids)
    spec = client.get("/openapi.json").json()
    assert "/api/v1/authors/{name}" in spec["paths"]
    assert "/api/v1/citations/{paper_id}" in spec["paths"]
    assert "/api/v1/claims" in spec["paths"]
    assert "/api/v1/me/following" in spec["paths"]


def test_follow_needs_sign_in_and_csrf_then_feeds_atom(
    client: TestClient, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    name, ids = _snapshot_author(indexed_lens, web_corpus)
    r = client.post("/author-follow", data={"name": name}, follow_redirects=False)
    assert r.status_code in (303, 403)  # anonymous: to the login page, or no CSRF token
    sign_up(client, "follower")
    no_token = client.post("/author-follow", data={"name": name}, follow_redirects=False)
    assert no_token.status_code == 403
    token = csrf(client, f"/author/{name}")
    done = client.post(
        "/author-follow", data={"name": name, "csrf_token": token}, follow_redirects=False
    )
    assert done.status_code == 303
    page = client.get(f"/author/{name}")
    assert "Following ✓" in page.text
    following = client.get("/following")
    assert name in following.text
    feed_url = re.search(r'class="feed-url" href="([^"]+)"', following.text)
    assert feed_url
    path = feed_url.group(1).split("://", 1)[1].split("/", 1)[1]
    feed = client.get("/" + path)
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    assert "private" in feed.headers["cache-control"]
    root = ET.fromstring(feed.content)
    links = {e.find(f"{ATOM}link").get("href") for e in root.findall(f"{ATOM}entry")}
    assert {f"/paper/{pid}" for pid in ids} <= {"/" + lk.split("/", 3)[3] for lk in links}
    forged = client.get("/feeds/following/" + path.rsplit("/", 1)[1][:-8] + "x.xml")
    assert forged.status_code == 404
    # Unfollow.
    client.post(
        "/author-follow",
        data={"name": name, "follow": "0", "csrf_token": csrf(client, "/following")},
    )
    assert "You follow no author yet" in client.get("/following").text


def test_follow_api(client: TestClient, indexed_lens: Any, web_corpus: WebCorpus) -> None:
    name, ids = _snapshot_author(indexed_lens, web_corpus)
    assert client.post("/api/v1/me/following", json={"name": name}).status_code == 401
    _pk, auth = bearer(indexed_lens, "follow-api")
    r = client.post("/api/v1/me/following", json={"name": name}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["authors"] == [indexed_lens.authors.page(name).name]
    papers = client.get("/api/v1/me/following/papers", headers=auth).json()["papers"]
    assert {p["id"] for p in papers} == set(ids)
    gone = client.delete(f"/api/v1/me/following/{name}", headers=auth)
    assert gone.json()["authors"] == []


# -- claims -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(web_app: Any, indexed_lens: Any) -> Iterator[TestClient]:
    with TestClient(web_app, raise_server_exceptions=False) as c:
        email = sign_up(c, "Admin")
        indexed_lens.accounts.set_admin(email, True)
        yield c


def test_claim_flow_with_admin_review(
    client: TestClient, admin_client: TestClient, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    pid = web_corpus.snapshot_ids[3]
    paper = indexed_lens.paper(pid).paper
    email = sign_up(client, "Claimant")
    indexed_lens.accounts.set_admin(email, False)
    page = client.get(f"/paper/{pid}")
    assert 'action="/claims"' in page.text
    # CSRF.
    r = client.post("/claims", data={"paper": pid, "author_name": paper.authors[0]})
    assert r.status_code == 403
    token = csrf(client, f"/paper/{pid}")
    r = client.post(
        "/claims",
        data={"paper": pid, "author_name": paper.authors[0], "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "Your claim to be" in client.get(f"/paper/{pid}").text
    again = client.post(
        "/claims", data={"paper": pid, "author_name": paper.authors[0], "csrf_token": token}
    )
    assert again.status_code == 409
    # A non-admin may not see or decide claims.
    assert client.get("/admin/claims").status_code == 403
    claim_pk = indexed_lens.authors.my_claim(
        indexed_lens.accounts.get_by_email(email).pk, indexed_lens.paper(pid).pk
    ).pk
    refused = client.post(
        f"/admin/claims/{claim_pk}", data={"decision": "approve", "csrf_token": token}
    )
    assert refused.status_code == 403
    # The admin approves.
    listing = admin_client.get("/admin/claims")
    assert listing.status_code == 200
    assert f'data-claim="{claim_pk}"' in listing.text
    admin_token = csrf(admin_client, "/admin/claims")
    ok = admin_client.post(
        f"/admin/claims/{claim_pk}",
        data={"decision": "approve", "csrf_token": admin_token},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    shown = client.get(f"/paper/{pid}").text
    assert "Claimed by <strong>Claimant</strong>" in shown
    api = client.get("/api/v1/claims", params={"paper": pid}).json()["claims"]
    assert [(c["claimed_by"], c["status"], c["reason"]) for c in api] == [
        ("Claimant", "approved", None)
    ]


def test_claim_api_and_its_refusals(
    client: TestClient, admin_client: TestClient, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    pid = web_corpus.snapshot_ids[4]
    _pk, auth = bearer(indexed_lens, "claim-api")
    body = {"paper": pid, "author_name": "Not On This Paper"}
    assert client.post("/api/v1/claims", json=body).status_code == 401
    r = client.post("/api/v1/claims", json=body, headers=auth)
    assert r.status_code == 400
    assert "reason" in r.json()["detail"]
    body["reason"] = "I changed my name <script>alert(1)</script> in 2010."
    made = client.post("/api/v1/claims", json=body, headers=auth)
    assert made.status_code == 201
    listing = admin_client.get("/admin/claims").text  # the reason, escaped, for the admin
    assert "I changed my name &lt;script&gt;alert(1)&lt;/script&gt; in 2010." in listing
    assert "<script>alert(1)" not in listing
    assert (made.json()["status"], made.json()["matched"]) == ("pending", False)
    assert client.post("/api/v1/claims", json=body, headers=auth).status_code == 409
    assert client.get("/api/v1/claims", headers=auth).status_code == 403
    review = client.post(
        f"/api/v1/claims/{made.json()['id']}/review", json={"decision": "approve"}, headers=auth
    )
    assert review.status_code == 403
    unknown = client.post("/api/v1/claims", json={**body, "paper": "9999.99999"}, headers=auth)
    assert unknown.status_code == 404


def test_claims_are_rate_limited(indexed_lens: Any, web_corpus: WebCorpus) -> None:
    app = create_app(indexed_lens, rate_limit=None, auth_limits=RateLimits(claim_account="2/hour"))
    _pk, auth = bearer(indexed_lens, "claim-rate")
    with TestClient(app, raise_server_exceptions=False) as c:
        statuses = [
            c.post(
                "/api/v1/claims",
                json={"paper": pid, "author_name": "X Y", "reason": "a good long reason"},
                headers=auth,
            ).status_code
            for pid in web_corpus.snapshot_ids[10:13]
        ]
    assert statuses == [201, 201, 429]


def test_first_account_is_not_assumed_admin_here(indexed_lens: Any) -> None:
    # Guard for the tests above: a fresh sign-up in a shared database is not an admin.
    user = indexed_lens.accounts.create_user(f"g-{uuid.uuid4().hex[:8]}@example.org", PASSWORD)
    assert not user.is_admin

"""The REST API under /api/v1: answers, validation, limits and hostile input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from conftest import HOSTILE_ABSTRACT, HOSTILE_ID, HOSTILE_TITLE, UPVOTED_VOTES, WebCorpus
from paperlens.web import create_app

API = "/api/v1"


def get_json(client: TestClient, url: str, status: int = 200, **params: Any) -> Any:
    r = client.get(url, params=params or None)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


# -- papers ------------------------------------------------------------------------------


def test_paper_by_id(client: TestClient) -> None:
    p = get_json(client, f"{API}/papers/0704.0001")
    assert p["id"] == "0704.0001"
    assert p["title"].startswith("Calculation of prompt diphoton production")
    assert p["authors"][0] == "C. Balázs"
    assert p["categories"] == ["hep-ph"]
    assert p["published"].startswith("2007-04-02")
    assert p["links"]["abs"] == "https://arxiv.org/abs/0704.0001"
    assert p["links"]["pdf"].startswith("https://arxiv.org/pdf/0704.0001")
    assert p["version"] == 2
    assert p["source"] == "arxiv-snapshot"


@pytest.mark.parametrize("form", ["arXiv:0704.0001v2", "0704.0001v1", " 0704.0001 "])
def test_paper_id_in_any_arxiv_form(client: TestClient, form: str) -> None:
    assert get_json(client, f"{API}/papers/{form}")["id"] == "0704.0001"


def test_hostile_paper_round_trips_exactly_as_json(client: TestClient) -> None:
    r = client.get(f"{API}/papers/{HOSTILE_ID}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-content-type-options"] == "nosniff"
    body = r.json()
    assert body["title"] == HOSTILE_TITLE
    assert body["abstract"] == HOSTILE_ABSTRACT
    assert "url" in body["links"]  # stored as given: the pages decide what is a safe link


@pytest.mark.parametrize(
    "paper_id",
    [
        "9999.99999",
        "nope",
        "x" * 300,
        "a%00b",
        "..%2F..%2Fetc%2Fpasswd",
        "%F0%9F%99%82",
        "' OR 1=1 --",
    ],
)
def test_unknown_paper_is_a_json_404(client: TestClient, paper_id: str) -> None:
    body = get_json(client, f"{API}/papers/{paper_id}", status=404)
    assert "no paper" in body["detail"]


def test_similar_papers(client: TestClient) -> None:
    body = get_json(client, f"{API}/papers/0704.0001/similar", k=5)
    assert body["id"] == "0704.0001"
    ids = [r["paper"]["id"] for r in body["similar"]]
    assert len(ids) == 5
    assert "0704.0001" not in ids
    scores = [r["score"] for r in body["similar"]]
    assert scores == sorted(scores, reverse=True)
    # The fused list: each paper carries its dense and tf-idf rank among the candidates
    # and a reason naming terms it shares with the paper.
    assert all(r["semantic_rank"] >= 1 and r["lexical_rank"] >= 1 for r in body["similar"])
    reasons = [r["reason"] for r in body["similar"] if r["reason"]]
    assert reasons and all(r["kind"] == "terms" for r in reasons)
    assert all(r["text"].startswith("shared: ") for r in reasons)


@pytest.mark.parametrize("k", ["0", "51", "-1", "abc", "1e9"])
def test_similar_k_is_bounded(client: TestClient, k: str) -> None:
    body = get_json(client, f"{API}/papers/0704.0001/similar", status=422, k=k)
    assert body["detail"].startswith("k:")


def test_similar_of_unknown_paper_is_404(client: TestClient) -> None:
    get_json(client, f"{API}/papers/9999.99999/similar", status=404)


# -- search ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["hybrid", "lexical", "semantic"])
def test_search_modes(client: TestClient, mode: str) -> None:
    body = get_json(client, f"{API}/search", q="dark matter galaxy", mode=mode, limit=5)
    assert body["mode"] == mode
    assert 0 < len(body["results"]) <= 5
    assert body["total"] >= len(body["results"])
    assert body["seconds"] >= 0
    assert body["page"] == 1 and body["limit"] == 5


def test_search_defaults_to_hybrid_and_pages(client: TestClient) -> None:
    first = get_json(client, f"{API}/search", q="neural network", limit=5)
    second = get_json(client, f"{API}/search", q="neural network", limit=5, page=2)
    assert first["mode"] == "hybrid"
    ids1 = {r["paper"]["id"] for r in first["results"]}
    ids2 = {r["paper"]["id"] for r in second["results"]}
    assert ids1 and ids2 and not ids1 & ids2


def test_search_filters(client: TestClient) -> None:
    body = get_json(client, f"{API}/search", q="Tom Jerry", category="cs.CR", mode="lexical")
    assert [r["paper"]["id"] for r in body["results"]] == [HOSTILE_ID]
    assert body["filters"]["categories"] == ["cs.CR"]
    by_author = get_json(client, f"{API}/search", author="Balazs", mode="lexical")
    assert any(r["paper"]["id"] == "0704.0001" for r in by_author["results"])
    dated = get_json(client, f"{API}/search", q="quantum", since="2007-04-03", until="2007-04-04")
    for r in dated["results"]:
        assert r["paper"]["published"][:10] in {"2007-04-03", "2007-04-04"}


def test_search_several_categories(client: TestClient) -> None:
    r = client.get(f"{API}/search?category=cs.CR&category=hep-ph&limit=50")
    assert r.status_code == 200
    results = r.json()["results"]
    assert all({"cs.CR", "hep-ph"} & set(x["paper"]["categories"]) for x in results)
    assert any("cs.CR" in x["paper"]["categories"] for x in results)


def test_empty_query_without_filters_is_400_with_a_message(client: TestClient) -> None:
    body = get_json(client, f"{API}/search", status=400)
    assert "empty query" in body["detail"]
    assert get_json(client, f"{API}/search", status=400, q="   ")["detail"]


def test_empty_query_with_a_filter_browses_newest_first(client: TestClient) -> None:
    body = get_json(client, f"{API}/search", category="hep-ph", limit=10)
    days = [r["paper"]["published"][:10] for r in body["results"]]
    assert days and days == sorted(days, reverse=True)


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"q": "x" * 1001}, 422, "q:"),
        ({"q": "x", "limit": 51}, 422, "limit:"),
        ({"q": "x", "limit": 0}, 422, "limit:"),
        ({"q": "x", "page": 0}, 422, "page:"),
        ({"q": "x", "page": 10**30}, 422, "page:"),
        ({"q": "x", "page": 21, "limit": 50}, 400, "depth"),
        ({"q": "x", "mode": "telepathic"}, 422, "mode:"),
        ({"q": "x", "since": "yesterday"}, 422, "since:"),
        ({"q": "x", "since": "2007-05-01", "until": "2007-04-01"}, 400, "after"),
        ({"q": "x", "author": "a" * 201}, 422, "author:"),
    ],
)
def test_search_validation(
    client: TestClient, params: dict[str, Any], status: int, needle: str
) -> None:
    body = get_json(client, f"{API}/search", status=status, **params)
    assert needle in body["detail"]


HOSTILE_QUERIES = [
    '"unclosed phrase',
    "AND OR NOT",
    "title:",
    "pk:1",
    "day:>5",
    "categories:cs.CR",
    "a:b:c:d",
    "*",
    "(((",
    ")))",
    "[1 TO",
    "foo~2",
    "bar^3",
    "+-+-",
    "' OR 1=1; DROP TABLE papers; --",
    "%",
    "\\",
    "\x00\x01\x1f",
    "emoji 🙂 中文 Ελληνικά",
    "<script>alert(1)</script>",
    "\u202e\u200b\ufeff",
    "x" * 1000,
    "word " * 200,
]


@pytest.mark.parametrize("mode", ["hybrid", "lexical"])
@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_hostile_queries_never_fail(client: TestClient, query: str, mode: str) -> None:
    r = client.get(f"{API}/search", params={"q": query, "mode": mode, "limit": 3})
    assert r.status_code in (200, 400), r.text
    assert r.headers["content-type"] == "application/json"
    if r.status_code == 200:
        assert isinstance(r.json()["results"], list)


def test_hostile_filters_never_fail(client: TestClient) -> None:
    for params in (
        {"author": "\x00 ' OR 1=1", "mode": "lexical"},
        {"category": ["*", "cs.*", "' OR 1=1", "🙂"]},
        {"q": "x", "since": "0001-01-01", "until": "9999-12-31"},
    ):
        r = client.get(f"{API}/search", params=params)
        assert r.status_code == 200, r.text


# -- daily feed and stats --------------------------------------------------------------


def test_daily_defaults_to_the_newest_day(client: TestClient, web_corpus: WebCorpus) -> None:
    body = get_json(client, f"{API}/daily")
    assert body["date"] == web_corpus.latest_day.isoformat()
    assert body["next"] is None
    assert body["previous"] < body["date"]
    assert body["total"] == len(body["papers"]) or body["pages"] > 1
    published = [p["paper"]["published"] for p in body["papers"]]
    assert published == sorted(published, reverse=True)
    assert body["papers"][0]["paper"]["id"] == HOSTILE_ID  # 23:00, the newest
    votes = {p["paper"]["id"]: p["upvotes"] for p in body["papers"]}
    assert votes[web_corpus.upvoted_id] == UPVOTED_VOTES
    assert votes[HOSTILE_ID] is None


def test_daily_walks_back_and_forth(client: TestClient) -> None:
    newest = get_json(client, f"{API}/daily")
    seen = [newest["date"]]
    day = newest
    while day["previous"] is not None:
        day = get_json(client, f"{API}/daily", date=day["previous"])
        assert day["total"] > 0
        seen.append(day["date"])
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen)) > 3
    back = get_json(client, f"{API}/daily", date=day["next"])
    assert back["date"] == seen[-2]


def test_daily_pages_within_a_day(client: TestClient) -> None:
    first = get_json(client, f"{API}/daily", limit=5)
    second = get_json(client, f"{API}/daily", limit=5, page=2)
    assert first["pages"] > 1
    assert {p["paper"]["id"] for p in first["papers"]}.isdisjoint(
        p["paper"]["id"] for p in second["papers"]
    )
    past_end = get_json(client, f"{API}/daily", limit=5, page=first["pages"] + 1)
    assert past_end["papers"] == []


def test_daily_on_a_day_without_papers(client: TestClient, web_corpus: WebCorpus) -> None:
    body = get_json(client, f"{API}/daily", date="2030-01-01")
    assert body["papers"] == [] and body["total"] == 0
    assert body["previous"] == web_corpus.latest_day.isoformat()
    assert body["next"] is None
    for extreme in ("0001-01-01", "9999-12-31"):
        assert get_json(client, f"{API}/daily", date=extreme)["papers"] == []


@pytest.mark.parametrize(
    "params", [{"date": "2007-13-01"}, {"date": "soon"}, {"limit": 51}, {"page": 0}]
)
def test_daily_validation(client: TestClient, params: dict[str, Any]) -> None:
    assert get_json(client, f"{API}/daily", status=422, **params)["detail"]


def test_stats(client: TestClient) -> None:
    body = get_json(client, f"{API}/stats")
    assert body["papers"] == 501
    assert body["by_source"] == {"arxiv-snapshot": 300, "jsonl": 201}
    assert body["embedded"] == body["vectors"] == body["lexical_docs"] == 501
    assert body["model"].startswith("all-MiniLM-L6-v2@128")


# -- errors, headers, limits ----------------------------------------------------------------


def test_unknown_route_and_method_are_json(client: TestClient) -> None:
    assert get_json(client, f"{API}/nothing-here", status=404)["detail"]
    r = client.post(f"{API}/stats")
    assert r.status_code == 405
    assert r.json()["detail"]


def test_security_headers(client: TestClient) -> None:
    for url in (f"{API}/stats", "/", "/static/style.css"):
        h = client.get(url).headers
        assert "default-src 'self'" in h["content-security-policy"]
        assert "frame-ancestors 'none'" in h["content-security-policy"]
        assert h["x-content-type-options"] == "nosniff"
        assert h["referrer-policy"] == "same-origin"


def test_request_body_size_limit(client: TestClient) -> None:
    r = client.post("/theme", content=b"theme=dark&next=/" + b"x" * 20_000)
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]

    def chunks() -> Any:
        for _ in range(20):
            yield b"y" * 1000

    r = client.post("/theme", content=chunks())
    assert r.status_code == 413


def test_rate_limit_per_client(indexed_lens: Any) -> None:
    app = create_app(indexed_lens, rate_limit="3/minute")
    with TestClient(app) as limited:
        codes = [limited.get(f"{API}/stats").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = limited.get(f"{API}/stats")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert "too many requests" in r.json()["detail"]
        assert limited.get("/").status_code == 200  # pages are not limited


def test_openapi_schema_lists_the_api(client: TestClient) -> None:
    spec = get_json(client, "/openapi.json")
    paths = set(spec["paths"])
    assert {
        f"{API}/papers/{{paper_id}}",
        f"{API}/papers/{{paper_id}}/similar",
        f"{API}/search",
        f"{API}/daily",
        f"{API}/stats",
    } <= paths
    assert not any(p.startswith(("/search", "/paper/", "/theme")) for p in paths)


# -- one status per kind of failure -----------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "headers"),
    [
        ("not_found", 404, {}),
        ("invalid", 400, {}),
        ("conflict", 409, {}),
        ("too_many", 429, {"retry-after": "7"}),
        ("unavailable", 503, {"retry-after": "60"}),
        ("upstream", 502, {}),
    ],
)
def test_each_kind_of_failure_has_one_status(
    error: str, status: int, headers: dict[str, str]
) -> None:
    """web/errors.py maps the error hierarchy once; routes raise and never translate."""
    from fastapi import FastAPI

    from paperlens import errors
    from paperlens.web.errors import add_error_handlers

    raised: dict[str, errors.PaperlensError] = {
        "not_found": errors.CollectionNotFound("no collection 5"),
        "invalid": errors.Invalid("not like that"),
        "conflict": errors.Conflict("name taken"),
        "too_many": errors.TooMany("slow down", retry_after=7),
        "unavailable": errors.Unavailable("not built yet"),
        "upstream": errors.UpstreamError("arXiv could not be reached: timeout"),
    }
    app = FastAPI()
    add_error_handlers(app)

    @app.get("/api/v1/fail/{kind}")
    def fail(kind: str) -> None:
        raise raised[kind]

    with TestClient(app) as client:
        r = client.get(f"/api/v1/fail/{error}")
    assert r.status_code == status
    assert r.json() == {"detail": str(raised[error])}
    for key, value in headers.items():
        assert r.headers[key] == value


def test_search_says_whether_its_total_is_exact(client: TestClient) -> None:
    broad = get_json(client, f"{API}/search", q="the", mode="lexical", limit=5)
    assert len(broad["results"]) == 5 and broad["total_is_exact"] is False
    assert broad["total"] >= 5
    filtered = get_json(client, f"{API}/search", q="the", mode="lexical", category="hep-ph")
    assert filtered["total_is_exact"] is True
    narrow = get_json(client, f"{API}/search", q="Tom Jerry", mode="lexical")
    assert narrow["total_is_exact"] is True and narrow["total"] == len(narrow["results"])
    past = get_json(client, f"{API}/search", q="Tom Jerry", mode="lexical", page=5)
    assert past["results"] == [] and past["total_is_exact"] is True
    assert past["total"] == narrow["total"]

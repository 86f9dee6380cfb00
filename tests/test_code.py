"""Code and artifacts end to end on SQLite, against loopback replay servers in the real
response formats: the Hugging Face daily import with its newer fields, the citing
models/datasets/Spaces, the GitHub refresher (200 with ETag, 304, 403 rate limit with
reset, 404, archived), the "has code" filter in search, the daily feed and the API, and
the badge on pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from databases import fresh_database
from paperlens.code import Code, age_text, short_count
from paperlens.config import Settings
from paperlens.core import Mode, PaperLens, SearchFilters
from paperlens.sources.github import GitHubClient
from paperlens.sources.hf_daily import HfDailySource
from paperlens.sources.http import PoliteClient
from replay_server import ReplayServer

FIXTURES = Path(__file__).parent / "fixtures"
DAY = date(2025, 9, 8)
GOOD = "2509.04664"
HOSTILE = "2509.05000"
PLAIN = "2509.06000"
JSON = "application/json; charset=utf-8"


@pytest.fixture(scope="module")
def lens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperLens]:
    root = tmp_path_factory.mktemp("code")
    with fresh_database(root) as url:  # PostgreSQL too when the suite runs on it
        lens = PaperLens(Settings(data_dir=root, database_url=url, max_seq_length=64))
        ingest_fixture(lens)
        lens.index()
        yield lens
        lens.close()


def ingest_fixture(lens: PaperLens) -> None:
    with ReplayServer() as hf:
        hf.add(
            "/api/daily_papers",
            {"date": DAY.isoformat(), "limit": "100", "p": "0"},
            fixture=FIXTURES / "hf_daily" / "2025-09-08_extras.json",
            content_type=JSON,
        )
        with PoliteClient(interval=0, retries=0) as client:
            lens.ingest(HfDailySource([DAY], hf.base_url, client=client))


def test_hf_import_reads_the_new_fields(lens: PaperLens) -> None:
    stored = lens.paper(GOOD)
    view = lens.code.view(stored.pk, stored.paper)
    assert view.summary_source == "hf"
    assert view.summary is not None and view.summary.startswith("Language models hallucinate")
    assert view.keywords_source == "hf" and "hallucinations" in view.keywords
    assert view.organization == "OpenAI"
    assert (
        view.repo is not None and view.repo.url == "https://github.com/openai/hallucination-evals"
    )
    # Before the GitHub refresher runs, Hugging Face's own count is shown as such.
    assert view.repo.stars == 1234 and view.repo.fetched_at is None
    assert "via Hugging Face" in view.repo.stars_text(datetime.now(UTC))
    assert view.project == "https://openai.com/index/why-language-models-hallucinate/"
    hf = lens.code.store.records([stored.pk])[stored.pk].hf
    assert hf is not None and hf.submitted_by == "taesiri" and hf.num_comments == 7


def test_hostile_hf_fields_and_abstract_links_are_dropped(lens: PaperLens) -> None:
    stored = lens.paper(HOSTILE)
    view = lens.code.view(stored.pk, stored.paper)
    assert [r.url for r in view.repos] == ["https://github.com/good-org/safe_repo"]
    assert view.project is None and view.others == []


def test_extract_when_hf_gave_no_summary(lens: PaperLens) -> None:
    stored = lens.paper(PLAIN)
    view = lens.code.view(stored.pk, stored.paper)
    assert view.summary_source == "extract"
    assert (
        view.summary
        == "In this work we introduce a graph network that predicts fill-reducing orderings."
    )
    assert view.keywords_source == "extract" and view.keywords
    assert not view.has_code


def test_has_code_filter_in_search_and_feed(lens: PaperLens) -> None:
    found = lens.search("", Mode.LEXICAL, SearchFilters(has_code=True), per_page=10)
    assert {r.paper.id for r in found.results} == {GOOD, HOSTILE}
    found = lens.search("graph sparse", Mode.HYBRID, SearchFilters(has_code=True))
    assert PLAIN not in {r.paper.id for r in found.results}
    every = {
        i.stored.paper.id
        for d in (date(2025, 9, 4), date(2025, 9, 5), date(2025, 9, 6))
        if (f := lens.daily(d, has_code=True))
        for i in f.items
    }
    assert every == {GOOD, HOSTILE}
    plain_day = lens.daily(date(2025, 9, 6), has_code=True)
    assert plain_day is not None and plain_day.total == 0


def clock_at(when: datetime) -> Any:
    return lambda: when


def code_at(lens: PaperLens, when: datetime, github: str) -> Code:
    settings = lens.settings.model_copy(update={"github_api_url": github})
    return Code(lens.code.store, lens.code._load, settings, clock=clock_at(when))


def test_github_refresher_against_replay_server(lens: PaperLens) -> None:
    t0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    reset = int((t0 + timedelta(minutes=30)).timestamp())
    with ReplayServer() as gh:
        good = gh.add(
            "/repos/openai/hallucination-evals",
            fixture=FIXTURES / "github" / "repo_200.json",
            content_type=JSON,
            headers={
                "ETag": 'W/"abc123"',
                "X-RateLimit-Remaining": "59",
                "X-RateLimit-Reset": str(reset),
            },
        )
        gh.add(
            "/repos/good-org/safe_repo",
            fixture=FIXTURES / "github" / "repo_archived.json",
            content_type=JSON,
            headers={"ETag": '"e2"', "X-RateLimit-Remaining": "58"},
        )
        code = code_at(lens, t0, gh.base_url)
        with GitHubClient(gh.base_url, "ghp_secret_token") as client:
            assert "ghp_secret_token" not in repr(client)
            report = code.refresh_stars(10, client)
        assert (report.checked, report.updated) == (2, 2)
        sent = gh.requests_to("/repos/openai/hallucination-evals")[0].headers
        assert sent.get("Authorization") == "Bearer ghp_secret_token"
        assert "If-None-Match" not in sent
        stored = lens.paper(GOOD)
        view = code.view(stored.pk, stored.paper)
        assert view.repo is not None and view.repo.stars == 2345
        assert view.repo.stars_text(t0 + timedelta(hours=3)) == "★ 2.3k · 3 h ago"
        archived = code.view(lens.paper(HOSTILE).pk, lens.paper(HOSTILE).paper).repo
        assert archived is not None and archived.archived

        # Fresh data is not asked for again.
        assert code.refresh_stars(10).checked == 0

        # A day later: conditional request, 304 keeps the stars and renews their age.
        t1 = t0 + timedelta(days=1, hours=1)
        from replay_server import Reply

        good.reply = Reply(304, b"", {"ETag": 'W/"abc123"', "X-RateLimit-Remaining": "57"})
        code = code_at(lens, t1, gh.base_url)
        with GitHubClient(gh.base_url) as client:
            report = code.refresh_stars(10, client)
        assert (report.not_modified, report.updated) == (1, 1)  # the other answered 200
        assert (
            gh.requests_to("/repos/openai/hallucination-evals")[-1].headers["If-None-Match"]
            == 'W/"abc123"'
        )
        repo = code.store.repo("github:openai/hallucination-evals")
        assert repo is not None and repo.stars == 2345 and repo.fetched_at == t1

        # Rate limited: 403 with X-RateLimit-Remaining 0 pauses every refresher until reset.
        t2 = t1 + timedelta(days=2)
        reset2 = int((t2 + timedelta(minutes=20)).timestamp())
        good.reply = Reply(
            403,
            (FIXTURES / "github" / "rate_limited.json").read_bytes(),
            {"Content-Type": JSON, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset2)},
        )
        code = code_at(lens, t2, gh.base_url)
        report = code.refresh_stars(10)
        assert report.rate_limited_until == datetime.fromtimestamp(reset2, UTC)
        assert "rate limit" in report.stopped
        asked = len(gh.requests)
        report = code_at(lens, t2 + timedelta(minutes=5), gh.base_url).refresh_stars(10)
        assert report.checked == 0 and len(gh.requests) == asked and report.stopped
        repo = code.store.repo("github:openai/hallucination-evals")
        assert repo is not None and repo.stars == 2345  # old data kept

        # After the reset: 404 marks the repository gone (no stars shown).
        good.reply = Reply(
            404, (FIXTURES / "github" / "not_found.json").read_bytes(), {"Content-Type": JSON}
        )
        code = code_at(lens, t2 + timedelta(minutes=30), gh.base_url)
        report = code.refresh_stars(10)
        assert report.gone == 1
        view = code.view(stored.pk, stored.paper)
        assert view.repo is not None and view.repo.gone and view.repo.stars is None


def test_secondary_rate_limit_retry_after(lens: PaperLens) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with ReplayServer() as gh:
        gh.add(
            "/repos/a/b", status=429, body=b"{}", content_type=JSON, headers={"Retry-After": "120"}
        )
        with GitHubClient(gh.base_url, clock=lambda: now) as client:
            answer = client.repo("a/b")
    assert answer.status == "rate_limited" and answer.retry_at == now + timedelta(seconds=120)


def test_hf_citing_repos(lens: PaperLens) -> None:
    with ReplayServer() as hf:
        for pid in (GOOD, HOSTILE, PLAIN):
            name = f"arxiv_{pid}_repos.json"
            path = FIXTURES / "hf_daily" / name
            hf.add(
                f"/api/arxiv/{pid}/repos",
                body=path.read_bytes()
                if path.exists()
                else b'{"models":[],"datasets":[],"spaces":[]}',
                content_type=JSON,
            )
        settings = lens.settings.model_copy(update={"hf_base_url": hf.base_url})
        code = Code(lens.code.store, lens.code._load, settings)
        with PoliteClient(interval=0, retries=0) as client:
            report = code.refresh_hf_repos(10, client)
        assert report.checked == 3 and report.failed == 0
        stored = lens.paper(GOOD)
        view = code.view(stored.pk, stored.paper)
        assert [(m.url, m.likes) for m in view.models] == [
            ("https://huggingface.co/openai/halluc-detector", 40)
        ]
        assert [d.url for d in view.datasets] == [
            "https://huggingface.co/datasets/openai/halluc-bench"
        ]
        assert [s.url for s in view.spaces] == ["https://huggingface.co/spaces/someone/halluc-demo"]
        with PoliteClient(interval=0, retries=0) as client:
            assert code.refresh_hf_repos(10, client).checked == 0  # fetched recently


def test_api_and_pages(lens: PaperLens) -> None:
    from paperlens.web import create_app

    app = create_app(lens, rate_limit=None, auth_limits=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/search", params={"q": "", "has_code": "true", "mode": "lexical"})
        assert r.status_code == 200
        assert {x["paper"]["id"] for x in r.json()["results"]} == {GOOD, HOSTILE}
        assert r.json()["filters"]["has_code"] is True
        briefs = {x["paper"]["id"]: x["code"] for x in r.json()["results"]}
        assert briefs[GOOD]["repo"] == "https://github.com/openai/hallucination-evals"
        assert briefs[GOOD]["summary_source"] == "hf"
        day = client.get("/api/v1/daily", params={"date": "2025-09-06"}).json()
        assert day["papers"][0]["code"]["summary_source"] == "extract"
        assert day["papers"][0]["code"]["has_code"] is False
        r = client.get("/api/v1/daily", params={"date": "2025-09-06", "has_code": "true"})
        assert r.status_code == 200 and r.json()["total"] == 0
        r = client.get(f"/api/v1/code/{GOOD}")
        assert r.status_code == 200
        body = r.json()
        assert body["has_code"] and body["summary_source"] == "hf"
        assert body["repos"][0]["url"] == "https://github.com/openai/hallucination-evals"
        assert client.get("/api/v1/code/9999.99999").status_code == 404

        page = client.get(f"/paper/{HOSTILE}").text
        # HF's text is shown escaped, with bidi overrides removed at import.
        assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
        assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
        assert "\u202e" not in page
        assert 'class="badge-code" href="https://github.com/good-org/safe_repo"' in page
        # The hostile links stay text (the abstract, the Cite panel), never an href.
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert not [h for h in hrefs if "javascript:" in h or "evil.io" in h]
        good = client.get(f"/paper/{GOOD}").text
        assert "Summary from Hugging Face" in good
        plain = client.get(f"/paper/{PLAIN}").text.split("similar-heading")[0]
        assert ">Extract<" in plain and "Summary from Hugging Face" not in plain
        trending = client.get("/trending", params={"window": "month"}).text
        assert "badge-code" in trending
        feed = client.get("/", params={"date": "2025-09-04"}).text
        assert "badge-code" in feed and "Summary from Hugging Face" in feed
        only = client.get("/", params={"date": "2025-09-06", "code": "1"})
        assert only.status_code == 200 and "with code" in only.text
        search = client.get("/search", params={"q": "", "code": "1", "mode": "lexical"}).text
        assert GOOD in search and PLAIN not in search


def test_counts_and_ages() -> None:
    assert [short_count(n) for n in (7, 1234, 1000, 2_500_000)] == ["7", "1.2k", "1k", "2.5M"]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert age_text(now - timedelta(hours=3, minutes=5), now) == "3 h ago"
    assert age_text(now - timedelta(seconds=5), now) == "just now"


def test_trending_can_weigh_star_growth(lens: PaperLens) -> None:
    lens.code.store.save_repo(
        "github:good-org/safe_repo",
        stars=1100,
        stars_base=100,
        fetched_at=datetime.now(UTC),
        checked_at=datetime.now(UTC),
    )
    plain = [t.paper.id for t in lens.community.trending("month")]
    assert plain[0] == GOOD  # 128 HF upvotes beat 3
    weighed = lens.community.trending("month", star_weight=2.0)
    assert weighed[0].paper.id == HOSTILE and weighed[0].star_growth == 1000
    from paperlens.web import create_app

    app = create_app(lens, rate_limit=None, auth_limits=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/api/v1/trending", params={"window": "month", "star_weight": "2"})
        assert r.status_code == 200 and r.json()["papers"][0]["paper"]["id"] == HOSTILE
        assert r.json()["papers"][0]["star_growth"] == 1000
        bad = client.get("/api/v1/trending", params={"star_weight": "-1"})
        assert bad.status_code == 422


def test_an_older_lexical_index_is_rewritten_once(lens: PaperLens) -> None:
    import json

    state = lens.lexical.state_path
    saved = json.loads(state.read_text())
    assert saved["format"] == 2 and lens.lexical.seq > 0
    state.write_text(json.dumps({"seq": saved["seq"]}))  # as written before "has code"
    assert lens.lexical.seq == 0  # so `paperlens index` rewrites every document
    lens.index()
    assert lens.lexical.seq == saved["seq"]
    found = lens.search("", Mode.LEXICAL, SearchFilters(has_code=True))
    assert {r.paper.id for r in found.results} == {GOOD, HOSTILE}


def test_cli_refresh_code_never_shows_the_token(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    data = tmp_path / "data"
    lens = PaperLens(Settings(data_dir=data))
    ingest_fixture(lens)
    lens.close()
    secret = "ghp_do_not_print_me_0123456789"
    with ReplayServer() as server:
        server.add(
            "/repos/openai/hallucination-evals",
            fixture=FIXTURES / "github" / "repo_200.json",
            content_type=JSON,
            headers={"ETag": '"x"', "X-RateLimit-Remaining": "4999"},
        )
        server.add("/repos/good-org/safe_repo", status=502, body=b"bad gateway")
        for pid in (GOOD, HOSTILE, PLAIN):
            server.add(f"/api/arxiv/{pid}/repos", body=b"{}", content_type=JSON)
        env = {
            **os.environ,
            "PAPERLENS_DATA_DIR": str(data),
            "PAPERLENS_GITHUB_API_URL": server.base_url,
            "PAPERLENS_HF_BASE_URL": server.base_url,
            "PAPERLENS_GITHUB_TOKEN": secret,
            "PAPERLENS_REQUEST_INTERVAL": "0",
            "PAPERLENS_REQUEST_RETRIES": "0",
            "COLUMNS": "200",
        }
        env.pop("PAPERLENS_DATABASE_URL", None)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "paperlens.cli.main",
                "refresh",
                "code",
                "--limit",
                "10",
                "--links",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert "links re-derived for 3 papers" in proc.stdout
        assert "2 checked, 1 updated" in proc.stdout and "1 failed" in proc.stdout
        assert "Hugging Face: 3 papers checked, 0 failed" in proc.stdout
        assert secret not in proc.stdout + proc.stderr
        sent = server.requests_to("/repos/openai/hallucination-evals")[0].headers
        assert sent["Authorization"] == f"Bearer {secret}"


def test_a_card_leaves_out_an_extract_that_only_repeats_the_abstracts_opening() -> None:
    from types import SimpleNamespace

    from paperlens.web.rendering import env

    macro = env.from_string(
        '{% from "_macros.html" import code_line %}{{ code_line(view, p) }}'
    ).render
    p = SimpleNamespace(abstract="Graphs are everywhere. In this work we introduce a model.")

    def view(summary: str, source: str) -> SimpleNamespace:
        return SimpleNamespace(summary=summary, summary_source=source, keywords=["graphs"])

    opening = macro(view=view("Graphs are everywhere.", "extract"), p=p)
    assert "Extract" not in opening and "graphs" in opening  # key phrases stay
    later = macro(view=view("In this work we introduce a model.", "extract"), p=p)
    assert "Extract:" in later and "we introduce a model" in later
    hf = macro(view=view("Graphs are everywhere.", "hf"), p=p)
    assert "Summary from Hugging Face:" in hf

"""Citations: the Semantic Scholar batch fetch against a loopback replay server (200,
429 with Retry-After, 5xx, nulls for unknown ids), what the paper page and the API show
(cited by / references, held papers linked, the data's age), sorting by citations, and
``paperlens refresh citations``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient

from conftest import WebCorpus
from paperlens.citations import Citations
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.paper import make_paper
from paperlens.sources.base import Parsed
from paperlens.sources.http import PoliteClient
from paperlens.sources.semantic_scholar import FIELDS, parse_batch
from paperlens.store.citations import CitationStore, Fetched
from replay_server import ReplayServer, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "semantic_scholar"
BATCH = "/graph/v1/paper/batch"
PARAMS = {"fields": FIELDS}


def _paper(pid: str, title: str) -> Any:
    return make_paper(
        id=pid,
        title=title,
        abstract="An abstract.",
        authors=["A. Author"],
        categories=["hep-ph"],
        published=datetime(2007, 4, 2, tzinfo=UTC),
        source="test",
    )


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    lens = PaperLens(settings)
    lens.papers.write_batch(
        [
            Parsed(_paper("0704.0001", "Calculation of prompt diphoton production"), "t"),
            Parsed(_paper("0704.9999", "Unknown to the source"), "t"),
            Parsed(_paper("0704.0013", "A stored paper, cited"), "t"),
            Parsed(_paper("title-0123456789abcdef", "A record without an arXiv id"), "t"),
        ]
    )
    yield lens
    lens.close()


def _citations(
    lens: PaperLens, server: ReplayServer, sleeps: list[float], **extra: Any
) -> Citations:
    settings = lens.settings.model_copy(
        update={"citations_base_url": server.url(), "request_retries": 2, **extra}
    )
    return Citations(
        CitationStore(lens.engine),
        settings,
        client_factory=lambda: PoliteClient(
            interval=0, retries=2, backoff=0.5, sleep=sleeps.append
        ),
    )


def test_parse_batch_reads_ids_titles_and_nulls() -> None:
    data = json.loads((FIXTURES / "batch.json").read_text())
    first, unknown, third = parse_batch(data, 3)
    assert (first.found, first.citation_count, first.influential_count) == (True, 3, 1)
    assert dict(first.cited_by) == {
        "0704.0007": "Polymer Quantum Mechanics and its Continuum Limit",
        "DOI:10.1007/JHEP03(2012)094": "Diphoton production at the <i>LHC</i> & beyond",
        "S2:c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1": "Photon pairs at hadron colliders",
    }
    refs = dict(first.references)
    assert refs["hep-ph/0201195"] == "Soft-gluon resummation for Higgs boson production"
    assert any(k.startswith("title-") for k in refs)  # no id at all: a title id
    assert unknown.found is False
    assert third.citation_count == 41
    with pytest.raises(Exception, match="expected a list of 2"):
        parse_batch(data, 2)


def test_refresh_fetches_a_batch_and_stores_counts_and_edges(
    lens: PaperLens, replay_server: ReplayServer
) -> None:
    replay_server.add(
        BATCH, PARAMS, fixture=FIXTURES / "batch.json", content_type="application/json"
    )
    sleeps: list[float] = []
    cites = _citations(lens, replay_server, sleeps, semantic_scholar_api_key="k-123")
    report = cites.refresh()
    assert (report.asked, report.found, report.unknown, report.error) == (3, 2, 2, None)
    sent = replay_server.requests_to(BATCH)
    assert len(sent) == 1 and sent[0].method == "POST"
    assert json.loads(sent[0].body) == {
        "ids": ["ARXIV:0704.0001", "ARXIV:0704.9999", "ARXIV:0704.0013"]
    }
    assert sent[0].headers.get("x-api-key") == "k-123"
    first = lens.paper("0704.0001")
    view = cites.view(first.pk, "0704.0001")
    assert view.counts is not None and view.counts.citation_count == 3
    assert view.cited_by_total == 3 and view.references_total == 3
    # A held paper links (and sorts first); others keep title and id.
    held = [e for e in view.references if e.pk is not None]
    assert [(e.paper_id, e.held_title) for e in held] == [("0704.0013", "A stored paper, cited")]
    assert view.references[0].pk is not None
    unknown = lens.paper("0704.9999")
    assert cites.counts([unknown.pk])[unknown.pk].found is False
    titled = lens.paper("title-0123456789abcdef")
    assert cites.counts([titled.pk])[titled.pk].found is False  # never asked for by id
    # "Cited by" of the stored, cited paper: the edge from 0704.0001's references.
    cited = lens.paper("0704.0013")
    back = cites.view(cited.pk, "0704.0013")
    assert [(e.paper_id, e.pk) for e in back.cited_by] == [("0704.0001", first.pk)]
    # Nothing is due again until the counts are old.
    assert cites.refresh().asked == 0
    later = cites.refresh(now=datetime.now(UTC) + timedelta(days=30))
    assert later.asked == 3 and len(replay_server.requests_to(BATCH)) == 2
    # A refetch replaces a paper's edges rather than adding to them.
    assert cites.view(first.pk, "0704.0001").cited_by_total == 3


def test_a_429_is_waited_out_for_its_retry_after(
    lens: PaperLens, replay_server: ReplayServer
) -> None:
    route = replay_server.add(
        BATCH, PARAMS, fixture=FIXTURES / "batch.json", content_type="application/json"
    )
    # The API's own 429: a JSON body and a Retry-After in seconds.
    route.failures = [
        Reply(
            429,
            (FIXTURES / "rate_limited.json").read_bytes(),
            {"Content-Type": "application/json", "Retry-After": "7"},
        )
    ]
    sleeps: list[float] = []
    report = _citations(lens, replay_server, sleeps).refresh()
    assert report.error is None and report.found == 2
    assert sleeps == [7.0]
    assert len(replay_server.requests_to(BATCH)) == 2


def test_a_source_that_stays_down_stops_the_run_and_keeps_what_was_done(
    lens: PaperLens, replay_server: ReplayServer
) -> None:
    route = replay_server.add(
        BATCH,
        PARAMS,
        body=json.dumps([None]),
        content_type="application/json",
        fail_first=10,
        fail_status=502,
    )
    sleeps: list[float] = []
    cites = _citations(lens, replay_server, sleeps)
    report = cites.refresh(batch_size=1)
    assert report.error is not None and "502" in report.error
    assert report.asked == 0
    assert route.hits == 3  # one try and two retries, backing off
    assert sleeps == [0.5, 1.0]
    first = lens.paper("0704.0001")
    assert cites.counts([first.pk]) == {}  # nothing half-stored
    # Once the source is back, the next run continues.
    route.failures.clear()
    again = cites.refresh(batch_size=1)
    assert again.error is None and again.asked == 3 and again.batches == 3


# -- pages and API over the shared app -----------------------------------------------------------


@pytest.fixture(scope="module")
def cited(indexed_lens: Any, web_corpus: WebCorpus) -> tuple[str, str, str]:
    """Citation data for three snapshot papers of the shared corpus: a cites b, and an
    outside paper cites a."""
    a, b, c = web_corpus.snapshot_ids[20:23]
    pk = {pid: indexed_lens.paper(pid).pk for pid in (a, b, c)}
    when = datetime.now(UTC) - timedelta(days=2, hours=1)
    CitationStore(indexed_lens.engine).save(
        [
            Fetched(
                pk[a],
                a,
                True,
                citation_count=5000,
                influential_count=12,
                reference_count=1,
                cited_by=(("DOI:10.1/outside", "An <b>outside</b> paper"),),
                references=((b, "B as the source titles it"),),
            ),
            Fetched(pk[b], b, True, citation_count=4000),
            Fetched(pk[c], c, True, citation_count=4500),
        ],
        "semantic-scholar",
        when,
    )
    return a, b, c


def test_paper_page_shows_counts_age_cited_by_and_references(
    client: TestClient, cited: tuple[str, str, str], indexed_lens: Any
) -> None:
    a, b, _c = cited
    html = client.get(f"/paper/{a}").text
    assert 'class="citation-count">5000<' in html
    assert "as of <time" in html and "2 days ago" in html
    assert f'class="held" href="/paper/{b}"' in html  # a reference we hold links
    assert indexed_lens.paper(b).paper.title[:30] in html
    assert "An &lt;b&gt;outside&lt;/b&gt; paper" in html  # outside titles are text
    assert "DOI:10.1/outside" in html
    back = client.get(f"/paper/{b}").text
    assert f'class="held" href="/paper/{a}"' in back  # "cited by" of b
    api = client.get(f"/api/v1/citations/{a}").json()
    assert api["citation_count"] == 5000 and api["influential_count"] == 12
    assert api["fetched_at"] is not None
    assert [(r["id"], r["held"]) for r in api["references"]] == [(b, True)]
    assert [(r["id"], r["held"]) for r in api["cited_by"]] == [("DOI:10.1/outside", False)]


def test_a_paper_without_data_says_so(client: TestClient, web_corpus: WebCorpus) -> None:
    pid = web_corpus.snapshot_ids[30]
    assert "No citation data yet" in client.get(f"/paper/{pid}").text
    api = client.get(f"/api/v1/citations/{pid}").json()
    assert (api["citation_count"], api["fetched_at"]) == (None, None)
    assert client.get("/api/v1/citations/9999.99999").status_code == 404


def test_search_sorts_by_citations(
    client: TestClient, cited: tuple[str, str, str], indexed_lens: Any
) -> None:
    a, b, c = cited
    cats = {cat for pid in cited for cat in indexed_lens.paper(pid).paper.categories}
    cat = sorted(cats)[0]
    holders = [pid for pid in cited if cat in indexed_lens.paper(pid).paper.categories]
    counts = {a: 5000, b: 4000, c: 4500}
    params = {"category": cat, "mode": "lexical", "limit": 50}
    plain = client.get("/api/v1/search", params=params).json()
    ranked = client.get("/api/v1/search", params={**params, "sort": "citations"}).json()
    assert ranked["total"] == plain["total"]
    top = [r["paper"]["id"] for r in ranked["results"]][: len(holders)]
    assert top == sorted(holders, key=lambda pid: -counts[pid])
    page = client.get("/search", params={"category": cat, "mode": "lexical", "sort": "citations"})
    assert page.status_code == 200
    assert "most cited</strong>" in page.text
    assert page.text.index(f"/paper/{top[0]}") < page.text.index("</ol>")


def test_cli_refresh_citations(
    tmp_path: Path, database_url: str, replay_server: ReplayServer
) -> None:
    replay_server.add(
        BATCH, PARAMS, fixture=FIXTURES / "batch.json", content_type="application/json"
    )
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    lens = PaperLens(settings)
    lens.papers.write_batch(
        [
            Parsed(_paper("0704.0001", "One"), "t"),
            Parsed(_paper("0704.9999", "Two"), "t"),
            Parsed(_paper("0704.0013", "Three"), "t"),
        ]
    )
    lens.close()
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(tmp_path / "data"),
        "PAPERLENS_DATABASE_URL": database_url,
        "PAPERLENS_CITATIONS_BASE_URL": replay_server.url(),
        "PAPERLENS_CITATIONS_REQUEST_INTERVAL": "0",
        "COLUMNS": "200",
    }
    run = [sys.executable, "-m", "paperlens.cli.main", "refresh", "citations"]
    done = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "asked 3 in 1 batch(es); 2 found, 1 unknown" in done.stdout
    env["PAPERLENS_CITATIONS_BASE_URL"] = replay_server.url("/down")
    env["PAPERLENS_REQUEST_RETRIES"] = "0"
    failed = subprocess.run(
        [*run, "--max-age-days", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 1
    lines = [line for line in failed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: stopped early") and "404" in lines[0]


def test_daily_feed_sorts_by_citations(
    client: TestClient, indexed_lens: Any, web_corpus: WebCorpus
) -> None:
    day = web_corpus.latest_day.isoformat()
    plain = client.get("/api/v1/daily", params={"date": day, "limit": 50}).json()
    ids = [p["paper"]["id"] for p in plain["papers"]]
    assert len(ids) >= 2
    last = indexed_lens.paper(ids[-1])
    CitationStore(indexed_lens.engine).save(
        [Fetched(last.pk, last.paper.id, True, citation_count=99999)],
        "semantic-scholar",
        datetime.now(UTC),
    )
    ranked = client.get("/api/v1/daily", params={"date": day, "limit": 50, "sort": "citations"})
    assert ranked.status_code == 200
    first = ranked.json()["papers"][0]
    assert first["paper"]["id"] == last.paper.id
    assert ranked.json()["total"] == plain["total"]
    page = client.get("/", params={"date": day, "sort": "citations"}).text
    assert '<option value="citations" selected>' in page
    listing = page[page.index('<ol class="papers"') :]
    first_link = re.search(r'href="/paper/([^"]+)"', listing)
    assert first_link and unquote(first_link.group(1)) == last.paper.id

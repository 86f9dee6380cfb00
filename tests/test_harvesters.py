"""The network sources (arXiv OAI-PMH, arXiv API, Hugging Face daily papers) and their
polite HTTP client, against recorded responses replayed from a loopback server."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from paperlens.arxiv_ids import BadArxivId
from paperlens.config import Settings
from paperlens.paper import Version
from paperlens.sources.arxiv_api import ArxivApiSource, NotOnArxiv, fetch_paper
from paperlens.sources.base import (
    Checkpoint,
    Deleted,
    Entry,
    Listing,
    Parsed,
    Rejected,
    SourceError,
)
from paperlens.sources.hf_daily import HfDailySource
from paperlens.sources.http import USER_AGENT, PoliteClient, retry_after_seconds
from paperlens.sources.oai import OaiSource
from replay_server import ReplayServer

FIXTURES = Path(__file__).parent / "fixtures"
OAI = FIXTURES / "oai"
API = FIXTURES / "arxiv_api"
HF = FIXTURES / "hf_daily"


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(
    clock: FakeClock, *, interval: float = 0.0, retries: int = 3, backoff: float = 1.0
) -> PoliteClient:
    return PoliteClient(
        interval=interval, retries=retries, backoff=backoff, sleep=clock.sleep, clock=clock.clock
    )


@pytest.fixture
def client(clock: FakeClock) -> Iterator[PoliteClient]:
    with make_client(clock) as c:
        yield c


def parsed(entries: list[Entry]) -> list[Parsed]:
    return [e for e in entries if isinstance(e, Parsed)]


def ids(entries: list[Entry]) -> list[str]:
    out = []
    for e in entries:
        if isinstance(e, Parsed):
            out.append(e.paper.id)
        elif isinstance(e, Deleted):
            out.append(f"deleted:{e.paper_id}")
        elif isinstance(e, Rejected):
            out.append(f"rejected:{e.where}")
        else:
            out.append(f"checkpoint:{e.position}")
    return out


def positions(entries: list[Entry]) -> list[str | None]:
    return [e.position for e in entries]


# --------------------------------------------------------------------------- http ----


def test_minimum_interval_between_requests(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/ping", body=b"ok", content_type="text/plain")
    with make_client(clock, interval=3.0) as c:
        for _ in range(3):
            assert c.get(replay_server.url("/ping")).text == "ok"
    assert clock.sleeps == [3.0, 3.0]
    assert len(replay_server.requests) == 3


def test_interval_counts_time_already_spent(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/ping", body=b"ok", content_type="text/plain")
    with make_client(clock, interval=3.0) as c:
        c.get(replay_server.url("/ping"))
        clock.now += 2.0  # the caller worked for two seconds in between
        c.get(replay_server.url("/ping"))
    assert clock.sleeps == [pytest.approx(1.0)]


def test_503_with_retry_after_is_honoured(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/oai", {"verb": "Identify"}, body="<ok/>", fail_first=2, retry_after="7")
    with make_client(clock, retries=3) as c:
        response = c.get(replay_server.url("/oai"), {"verb": "Identify"})
    assert response.text == "<ok/>"
    assert clock.sleeps == [7.0, 7.0]
    assert len(replay_server.requests) == 3


def test_429_retry_after_as_http_date(replay_server: ReplayServer, clock: FakeClock) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=5), usegmt=True)
    replay_server.add("/api", body="[]", fail_first=1, fail_status=429, retry_after=later)
    with make_client(clock) as c:
        assert c.get(replay_server.url("/api")).text == "[]"
    assert len(clock.sleeps) == 1
    assert 3.0 <= clock.sleeps[0] <= 6.0


def test_retry_after_is_capped(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/oai", body="<ok/>", fail_first=1, retry_after="86400")
    with make_client(clock) as c:
        c.get(replay_server.url("/oai"))
    assert clock.sleeps == [600.0]


def test_retry_after_values() -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:00:00 GMT", now) == 0.0  # already past
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds("-5", now) is None
    assert retry_after_seconds(None, now) is None


def test_5xx_without_retry_after_backs_off_exponentially(
    replay_server: ReplayServer, clock: FakeClock
) -> None:
    replay_server.add("/api", body="[]", fail_first=3, fail_status=500)
    with make_client(clock, retries=3, backoff=1.0) as c:
        assert c.get(replay_server.url("/api")).text == "[]"
    assert clock.sleeps == [1.0, 2.0, 4.0]


def test_gives_up_naming_url_and_status(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/oai", {"verb": "ListRecords"}, fail_first=99, retry_after="5")
    with make_client(clock, retries=2) as c, pytest.raises(SourceError) as caught:
        c.get(replay_server.url("/oai"), {"verb": "ListRecords"})
    message = str(caught.value)
    assert f"{replay_server.url('/oai')}?verb=ListRecords" in message
    assert "HTTP 503" in message
    assert "3 attempts" in message
    assert len(replay_server.requests) == 3
    assert clock.sleeps == [5.0, 5.0]


def test_client_errors_are_not_retried(replay_server: ReplayServer, clock: FakeClock) -> None:
    with make_client(clock) as c, pytest.raises(SourceError, match="HTTP 404"):
        c.get(replay_server.url("/missing"))
    assert len(replay_server.requests) == 1
    assert clock.sleeps == []


def test_connection_errors_are_retried(clock: FakeClock) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with make_client(clock, retries=2, backoff=1.0) as c, pytest.raises(SourceError) as caught:
        c.get(f"http://127.0.0.1:{port}/oai")
    assert f"127.0.0.1:{port}/oai" in str(caught.value)
    assert "ConnectError" in str(caught.value)
    assert clock.sleeps == [1.0, 2.0]


def test_user_agent_names_paperlens(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add("/ping", body=b"ok")
    client.get(replay_server.url("/ping"))
    assert replay_server.requests[0].headers["User-Agent"] == USER_AGENT
    assert USER_AGENT.startswith("paperlens/")


def test_real_retry_after_wait(replay_server: ReplayServer) -> None:
    replay_server.add("/oai", body="<ok/>", fail_first=1, retry_after="1")
    started = time.monotonic()
    with PoliteClient(interval=0.0, retries=1) as c:
        assert c.get(replay_server.url("/oai")).text == "<ok/>"
    first, second = replay_server.requests
    assert second.at - first.at >= 1.0
    assert time.monotonic() - started >= 1.0


def test_client_from_settings() -> None:
    settings = Settings(request_interval=0.5, request_retries=2, request_timeout=9.0)
    with PoliteClient.from_settings(settings) as c:
        assert (c.interval, c.retries) == (0.5, 2)


# ---------------------------------------------------------------------------- OAI ----

QUERY = {
    "verb": "ListRecords",
    "metadataPrefix": "arXiv",
    "from": "2007-01-01",
    "until": "2023-12-31",
}
PAGE2 = {"verb": "ListRecords", "resumptionToken": "6960524|4"}
PAGE3 = {"verb": "ListRecords", "resumptionToken": "6960524|8"}
ALL_IDS = [
    "hep-th/9711200",
    "1706.03762",
    "2106.09685",
    "0704.0054",
    "deleted:cs/0112017",
    "rejected:record oai:arXiv.org:0704.0224",
    "0704.0498",
    "0704.0802",
    "0704.0062",
]


def serve_three_pages(server: ReplayServer) -> None:
    server.add("/oai", QUERY, fixture=OAI / "listrecords_page1.xml")
    server.add("/oai", PAGE2, fixture=OAI / "listrecords_page2.xml")
    server.add("/oai", PAGE3, fixture=OAI / "listrecords_page3.xml")


def oai_source(server: ReplayServer, client: PoliteClient) -> OaiSource:
    return OaiSource(
        server.url("/oai"), from_date=date(2007, 1, 1), until_date="2023-12-31", client=client
    )


def test_oai_follows_resumption_tokens_across_pages(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    serve_three_pages(replay_server)
    entries = list(oai_source(replay_server, client).entries())
    assert ids(entries) == ALL_IDS
    assert [r.params for r in replay_server.requests] == [QUERY, PAGE2, PAGE3]
    # the next page's token rides on the last entry of each page; the last page has none
    assert positions(entries) == [
        None,
        None,
        "6960524|4",
        None,
        None,
        None,
        "6960524|8",
        None,
        None,
    ]


def test_oai_resume_from_token_gives_exactly_the_rest(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    serve_three_pages(replay_server)
    entries = list(oai_source(replay_server, client).entries(resume_from="6960524|4"))
    assert ids(entries) == ALL_IDS[3:]
    assert [r.params for r in replay_server.requests] == [PAGE2, PAGE3]


def test_oai_record_fields(replay_server: ReplayServer, client: PoliteClient) -> None:
    serve_three_pages(replay_server)
    papers = {p.paper.id: p for p in parsed(list(oai_source(replay_server, client).entries()))}
    lora = papers["2106.09685"]
    assert lora.where == "record oai:arXiv.org:2106.09685"
    assert lora.paper.source == "arxiv-oai"
    assert lora.paper.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert lora.paper.authors[:2] == ("Edward J. Hu", "Yelong Shen")
    assert len(lora.paper.authors) == 8
    assert lora.paper.categories == ("cs.CL", "cs.AI", "cs.LG")
    assert lora.paper.published == datetime(2021, 6, 17, tzinfo=UTC)
    assert lora.paper.updated == datetime(2021, 10, 16, tzinfo=UTC)
    assert lora.paper.versions == ()  # the arXiv OAI format has no version list
    assert lora.paper.license == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert lora.paper.comments is not None
    assert "adapter latency" in lora.paper.comments
    assert lora.paper.abstract.startswith("An important paradigm of natural language")
    assert "\n" not in lora.paper.abstract

    old = papers["hep-th/9711200"].paper
    assert old.authors == ("Juan M. Maldacena",)
    assert old.doi == "10.1023/A:1026654312961"
    assert old.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert old.links["abs"] == "https://arxiv.org/abs/hep-th/9711200"

    # XML escapes come back as text; LaTeX is kept
    assert "$0<p\\le 1$, $0<q\\le \\infty$" in papers["0704.0054"].paper.abstract
    assert papers["0704.0054"].paper.title == "The Hardy-Lorentz Spaces $H^{p,q}(R^n)$"
    assert "Double Chooz (Phase I & II)" in papers["0704.0498"].paper.abstract
    assert papers["0704.0498"].paper.updated == datetime(2007, 12, 5, tzinfo=UTC)
    # suffixes go last; LaTeX accents in names become Unicode
    assert papers["0704.0802"].paper.authors[1] == "Robert W. Heath Jr"
    assert papers["0704.0062"].paper.authors == (
        "Rastislav Šrámek",
        "Broňa Brejová",
        "Tomáš Vinař",
    )


def test_oai_deleted_and_malformed_records(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    serve_three_pages(replay_server)
    entries = list(oai_source(replay_server, client).entries(resume_from="6960524|4"))
    deleted = [e for e in entries if isinstance(e, Deleted)]
    assert deleted == [Deleted("cs/0112017", "record oai:arXiv.org:cs/0112017")]
    rejected = [e for e in entries if isinstance(e, Rejected)]
    assert rejected == [Rejected("record oai:arXiv.org:0704.0224", "missing title")]
    # the records after the broken one are kept
    assert [p.paper.id for p in parsed(entries)] == [
        "0704.0054",
        "0704.0498",
        "0704.0802",
        "0704.0062",
    ]


def test_oai_sends_set_from_and_until(replay_server: ReplayServer, client: PoliteClient) -> None:
    query = {
        "verb": "ListRecords",
        "metadataPrefix": "arXiv",
        "from": "2021-10-18",
        "until": "2021-10-18",
        "set": "cs",
    }
    replay_server.add("/oai", query, fixture=OAI / "listrecords_set_cs.xml")
    source = OaiSource(
        replay_server.url("/oai"),
        from_date="2021-10-18",
        until_date=date(2021, 10, 18),
        set_spec="cs",
        client=client,
    )
    entries = list(source.entries())
    assert replay_server.requests[0].params == query
    assert ids(entries) == ["2106.09685"]
    assert positions(entries) == [None]


def test_oai_no_records_match_is_empty(replay_server: ReplayServer, client: PoliteClient) -> None:
    query = {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2099-01-01"}
    replay_server.add("/oai", query, fixture=OAI / "no_records_match.xml")
    source = OaiSource(replay_server.url("/oai"), from_date="2099-01-01", client=client)
    assert list(source.entries()) == []
    assert len(replay_server.requests) == 1


def test_oai_bad_resumption_token_restarts_from_the_beginning(
    replay_server: ReplayServer, client: PoliteClient, caplog: pytest.LogCaptureFixture
) -> None:
    serve_three_pages(replay_server)
    expired = {"verb": "ListRecords", "resumptionToken": "6960000|4"}
    replay_server.add("/oai", expired, fixture=OAI / "bad_resumption_token.xml")
    with caplog.at_level(logging.WARNING, logger="paperlens.sources.oai"):
        entries = list(oai_source(replay_server, client).entries(resume_from="6960000|4"))
    assert ids(entries) == ALL_IDS
    assert [r.params for r in replay_server.requests] == [expired, QUERY, PAGE2, PAGE3]
    assert "restarting the harvest" in caplog.text


def test_oai_other_errors_raise_with_code_and_message(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    query = {"verb": "ListRecords", "metadataPrefix": "arXiv", "set": "cs.LG"}
    replay_server.add("/oai", query, fixture=OAI / "bad_argument.xml")
    source = OaiSource(replay_server.url("/oai"), set_spec="cs.LG", client=client)
    with pytest.raises(SourceError, match=r"badArgument.*Set does not exist: cs\.LG"):
        list(source.entries())


def test_oai_empty_page_with_token_is_a_checkpoint(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    first = {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2021-10-18"}
    replay_server.add("/oai", first, fixture=OAI / "listrecords_empty_page.xml")
    replay_server.add(
        "/oai",
        {"verb": "ListRecords", "resumptionToken": "7011873|1"},
        fixture=OAI / "listrecords_set_cs.xml",
    )
    source = OaiSource(replay_server.url("/oai"), from_date="2021-10-18", client=client)
    entries = list(source.entries())
    assert entries[0] == Checkpoint("7011873|1")
    assert ids(entries[1:]) == ["2106.09685"]


def test_oai_waits_out_a_503_mid_harvest(replay_server: ReplayServer, clock: FakeClock) -> None:
    replay_server.add("/oai", QUERY, fixture=OAI / "listrecords_page1.xml")
    replay_server.add(
        "/oai", PAGE2, fixture=OAI / "listrecords_page2.xml", fail_first=1, retry_after="10"
    )
    replay_server.add("/oai", PAGE3, fixture=OAI / "listrecords_page3.xml")
    with make_client(clock, interval=3.0) as c:
        entries = list(oai_source(replay_server, c).entries())
    assert ids(entries) == ALL_IDS
    # 3 s between pages; the 503 costs a 10 s wait, after which the interval has passed
    assert clock.sleeps == [3.0, 10.0, 3.0]
    assert [r.params for r in replay_server.requests] == [QUERY, PAGE2, PAGE2, PAGE3]


def test_oai_key_identifies_url_range_and_set() -> None:
    base = OaiSource("https://oaipmh.arxiv.org/oai", from_date="2024-01-01", set_spec="cs")
    same = OaiSource("https://oaipmh.arxiv.org/oai", from_date=date(2024, 1, 1), set_spec="cs")
    assert base.key == same.key
    others = [
        OaiSource("http://export.arxiv.org/oai2", from_date="2024-01-01", set_spec="cs"),
        OaiSource("https://oaipmh.arxiv.org/oai", from_date="2024-01-02", set_spec="cs"),
        OaiSource("https://oaipmh.arxiv.org/oai", from_date="2024-01-01", set_spec="math"),
        OaiSource(
            "https://oaipmh.arxiv.org/oai",
            from_date="2024-01-01",
            until_date="2024-02-01",
            set_spec="cs",
        ),
    ]
    assert len({base.key, *(o.key for o in others)}) == 5


def test_oai_defaults_to_the_real_endpoint() -> None:
    assert OaiSource().base_url == "https://oaipmh.arxiv.org/oai"
    with pytest.raises(ValueError, match="from_date"):
        OaiSource(from_date="yesterday")


# ---------------------------------------------------------------------- arXiv API ----


def test_api_fetches_in_chunks(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/query",
        {"id_list": "2106.09685,1706.03762", "max_results": "2"},
        fixture=API / "lora_attention.xml",
    )
    replay_server.add(
        "/api/query",
        {"id_list": "hep-th/9711200,2106.99999", "max_results": "2"},
        fixture=API / "maldacena_missing.xml",
    )
    wanted = [
        "https://arxiv.org/abs/2106.09685",
        "1706.03762v5",
        "not-an-id",
        "arXiv:hep-th/9711200",
        "2106.99999",
        "2106.09685v1",  # a duplicate of the first
    ]
    source = ArxivApiSource(wanted, replay_server.url("/api/query"), client=client, chunk_size=2)
    entries = list(source.entries())
    assert ids(entries) == [
        "rejected:not-an-id",
        "2106.09685",
        "1706.03762",
        "hep-th/9711200",
        "rejected:2106.99999",
    ]
    assert isinstance(entries[0], Rejected)
    assert "not an arXiv id" in entries[0].reason
    assert entries[-1] == Rejected("2106.99999", "arXiv has no paper 2106.99999", "2")
    assert positions(entries) == [None, None, "1", None, "2"]
    assert [r.params["id_list"] for r in replay_server.requests] == [
        "2106.09685,1706.03762",
        "hep-th/9711200,2106.99999",
    ]


def test_api_entry_fields(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/query",
        {"id_list": "2106.09685,1706.03762", "max_results": "2"},
        fixture=API / "lora_attention.xml",
    )
    lora, attention = (
        e.paper
        for e in parsed(
            list(
                ArxivApiSource(
                    ["2106.09685", "1706.03762"], replay_server.url("/api/query"), client=client
                ).entries()
            )
        )
    )
    assert lora.source == "arxiv-api"
    assert lora.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert lora.categories == ("cs.CL", "cs.AI", "cs.LG")
    assert lora.published == datetime(2021, 6, 17, 17, 37, 18, tzinfo=UTC)
    assert lora.updated == datetime(2021, 10, 16, 18, 40, 34, tzinfo=UTC)
    assert lora.versions == (Version(1, lora.published), Version(2, lora.updated))
    assert lora.version == 2
    assert lora.links["abs"] == "http://arxiv.org/abs/2106.09685v2"
    assert lora.links["pdf"] == "http://arxiv.org/pdf/2106.09685v2"
    assert lora.comments == (
        "Draft V2 includes better baselines, experiments on GLUE, and more on adapter latency"
    )
    assert attention.version == 7
    assert attention.authors[-1] == "Illia Polosukhin"
    assert attention.categories == ("cs.CL", "cs.LG")


def test_api_old_style_id_with_doi_and_journal_ref(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    replay_server.add(
        "/api/query",
        {"id_list": "hep-th/9711200,2106.99999", "max_results": "2"},
        fixture=API / "maldacena_missing.xml",
    )
    source = ArxivApiSource(
        ["hep-th/9711200", "2106.99999"], replay_server.url("/api/query"), client=client
    )
    paper = parsed(list(source.entries()))[0].paper
    assert paper.id == "hep-th/9711200"
    assert paper.doi == "10.1023/A:1026654312961"
    assert paper.journal_ref == "Adv.Theor.Math.Phys.2:231-252,1998"
    assert paper.versions == (
        Version(1, datetime(1997, 11, 27, 22, 22, 59, tzinfo=UTC)),
        Version(3, datetime(1998, 1, 22, 18, 41, 42, tzinfo=UTC)),
    )


def test_api_error_entry_rejects_that_id_and_asks_again_for_the_rest(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    replay_server.add(
        "/api/query",
        {"id_list": "2106.09685,hep-th/9913001", "max_results": "2"},
        fixture=API / "error_bad_id.xml",
    )
    replay_server.add(
        "/api/query", {"id_list": "2106.09685", "max_results": "1"}, fixture=API / "lora.xml"
    )
    source = ArxivApiSource(
        ["2106.09685", "hep-th/9913001"], replay_server.url("/api/query"), client=client
    )
    entries = list(source.entries())
    assert ids(entries) == ["2106.09685", "rejected:hep-th/9913001"]
    assert entries[1] == Rejected("hep-th/9913001", "incorrect id format for hep-th/9913001", "1")
    assert [r.params["id_list"] for r in replay_server.requests] == [
        "2106.09685,hep-th/9913001",
        "2106.09685",
    ]


def test_api_empty_feed_means_not_found(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/query", {"id_list": "2106.99999", "max_results": "1"}, fixture=API / "empty.xml"
    )
    source = ArxivApiSource(["2106.99999"], replay_server.url("/api/query"), client=client)
    assert list(source.entries()) == [Rejected("2106.99999", "arXiv has no paper 2106.99999", "1")]


def test_api_bad_ids_are_rejected_before_any_request(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    source = ArxivApiSource(["1234.5678", "hello"], replay_server.url("/api/query"), client=client)
    entries = list(source.entries())
    assert [e.where for e in entries if isinstance(e, Rejected)] == ["1234.5678", "hello"]
    assert replay_server.requests == []


def test_api_resume_from_next_chunk(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/query",
        {"id_list": "hep-th/9711200,2106.99999", "max_results": "2"},
        fixture=API / "maldacena_missing.xml",
    )
    wanted = ["2106.09685", "1706.03762", "hep-th/9711200", "2106.99999", "bogus"]
    source = ArxivApiSource(wanted, replay_server.url("/api/query"), client=client, chunk_size=2)
    entries = list(source.entries(resume_from="1"))
    assert ids(entries) == ["hep-th/9711200", "rejected:2106.99999"]
    assert len(replay_server.requests) == 1
    assert list(source.entries(resume_from="2")) == []


def test_api_chunk_size_limit_and_key() -> None:
    with pytest.raises(ValueError, match="chunk_size"):
        ArxivApiSource(["2106.09685"], chunk_size=101)
    a = ArxivApiSource(["2106.09685", "1706.03762"], "http://x/api")
    assert a.key == ArxivApiSource(["2106.09685v2", "arXiv:1706.03762"], "http://x/api").key
    assert a.key != ArxivApiSource(["1706.03762", "2106.09685"], "http://x/api").key
    assert a.key != ArxivApiSource(["2106.09685", "1706.03762"], "http://y/api").key
    assert ArxivApiSource(["2106.09685"]).base_url == "https://export.arxiv.org/api/query"


def test_fetch_paper(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/query", {"id_list": "2106.09685", "max_results": "1"}, fixture=API / "lora.xml"
    )
    replay_server.add(
        "/api/query", {"id_list": "2106.99999", "max_results": "1"}, fixture=API / "empty.xml"
    )
    url = replay_server.url("/api/query")
    paper = fetch_paper("https://arxiv.org/abs/2106.09685v1", client, base_url=url)
    assert (paper.id, paper.version) == ("2106.09685", 2)
    with pytest.raises(NotOnArxiv, match=r"arXiv has no paper 2106\.99999"):
        fetch_paper("2106.99999", client, base_url=url)
    with pytest.raises(BadArxivId):
        fetch_paper("not an id", client, base_url=url)
    assert len(replay_server.requests) == 2


def test_fetch_paper_from_settings(replay_server: ReplayServer) -> None:
    replay_server.add(
        "/api/query", {"id_list": "2106.09685", "max_results": "1"}, fixture=API / "lora.xml"
    )
    settings = Settings(arxiv_api_base_url=replay_server.url("/api/query"), request_interval=0.0)
    assert fetch_paper("2106.09685", settings).title.startswith("LoRA")


# ------------------------------------------------------------------ HF daily papers ----

DAY = date(2024, 10, 25)


def hf_page(day: date, page: int, size: int) -> dict[str, str]:
    return {"date": day.isoformat(), "limit": str(size), "p": str(page)}


def test_hf_pages_through_a_full_day(replay_server: ReplayServer, client: PoliteClient) -> None:
    replay_server.add(
        "/api/daily_papers",
        hf_page(DAY, 0, 3),
        fixture=HF / "2024-10-25_p0.json",
        content_type="application/json",
    )
    replay_server.add(
        "/api/daily_papers",
        hf_page(DAY, 1, 3),
        fixture=HF / "2024-10-25_p1.json",
        content_type="application/json",
    )
    source = HfDailySource([DAY], replay_server.base_url, client=client, page_size=3)
    entries = list(source.entries())
    assert ids(entries) == ["2410.17243", "2410.16251", "2410.18533", "2410.18693", "2410.18798"]
    assert [r.params for r in replay_server.requests] == [hf_page(DAY, 0, 3), hf_page(DAY, 1, 3)]
    assert positions(entries) == [None, None, None, None, "2024-10-25"]

    first = parsed(entries)[0]
    assert first.listing == Listing("hf-daily", DAY, upvotes=64, comments=3)
    assert first.where == "hf-daily 2024-10-25 item 0"
    paper = first.paper
    assert paper.source == "hf-daily"
    assert paper.title == (
        "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    )
    assert paper.authors[0] == "Zesen Cheng"
    assert len(paper.authors) == 9
    assert paper.categories == ()  # HF gives none
    assert paper.published == datetime(2024, 10, 22, 17, 59, 30, tzinfo=UTC)
    assert paper.links["abs"] == "https://arxiv.org/abs/2410.17243"
    last = parsed(entries)[-1]
    assert last.listing == Listing("hf-daily", DAY, upvotes=17, comments=5)
    assert "20k Q&A pairs" in last.paper.abstract


def test_hf_bad_items_are_rejected_and_the_rest_kept(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    replay_server.add(
        "/api/daily_papers",
        hf_page(DAY, 0, 100),
        fixture=HF / "2024-10-25_damaged.json",
        content_type="application/json",
    )
    entries = list(HfDailySource([DAY], replay_server.base_url, client=client).entries())
    assert ids(entries) == [
        "rejected:hf-daily 2024-10-25 item 0",
        "2410.18745",
        "rejected:hf-daily 2024-10-25 item 2",
    ]
    first, _, last = entries
    assert isinstance(first, Rejected)
    assert first.reason == "missing paper id"
    assert isinstance(last, Rejected)
    assert "not an arXiv id" in last.reason
    assert last.position == "2024-10-25"
    assert len(replay_server.requests) == 1  # 3 items < 100: no second page


def test_hf_resume_skips_completed_days_and_empty_days_checkpoint(
    replay_server: ReplayServer, client: PoliteClient
) -> None:
    saturday = date(2024, 10, 26)
    for page, name in ((0, "2024-10-25_p0.json"), (1, "2024-10-25_p1.json")):
        replay_server.add(
            "/api/daily_papers",
            hf_page(DAY, page, 3),
            fixture=HF / name,
            content_type="application/json",
        )
    replay_server.add(
        "/api/daily_papers",
        hf_page(saturday, 0, 3),
        fixture=HF / "empty_day.json",
        content_type="application/json",
    )
    days = [saturday, date(2024, 10, 24), DAY]  # any order; read oldest first
    source = HfDailySource(days, replay_server.base_url, client=client, page_size=3)
    entries = list(source.entries(resume_from="2024-10-24"))
    assert len(parsed(entries)) == 5
    assert entries[-1] == Checkpoint("2024-10-26")
    assert [r.params["date"] for r in replay_server.requests] == [
        "2024-10-25",
        "2024-10-25",
        "2024-10-26",
    ]
    assert list(source.entries(resume_from="2024-10-26")) == []


def test_hf_key_and_defaults() -> None:
    a = HfDailySource([DAY, date(2024, 10, 24)], "https://huggingface.co")
    assert a.key == HfDailySource([date(2024, 10, 24), DAY], "https://huggingface.co/").key
    assert a.key != HfDailySource([DAY], "https://huggingface.co").key
    assert HfDailySource([DAY]).url == "https://huggingface.co/api/daily_papers"

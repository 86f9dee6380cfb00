"""Issue 12, as an attacker would try it against the web app and its services: forged
``Host`` headers, ids out of range, non-Latin download names, forged ``X-Forwarded-For``
through a real uvicorn server, control and bidi characters in what readers type, and
records too large to be papers. Each test failed before its fix."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import feedparser
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from conftest import HOSTILE_ID
from corpus import sample_records, write_jsonl
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.digest import clean_search
from paperlens.feeds import FeedPaper, FeedSpec, render_feed
from paperlens.library import bibtex_entry
from paperlens.paper import make_paper
from paperlens.sources.base import Parsed, Rejected
from paperlens.sources.jsonl import JsonlSource
from paperlens.sources.snapshot import SnapshotSource
from paperlens.web import create_app
from serving import start_serve

PASSWORD = "correct horse battery staple 42"
TOKEN_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client: TestClient, path: str = "/") -> str:
    match = TOKEN_RE.search(client.get(path).text)
    assert match, "no CSRF field on " + path
    return match.group(1)


def sign_up(client: TestClient) -> str:
    """Sign a new reader up in ``client``; returns a CSRF token for its requests."""
    email = f"hardening-{uuid.uuid4().hex[:10]}@example.org"
    data = {"email": email, "password": PASSWORD, "csrf_token": csrf(client, "/signup")}
    r = client.post("/signup", data=data, follow_redirects=False)
    assert r.status_code == 200, r.text[:300]  # "check your inbox": sign-up only mails
    login = {"email": email, "password": PASSWORD, "csrf_token": csrf(client, "/login")}
    r = client.post("/login", data=login, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    return csrf(client)


@pytest.fixture
def reader(web_app: Any) -> Iterator[tuple[TestClient, str]]:
    """A signed-in reader's browser and its CSRF token."""
    with TestClient(web_app, raise_server_exceptions=False) as c:
        yield c, sign_up(c)


# -- 4. links never follow the Host header -----------------------------------------------


FEEDS = ["/feeds/daily.xml", "/feeds/daily.xml?format=rss", "/feeds/search.xml?q=Jerry"]


@pytest.mark.parametrize("path", FEEDS)
def test_feed_links_ignore_a_forged_host_header(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Host": "evil.example"})
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    assert "evil.example" not in r.text
    hrefs = re.findall(r'(?:href="|<link>|<guid[^>]*>|<id>)([^"<]+)', r.text)
    assert hrefs and all(h.startswith("http://127.0.0.1:8000/") for h in hrefs), hrefs


@pytest.fixture
def public_app(tmp_path: Path, database_url: str) -> Iterator[TestClient]:
    """The app of a server whose public URL is set: https://papers.example.org."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url="https://papers.example.org/",
    )
    lens = PaperLens(settings)
    records = sample_records("arxiv-snapshot-sample", 3)
    lens.ingest(SnapshotSource(write_jsonl(tmp_path / "snapshot.jsonl", records)))
    app = create_app(lens, rate_limit=None, auth_limits=None)
    with TestClient(app, base_url="https://papers.example.org") as c:
        yield c
    lens.close()


def test_unknown_hosts_are_refused_once_the_public_url_is_set(public_app: TestClient) -> None:
    for host in ("evil.example", "papers.example.org.evil.example", "127.0.0.2"):
        r = public_app.get("/feeds/daily.xml", headers={"Host": host})
        assert r.status_code == 400, host
        assert "evil" not in r.text
    # The public host, with or without a port, and the machine's own names are served.
    for host in ("papers.example.org", "PAPERS.example.org:443", "localhost:8000", "[::1]:8000"):
        assert public_app.get("/", headers={"Host": host}).status_code == 200, host
    feed = feedparser.parse(public_app.get("/feeds/daily.xml").content)
    links = [e.link for e in feed.entries]
    assert links and all(x.startswith("https://papers.example.org/paper/") for x in links)


def test_allowed_hosts_follow_the_public_url() -> None:
    assert Settings().allowed_hosts() is None  # default: any host, links on the default
    assert Settings(public_url="http://[2001:db8::1]:8080").allowed_hosts() == [
        "[2001:db8::1]",
        "localhost",
        "127.0.0.1",
        "[::1]",
    ]
    with pytest.raises(ValidationError, match="public_url"):
        Settings(public_url="papers.example.org")


# -- 5. ids out of range or not numbers: 404 (pages, feeds) or 422 (API), never 500 -----

BAD_IDS = ["99999999999999999999", "2147483648", "-1", "0", "abc", "1e3", "%E2%80%AE1"]
PAGE_ROUTES = [
    ("GET", "/c/{}"),
    ("GET", "/c/{}/export.bib"),
    ("GET", "/c/{}/export.json"),
    ("POST", "/c/{}/settings"),
    ("GET", "/feeds/c/{}.xml"),
    ("POST", "/settings/tokens/{}/revoke"),
]
API_ROUTES = [
    ("GET", "/api/v1/collections/{}"),
    ("PATCH", "/api/v1/collections/{}"),
    ("DELETE", "/api/v1/collections/{}"),
    ("PUT", f"/api/v1/collections/{{}}/papers/{HOSTILE_ID}"),
    ("DELETE", f"/api/v1/collections/{{}}/papers/{HOSTILE_ID}"),
    ("GET", "/api/v1/collections/{}/export"),
]


@pytest.mark.parametrize(("method", "route"), PAGE_ROUTES + API_ROUTES)
def test_every_route_bounds_its_ids(
    reader: tuple[TestClient, str], method: str, route: str
) -> None:
    client, token = reader
    expected = 422 if route.startswith("/api/") else 404
    for bad in BAD_IDS:
        kwargs: dict[str, Any] = {"headers": {"x-csrf-token": token}}
        if method == "PATCH":
            kwargs["json"] = {"name": "renamed"}
        if method == "POST":
            kwargs = {"data": {"csrf_token": token, "name": "renamed"}}
        r = client.request(method, route.format(bad), follow_redirects=False, **kwargs)
        assert r.status_code == expected, (method, route, bad, r.status_code, r.text[:200])


PAPER_ROUTES = [
    ("GET", "/paper/{}"),
    ("GET", "/api/v1/papers/{}"),
    ("GET", "/api/v1/papers/{}/similar"),
    ("POST", "/api/v1/papers/{}/vote"),
    ("DELETE", "/api/v1/papers/{}/not-interested"),
    ("PATCH", "/api/v1/library/papers/{}"),
]
BAD_PAPER_IDS = [*BAD_IDS, "%00", "x%0Ay", "2106.09685%00", "x" * 5000, "..%2F..%2Fetc"]


@pytest.mark.parametrize(("method", "route"), PAPER_ROUTES)
def test_paper_ids_out_of_shape_are_not_found(
    reader: tuple[TestClient, str], method: str, route: str
) -> None:
    client, token = reader
    for bad in BAD_PAPER_IDS:
        kwargs: dict[str, Any] = {"headers": {"x-csrf-token": token}}
        if method == "PATCH":
            kwargs["json"] = {"note": "n"}
        r = client.request(method, route.format(bad), follow_redirects=False, **kwargs)
        assert r.status_code == 404, (method, route, bad[:40], r.status_code, r.text[:200])


@pytest.mark.parametrize("bad", ["99999999999999999999", "2147483648", "0", "-5"])
def test_form_collection_numbers_are_bounded(reader: tuple[TestClient, str], bad: str) -> None:
    client, token = reader
    data = {"csrf_token": token, "paper": HOSTILE_ID, "collection": bad}
    r = client.post("/library/save", data=data, follow_redirects=False)
    assert r.status_code == 404, r.text[:200]
    data["collection"] = "abc"
    assert client.post("/library/save", data=data, follow_redirects=False).status_code == 400


# -- 6. a download named in any script ------------------------------------------------------


def _filename(header: str) -> tuple[str, str]:
    """The name a browser takes (``filename*`` first, RFC 6266) and the ASCII fallback."""
    assert header.isascii() and "\n" not in header and "\r" not in header, header
    fallback = re.search(r'; filename="([^"\\]*)"', header)
    assert fallback, header
    full = re.search(r"; filename\*=UTF-8''([A-Za-z0-9%._~!$&+^`|-]+)$", header)
    return (unquote(full.group(1), errors="strict") if full else fallback.group(1)), fallback.group(
        1
    )


def test_export_of_a_collection_named_in_any_script(client: TestClient, indexed_lens: Any) -> None:
    owner = indexed_lens.accounts.create_user(f"nihon-{uuid.uuid4().hex[:8]}@example.org", PASSWORD)
    c = indexed_lens.library.create(owner.pk, 'Papers 日本 "é" ; x', public=True)
    indexed_lens.library.save(owner.pk, indexed_lens.paper(HOSTILE_ID).pk, c.pk)
    urls = {
        "bib": f"/c/{c.pk}/export.bib",
        "json": f"/api/v1/collections/{c.pk}/export?format=json",
    }
    for ext, url in urls.items():
        r = client.get(url)
        assert r.status_code == 200, r.text[:200]
        name, fallback = _filename(r.headers["content-disposition"])
        assert name == f"Papers-日本-é-x-{c.pk}.{ext}"
        assert fallback == f"Papers-e-x-{c.pk}.{ext}"
    plain = indexed_lens.library.create(owner.pk, "Reading list", public=True)
    header = client.get(f"/c/{plain.pk}/export.bib").headers["content-disposition"]
    assert header == f'attachment; filename="Reading-list-{plain.pk}.bib"'


# -- 9. X-Forwarded-For is believed only from trusted proxies -------------------------------


@contextmanager
def served(settings: Settings, limit: str) -> Iterator[str]:
    """The app on ``settings``, run as ``paperlens serve`` runs it, on a free loopback
    port with an API limit of ``limit``; yields its URL."""
    import uvicorn

    from paperlens.cli.serve import uvicorn_config

    lens = PaperLens(settings)
    app = create_app(lens, rate_limit=limit)
    config = uvicorn_config(app, settings)
    config.lifespan = "off"
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        lens.close()


def _statuses(url: str, n: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [
            http.get("/api/v1/stats", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
            for i in range(1, n + 1)
        ]


def _signup_statuses(url: str, n: int) -> list[int]:
    """Sign-up attempts (refused as empty, but counted first) from rotating addresses."""
    with httpx.Client(base_url=url, timeout=30) as http:
        match = TOKEN_RE.search(http.get("/signup").text)
        assert match
        return [
            http.post(
                "/signup",
                data={"csrf_token": match.group(1), "email": ""},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            ).status_code
            for i in range(1, n + 1)
        ]


@pytest.mark.parametrize("trusted", ["", "127.0.0.1", "10.0.0.0/8"])
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    tmp_path: Path, database_url: str, trusted: str
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, trusted_proxies=trusted
    )
    with served(settings, "3/minute") as url:
        statuses = _statuses(url, 5)
        signups = _signup_statuses(url, 7)
    if trusted == "127.0.0.1":  # nginx on this machine: each reader counted apart
        assert statuses == [200] * 5
        assert signups == [400] * 7
    else:  # the header is the client's own claim: one client, one count
        assert statuses == [200, 200, 200, 429, 429]
        assert signups == [400] * 5 + [429] * 2


def test_paperlens_serve_ignores_forwarded_for_by_default(
    tmp_path: Path, database_url: str
) -> None:
    """The command itself: before, uvicorn's default trusted loopback, so rotating the
    header from this machine gave every request a fresh count."""
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(tmp_path / "data"),
        "PAPERLENS_DATABASE_URL": database_url,
    }
    env.pop("PAPERLENS_TRUSTED_PROXIES", None)
    env.pop("FORWARDED_ALLOW_IPS", None)
    proc, base = start_serve(env, "--rate-limit", "3/minute")
    try:
        assert _statuses(base, 5) == [200, 200, 200, 429, 429]
        assert _signup_statuses(base, 7) == [400] * 5 + [429] * 2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_trusted_proxies_must_be_addresses() -> None:
    assert Settings(trusted_proxies=" 127.0.0.1, ::1 ,10.0.0.0/8").trusted_proxies == (
        "127.0.0.1,::1,10.0.0.0/8"
    )
    with pytest.raises(ValidationError, match=r"nginx\.internal"):
        Settings(trusted_proxies="127.0.0.1,nginx.internal")


# -- 14. control and bidi characters in what readers type ----------------------------------

HOSTILE_NAME = "Re\x00ad\u202egnp.exe\u2066x\u2069\x85\x1b[31m \t list"


def test_names_and_notes_lose_control_and_bidi_characters(settings: Settings) -> None:
    """At the service, on SQLite and PostgreSQL (where a NUL is refused outright)."""
    lens = PaperLens(settings)
    try:
        lens.ingest(
            JsonlSource(
                write_jsonl(
                    settings.data_dir.parent / "p.jsonl",
                    [{"id": "test:note-1", "title": "A paper", "abstract": "x"}],
                )
            )
        )
        pk = lens.paper("test:note-1").pk
        user = lens.accounts.create_user(
            "bidi@example.org", PASSWORD, display_name="\u202eMal\x00lory\ud800"
        )
        assert lens.accounts.get_user(user.pk).display_name == "Mallory"
        lens.accounts.set_display_name(user.pk, "Eve\u2067\x07 \x9b Ann")
        assert lens.accounts.get_user(user.pk).display_name == "Eve Ann"
        made = lens.library.create(user.pk, HOSTILE_NAME)
        assert made.name == "Readgnp.exex[31m list"
        renamed = lens.library.update(user.pk, made.pk, name="\x00\u202a New \u202c\x00")
        assert renamed.name == "New"
        with pytest.raises(ValueError, match="needs a name"):
            lens.library.create(user.pk, "\u202e\x00\u2069")
        note = "line one\r\n\tline\x00 two\u202e\ud800\x7f\rend"
        lens.library.set_note(user.pk, pk, note)
        assert lens.library.notes(user.pk, [pk])[pk].note == "line one\n\tline two\nend"
        lens.accounts.create_api_token(user.pk, "laptop\u202e\x00 \x9b key")
        assert [t.name for t in lens.accounts.list_api_tokens(user.pk)] == ["laptop key"]
    finally:
        lens.close()


def test_saved_searches_lose_bidi_and_c1_characters() -> None:
    search = clean_search("sparse\u202e attention\x9b", "cs.LG\u2066", "Ho\u202c")
    assert (search.query, search.categories, search.author) == (
        "sparse attention",
        ("cs.LG",),
        "Ho",
    )


def test_api_note_with_nul_bidi_and_lone_surrogate(reader: tuple[TestClient, str]) -> None:
    client, token = reader
    headers = {"content-type": "application/json", "x-csrf-token": token}
    url = f"/api/v1/library/papers/{HOSTILE_ID}"
    body = '{"note": "ok\\u0000 \\u2066fine\\u202e", "read": true}'
    r = client.patch(url, content=body, headers=headers)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"note": "ok fine", "read": True}
    # A lone surrogate has no UTF-8 form: refused with a message, never a 500.
    r = client.patch(url, content='{"note": "\\ud800"}', headers=headers)
    assert r.status_code == 422 and "note" in r.json()["detail"]


# -- the rest of the checklist: RSS escaping, BibTeX braces, record sizes -------------------


def test_rss_description_is_escaped_once() -> None:
    plain = "We bound a & b < c for n > 3; AT&T's x<y case and &amp; stay text."
    hostile = "<script>alert(1)</script> and <b>bold</b> &copy2 &#60;"
    papers = [
        make_paper(id="test:rss-1", title="Plain", abstract=plain, source="t"),
        make_paper(id="test:rss-2", title="Hostile", abstract=hostile, source="t"),
    ]
    spec = FeedSpec("t", "d", "http://h/", "http://h/f.xml")
    xml = render_feed(spec, [FeedPaper(p) for p in papers], "http://h", "rss").decode()
    # Once escaped in the XML: a lone "&" is "&amp;", "a < b" is "&lt;", nothing doubled.
    assert "We bound a &amp; b &lt; c for n &gt; 3;" in xml
    entries = feedparser.parse(xml).entries
    # ... and read back as the abstract itself (feedparser gives the HTML a reader shows).
    assert entries[0].summary.startswith("We bound a & b < c for n > 3;")
    # Markup in an abstract stays text for a reader: no tag, and it unescapes to itself.
    assert "<script" not in entries[1].summary and "<b>" not in entries[1].summary
    assert html.unescape(entries[0].summary) == plain
    assert html.unescape(entries[1].summary) == hostile


def _bibtex_fields(entry: str) -> dict[str, str]:
    """The fields of one entry, read as BibTeX reads them: a braced value ends at the
    brace that balances its opening one, backslash or not."""
    head = re.match(r"@(\w+)\{([^,\s]+),\n", entry)
    assert head, entry
    fields: dict[str, str] = {}
    pos = head.end()
    while True:
        m = re.compile(r"\s*(\w+) = \{").match(entry, pos)
        if not m:
            break
        depth, i = 1, m.end()
        while depth:
            assert i < len(entry), f"field {m.group(1)} never ends: {entry!r}"
            depth += {"{": 1, "}": -1}.get(entry[i], 0)
            i += 1
        fields[m.group(1)] = entry[m.end() : i - 1]
        pos = i + 1 if entry[i : i + 1] == "," else i
    assert entry[pos:].strip() == "}", f"junk after the fields: {entry[pos:]!r}"
    return fields


@pytest.mark.parametrize(
    "title",
    [
        "Sets {x | x > 0",
        "Closing } first { then",
        r"Escaped \{ alone",
        r"Math $\{x$ open",
        r"Balanced {BERT} and $\{x\}$ stay",
        "}}}{{{",
        "ends with a backslash \\",
    ],
)
def test_bibtex_export_stays_parseable(title: str) -> None:
    p = make_paper(
        id="2106.09685",
        title=title,
        abstract="",
        authors=["Ada {Lovelace", "Alan Turing}"],
        doi="10.1/x}y",
        journal_ref="J. {Odd",
        source="t",
    )
    entry = bibtex_entry(p, set())
    fields = _bibtex_fields(entry)
    assert set(fields) == {"title", "author", "eprint", "archivePrefix", "url", "doi", "journal"}
    if "{BERT}" in title:
        assert fields["title"] == r"Balanced {BERT} and $\{x\}$ stay"


def test_oversized_records_are_rejected_with_the_reason(tmp_path: Path) -> None:
    good = sample_records("ml-abstracts-1000", 1)[0]
    path = write_jsonl(
        tmp_path / "big.jsonl",
        [
            {**good, "id": "test:big-title", "title": "T" * 2_000_000},
            {**good, "id": "test:big-abstract", "abstract": "word " * 20_000},
            {**good, "id": "test:big-author", "authors": ["A" * 5_000]},
            {**good, "id": "test:many-authors", "authors": ["A B"] * 30_000},
            {**good, "id": "test:fine", "title": "x " * 900 + "end"},
        ],
    )
    entries = list(JsonlSource(path).entries())
    rejected = {e.where: e.reason for e in entries if isinstance(e, Rejected)}
    assert rejected == {
        "big.jsonl line 1": "title too long (2,000,000 characters; at most 2,000)",
        "big.jsonl line 2": "abstract too long (100,000 characters; at most 50,000)",
        "big.jsonl line 3": "author name too long (5,000 characters; at most 1,000)",
        "big.jsonl line 4": "too many authors (30,000; at most 20,000)",
    }
    assert [e.paper.id for e in entries if isinstance(e, Parsed)] == ["test:fine"]
    assert json.dumps(rejected)  # reasons are plain text


def test_rss_channel_description_keeps_a_collection_name_as_text(
    client: TestClient, indexed_lens: Any
) -> None:
    owner = indexed_lens.accounts.create_user(f"rss-{uuid.uuid4().hex[:8]}@example.org", PASSWORD)
    name = "<img src=x onerror=alert(1)> & co"
    c = indexed_lens.library.create(owner.pk, name, public=True)
    feed = feedparser.parse(client.get(f"/feeds/c/{c.pk}.xml?format=rss").content)
    assert "<img" not in feed.feed.subtitle
    assert name in html.unescape(feed.feed.subtitle)
    assert feed.feed.title == f"paperlens collection: {name}"

"""The HTML pages: feed, search, paper; escaping, highlighting, errors, theme, the
"new" badge, and the page-weight and no-outside-request budgets."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import HOSTILE_ID, UPVOTED_VOTES, WebCorpus
from paperlens.web.highlight import highlight, query_terms, snippet
from paperlens.web.rendering import fmt_day
from serving import start_serve

STATIC = Path(__file__).parents[1] / "src" / "paperlens" / "web" / "static"
BUDGET = 200_000
PAGES = ["/", "/search?q=neural+networks", f"/paper/{HOSTILE_ID}", "/paper/0704.0001"]


def html(client: TestClient, url: str, status: int = 200) -> str:
    r = client.get(url)
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def main_of(page: str) -> str:
    return page.split('<main id="main"', 1)[1].split("</main>", 1)[0]


# -- home / daily feed -----------------------------------------------------------------


def test_home_shows_the_newest_day(client: TestClient, web_corpus: WebCorpus) -> None:
    page = html(client, "/")
    day = web_corpus.latest_day
    assert f'<h2 id="day-heading" class="day-heading">{fmt_day(day)} ' in page
    assert fmt_day(day) == f"{day:%b} {day.day}"  # "Apr 13"
    assert 'rel="prev" href="/?date=' in page
    assert "Newest day" in page
    assert f"▲</span> {UPVOTED_VOTES}" in page
    # newest first: the hostile paper (23:00) leads, escaped
    body = main_of(page)
    assert body.index(f'href="/paper/{HOSTILE_ID.replace(":", "%3A")}"') < body.index(
        f'href="/paper/{web_corpus.upvoted_id}"'
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>alert" not in page


def test_home_pages_through_days(client: TestClient) -> None:
    page = html(client, "/")
    prev = re.search(r'rel="prev" href="/\?date=([\d-]+)"', page)
    assert prev is not None
    older = html(client, f"/?date={prev.group(1)}")
    assert 'rel="next" href="/?date=' in older
    day = client.get("/api/v1/daily").json()
    while day["pages"] == 1 and day["previous"]:
        day = client.get("/api/v1/daily", params={"date": day["previous"]}).json()
    first = html(client, f"/?date={day['date']}")
    assert f'rel="next" href="/?date={day["date"]}&amp;page=2"' in first
    paged = html(client, f"/?date={day['date']}&page=2")
    assert f"Page 2 of {day['pages']}" in paged
    assert 'rel="prev" href="/?date=' in paged


@pytest.mark.parametrize("query", ["date=yesterday", "date=2007-02-30", "page=0", "page=x"])
def test_home_bad_input_is_a_friendly_400(client: TestClient, query: str) -> None:
    page = html(client, f"/?{query}", status=400)
    assert "Bad request" in page and 'href="/"' in page


def test_new_badge_since_last_visit(client: TestClient) -> None:
    first = html(client, "/")
    assert 'class="badge-new"' not in first  # a first visit has nothing to compare with
    assert "pl_last_seen" in client.cookies
    client.cookies.clear()
    client.cookies.set("pl_last_seen", "2000-01-01T00:00:00+00:00")
    returning = html(client, "/")
    assert main_of(returning).count('class="badge-new"') >= 10
    assert "new since your last visit" in returning
    # within the same visit the baseline holds, so the badges stay
    again = html(client, "/")
    assert 'class="badge-new"' in main_of(again)


# -- search -----------------------------------------------------------------------------


def test_search_results_highlight_terms(client: TestClient) -> None:
    page = html(client, "/search?q=neural+networks")
    body = main_of(page)
    assert re.search(r"[\d,]+ results? · hybrid · \d+ ms", body)
    assert "<mark>" in body and re.search(r"<mark>[Nn]etwork", body)
    assert 'value="neural networks"' in body
    assert 'name="mode" value="hybrid" checked' in body
    assert 'rel="next"' in body


def test_search_says_about_when_the_total_is_estimated(client: TestClient) -> None:
    def summary(url: str) -> str:
        found = re.search(r'<p class="summary">(.*?)</p>', html(client, url), re.S)
        assert found is not None
        return found.group(1).strip()

    assert re.fullmatch(
        r"about [\d,]+ results · lexical · \d+ ms", summary("/search?q=the&mode=lexical")
    )
    filtered = summary("/search?q=the&mode=lexical&category=hep-ph")
    assert re.fullmatch(r"[\d,]+ results? · lexical · \d+ ms", filtered)
    past = html(client, "/search?q=Jerry&mode=lexical&page=9")
    assert "This page is past the last result." in past
    assert re.fullmatch(
        r"1 result · lexical · \d+ ms", summary("/search?q=Jerry&mode=lexical&page=9")
    )


def test_search_mode_and_filters(client: TestClient) -> None:
    body = main_of(html(client, "/search?q=Jerry&mode=lexical&category=cs.CR"))
    assert 'name="mode" value="lexical" checked' in body
    assert HOSTILE_ID.replace(":", "%3A") in body
    assert '<details class="filters" open>' in body
    browse = main_of(html(client, "/search?author=Balazs"))
    assert "/paper/0704.0001" in browse


def test_empty_search_gets_a_hint_not_an_error(client: TestClient) -> None:
    body = main_of(html(client, "/search"))
    assert "Type a few words" in body
    assert main_of(html(client, "/search?q=+++")).count("Type a few words") == 1


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("q=" + "x" * 1500, "too long"),
        ("q=x&page=999999", "must be between"),
        ("q=x&page=abc", "whole number"),
        ("q=x&since=tomorrow", "YYYY-MM-DD"),
        ("q=x&since=2007-05-01&until=2007-04-01", "is after"),
        ("q=x&mode=telepathic", "Unknown mode"),
    ],
)
def test_absurd_search_input_gets_a_message_on_the_form(
    client: TestClient, query: str, needle: str
) -> None:
    body = main_of(html(client, f"/search?{query}", status=400))
    assert needle in body
    assert 'role="alert"' in body and '<input id="q"' in body


@pytest.mark.parametrize(
    "q", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' OR 1=1 --", "((("]
)
def test_hostile_search_is_echoed_escaped(client: TestClient, q: str) -> None:
    r = client.get("/search", params={"q": q})
    assert r.status_code == 200
    if any(ch in q for ch in "<>\"'"):
        assert q not in r.text
    assert "<script>alert" not in r.text and "<img src=x" not in r.text


def test_no_results_message(client: TestClient) -> None:
    body = main_of(html(client, "/search?q=zzqxv&mode=lexical"))
    assert "No papers match" in body and "Try fewer" in body


# -- paper page --------------------------------------------------------------------------


def test_paper_page(client: TestClient) -> None:
    page = html(client, "/paper/0704.0001")
    body = main_of(page)
    assert '<h1 id="paper-title" class="math">Calculation of prompt diphoton' in body
    assert "C. Balázs" in body
    assert 'href="https://arxiv.org/abs/0704.0001"' in body
    assert 'href="https://arxiv.org/pdf/0704.0001' in body
    assert 'href="https://doi.org/10.1103/PhysRevD.76.013009"' in body
    assert "Submitted" in body and "Apr 2, 2007" in body
    similar = body.split('id="similar-heading"', 1)[1]
    assert similar.count('<article class="paper">') == 8
    assert 'class="snippet math"' in similar


def test_paper_page_escapes_hostile_text(client: TestClient) -> None:
    page = html(client, f"/paper/{HOSTILE_ID}")
    body = main_of(page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; Jerry" in body
    assert "$\\alpha &lt; \\beta$" in body
    assert "&lt;img src=x onerror=alert(2)&gt;" in body
    assert "Mallory &lt;b&gt;Evil&lt;/b&gt;" in body
    assert "<script>" not in body and "<img" not in body and "<b>" not in body
    assert "javascript:" not in page  # a source's url that is not http(s) is no link
    assert "katex.min.js" in page  # the page has math


def test_unknown_paper_is_a_friendly_404(client: TestClient) -> None:
    page = html(client, "/paper/9999.99999", status=404)
    assert "Paper not found" in page and "9999.99999" in page


def test_unknown_page_is_a_friendly_404(client: TestClient) -> None:
    page = html(client, "/no/such/page", status=404)
    assert "Page not found" in page and '<form role="search"' in page


# -- theme -------------------------------------------------------------------------------


def csrf_token(client: TestClient) -> str:
    """The CSRF token the header's forms carry (every POST form needs it)."""
    match = re.search(r'name="csrf_token" value="([^"]+)"', html(client, "/"))
    assert match
    return match.group(1)


def test_theme_switch_without_javascript(client: TestClient) -> None:
    data = {"theme": "dark", "next": "/search?q=x", "csrf_token": csrf_token(client)}
    r = client.post("/theme", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/search?q=x"
    assert '<html lang="en" data-theme="dark">' in html(client, "/")
    data = {"theme": "auto", "next": "/", "csrf_token": csrf_token(client)}
    client.post("/theme", data=data, follow_redirects=False)
    assert '<html lang="en">' in html(client, "/")


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", "x"])
def test_theme_switch_is_no_open_redirect(client: TestClient, target: str) -> None:
    data = {"theme": "light", "next": target, "csrf_token": csrf_token(client)}
    r = client.post("/theme", data=data, follow_redirects=False)
    assert r.headers["location"] == "/"


def test_bad_theme_is_400(client: TestClient) -> None:
    data = {"theme": "neon", "csrf_token": csrf_token(client)}
    assert client.post("/theme", data=data).status_code == 400


def test_theme_switch_needs_the_csrf_token(client: TestClient) -> None:
    r = client.post("/theme", data={"theme": "dark", "next": "/"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    assert '<html lang="en">' in html(client, "/")


# -- accessibility basics ------------------------------------------------------------------


@pytest.mark.parametrize("url", [*PAGES, "/search", "/nope"])
def test_every_input_has_a_label_and_landmarks(client: TestClient, url: str) -> None:
    page = client.get(url).text
    assert '<html lang="en"' in page
    assert 'class="skip-link" href="#main"' in page
    assert "<header" in page and "<main" in page and "<footer" in page and "<nav" in page
    ids = re.findall(r'<input id="([^"]+)"', page)
    for input_id in ids:
        assert f'<label for="{input_id}"' in page or f'for="{input_id}"' in page, input_id
    unlabeled = re.findall(r"<input(?![^>]*\b(?:id|type=\"hidden\"|type=\"radio\"))[^>]*>", page)
    assert unlabeled == []


# -- budgets ------------------------------------------------------------------------------


def _assets(page: str) -> list[str]:
    css = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    js = re.findall(r'<script[^>]* src="([^"]+)"', page)
    return css + js


@pytest.mark.parametrize("url", PAGES)
def test_page_weight_under_budget(client: TestClient, url: str) -> None:
    """HTML + CSS + JS as sent (gzip, as every browser asks for it), fonts excluded:
    KaTeX loads only the few it needs, lazily."""
    headers = {"accept-encoding": "gzip"}
    r = client.get(url, headers=headers)
    sent = r.num_bytes_downloaded
    raw = len(r.content)
    for asset in _assets(r.text):
        a = client.get(asset, headers=headers)
        assert a.status_code == 200, asset
        sent += a.num_bytes_downloaded
        raw += len(a.content)
    print(f"{url}: {sent:,} bytes sent, {raw:,} uncompressed")
    assert sent < BUDGET


#: Hosts a paper's code and artifact links may point at (shown as links, never loaded).
CODE_HOSTS = {"github.com", "gitlab.com", "huggingface.co", "zenodo.org"}


def _outside_urls(text: str) -> list[str]:
    found = re.findall(r'(?:src|href|action)="([^"]*)"', text)
    found += re.findall(r"url\(([^)]*)\)", text)
    outside = []
    for url in found:
        parts = urlsplit(url.strip("'\""))
        if parts.scheme or parts.netloc:
            if parts.scheme == "data":
                continue
            host = parts.hostname or ""
            if host in {"arxiv.org", "doi.org"}:
                continue
            if host in CODE_HOSTS and not url.lower().endswith((".css", ".js")):
                continue  # a paper's code link (validated by paperlens.links), not an asset
            outside.append(url)
    return outside


@pytest.mark.parametrize("url", [*PAGES, "/search", "/nope", "/docs"])
def test_no_page_references_an_outside_url(client: TestClient, url: str) -> None:
    page = client.get(url).text
    assert _outside_urls(page) == []
    for asset in _assets(page):
        if asset.split("?")[0].endswith(".css"):
            assert _outside_urls(client.get(asset).text) == [], asset


def test_katex_css_names_only_shipped_fonts() -> None:
    css = (STATIC / "katex" / "katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\(([^)]+)\)", css)
    assert fonts and all(f.endswith(".woff2") for f in fonts)
    for font in fonts:
        assert (STATIC / "katex" / font).is_file(), font
    assert (STATIC / "katex" / "LICENSE").is_file()


def test_static_files_are_cached_and_compressed(client: TestClient) -> None:
    r = client.get("/static/katex/katex.min.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "max-age" in r.headers["cache-control"]


# -- highlighting -------------------------------------------------------------------------


def test_highlight_escapes_before_marking() -> None:
    out = highlight("Tom & <b>Jerry</b> networks", query_terms("jerry network amp"))
    assert str(out) == "Tom &amp; &lt;b&gt;<mark>Jerry</mark>&lt;/b&gt; <mark>networks</mark>"


def test_highlight_never_marks_inside_entities_or_math() -> None:
    out = str(highlight("a < b & c and $\\alpha_{lt}$ lt amp", ["lt", "amp"]))
    assert out == "a &lt; b &amp; c and $\\alpha_{lt}$ <mark>lt</mark> <mark>amp</mark>"


def test_query_terms_drop_syntax_and_stem() -> None:
    assert query_terms('title:"Neural Networks" AND training -x') == [
        "neural",
        "network",
        "train",
    ]


def test_snippet_centres_on_the_first_match_and_keeps_math_whole() -> None:
    text = "word " * 100 + "the $E = mc^2$ matters here " + "tail " * 100
    cut = snippet(text, ["matters"], width=120)
    assert "matters" in cut and cut.startswith("… ") and cut.endswith(" …")
    assert cut.count("$") == 2
    assert len(cut) < 200


# -- the serve command ---------------------------------------------------------------------


def test_serve_command_prints_its_address_and_serves(indexed_lens: Any) -> None:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(indexed_lens.settings.data_dir),
        "PAPERLENS_DATABASE_URL": indexed_lens.settings.resolved_database_url,
        "PAPERLENS_MAX_SEQ_LENGTH": "128",
    }
    proc, base = start_serve(env)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            r = http.get("/api/v1/stats")
            assert r.status_code == 200 and r.json()["papers"] == 501
            assert "Search papers" in http.get("/search").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0

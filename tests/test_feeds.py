"""RSS/Atom feeds: valid per feedparser, escaped, linked from their pages, and their
links work against the app."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import feedparser
import pytest

from conftest import HOSTILE_ID, HOSTILE_TITLE, WebCorpus


def parse(response: Any, kind: str = "atom") -> Any:
    assert response.status_code == 200, response.text[:300]
    expected = "application/atom+xml" if kind == "atom" else "application/rss+xml"
    assert response.headers["content-type"].startswith(expected)
    feed = feedparser.parse(response.content)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == ("atom10" if kind == "atom" else "rss20")
    return feed


#: Feed links are built on the public URL (the default here), never on the Host header.
PUBLIC = "http://127.0.0.1:8000"


def local(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == PUBLIC, url
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize("kind", ["atom", "rss"])
def test_daily_feed_matches_the_newest_day(client: Any, indexed_lens: Any, kind: str) -> None:
    feed = parse(client.get(f"/feeds/daily.xml?format={kind}"), kind)
    day = indexed_lens.daily(None, 1, 50)
    assert [e.link for e in feed.entries] == [
        f"{PUBLIC}/paper/{i.stored.paper.id.replace(':', '%3A').replace('/', '%2F')}"
        for i in day.items
    ]
    hostile = next(e for e in feed.entries if HOSTILE_ID.replace(":", "%3A") in e.link)
    assert hostile.title == HOSTILE_TITLE
    # The abstract reaches the reader as text: Atom says so, RSS (HTML by convention)
    # carries it escaped, so "<script>" is shown, never run.
    if hostile.summary_detail.type == "text/plain":
        shown = hostile.summary
    else:
        assert "<script" not in hostile.summary and "<img" not in hostile.summary
        shown = html.unescape(hostile.summary)
    assert "<script>alert(1)</script>" in shown and "$\\alpha < \\beta$ &" in shown
    # The link of an entry opens the paper's page.
    page = client.get(local(hostile.link))
    assert page.status_code == 200 and "Tom &amp; Jerry" in page.text


def test_feeds_escape_markup_in_the_xml(client: Any) -> None:
    raw = client.get("/feeds/search.xml?q=Jerry&mode=lexical").text
    assert "<script>" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


def test_search_feed_has_the_matches_and_links_back(client: Any) -> None:
    feed = parse(client.get("/feeds/search.xml?q=Jerry&mode=lexical&category=cs.CR"))
    assert [e.title for e in feed.entries] == [HOSTILE_TITLE]
    assert "Jerry" in feed.feed.title
    alternate = next(link.href for link in feed.feed.links if link.rel == "alternate")
    assert client.get(local(alternate)).status_code == 200
    empty = parse(client.get("/feeds/search.xml?q=zzqxnothingmatcheszz&mode=lexical"))
    assert empty.entries == []


def test_trending_feed(client: Any, indexed_lens: Any, web_corpus: WebCorpus) -> None:
    feed = parse(client.get("/feeds/trending.xml?window=week&format=rss"), "rss")
    upvoted = indexed_lens.paper(web_corpus.upvoted_id).paper
    assert " ".join(upvoted.title.split()) in [e.title for e in feed.entries]
    assert client.get("/feeds/trending.xml?window=year").status_code == 400
    assert client.get("/feeds/daily.xml?format=json").status_code == 400


def test_public_collection_feed_and_private_ones_stay_private(
    client: Any, indexed_lens: Any
) -> None:
    user = indexed_lens.accounts.create_user(
        f"feeds-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery staple 42"
    )
    public = indexed_lens.library.create(user.pk, "Reading <group> & friends", public=True)
    private = indexed_lens.library.create(user.pk, "Secret", public=False)
    hostile = indexed_lens.paper(HOSTILE_ID)
    indexed_lens.library.save(user.pk, hostile.pk, public.pk)
    indexed_lens.library.save(user.pk, hostile.pk, private.pk)
    feed = parse(client.get(f"/feeds/c/{public.pk}.xml"))
    assert feed.feed.title == "paperlens collection: Reading <group> & friends"
    assert [e.title for e in feed.entries] == [HOSTILE_TITLE]
    assert client.get(f"/feeds/c/{private.pk}.xml").status_code == 404
    page = client.get(f"/c/{public.pk}")
    assert page.status_code == 200 and f'href="/feeds/c/{public.pk}.xml"' in page.text
    assert "/feeds/c/" not in client.get(f"/c/{private.pk}").text  # 404 for strangers
    assert client.get("/feeds/c/999999999.xml").status_code == 404


def test_pages_link_their_feeds(client: Any) -> None:
    home = client.get("/").text
    links = re.findall(r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">', home)
    assert ("application/atom+xml", "/feeds/daily.xml") in links
    assert ("application/rss+xml", "/feeds/daily.xml?format=rss") in links
    trending = client.get("/trending?window=day").text
    assert 'href="/feeds/trending.xml?window=day"' in trending
    search = client.get("/search?q=Jerry&category=cs.CR").text
    hrefs = re.findall(r'<link rel="alternate" type="[^"]+" title="[^"]*" href="([^"]+)">', search)
    assert hrefs and hrefs[0].startswith("/feeds/search.xml?q=Jerry")
    for href in hrefs:
        parse(
            client.get(href.replace("&amp;", "&")),
            "rss" if "format=rss" in href else "atom",
        )

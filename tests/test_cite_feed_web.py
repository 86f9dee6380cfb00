"""Cite a paper and feed control, through every front end: the paper page's Cite panel
and files, the API (and its OpenAPI), ``paperlens cite``, collection exports in three
formats (private ones to their owner only), and the daily feed's category, sort and
hide options on the core, the home page, ``/api/v1/daily`` and the Atom feed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import bibtexparser
import feedparser
import pybtex.database
import pytest
import rispy
from fastapi.testclient import TestClient

from conftest import HOSTILE_ID, WebCorpus
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.paper import make_paper
from paperlens.sources.base import Listing, Parsed
from test_community_web import bearer, sign_up

# -- Cite ---------------------------------------------------------------------------------


def test_paper_page_has_a_cite_panel_with_three_formats(client: TestClient) -> None:
    html = client.get(f"/paper/{HOSTILE_ID}").text
    assert '<details class="cite" id="cite">' in html
    for name in ("bibtex", "ris", "csl-json"):
        assert f'id="cite-{name}"' in html
    for ext in ("bib", "ris", "json"):
        assert f'href="/paper/{HOSTILE_ID}/cite.{ext}"' in html
    # The hostile title is text inside <pre>, never markup.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The page's sections in reading order: header, actions, similar papers, discussion.
    markers = (
        'id="paper-header"',
        'id="paper-actions-row"',
        'id="similar-heading"',
        'id="discussion"',
    )
    assert all(m in html for m in markers)
    assert [html.index(m) for m in markers] == sorted(html.index(m) for m in markers)


def test_cite_files_parse_back(client: TestClient, web_corpus: WebCorpus) -> None:
    pid = web_corpus.snapshot_ids[0]
    bib = client.get(f"/paper/{pid}/cite.bib")
    assert bib.status_code == 200
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert (
        bib.headers["content-disposition"] == f'attachment; filename="{pid.replace("/", "-")}.bib"'
    )
    (entry,) = pybtex.database.parse_string(bib.text, "bibtex").entries.values()
    assert entry.fields["eprint"] == pid and entry.fields["archivePrefix"] == "arXiv"
    ris = client.get(f"/paper/{pid}/cite.ris")
    assert rispy.loads(ris.text)[0]["urls"][0] == f"https://arxiv.org/abs/{pid}"
    csl = client.get(f"/paper/{pid}/cite.json")
    assert csl.headers["content-type"].startswith("application/vnd.citationstyles.csl+json")
    assert json.loads(csl.text)[0]["number"] == f"arXiv:{pid}"
    # The hostile paper: one entry, its title intact as BibTeX reads it.
    hostile = client.get(f"/paper/{HOSTILE_ID}/cite.bib").text
    lib = bibtexparser.parse_string(hostile)
    assert not lib.failed_blocks and len(lib.entries) == 1
    assert "<script>" in lib.entries[0]["title"]  # a file, not a page: kept as written
    assert client.get(f"/paper/{pid}/cite.docx").status_code == 404
    assert client.get("/paper/no-such-paper/cite.bib").status_code == 404


def test_cite_an_old_style_id_with_a_slash(settings: Settings) -> None:
    from paperlens.web import create_app

    lens = PaperLens(settings)
    old = make_paper(id="hep-th/9901001", title="Old {style}", abstract="", source="t")
    lens.papers.write_batch([Parsed(old, "t")])
    with TestClient(create_app(lens, rate_limit=None, auth_limits=None)) as c:
        r = c.get("/paper/hep-th/9901001/cite.bib")
        assert r.status_code == 200 and "eprint = {hep-th/9901001}" in r.text
        assert r.headers["content-disposition"] == 'attachment; filename="hep-th-9901001.bib"'
        api = c.get("/api/v1/papers/hep-th/9901001v2/cite?format=ris")
        assert rispy.loads(api.text)[0]["urls"][0] == "https://arxiv.org/abs/hep-th/9901001"
        assert 'href="/paper/hep-th/9901001/cite.json"' in c.get("/paper/hep-th/9901001").text
    lens.close()


def test_cite_api(client: TestClient, web_corpus: WebCorpus) -> None:
    pid = web_corpus.snapshot_ids[1]
    r = client.get(f"/api/v1/papers/{pid}/cite")
    assert r.status_code == 200 and r.text.startswith("@")
    assert "content-disposition" not in r.headers
    assert rispy.loads(client.get(f"/api/v1/papers/{pid}/cite?format=ris").text)
    items = client.get(f"/api/v1/papers/arXiv:{pid}v1/cite?format=csl-json").json()
    assert items[0]["type"] in ("article", "article-journal")
    bad = client.get(f"/api/v1/papers/{pid}/cite?format=endnote")
    assert bad.status_code == 400 and "bibtex, ris or csl-json" in bad.json()["detail"]
    assert client.get("/api/v1/papers/nope/cite").status_code == 404
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/api/v1/papers/{paper_id}/cite"]["get"]
    assert {"application/x-bibtex", "application/x-research-info-systems"} <= set(
        op["responses"]["200"]["content"]
    )
    daily = spec["paths"]["/api/v1/daily"]["get"]
    assert {"category", "sort", "hide"} <= {p["name"] for p in daily["parameters"]}


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PAPERLENS_DATA_DIR": str(settings.data_dir),
        "PAPERLENS_DATABASE_URL": str(settings.database_url),
    }
    return subprocess.run(
        [sys.executable, "-m", "paperlens.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_cite(settings: Settings) -> None:
    lens = PaperLens(settings)
    for pid, title in (("2106.09685", "LoRA: [bold]Low-Rank[/] Adaptation"), ("x-1", "Other")):
        p = make_paper(id=pid, title=title, abstract="", authors=["Ed Hu"], source="t")
        lens.papers.write_batch([Parsed(p, "t")])
    lens.close()
    out = _cli(settings, "cite", "arXiv:2106.09685v2", "x-1")
    assert out.returncode == 0, out.stderr
    lib = bibtexparser.parse_string(out.stdout)
    assert [e.key for e in lib.entries] == ["hulora", "huother"]  # no date: no year
    assert "[bold]" in lib.entries[0]["title"]  # printed as is, not as rich markup
    ris = _cli(settings, "cite", "x-1", "--format", "ris")
    assert rispy.loads(ris.stdout)[0]["title"] == "Other"
    bad = _cli(settings, "cite", "x-1", "--format", "word")
    assert bad.returncode != 0 and "bibtex, ris or csl-json" in bad.stderr
    missing = _cli(settings, "cite", "nope")
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1


def test_collection_exports_in_three_formats_to_the_owner_only(
    client: TestClient, indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    _owner, headers = bearer(indexed_lens, "exporter")
    cid = client.post("/api/v1/collections", json={"name": "To cite"}, headers=headers).json()["id"]
    for pid in (web_corpus.snapshot_ids[2], HOSTILE_ID):
        client.put(f"/api/v1/collections/{cid}/papers/{pid}", headers=headers)
    bib = client.get(f"/api/v1/collections/{cid}/export?format=bibtex", headers=headers)
    assert len(bibtexparser.parse_string(bib.text).entries) == 2
    ris = client.get(f"/api/v1/collections/{cid}/export?format=ris", headers=headers)
    assert ris.headers["content-disposition"].endswith(f'-{cid}.ris"')
    assert len(rispy.loads(ris.text)) == 2
    csl = client.get(f"/api/v1/collections/{cid}/export?format=csl-json", headers=headers)
    assert csl.headers["content-disposition"].endswith(f'-{cid}.csl.json"')
    assert len(csl.json()) == 2
    bad = client.get(f"/api/v1/collections/{cid}/export?format=xml", headers=headers)
    assert bad.status_code == 400
    # Private: everyone else, signed in or not, gets the 404 of a missing collection.
    _other, other_headers = bearer(indexed_lens, "snoop")
    for fmt in ("bibtex", "ris", "csl-json"):
        url = f"/api/v1/collections/{cid}/export?format={fmt}"
        assert client.get(url, headers=other_headers).status_code == 404
        assert client.get(url).status_code == 404
    for ext in ("bib", "ris", "csl.json"):
        assert client.get(f"/c/{cid}/export.{ext}").status_code == 404
    # Made public: the page's links work for anyone.
    client.patch(f"/api/v1/collections/{cid}", json={"public": True}, headers=headers)
    page = client.get(f"/c/{cid}").text
    assert f'href="/c/{cid}/export.ris"' in page and f'href="/c/{cid}/export.csl.json"' in page
    assert len(rispy.loads(client.get(f"/c/{cid}/export.ris").text)) == 2
    assert len(client.get(f"/c/{cid}/export.csl.json").json()) == 2
    assert client.get(f"/c/{cid}/export.xml").status_code == 404


# -- feed control in the core -------------------------------------------------------------

DAY = datetime(2024, 3, 5, 12, tzinfo=UTC)


@pytest.fixture
def feed_lens(settings: Settings) -> Any:
    lens = PaperLens(settings)
    papers = [
        ("2403.00001", ("cs.LG",), 1),
        ("2403.00002", ("cs.CV", "cs.LG"), 2),
        ("2403.00003", ("math.AG",), 3),
        ("2403.00004", ("cs.CL",), 4),
    ]
    for pid, cats, hour in papers:
        p = make_paper(
            id=pid,
            title=f"Paper {pid}",
            abstract="",
            authors=["A B"],
            categories=cats,
            published=DAY.replace(hour=hour),
            source="t",
        )
        lens.papers.write_batch([Parsed(p, "t")])
    # An older day in math only, to check the days around a filtered day.
    old = make_paper(
        id="2402.00001",
        title="Old",
        abstract="",
        categories=("math.AG",),
        published=datetime(2024, 2, 1, tzinfo=UTC),
        source="t",
    )
    lens.papers.write_batch([Parsed(old, "t")])
    yield lens
    lens.close()


def _ids(feed: Any) -> list[str]:
    return [i.stored.paper.id for i in feed.items]


def test_core_feed_filters_sorts_and_hides(feed_lens: PaperLens) -> None:
    lens = feed_lens
    assert _ids(lens.daily()) == ["2403.00004", "2403.00003", "2403.00002", "2403.00001"]
    cs = lens.daily(categories=["cs"])
    assert _ids(cs) == ["2403.00004", "2403.00002", "2403.00001"]
    assert cs is not None and cs.previous_day is None  # no earlier day has cs papers
    maths = lens.daily(categories=["math.AG"])
    assert maths is not None and str(maths.previous_day) == "2024-02-01"
    assert _ids(lens.daily(categories=["cs.CV", "cs.CL"])) == ["2403.00004", "2403.00002"]
    # Votes: this server's votes first, then Hugging Face upvotes, then newest.
    voters = [
        lens.accounts.create_user(f"v{n}-{uuid.uuid4().hex[:6]}@x.org", "pw-long-enough")
        for n in range(2)
    ]
    pk1 = lens.paper("2403.00001").pk
    for v in voters:
        lens.community.vote(v.pk, pk1)
    stored = lens.paper("2403.00003")
    lens.papers.write_batch(
        [Parsed(stored.paper, "t", listing=Listing("hf-daily", DAY.date(), 9, 0))]
    )
    by_votes = lens.daily(sort="votes")
    assert _ids(by_votes) == ["2403.00001", "2403.00003", "2403.00004", "2403.00002"]
    # Stars: no star source yet, so votes, and the feed says which order it used.
    stars = lens.daily(sort="stars")
    assert stars is not None and stars.sort == "votes" and _ids(stars) == _ids(by_votes)
    # With a star source (what the code links work will give), stars first.
    from sqlalchemy import literal, select, union_all

    lens.star_source = lambda: union_all(
        select(literal(lens.paper("2403.00002").pk).label("paper_pk"), literal(500).label("n"))
    ).subquery()
    starred = lens.daily(sort="stars")
    assert starred is not None and starred.sort == "stars"
    assert _ids(starred)[0] == "2403.00002"
    lens.star_source = None
    # Hide what one reader marked read or dismissed; others still see it.
    reader = voters[0].pk
    lens.library.set_note(reader, lens.paper("2403.00004").pk, read=True)
    lens.library.dismiss(reader, lens.paper("2403.00002").pk)
    lens.library.set_note(reader, lens.paper("2403.00003").pk, note="not read yet")
    hidden = lens.daily(hide_for=reader)
    assert hidden is not None and hidden.hidden and hidden.total == 2
    assert _ids(hidden) == ["2403.00003", "2403.00001"]
    assert len(_ids(lens.daily(hide_for=voters[1].pk))) == 4
    with pytest.raises(ValueError, match="newest, votes, stars, citations"):
        lens.daily(sort="random")
    with pytest.raises(ValueError, match="not an arXiv category"):
        lens.daily(categories=["cs.LG; DROP TABLE"])
    assert lens.daily(categories=["q-bio"]) is None  # no such papers at all


# -- feed control on the page, the API and the Atom feed ----------------------------------


def test_home_page_feed_control(client: TestClient, indexed_lens: PaperLens) -> None:
    html = client.get("/?category=cs.CR").text
    assert 'id="feed-control"' in html and 'value="cs.CR"' in html
    assert HOSTILE_ID.split(":")[1] in html  # the hostile cs.CR paper is on the newest day
    titles = client.get("/api/v1/daily?category=cs.CR").json()["papers"]
    assert titles and all("cs.CR" in p["paper"]["categories"] for p in titles)
    # Links of the day navigation and feeds keep the options.
    html = client.get("/?category=cs&sort=votes").text
    assert "sort=votes" in html and "category=cs" in html
    assert 'href="/feeds/daily.xml?category=cs&amp;sort=votes"' in html
    # A category with no papers at all: a friendly page, not an error.
    empty = client.get("/?category=no-such.XY")
    assert empty.status_code == 200 and "No papers in no-such.XY" in empty.text
    # Stars not known yet: sorted by votes, and the page says so.
    assert 'id="sort-fallback"' in client.get("/?sort=stars").text
    for bad, message in (
        ("sort=random", "sort must be one of newest, votes, stars, citations"),
        ("category=%3Cscript%3E", "is not an arXiv category"),
        ("hide=1", "hide needs a signed-in reader"),
        ("hide=maybe", "hide must be 1 or 0"),
    ):
        r = client.get(f"/?{bad}")
        assert r.status_code == 400 and message.lower() in r.text.lower(), bad
        assert "<script>" not in r.text


def test_signed_in_reader_defaults_to_followed_categories(
    client: TestClient, indexed_lens: PaperLens
) -> None:
    email = sign_up(client, "follower")
    user = indexed_lens.accounts.get_by_email(email)
    assert user is not None
    indexed_lens.accounts.set_categories(user.pk, ["cs.CR"])
    html = client.get("/").text
    assert 'value="cs.CR"' in html and "categories you follow" in html
    assert 'id="fc-hide"' in html  # the hide box is offered to a signed-in reader
    assert 'value=""' in client.get("/?category=all").text  # all: the box is empty
    # The API too, with a token: followed by default, "all" for every category.
    pk, headers = bearer(indexed_lens, "api-follower")
    indexed_lens.accounts.set_categories(pk, ["cs.CR"])
    mine = client.get("/api/v1/daily", headers=headers).json()
    assert mine["categories"] == ["cs.CR"] and mine["followed"] is True
    assert all("cs.CR" in p["paper"]["categories"] for p in mine["papers"])
    every = client.get("/api/v1/daily?category=all", headers=headers).json()
    assert every["categories"] == [] and every["total"] > mine["total"]
    client.cookies.clear()  # the session cookie signs API calls in too
    anonymous = client.get("/api/v1/daily").json()
    assert anonymous["categories"] == [] and anonymous["followed"] is False


def test_api_hides_read_and_dismissed(
    client: TestClient, indexed_lens: PaperLens, web_corpus: WebCorpus
) -> None:
    pk, headers = bearer(indexed_lens, "hider")
    day = client.get("/api/v1/daily?limit=50", headers=headers).json()
    ids = [p["paper"]["id"] for p in day["papers"]]
    read, dismissed = ids[0], ids[1]
    r = client.patch(f"/api/v1/library/papers/{read}", json={"read": True}, headers=headers)
    assert r.status_code == 200
    indexed_lens.library.dismiss(pk, indexed_lens.paper(dismissed).pk)
    hidden = client.get("/api/v1/daily?limit=50&hide=1", headers=headers).json()
    left = [p["paper"]["id"] for p in hidden["papers"]]
    assert hidden["hidden"] is True and hidden["total"] == day["total"] - 2
    assert read not in left and dismissed not in left
    assert client.get("/api/v1/daily?hide=1").status_code == 400  # anonymous
    for bad in ("sort=top", "hide=perhaps", "category=" + "x" * 70):
        r = client.get(f"/api/v1/daily?{bad}", headers=headers)
        assert r.status_code == 400 and r.json()["detail"], bad
    votes = client.get("/api/v1/daily?sort=votes").json()
    assert votes["sort"] == "votes"
    assert votes["papers"][0]["paper"]["id"] == web_corpus.upvoted_id  # HF upvotes lead
    assert client.get("/api/v1/daily?sort=stars").json()["sort"] == "votes"


def test_atom_feed_takes_the_same_options(client: TestClient, web_corpus: WebCorpus) -> None:
    r = client.get("/feeds/daily.xml?category=cs.CR")
    assert r.status_code == 200 and r.headers["cache-control"].startswith("public")
    feed = feedparser.parse(r.text)
    assert feed.entries and all(any(t.term == "cs.CR" for t in e.tags) for e in feed.entries)
    assert "in cs.CR" in feed.feed.title
    voted = feedparser.parse(client.get("/feeds/daily.xml?sort=votes&format=rss").text)
    assert voted.entries[0].link.endswith(web_corpus.upvoted_id)
    assert client.get("/feeds/daily.xml?sort=hot").status_code == 400
    assert client.get("/feeds/daily.xml?hide=1").status_code == 400  # no reader
    assert client.get("/feeds/daily.xml?category=..").status_code == 400


def test_mark_read_from_the_feed_then_hide_it(client: TestClient, indexed_lens: PaperLens) -> None:
    sign_up(client, "marker")
    html = client.get("/?category=cs.CR").text
    assert 'class="read-form"' in html  # offered to a signed-in reader
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    r = client.post(
        "/library/note",
        data={
            "paper": HOSTILE_ID,
            "read": "1",
            "next": "/?category=cs.CR&hide=1",
            "csrf_token": token.group(1),
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/?category=cs.CR&hide=1"
    hidden = client.get(r.headers["location"]).text
    assert "you marked read or not interested are hidden" in hidden
    assert f'value="{HOSTILE_ID}"' not in hidden
    assert f'value="{HOSTILE_ID}"' in client.get("/?category=cs.CR").text
    # The Atom feed hides for a signed-in browser too, and is then private to it.
    atom = client.get("/feeds/daily.xml?category=cs.CR&hide=1")
    assert atom.status_code == 200 and atom.headers["cache-control"] == "private, no-store"
    assert HOSTILE_ID not in atom.text
    # Without a CSRF token the mark is refused.
    bad = client.post("/library/note", data={"paper": HOSTILE_ID, "read": "1"})
    assert bad.status_code == 403
    client.cookies.clear()
    assert 'class="read-form"' not in client.get("/?category=cs.CR").text

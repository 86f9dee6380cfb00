"""A reader's data: the export archive holds everything they own and no secret; it
imports into another server (another database) in one transaction, skipping papers that
server does not hold; every hostile archive is refused with a message and leaves nothing
behind; deleting an account leaves no personal data. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from databases import fresh_database
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.errors import Invalid
from paperlens.paper import make_paper
from paperlens.portability.archive import MAX_MEMBER_BYTES
from paperlens.portability.reader import DOCUMENT
from paperlens.sources.base import Parsed

PASSWORD = "correct horse battery"


def add_papers(lens: PaperLens, ids: list[str]) -> dict[str, int]:
    lens.papers.write_batch(
        [
            Parsed(
                make_paper(
                    id=i,
                    title=f"Paper {i} on {{braces}} & more",
                    abstract="a",
                    authors=["Ada Lovelace"],
                    source="test",
                ),
                "t",
            )
            for i in ids
        ]
    )
    out = {}
    for i in ids:
        stored = lens.papers.get(i)
        assert stored is not None
        out[i] = stored.pk
    return out


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    yield pl
    pl.close()


@pytest.fixture
def other(tmp_path: Path) -> Iterator[PaperLens]:
    """A second server: its own database and data dir."""
    d = tmp_path / "other"
    d.mkdir()
    with fresh_database(d) as url:
        pl = PaperLens(Settings(data_dir=d, database_url=url))
        yield pl
        pl.close()


def reader_with_everything(lens: PaperLens) -> tuple[int, dict[str, int]]:
    pks = add_papers(lens, ["2401.00001", "2401.00002", "2401.00003", "2401.00004"])
    u = lens.accounts.create_user("ada@example.org", PASSWORD, "Ada", verified=True)
    lens.accounts.set_categories(u.pk, ["cs.LG"])
    lens.accounts.create_api_token(u.pk, "laptop")
    lens.accounts.start_session(u.pk)
    ml = lens.library.create(u.pk, "Machine learning", public=True).pk
    lens.library.save(u.pk, pks["2401.00001"], ml)
    lens.library.save(u.pk, pks["2401.00002"], ml)
    lens.library.save(u.pk, pks["2401.00003"])  # "Saved"
    lens.library.set_note(u.pk, pks["2401.00001"], "read this twice", read=True)
    lens.library.dismiss(u.pk, pks["2401.00004"])
    lens.community.vote(u.pk, pks["2401.00002"])
    lens.discussions.post(u, pks["2401.00002"], "A comment with $x_1$ math")
    lens.authors.follow(u.pk, "Grace Hopper")
    return u.pk, pks


def archive_doc(data: bytes) -> dict[str, object]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        doc = json.loads(z.read(DOCUMENT))
    assert isinstance(doc, dict)
    return doc


def test_export_holds_everything_the_reader_owns_and_no_secret(lens: PaperLens) -> None:
    user_pk, _ = reader_with_everything(lens)
    data = lens.reader_data.export_archive(user_pk)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        bib = z.read("collections/001-machine-learning.bib").decode()
        ris = z.read("collections/001-machine-learning.ris").decode()
    assert DOCUMENT in names and "collections/002-saved.ris" in names
    assert "eprint = {2401.00001}" in bib and r"\&" in bib
    assert "TI  - Paper 2401.00001" in ris and "AU  - Lovelace, Ada" in ris
    doc = archive_doc(data)
    s = doc["sections"]
    assert isinstance(s, dict)
    assert s["account"]["email"] == "ada@example.org"
    assert s["account"]["categories"] == ["cs.LG"]
    assert [t["name"] for t in s["account"]["api_tokens"]] == ["laptop"]
    assert [c["name"] for c in s["collections"]] == ["Machine learning", "Saved"]
    assert [p["paper"] for p in s["collections"][0]["papers"]] == ["2401.00001", "2401.00002"]
    assert s["notes"][0] == {**s["notes"][0], "paper": "2401.00001", "note": "read this twice"}
    assert [v["paper"] for v in s["votes"]] == ["2401.00002"]
    assert [v["paper"] for v in s["dismissed"]] == ["2401.00004"]
    assert [(c["paper"], c["markdown"]) for c in s["comments"]] == [
        ("2401.00002", "A comment with $x_1$ math")
    ]
    # No secret: the password hash, token hashes and session hashes are nowhere.
    raw = json.dumps(doc)
    with lens.engine.connect() as conn:
        secrets = [
            conn.execute(text("SELECT password_hash FROM users")).scalar_one(),
            *conn.execute(text("SELECT token_hash FROM api_tokens")).scalars(),
            *conn.execute(text("SELECT token_hash FROM user_sessions")).scalars(),
        ]
    assert len(secrets) == 3
    for secret in secrets:
        assert secret not in raw
    assert "password" not in raw and "token_hash" not in raw


def test_import_round_trip_into_another_server(lens: PaperLens, other: PaperLens) -> None:
    user_pk, _ = reader_with_everything(lens)
    data = lens.reader_data.export_archive(user_pk)
    # The other server holds three of the four papers.
    there = add_papers(other, ["2401.00001", "2401.00002", "2401.00004"])
    other.accounts.create_user("admin@elsewhere.org", PASSWORD)  # the first is admin
    me = other.accounts.create_user("ada@elsewhere.org", PASSWORD)
    existing = other.library.create(me.pk, "Machine learning").pk
    report = other.reader_data.import_archive(me.pk, data)
    assert report.counts["skipped_unknown_papers"] == 1  # 2401.00003 is not there
    assert report.counts["collection_papers"] == 2
    assert set(report.not_imported) == {"subscriptions", "submissions", "comments", "claims"}
    assert [name for _key, name in other.authors.following(me.pk)] == ["Grace Hopper"]
    cols = {c.name: c for c in other.library.collections(me.pk)}
    assert cols["Machine learning"].pk == existing and cols["Machine learning"].size == 2
    assert cols["Saved"].size == 0
    assert other.library.notes(me.pk, [there["2401.00001"]])[there["2401.00001"]].read
    assert other.library.dismissed(me.pk) == [there["2401.00004"]]
    user = other.accounts.get_user(me.pk)
    assert user is not None and user.display_name == "Ada" and user.categories == ["cs.LG"]
    assert user.email == "ada@elsewhere.org" and not user.is_admin
    # Importing twice adds nothing new.
    again = other.reader_data.import_archive(me.pk, data)
    assert again.counts.get("collections", 0) == 0
    sizes = {c.name: c.size for c in other.library.collections(me.pk)}
    assert sizes == {"Machine learning": 2, "Saved": 0}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return buf.getvalue()


def _doc_zip(doc: object) -> bytes:
    return _zip({DOCUMENT: json.dumps(doc).encode()})


def _valid_doc(lens: PaperLens, user_pk: int) -> dict[str, object]:
    return lens.reader_data.document(user_pk)


def _hostile_cases(good: dict[str, object]) -> dict[str, tuple[bytes, str]]:
    sections = good["sections"]
    assert isinstance(sections, dict)
    dup_collections = json.loads(json.dumps(good))
    dup_collections["sections"]["collections"].append(sections["collections"][0])
    dup_papers = json.loads(json.dumps(good))
    col = dup_papers["sections"]["collections"][0]
    col["papers"].append(col["papers"][0])
    # A bad note after good collections: the collections must not stay half-imported.
    late_failure = json.loads(json.dumps(good))
    late_failure["sections"]["notes"] = [{"paper": "2401.00001", "note": 5}]
    bad_category = json.loads(json.dumps(good))
    bad_category["sections"]["account"]["categories"] = ["<script>"]
    bomb = _zip({DOCUMENT: b" " * (MAX_MEMBER_BYTES + 1)})
    return {
        "wrong version": (_doc_zip({**good, "version": 99}), "version"),
        "bad category": (_doc_zip(bad_category), "arXiv categories"),
        "not ours": (_doc_zip({"format": "other"}), "not a paperlens"),
        "duplicate collections": (_doc_zip(dup_collections), "twice"),
        "duplicate papers": (_doc_zip(dup_papers), "twice"),
        "late failure": (_doc_zip(late_failure), "must be text"),
        "unknown section": (_doc_zip({**good, "sections": {"passwords": []}}), "unknown"),
        "zip bomb": (bomb, "larger than the limit"),
        "path up": (_zip({"../../evil.json": b"{}", DOCUMENT: b"{}"}), "unsafe name"),
        "absolute path": (_zip({"/etc/evil": b"x", DOCUMENT: b"{}"}), "unsafe name"),
        "not json": (_zip({DOCUMENT: b"\x00\xffnot json"}), "not valid JSON"),
        "json list": (_zip({DOCUMENT: b"[]"}), "JSON object"),
        "not a zip": (b"PK\x03\x04 garbage", "not a zip"),
        "no document": (_zip({"other.txt": b"x"}), "no 'paperlens-export.json'"),
        "huge upload": (b"0" * (21 * 1024 * 1024), "larger than 20 MB"),
    }


def test_hostile_archives_are_refused_and_nothing_is_half_imported(
    lens: PaperLens, other: PaperLens
) -> None:
    user_pk, _ = reader_with_everything(lens)
    good = _valid_doc(lens, user_pk)
    add_papers(other, ["2401.00001", "2401.00002"])
    me = other.accounts.create_user("ada@elsewhere.org", PASSWORD)
    for case, (data, message) in _hostile_cases(good).items():
        with pytest.raises(Invalid, match=message):
            other.reader_data.import_archive(me.pk, data)
        with other.engine.connect() as conn:
            for t in ("collections", "collection_items", "paper_notes", "dismissals", "votes"):
                assert conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() == 0, case
        assert other.accounts.get_user(me.pk).categories == [], case  # type: ignore[union-attr]


def test_deleting_an_account_leaves_no_personal_data(lens: PaperLens) -> None:
    user_pk, pks = reader_with_everything(lens)
    keep = lens.accounts.create_user("bob@example.org", PASSWORD)
    lens.library.save(keep.pk, pks["2401.00001"])
    with lens.engine.begin() as conn:  # a digest subscription of the address
        conn.execute(
            text(
                "INSERT INTO digest_subscriptions (email, user_pk, frequency, tz, sections,"
                " searches, created_at) VALUES ('ada@example.org', :u, 'daily', 'UTC',"
                " '[]', '[]', CURRENT_TIMESTAMP)"
            ),
            {"u": user_pk},
        )
    lens.reader_data.delete_account(user_pk)
    assert lens.accounts.get_user(user_pk) is None
    tables = [
        "collections",
        "paper_notes",
        "votes",
        "dismissals",
        "api_tokens",
        "user_sessions",
        "password_resets",
        "submissions",
        "submission_jobs",
        "author_follows",
        "authorship_claims",
    ]
    with lens.engine.connect() as conn:
        for t in tables:
            n = conn.execute(text(f"SELECT count(*) FROM {t} WHERE user_pk = :u"), {"u": user_pk})
            assert n.scalar_one() == 0, t
        subs = conn.execute(text("SELECT count(*) FROM digest_subscriptions")).scalar_one()
        assert subs == 0
        everything = " ".join(
            str(r)
            for t in ["users", "collections", "paper_notes", "digest_subscriptions"]
            for r in conn.execute(text(f"SELECT * FROM {t}")).all()
        )
    assert "ada@example.org" not in everything and "read this twice" not in everything
    assert lens.library.saved(keep.pk) == [pks["2401.00001"]]  # others keep theirs
    # The comment stays, as a deleted reader's, so its thread keeps its shape.
    thread = lens.discussions.thread(pks["2401.00002"])
    assert [(c.author_pk, c.author_name) for c in thread] == [(None, "deleted reader")]
    with pytest.raises(Exception, match="no such account"):
        lens.reader_data.delete_account(user_pk)

"""Collections, notes, read marks, permissions and exports in the core (SQLite and
PostgreSQL), and BibTeX escaping."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.library import CollectionNotFound, bibtex_entry, bibtex_escape
from paperlens.paper import make_paper
from paperlens.sources.base import Parsed
from paperlens.store.library import DuplicateName


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    pl = PaperLens(settings)
    yield pl
    pl.close()


def user(lens: PaperLens) -> int:
    return lens.accounts.create_user(
        f"l-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery", "Lib"
    ).pk


def paper(lens: PaperLens, pid: str, title: str = "A title", **kw: object) -> int:
    p = make_paper(
        id=pid,
        title=title,
        abstract="x",
        authors=kw.pop("authors", ["Ada Lovelace", "Alan Turing"]),  # type: ignore[arg-type]
        categories=("cs.LG",),
        published=datetime(2021, 6, 17, tzinfo=UTC),
        source="test",
        **kw,  # type: ignore[arg-type]
    )
    lens.papers.write_batch([Parsed(p, "t")])
    stored = lens.papers.get(pid)
    assert stored is not None
    return stored.pk


def test_default_collection_save_remove_and_saved_list(lens: PaperLens) -> None:
    reader = user(lens)
    a, b = paper(lens, "2106.09685"), paper(lens, "1706.03762")
    saved = lens.library.save(reader, a)
    assert saved.name == "Saved" and saved.size == 1
    lens.library.save(reader, a)  # twice: once
    reading = lens.library.create(reader, "  Reading   group ")
    assert reading.name == "Reading group" and not reading.public
    lens.library.save(reader, b, reading.pk)
    lens.library.save(reader, a, reading.pk)
    assert [c.name for c in lens.library.collections(reader)] == ["Saved", "Reading group"]
    assert set(lens.library.saved(reader)) == {a, b}
    lens.library.remove(reader, a)  # from every collection
    assert lens.library.saved(reader) == [b]
    with pytest.raises(DuplicateName):
        lens.library.create(reader, "Reading group")
    with pytest.raises(ValueError, match="name"):
        lens.library.create(reader, "   ")


def test_permissions(lens: PaperLens) -> None:
    owner, other = user(lens), user(lens)
    pk = paper(lens, "2106.09685")
    private = lens.library.create(owner, "Mine")
    lens.library.save(owner, pk, private.pk)
    lens.library.set_note(owner, pk, "my thoughts", read=True)
    for viewer in (other, None):
        with pytest.raises(CollectionNotFound):
            lens.library.view(viewer, private.pk)
    with pytest.raises(CollectionNotFound):
        lens.library.save(other, pk, private.pk)
    with pytest.raises(CollectionNotFound):
        lens.library.update(other, private.pk, public=True)
    with pytest.raises(CollectionNotFound):
        lens.library.delete(other, private.pk)
    own = lens.library.view(owner, private.pk)
    assert own.mine and own.items[0].note is not None and own.items[0].note.note == "my thoughts"
    assert own.items[0].note.read
    lens.library.update(owner, private.pk, public=True)
    shared = lens.library.view(other, private.pk)
    assert not shared.mine and shared.items[0].note is None
    assert "note" not in lens.library.export_json(shared)["papers"][0]
    assert lens.library.export_json(own)["papers"][0]["note"] == "my thoughts"
    lens.library.delete(owner, private.pk)
    with pytest.raises(CollectionNotFound):
        lens.library.view(owner, private.pk)


def test_notes_and_read_marks_update_independently(lens: PaperLens) -> None:
    reader = user(lens)
    pk = paper(lens, "2106.09685")
    lens.library.set_note(reader, pk, read=True)
    lens.library.set_note(reader, pk, note="later")
    note = lens.library.notes(reader, [pk])[pk]
    assert note.note == "later" and note.read
    lens.library.set_note(reader, pk, read=False)
    assert lens.library.notes(reader, [pk])[pk].note == "later"
    with pytest.raises(ValueError, match="note"):
        lens.library.set_note(reader, pk, note="x" * 10_001)


def test_bibtex_export(lens: PaperLens) -> None:
    reader = user(lens)
    paper(lens, "2106.09685", "LoRA: Low-Rank Adaptation of Large Language Models", doi="10.1/x_y")
    paper(lens, "title-abc", "Tom & Jerry: 100% $\\alpha_1 < \\beta$ {odd", authors=["Émile Zola"])
    for pid in ("2106.09685", "title-abc"):
        lens.library.save(reader, lens.paper(pid).pk)
    view = lens.library.view(reader, lens.library.default_collection(reader))
    bib = lens.library.export_bibtex(view)
    assert "@misc{lovelace2021lora," in bib
    assert "eprint = {2106.09685}" in bib and "archivePrefix = {arXiv}" in bib
    assert "primaryClass = {cs.LG}" in bib and "url = {https://arxiv.org/abs/2106.09685}" in bib
    assert "author = {Ada Lovelace and Alan Turing}" in bib
    assert r"doi = {10.1/x\_y}" in bib
    # BibTeX pairs "\{" too, so an unpaired brace becomes a command that draws it.
    assert r"title = {Tom \& Jerry: 100\% $\alpha_1 < \beta$ \textbraceleft{}odd}" in bib
    # Capitals a style would lower-case are braced word by word, not the whole title.
    assert "title = {{LoRA}: Low-Rank Adaptation of Large Language Models}" in bib
    assert "@misc{zola2021jerry," in bib
    assert bib.count("{") - bib.count(r"\{") == bib.count("}") - bib.count(r"\}")


def test_bibtex_escape_rules() -> None:
    assert bibtex_escape("a & b # c_d 5%") == r"a \& b \# c\_d 5\%"
    assert bibtex_escape(r"already \& escaped") == r"already \& escaped"
    assert bibtex_escape("$x_1^2$ and x^2 ~y") == (
        r"$x_1^2$ and x\textasciicircum{}2 \textasciitilde{}y"
    )
    assert bibtex_escape(r"\emph{kept}") == r"\emph{kept}"
    assert bibtex_escape("} broken {") == r"\textbraceright{} broken \textbraceleft{}"


def test_cite_keys_are_unique() -> None:
    p = make_paper(
        id="2106.09685", title="Same title here", abstract="", authors=["A B"], source="t"
    )
    taken: set[str] = set()
    first, second = bibtex_entry(p, taken), bibtex_entry(p, taken)
    assert first.splitlines()[0] != second.splitlines()[0]

"""A reader's library: named collections (private or public), a default "Saved"
collection, notes and read marks per paper, papers marked "not interested", and exports
as BibTeX, RIS, CSL-JSON (:mod:`paperlens.cite`) and JSON. Front ends reach it as
``PaperLens.library`` (:class:`Library`).

Permissions are decided here, once, for pages and API alike: a private collection
exists only for its owner (anyone else gets :class:`CollectionNotFound`, the same
answer as for a collection that does not exist), and only the owner may change a
collection. Notes and read marks are the owner's own and never leave their views.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from paperlens import cite
from paperlens.cite import bibtex_entry as bibtex_entry  # moved: importable from here too
from paperlens.cite import bibtex_escape as bibtex_escape
from paperlens.cite import cite_key as cite_key
from paperlens.errors import CollectionNotFound
from paperlens.paper import Paper
from paperlens.store.library import Collection, LibraryStore, Note
from paperlens.store.papers import PaperStore
from paperlens.text import clean_user_text

DEFAULT_COLLECTION = "Saved"
MAX_NAME_CHARS = 100
MAX_NOTE_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class LibraryItem:
    pk: int
    paper: Paper
    added_at: datetime
    #: The owner's note and read mark; ``None`` for anyone else.
    note: Note | None


@dataclass(frozen=True, slots=True)
class CollectionView:
    collection: Collection
    items: list[LibraryItem]
    #: Whether the viewer owns the collection.
    mine: bool


def clean_name(name: str) -> str:
    """A collection name as stored: one line, no control or bidi-override characters."""
    name = clean_user_text(name)
    if not name:
        raise ValueError("a collection needs a name")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"a collection name has at most {MAX_NAME_CHARS} characters")
    return name


class Library:
    """Everything a reader keeps; every method takes stored papers' primary keys."""

    def __init__(self, store: LibraryStore, papers: PaperStore) -> None:
        self.store = store
        self.papers = papers

    # -- collections ---------------------------------------------------------------------

    def collections(self, user_pk: int) -> list[Collection]:
        """The user's collections, "Saved" first (created on first use)."""
        default = self.default_collection(user_pk)
        return sorted(self.store.of_user(user_pk), key=lambda c: c.pk != default)

    def default_collection(self, user_pk: int) -> int:
        found = self.store.find(user_pk, DEFAULT_COLLECTION)
        if found is not None:
            return found
        try:
            return self.store.create(user_pk, DEFAULT_COLLECTION)
        except ValueError:  # made by a concurrent request
            found = self.store.find(user_pk, DEFAULT_COLLECTION)
            assert found is not None
            return found

    def create(self, user_pk: int, name: str, public: bool = False) -> Collection:
        pk = self.store.create(user_pk, clean_name(name), public)
        made = self.store.get(pk)
        assert made is not None
        return made

    def visible(self, viewer_pk: int | None, collection_pk: int) -> Collection:
        """The collection if ``viewer_pk`` may see it (owner, or public)."""
        found = self.store.get(collection_pk)
        if found is None or (not found.public and found.user_pk != viewer_pk):
            raise CollectionNotFound(f"no collection {collection_pk}")
        return found

    def owned(self, user_pk: int, collection_pk: int) -> Collection:
        """The collection if ``user_pk`` owns it; others see no such collection."""
        found = self.store.get(collection_pk)
        if found is None or found.user_pk != user_pk:
            raise CollectionNotFound(f"no collection {collection_pk}")
        return found

    def update(
        self, user_pk: int, collection_pk: int, name: str | None = None, public: bool | None = None
    ) -> Collection:
        self.owned(user_pk, collection_pk)
        self.store.update(collection_pk, clean_name(name) if name is not None else None, public)
        return self.owned(user_pk, collection_pk)

    def delete(self, user_pk: int, collection_pk: int) -> None:
        self.owned(user_pk, collection_pk)
        self.store.delete(collection_pk)

    def view(self, viewer_pk: int | None, collection_pk: int) -> CollectionView:
        found = self.visible(viewer_pk, collection_pk)
        mine = found.user_pk == viewer_pk
        rows = self.store.items(collection_pk)
        stored = self.papers.get_by_pks(pk for pk, _ in rows)
        notes = self.store.notes(found.user_pk, stored) if mine else {}
        items = [
            LibraryItem(pk, stored[pk].paper, at, notes.get(pk, Note("", False)) if mine else None)
            for pk, at in rows
            if pk in stored
        ]
        return CollectionView(found, items, mine)

    # -- items ---------------------------------------------------------------------------

    def save(self, user_pk: int, paper_pk: int, collection_pk: int | None = None) -> Collection:
        """Put a paper into one of the user's collections (default "Saved")."""
        target = collection_pk if collection_pk is not None else self.default_collection(user_pk)
        self.owned(user_pk, target)
        self.store.add(target, paper_pk)
        return self.owned(user_pk, target)

    def remove(self, user_pk: int, paper_pk: int, collection_pk: int | None = None) -> None:
        """Take a paper out of one collection, or out of all of them (``None``)."""
        if collection_pk is not None:
            self.owned(user_pk, collection_pk)
            self.store.remove(collection_pk, paper_pk)
            return
        for c in self.store.of_user(user_pk):
            self.store.remove(c.pk, paper_pk)

    def saved(self, user_pk: int) -> list[int]:
        return self.store.saved(user_pk)

    def saved_among(self, user_pk: int, paper_pks: list[int]) -> set[int]:
        return self.store.saved_among(user_pk, paper_pks)

    def set_note(
        self, user_pk: int, paper_pk: int, note: str | None = None, read: bool | None = None
    ) -> None:
        if note is not None:
            note = clean_user_text(note, multiline=True)
            if len(note) > MAX_NOTE_CHARS:
                raise ValueError(f"a note has at most {MAX_NOTE_CHARS:,} characters")
        self.store.set_note(user_pk, paper_pk, note, read)

    def notes(self, user_pk: int, paper_pks: Iterable[int]) -> dict[int, Note]:
        """The reader's note and read mark for each of ``paper_pks`` (blank if none)."""
        return self.store.notes(user_pk, paper_pks)

    # -- "not interested" ---------------------------------------------------------------

    def dismiss(self, user_pk: int, paper_pk: int, dismissed: bool = True) -> None:
        """Mark a paper "not interested" (``dismissed=False`` undoes it): it is never
        recommended to this reader again, and it teaches the recommender what they skip."""
        if dismissed:
            self.store.dismiss(user_pk, paper_pk)
        else:
            self.store.undismiss(user_pk, paper_pk)

    def dismissed(self, user_pk: int) -> list[int]:
        return self.store.dismissed(user_pk)

    # -- exports -------------------------------------------------------------------------

    def export_json(self, view: CollectionView) -> dict[str, Any]:
        c = view.collection
        return {
            "collection": {
                "id": c.pk,
                "name": c.name,
                "public": c.public,
                "owner": c.owner_name,
                "created_at": c.created_at.isoformat(),
            },
            "papers": [
                {
                    "id": i.paper.id,
                    "title": i.paper.title,
                    "authors": list(i.paper.authors),
                    "abstract": i.paper.abstract,
                    "categories": list(i.paper.categories),
                    "published": i.paper.published.isoformat() if i.paper.published else None,
                    "doi": i.paper.doi,
                    "links": dict(i.paper.links),
                    "added_at": i.added_at.isoformat(),
                    **({"note": i.note.note, "read": i.note.read} if i.note is not None else {}),
                }
                for i in view.items
            ],
        }

    def export_bibtex(self, view: CollectionView) -> str:
        return cite.bibtex([i.paper for i in view.items])

    def export_citations(self, view: CollectionView, fmt: cite.CiteFormat) -> str:
        """The collection in a citation format (BibTeX, RIS or CSL-JSON), one entry
        per paper with keys unique within the file (:mod:`paperlens.cite`)."""
        return cite.render([i.paper for i in view.items], fmt)

"""Library storage: collections and their papers, notes and read marks, and "not
interested" dismissals. Permission checks live in :mod:`paperlens.library`; this
module only reads and writes rows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, Select, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from paperlens.errors import Conflict
from paperlens.store.community import dialect_insert
from paperlens.store.db import chunked
from paperlens.store.schema import (
    CollectionItemRow,
    CollectionRow,
    DismissalRow,
    PaperNoteRow,
    PaperRow,
    UserRow,
    public_name,
    table,
    utcnow,
)

collections_t = table(CollectionRow)
items_t = table(CollectionItemRow)
notes_t = table(PaperNoteRow)
dismissals_t = table(DismissalRow)
papers_t = table(PaperRow)
users_t = table(UserRow)


class DuplicateName(Conflict):
    pass


@dataclass(frozen=True, slots=True)
class Collection:
    pk: int
    user_pk: int
    name: str
    public: bool
    created_at: datetime
    size: int
    owner_name: str


@dataclass(frozen=True, slots=True)
class Note:
    note: str
    read: bool


class LibraryStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- collections ---------------------------------------------------------------------

    def _select_collections(self) -> Select[Any]:
        size = (
            select(items_t.c.collection_pk, func.count().label("n"))
            .join(papers_t, papers_t.c.pk == items_t.c.paper_pk)
            .where(papers_t.c.deleted.is_(False))
            .group_by(items_t.c.collection_pk)
            .subquery()
        )
        return (
            select(
                collections_t,
                func.coalesce(size.c.n, 0).label("size"),
                users_t.c.display_name,
            )
            .join(users_t, users_t.c.pk == collections_t.c.user_pk)
            .outerjoin(size, size.c.collection_pk == collections_t.c.pk)
        )

    @staticmethod
    def _collection(r: Row[Any]) -> Collection:
        name = public_name(r.display_name, r.user_pk)
        return Collection(r.pk, r.user_pk, r.name, bool(r.public), r.created_at, int(r.size), name)

    def create(self, user_pk: int, name: str, public: bool = False) -> int:
        try:
            with self.engine.begin() as conn:
                return int(
                    conn.execute(
                        collections_t.insert()
                        .values(user_pk=user_pk, name=name, public=public, created_at=utcnow())
                        .returning(collections_t.c.pk)
                    ).scalar_one()
                )
        except IntegrityError:
            raise DuplicateName(f"you already have a collection named {name!r}") from None

    def find(self, user_pk: int, name: str) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(collections_t.c.pk).where(
                    collections_t.c.user_pk == user_pk, collections_t.c.name == name
                )
            ).scalar()
        return None if value is None else int(value)

    def get(self, pk: int) -> Collection | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._select_collections().where(collections_t.c.pk == pk)).first()
        return None if row is None else self._collection(row)

    def of_user(self, user_pk: int) -> list[Collection]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                self._select_collections()
                .where(collections_t.c.user_pk == user_pk)
                .order_by(collections_t.c.created_at, collections_t.c.pk)
            ).all()
        return [self._collection(r) for r in rows]

    def update(self, pk: int, name: str | None = None, public: bool | None = None) -> None:
        values: dict[str, object] = {}
        if name is not None:
            values["name"] = name
        if public is not None:
            values["public"] = public
        if not values:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(update(collections_t).where(collections_t.c.pk == pk).values(values))
        except IntegrityError:
            raise DuplicateName(f"you already have a collection named {name!r}") from None

    def delete(self, pk: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(items_t).where(items_t.c.collection_pk == pk))
            conn.execute(delete(collections_t).where(collections_t.c.pk == pk))

    # -- items ---------------------------------------------------------------------------

    def add(self, collection_pk: int, paper_pk: int) -> None:
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, items_t).values(
                collection_pk=collection_pk, paper_pk=paper_pk, added_at=utcnow()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["collection_pk", "paper_pk"]))

    def remove(self, collection_pk: int, paper_pk: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(items_t).where(
                    items_t.c.collection_pk == collection_pk, items_t.c.paper_pk == paper_pk
                )
            )

    def items(self, collection_pk: int) -> list[tuple[int, datetime]]:
        """``(paper_pk, added_at)`` of live papers, most recently added first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(items_t.c.paper_pk, items_t.c.added_at)
                .join(papers_t, papers_t.c.pk == items_t.c.paper_pk)
                .where(items_t.c.collection_pk == collection_pk, papers_t.c.deleted.is_(False))
                .order_by(items_t.c.added_at.desc(), items_t.c.paper_pk.desc())
            ).all()
        return [(int(pk), at) for pk, at in rows]

    def saved(self, user_pk: int) -> list[int]:
        """Every live paper in any of the user's collections, most recently saved first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(items_t.c.paper_pk, func.max(items_t.c.added_at).label("at"))
                .join(collections_t, collections_t.c.pk == items_t.c.collection_pk)
                .join(papers_t, papers_t.c.pk == items_t.c.paper_pk)
                .where(collections_t.c.user_pk == user_pk, papers_t.c.deleted.is_(False))
                .group_by(items_t.c.paper_pk)
                .order_by(func.max(items_t.c.added_at).desc(), items_t.c.paper_pk.desc())
            ).all()
        return [int(r[0]) for r in rows]

    def saved_among(self, user_pk: int, paper_pks: Iterable[int]) -> set[int]:
        wanted = list(dict.fromkeys(paper_pks))
        out: set[int] = set()
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                out.update(
                    conn.execute(
                        select(items_t.c.paper_pk)
                        .join(collections_t, collections_t.c.pk == items_t.c.collection_pk)
                        .where(collections_t.c.user_pk == user_pk, items_t.c.paper_pk.in_(chunk))
                    ).scalars()
                )
        return out

    # -- notes and read marks ------------------------------------------------------------

    def set_note(
        self, user_pk: int, paper_pk: int, note: str | None = None, read: bool | None = None
    ) -> None:
        values: dict[str, object] = {"updated_at": utcnow()}
        if note is not None:
            values["note"] = note
        if read is not None:
            values["read"] = read
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, notes_t).values(
                user_pk=user_pk,
                paper_pk=paper_pk,
                note=note or "",
                read=bool(read),
                updated_at=values["updated_at"],
            )
            conn.execute(
                stmt.on_conflict_do_update(index_elements=["user_pk", "paper_pk"], set_=values)
            )

    def notes(self, user_pk: int, paper_pks: Iterable[int]) -> dict[int, Note]:
        wanted = list(dict.fromkeys(paper_pks))
        out: dict[int, Note] = {}
        with self.engine.connect() as conn:
            for chunk in chunked(wanted):
                for pk, note, read in conn.execute(
                    select(notes_t.c.paper_pk, notes_t.c.note, notes_t.c.read).where(
                        notes_t.c.user_pk == user_pk, notes_t.c.paper_pk.in_(chunk)
                    )
                ):
                    out[int(pk)] = Note(note or "", bool(read))
        return out

    # -- dismissals ----------------------------------------------------------------------

    def dismiss(self, user_pk: int, paper_pk: int) -> None:
        with self.engine.begin() as conn:
            stmt = dialect_insert(conn, dismissals_t).values(
                user_pk=user_pk, paper_pk=paper_pk, created_at=utcnow()
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_pk", "paper_pk"]))

    def undismiss(self, user_pk: int, paper_pk: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(dismissals_t).where(
                    dismissals_t.c.user_pk == user_pk, dismissals_t.c.paper_pk == paper_pk
                )
            )

    def dismissed(self, user_pk: int) -> list[int]:
        with self.engine.connect() as conn:
            return [
                int(pk)
                for pk in conn.execute(
                    select(dismissals_t.c.paper_pk)
                    .where(dismissals_t.c.user_pk == user_pk)
                    .order_by(dismissals_t.c.created_at.desc())
                ).scalars()
            ]

    # -- per-collection views (recommendations, exports) -----------------------------------

    def saved_by_collection(self, user_pk: int) -> dict[int, list[int]]:
        """Live papers of each of the user's collections (oldest collection first, papers
        most recently added first); empty collections are left out."""
        out: dict[int, list[int]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(items_t.c.collection_pk, items_t.c.paper_pk)
                .join(collections_t, collections_t.c.pk == items_t.c.collection_pk)
                .join(papers_t, papers_t.c.pk == items_t.c.paper_pk)
                .where(collections_t.c.user_pk == user_pk, papers_t.c.deleted.is_(False))
                .order_by(
                    collections_t.c.created_at,
                    collections_t.c.pk,
                    items_t.c.added_at.desc(),
                    items_t.c.paper_pk.desc(),
                )
            ).all()
        for collection_pk, paper_pk in rows:
            out.setdefault(int(collection_pk), []).append(int(paper_pk))
        return out

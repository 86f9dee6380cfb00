"""The rows a reader owns, as registered sections: each :class:`Section` exports its
rows of one account as JSON-able values, imports them into another account (on another
server) on a connection the caller holds, and deletes them. The export archive, the
import and account deletion (:mod:`paperlens.portability`) walk :data:`READER_SECTIONS`
and nothing else, so a new kind of reader data (comments, say) is one more
:class:`Section` appended there: its export, its import (or ``None`` when the data must
not move, like a digest subscription that needs a fresh opt-in) and its delete (which may
anonymise instead, e.g. keep a comment as "deleted reader" so threads keep their shape).

Invariants:

* Papers travel by their public id (``2401.00001``), never by a primary key; an id this
  server does not hold is skipped and counted, never created.
* Import runs every section on ONE connection inside one transaction (the caller's), so
  a failure anywhere leaves nothing behind. Sections validate their input and raise
  :class:`paperlens.errors.Invalid` with a message for people.
* No secret leaves: no password hash, no session, token or reset hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, or_, select, update

from paperlens.errors import Invalid
from paperlens.store.community import dialect_insert
from paperlens.store.db import chunked
from paperlens.store.schema import (
    ApiTokenRow,
    AuthorFollowRow,
    AuthorshipClaimRow,
    CollectionItemRow,
    CollectionRow,
    CommentBanRow,
    CommentReportRow,
    CommentRow,
    DismissalRow,
    NotificationPrefRow,
    NotificationRow,
    PaperNoteRow,
    PaperRow,
    PasswordResetRow,
    SessionRow,
    SubmissionJobRow,
    SubmissionRow,
    SubscriptionRow,
    UserRow,
    VoteRow,
    table,
    utcnow,
)
from paperlens.text import author_key, clean_user_text

users_t = table(UserRow)
papers_t = table(PaperRow)
collections_t = table(CollectionRow)
items_t = table(CollectionItemRow)
notes_t = table(PaperNoteRow)
votes_t = table(VoteRow)
dismissals_t = table(DismissalRow)
subs_t = table(SubscriptionRow)
submissions_t = table(SubmissionRow)
comments_t = table(CommentRow)
follows_t = table(AuthorFollowRow)
#: As long as an author name on a paper (paperlens.paper.MAX_AUTHOR_CHARS allows more;
#: the follows table keeps 300).
MAX_AUTHOR_NAME = 300
claims_t = table(AuthorshipClaimRow)
reports_t = table(CommentReportRow)
bans_t = table(CommentBanRow)
notifications_t = table(NotificationRow)
prefs_t = table(NotificationPrefRow)
jobs_t = table(SubmissionJobRow)
tokens_t = table(ApiTokenRow)
sessions_t = table(SessionRow)
resets_t = table(PasswordResetRow)

MAX_NOTE_CHARS = 10_000
MAX_NAME_CHARS = 100
MAX_ROWS = 100_000
#: An arXiv category (``cs.LG``) or archive (``cs``), as ``accounts.clean_categories``.
CATEGORY = re.compile(r"[a-z][a-z-]{0,30}(\.[A-Za-z][A-Za-z-]{0,30})?")


class Counts(dict[str, int]):
    """What an import did per section: ``imported``, ``skipped_unknown_papers``..."""

    def add(self, key: str, n: int = 1) -> None:
        self[key] = self.get(key, 0) + n


class PaperIds:
    """Public paper ids -> this server's primary keys, looked up once per id."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.known: dict[str, int | None] = {}

    def load(self, ids: Iterable[str]) -> None:
        wanted = [i for i in dict.fromkeys(ids) if i not in self.known]
        for chunk in chunked(wanted):
            found = dict(
                self.conn.execute(
                    select(papers_t.c.id, papers_t.c.pk).where(
                        papers_t.c.id.in_(chunk), papers_t.c.deleted.is_(False)
                    )
                ).all()
            )
            for i in chunk:
                self.known[i] = int(found[i]) if i in found else None

    def pk(self, paper_id: str) -> int | None:
        if paper_id not in self.known:
            self.load([paper_id])
        return self.known[paper_id]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _when(value: Any, where: str) -> datetime:
    """An ISO datetime from the archive (naive ones are UTC); ``now`` when absent."""
    if value is None:
        return utcnow()
    if not isinstance(value, str):
        raise Invalid(f"{where}: a date must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{where}: {value[:40]!r} is not an ISO 8601 date") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _rows(data: Any, section: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise Invalid(f"section {section!r} must be a list of objects")
    if len(data) > MAX_ROWS:
        raise Invalid(f"section {section!r} has more than {MAX_ROWS} rows")
    return data


def _text(row: dict[str, Any], key: str, where: str, limit: int, multiline: bool = False) -> str:
    """Text typed by a reader, cleaned as when they type it here (no NUL, control or
    bidi characters), then checked against the same limit."""
    value = row.get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{where}: {key!r} must be text")
    value = clean_user_text(value, multiline=multiline)
    if len(value) > limit:
        raise Invalid(f"{where}: {key!r} is longer than {limit} characters")
    return value


def _paper_ids(rows: Sequence[dict[str, Any]], section: str, key: str = "paper") -> list[str]:
    """The paper ids of ``rows``, each present once (a repeated id is a broken or forged
    archive, refused rather than guessed at)."""
    ids: list[str] = []
    seen: set[str] = set()
    for n, row in enumerate(rows):
        pid = row.get(key)
        if not isinstance(pid, str) or not pid or len(pid) > 128:
            raise Invalid(f"{section} #{n + 1}: {key!r} must be a paper id")
        if pid in seen:
            raise Invalid(f"{section}: paper {pid[:40]!r} appears twice")
        seen.add(pid)
        ids.append(pid)
    return ids


@dataclass(frozen=True, slots=True)
class Section:
    """One kind of reader data (see the module docstring)."""

    name: str
    export: Callable[[Connection, int], Any]
    #: ``(conn, user_pk, data, papers, counts)``; ``None``: exported, never imported.
    load: Callable[[Connection, int, Any, PaperIds, Counts], None] | None
    #: Deletes (or anonymises) the account's rows; runs before the user row goes.
    delete: Callable[[Connection, int], None]
    #: Why ``load`` is ``None``, for the import report.
    not_imported: str = ""


# -- account --------------------------------------------------------------------------------


def _export_account(conn: Connection, user_pk: int) -> dict[str, Any]:
    r = conn.execute(select(users_t).where(users_t.c.pk == user_pk)).one()
    tokens = conn.execute(
        select(
            tokens_t.c.name,
            tokens_t.c.hint,
            tokens_t.c.scope,
            tokens_t.c.created_at,
            tokens_t.c.last_used_at,
            tokens_t.c.expires_at,
        )
        .where(tokens_t.c.user_pk == user_pk)
        .order_by(tokens_t.c.pk)
    ).all()
    return {
        "email": r.email,
        "display_name": r.display_name,
        "categories": list(r.categories or []),
        "is_admin": bool(r.is_admin),
        "created_at": _iso(r.created_at),
        "email_verified_at": _iso(r.email_verified_at),
        # Names and the first characters only: a token's secret is never stored.
        "api_tokens": [
            {
                "name": t.name,
                "hint": t.hint,
                "scope": t.scope,
                "created_at": _iso(t.created_at),
                "last_used_at": _iso(t.last_used_at),
                "expires_at": _iso(t.expires_at),
            }
            for t in tokens
        ],
    }


def _load_account(
    conn: Connection, user_pk: int, data: Any, papers: PaperIds, counts: Counts
) -> None:
    """The display name (when the account has none yet) and the followed categories
    (added to this account's). The address, admin flag and tokens stay this server's."""
    if not isinstance(data, dict):
        raise Invalid("section 'account' must be an object")
    name = _text(data, "display_name", "account", MAX_NAME_CHARS)
    cats = data.get("categories", [])
    if not isinstance(cats, list) or not all(
        isinstance(c, str) and CATEGORY.fullmatch(c) for c in cats
    ):
        raise Invalid("account: 'categories' must be a list of arXiv categories")
    r = conn.execute(
        select(users_t.c.display_name, users_t.c.categories).where(users_t.c.pk == user_pk)
    ).one()
    values: dict[str, Any] = {
        "categories": list(dict.fromkeys([*(r.categories or []), *cats]))[:50]
    }
    if not r.display_name and name:
        values["display_name"] = name
    conn.execute(update(users_t).where(users_t.c.pk == user_pk).values(values))
    counts.add("account")


def _delete_account_extras(conn: Connection, user_pk: int) -> None:
    conn.execute(delete(tokens_t).where(tokens_t.c.user_pk == user_pk))
    conn.execute(delete(sessions_t).where(sessions_t.c.user_pk == user_pk))
    conn.execute(delete(resets_t).where(resets_t.c.user_pk == user_pk))


# -- collections ----------------------------------------------------------------------------


def _export_collections(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    cols = conn.execute(
        select(collections_t)
        .where(collections_t.c.user_pk == user_pk)
        .order_by(collections_t.c.created_at, collections_t.c.pk)
    ).all()
    out = []
    for c in cols:
        items = conn.execute(
            select(papers_t.c.id, items_t.c.added_at)
            .join(papers_t, papers_t.c.pk == items_t.c.paper_pk)
            .where(items_t.c.collection_pk == c.pk)
            .order_by(items_t.c.added_at, items_t.c.paper_pk)
        ).all()
        out.append(
            {
                "id": c.pk,
                "name": c.name,
                "public": bool(c.public),
                "created_at": _iso(c.created_at),
                "papers": [{"paper": pid, "added_at": _iso(at)} for pid, at in items],
            }
        )
    return out


def _load_collections(
    conn: Connection, user_pk: int, data: Any, papers: PaperIds, counts: Counts
) -> None:
    """Each collection joins the reader's collection of the same name (papers added to
    it) or becomes a new private-or-public one as it was."""
    rows = _rows(data, "collections")
    names: set[str] = set()
    ids: set[Any] = set()
    parsed = []
    for n, c in enumerate(rows):
        where = f"collection #{n + 1}"
        name = _text(c, "name", where, MAX_NAME_CHARS).strip()
        if not name:
            raise Invalid(f"{where}: a collection needs a name")
        if c.get("id") in ids or name in names:
            raise Invalid(f"collections: {name[:40]!r} (id {c.get('id')!r}) appears twice")
        ids.add(c.get("id"))
        names.add(name)
        items = _rows(c.get("papers", []), f"{where} papers")
        parsed.append(
            (name, bool(c.get("public", False)), _when(c.get("created_at"), where), items)
        )
        papers.load(_paper_ids(items, f"{where} papers"))
    for name, public, created, items in parsed:
        pk = conn.execute(
            select(collections_t.c.pk).where(
                collections_t.c.user_pk == user_pk, collections_t.c.name == name
            )
        ).scalar()
        if pk is None:
            pk = conn.execute(
                collections_t.insert()
                .values(user_pk=user_pk, name=name, public=public, created_at=created)
                .returning(collections_t.c.pk)
            ).scalar_one()
            counts.add("collections")
        for item in items:
            paper_pk = papers.pk(item["paper"])
            if paper_pk is None:
                counts.add("skipped_unknown_papers")
                continue
            stmt = dialect_insert(conn, items_t).values(
                collection_pk=pk,
                paper_pk=paper_pk,
                added_at=_when(item.get("added_at"), name),
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["collection_pk", "paper_pk"]))
            counts.add("collection_papers")


def _delete_collections(conn: Connection, user_pk: int) -> None:
    mine = select(collections_t.c.pk).where(collections_t.c.user_pk == user_pk)
    conn.execute(delete(items_t).where(items_t.c.collection_pk.in_(mine)))
    conn.execute(delete(collections_t).where(collections_t.c.user_pk == user_pk))


# -- per-paper marks: notes, votes, dismissals ----------------------------------------------


def _export_notes(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(papers_t.c.id, notes_t.c.note, notes_t.c.read, notes_t.c.updated_at)
        .join(papers_t, papers_t.c.pk == notes_t.c.paper_pk)
        .where(notes_t.c.user_pk == user_pk)
        .order_by(notes_t.c.updated_at, notes_t.c.paper_pk)
    ).all()
    return [
        {"paper": pid, "note": note, "read": bool(read), "updated_at": _iso(at)}
        for pid, note, read, at in rows
    ]


def _load_notes(
    conn: Connection, user_pk: int, data: Any, papers: PaperIds, counts: Counts
) -> None:
    rows = _rows(data, "notes")
    papers.load(_paper_ids(rows, "notes"))
    for n, row in enumerate(rows):
        note = _text(row, "note", f"note #{n + 1}", MAX_NOTE_CHARS, multiline=True)
        paper_pk = papers.pk(row["paper"])
        if paper_pk is None:
            counts.add("skipped_unknown_papers")
            continue
        values = {
            "note": note,
            "read": bool(row.get("read", False)),
            "updated_at": _when(row.get("updated_at"), f"note #{n + 1}"),
        }
        stmt = dialect_insert(conn, notes_t).values(user_pk=user_pk, paper_pk=paper_pk, **values)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["user_pk", "paper_pk"], set_=values)
        )
        counts.add("notes")


def _marks(t: Any, when_col: str, name: str) -> Section:
    """A section of (user, paper, when) rows: votes and "not interested" marks."""

    def export(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(papers_t.c.id, t.c[when_col])
            .join(papers_t, papers_t.c.pk == t.c.paper_pk)
            .where(t.c.user_pk == user_pk)
            .order_by(t.c[when_col], t.c.paper_pk)
        ).all()
        return [{"paper": pid, "at": _iso(at)} for pid, at in rows]

    def load(conn: Connection, user_pk: int, data: Any, papers: PaperIds, counts: Counts) -> None:
        rows = _rows(data, name)
        papers.load(_paper_ids(rows, name))
        for row in rows:
            paper_pk = papers.pk(row["paper"])
            if paper_pk is None:
                counts.add("skipped_unknown_papers")
                continue
            stmt = dialect_insert(conn, t).values(
                user_pk=user_pk, paper_pk=paper_pk, **{when_col: _when(row.get("at"), name)}
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_pk", "paper_pk"]))
            counts.add(name)

    def remove(conn: Connection, user_pk: int) -> None:
        conn.execute(delete(t).where(t.c.user_pk == user_pk))

    return Section(name, export, load, remove)


# -- digest subscriptions and submissions (exported, not imported) --------------------------


def _subs_of(conn: Connection, user_pk: int) -> Any:
    """The account's subscriptions: those linked to it, and those of its address once
    the address is verified (anyone may sign up with someone else's address; until it
    is verified, its subscriptions are not this account's to read or delete)."""
    email = conn.execute(
        select(users_t.c.email).where(
            users_t.c.pk == user_pk, users_t.c.email_verified_at.is_not(None)
        )
    ).scalar()
    mine = subs_t.c.user_pk == user_pk
    return mine if email is None else or_(mine, subs_t.c.email == email)


def _export_subscriptions(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(select(subs_t).where(_subs_of(conn, user_pk)).order_by(subs_t.c.pk)).all()
    return [
        {
            "email": r.email,
            "frequency": r.frequency,
            "tz": r.tz,
            "sections": list(r.sections or []),
            "searches": list(r.searches or []),
            "created_at": _iso(r.created_at),
            "confirmed_at": _iso(r.confirmed_at),
            "unsubscribed_at": _iso(r.unsubscribed_at),
        }
        for r in rows
    ]


def _delete_subscriptions(conn: Connection, user_pk: int) -> None:
    # The (verified) address is personal data even where the row is not linked to the
    # account.
    conn.execute(delete(subs_t).where(_subs_of(conn, user_pk)))


def _export_submissions(conn: Connection, user_pk: int) -> dict[str, Any]:
    credited = conn.execute(
        select(papers_t.c.id, submissions_t.c.submitted_at)
        .join(papers_t, papers_t.c.pk == submissions_t.c.paper_pk)
        .where(submissions_t.c.user_pk == user_pk)
        .order_by(submissions_t.c.submitted_at)
    ).all()
    jobs = conn.execute(
        select(jobs_t.c.arxiv_id, jobs_t.c.state, jobs_t.c.created_at, jobs_t.c.error)
        .where(jobs_t.c.user_pk == user_pk)
        .order_by(jobs_t.c.pk)
    ).all()
    return {
        "credited": [{"paper": pid, "at": _iso(at)} for pid, at in credited],
        "requests": [
            {"arxiv_id": a, "state": s, "created_at": _iso(at), "error": e} for a, s, at, e in jobs
        ],
    }


def _delete_submissions(conn: Connection, user_pk: int) -> None:
    conn.execute(delete(jobs_t).where(jobs_t.c.user_pk == user_pk))
    conn.execute(delete(submissions_t).where(submissions_t.c.user_pk == user_pk))


# -- comments (paperlens.discussions) -------------------------------------------------------


def _export_comments(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            comments_t.c.pk,
            papers_t.c.id,
            comments_t.c.parent_pk,
            comments_t.c.body,
            comments_t.c.state,
            comments_t.c.created_at,
            comments_t.c.edited_at,
        )
        .join(papers_t, papers_t.c.pk == comments_t.c.paper_pk)
        .where(comments_t.c.user_pk == user_pk, comments_t.c.state != "deleted")
        .order_by(comments_t.c.pk)
    ).all()
    return [
        {
            "id": pk,
            "paper": paper,
            "reply_to": parent,
            "markdown": body,
            "state": state,
            "created_at": _iso(created),
            "edited_at": _iso(edited) if edited else None,
        }
        for pk, paper, parent, body, state, created, edited in rows
    ]


def _delete_comments(conn: Connection, user_pk: int) -> None:
    """Comments stay, as a deleted reader's, so threads keep their shape; what is only
    about the reader (reports they made, bans, notifications, mail choice) goes."""
    conn.execute(update(comments_t).where(comments_t.c.user_pk == user_pk).values(user_pk=None))
    for t in (reports_t, bans_t, notifications_t, prefs_t):
        conn.execute(delete(t).where(t.c.user_pk == user_pk))


# -- followed authors and authorship claims (paperlens.authors) --------------------------------


def _export_follows(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(follows_t.c.name, follows_t.c.created_at)
        .where(follows_t.c.user_pk == user_pk)
        .order_by(follows_t.c.name)
    ).all()
    return [{"name": name, "created_at": _iso(at)} for name, at in rows]


def _load_follows(
    conn: Connection, user_pk: int, data: Any, papers: PaperIds, counts: Counts
) -> None:
    for n, row in enumerate(_rows(data, "following")):
        name = _text(row, "name", f"followed author #{n + 1}", MAX_AUTHOR_NAME)
        key = author_key(name)
        if not key:
            raise Invalid(f"followed author #{n + 1} has no name")
        values = {"name": name, "created_at": _when(row.get("created_at"), f"author #{n + 1}")}
        stmt = dialect_insert(conn, follows_t).values(user_pk=user_pk, author_key=key, **values)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["user_pk", "author_key"]))
        counts.add("following")


def _delete_follows(conn: Connection, user_pk: int) -> None:
    conn.execute(delete(follows_t).where(follows_t.c.user_pk == user_pk))


def _export_claims(conn: Connection, user_pk: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(
            papers_t.c.id,
            claims_t.c.author_name,
            claims_t.c.status,
            claims_t.c.reason,
            claims_t.c.created_at,
        )
        .join(papers_t, papers_t.c.pk == claims_t.c.paper_pk)
        .where(claims_t.c.user_pk == user_pk)
        .order_by(claims_t.c.pk)
    ).all()
    return [
        {"paper": pid, "as": name, "status": status, "reason": reason, "created_at": _iso(at)}
        for pid, name, status, reason, at in rows
    ]


def _delete_claims(conn: Connection, user_pk: int) -> None:
    conn.execute(delete(claims_t).where(claims_t.c.user_pk == user_pk))


#: Every kind of reader data, in import order (collections before anything that could
#: refer to them). Append a new kind here; nothing else needs to change.
READER_SECTIONS: list[Section] = [
    Section("account", _export_account, _load_account, _delete_account_extras),
    Section("collections", _export_collections, _load_collections, _delete_collections),
    Section("notes", _export_notes, _load_notes, lambda c, u: _delete_marks(c, notes_t, u)),
    _marks(votes_t, "created_at", "votes"),
    _marks(dismissals_t, "created_at", "dismissed"),
    Section(
        "subscriptions",
        _export_subscriptions,
        None,
        _delete_subscriptions,
        "a digest subscription needs confirming by mail on this server",
    ),
    Section(
        "submissions",
        _export_submissions,
        None,
        _delete_submissions,
        "submission credit belongs to the server the paper was submitted to",
    ),
    Section("following", _export_follows, _load_follows, _delete_follows),
    Section(
        "claims",
        _export_claims,
        None,
        _delete_claims,
        "an authorship claim is reviewed by the admins of the server it was made on",
    ),
    Section(
        "comments",
        _export_comments,
        None,
        _delete_comments,
        "a discussion belongs to the server it was written on",
    ),
]


def _delete_marks(conn: Connection, t: Any, user_pk: int) -> None:
    conn.execute(delete(t).where(t.c.user_pk == user_pk))


def delete_user(conn: Connection, user_pk: int) -> bool:
    """Every section's delete (last registered first), then the account itself;
    ``False`` (and nothing done) when there is no such account."""
    if conn.execute(select(users_t.c.pk).where(users_t.c.pk == user_pk)).first() is None:
        return False
    for section in reversed(READER_SECTIONS):
        section.delete(conn, user_pk)
    conn.execute(delete(users_t).where(users_t.c.pk == user_pk))
    return True

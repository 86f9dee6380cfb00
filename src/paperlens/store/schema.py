"""The database schema: SQLAlchemy 2.0 declarative tables, portable across SQLite and
PostgreSQL.

Change tracking: one global counter (``counters.name = 'seq'``) is bumped once per
write batch, and every row a batch touches in ``papers`` or ``embeddings`` takes that
value as its ``seq``. The search indexes remember the highest ``seq`` they hold and
catch up by reading rows with a larger one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; paperlens stores UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


#: Constraint names are fixed by convention so a migration can name what it alters. They
#: are PostgreSQL's own default names, so databases created before migrations (by
#: ``create_all``, unnamed constraints) already carry exactly these names.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_N_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PaperRow(Base):
    __tablename__ = "papers"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON)
    categories: Mapped[list[str]] = mapped_column(JSON)
    primary_category: Mapped[str | None] = mapped_column(String(64), index=True)
    published: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: ``[[number, iso datetime or null], ...]``
    versions: Mapped[list[list[Any]]] = mapped_column(JSON)
    version: Mapped[int | None] = mapped_column(Integer)
    doi: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    comments: Mapped[str | None] = mapped_column(Text)
    license: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    links: Mapped[dict[str, str]] = mapped_column(JSON)
    #: Digest of every field a reader sees (see :func:`paperlens.paper.make_paper`).
    content_hash: Mapped[str] = mapped_column(String(32))
    #: Digest of the text that is embedded: re-embed only when it changes.
    text_hash: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(BigInteger, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    #: When this store first held the paper's newest version: ``added_at`` for a paper
    #: first seen at that version, the write time when a new version (or a new
    #: ``updated`` date) arrived later. Digests list revisions by it.
    revised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaperCategoryRow(Base):
    """One row per (paper, category), for SQL filtering by category."""

    __tablename__ = "paper_categories"

    category: Mapped[str] = mapped_column(String(64), primary_key=True)
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True, index=True
    )


class EmbeddingRow(Base):
    """The dense vector of a paper for one model, as float16 bytes. The HNSW index is
    built from these rows, so it can be rebuilt without re-embedding."""

    __tablename__ = "embeddings"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(32))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    seq: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_embeddings_model_seq", "model", "seq"),)


class ListingRow(Base):
    """A paper featured by a curated feed on a day, e.g. Hugging Face daily papers."""

    __tablename__ = "listings"

    feed: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True, index=True
    )
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)


class CheckpointRow(Base):
    """Where an import of one source stopped; written in the same transaction as the
    papers it covers, so a resumed import never skips or repeats a committed batch."""

    __tablename__ = "ingest_checkpoints"

    source_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    position: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserRow(Base):
    """A reader's account. ``email`` is stored lower-cased; the password only as an
    argon2id hash."""

    __tablename__ = "users"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    #: arXiv categories the reader follows (``cs.LG``, or a whole archive like ``cs``):
    #: the cold-start feed for recommendations and a default digest filter.
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the reader proved the address is theirs (a signed link mailed to it,
    #: opened while signed in; or a password reset). ``None``: unverified, so no
    #: subscription or mail of the address is linked to the account.
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


def public_name(display_name: str | None, user_pk: int) -> str:
    """What other readers see as a reader's name: the display name, else a neutral
    ``reader #<pk>``, never anything taken from the email address."""
    return display_name or f"reader #{user_pk}"


class SessionRow(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is kept, so a copy
    of the database cannot be used to sign in."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class PasswordResetRow(Base):
    """A password-reset link (its token's SHA-256): expiring, usable once."""

    __tablename__ = "password_resets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiTokenRow(Base):
    """A REST API token (its SHA-256; the plaintext is shown once, at creation)."""

    __tablename__ = "api_tokens"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The first characters of the token, to tell tokens apart in the settings page.
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: ``"read"`` (GET/HEAD on the API only) or ``"write"`` (the whole API).
    scope: Mapped[str] = mapped_column(String(16), default="write", server_default="write")
    #: After this the token is refused; ``None``: until revoked.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class VoteRow(Base):
    """A reader's upvote of a paper: at most one per (user, paper), so a repeated or
    concurrent vote is a no-op (insert-or-ignore on the primary key)."""

    __tablename__ = "votes"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SubmissionRow(Base):
    """Who first submitted a paper by arXiv id (the credit shown on its page)."""

    __tablename__ = "submissions"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubmissionJobRow(Base):
    """A paper submitted by arXiv id, waiting to be fetched or fetched (the queue of
    :mod:`paperlens.jobs`; claims and leases in :mod:`paperlens.store.jobs`)."""

    __tablename__ = "submission_jobs"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    #: The canonical arXiv id (no version), checked before the row is written.
    arxiv_id: Mapped[str] = mapped_column(String(64))
    #: ``queued``, ``fetching`` (leased by a worker), ``done`` or ``failed``.
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The earliest time the next attempt may start (back-off after a failure).
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    #: Who holds the job while ``fetching``, and until when; past it, another worker
    #: takes the job over.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paper_pk: Mapped[int | None] = mapped_column(
        ForeignKey("papers.pk", ondelete="SET NULL"), nullable=True
    )
    #: Whether this job's fetch added the paper (``False``: it was already here).
    created: Mapped[bool] = mapped_column(Boolean, default=False)
    indexed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Why the job failed (for the submitter), or the last transient failure.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_submission_jobs_state_not_before", "state", "not_before"),)


class FetchPaceRow(Base):
    """One row per outside service whose pace every process shares: who may send the
    next request (``holder`` until ``lease_until``) and when the last one ended."""

    __tablename__ = "fetch_pace"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CollectionRow(Base):
    """A reader's named collection of papers; ``public`` ones are readable by anyone
    at ``/c/{pk}``, private ones by their owner only."""

    __tablename__ = "collections"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ux_collections_user_name", "user_pk", "name", unique=True),)


class CollectionItemRow(Base):
    __tablename__ = "collection_items"

    collection_pk: Mapped[int] = mapped_column(
        ForeignKey("collections.pk", ondelete="CASCADE"), primary_key=True
    )
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PaperNoteRow(Base):
    """A reader's note on a paper and whether they have read it (one per user, paper)."""

    __tablename__ = "paper_notes"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    note: Mapped[str] = mapped_column(Text, default="")
    read: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DismissalRow(Base):
    """ "Not interested": a negative example for the reader's recommendations."""

    __tablename__ = "dismissals"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SubscriptionRow(Base):
    """A digest subscription: one per address (stored lower-cased), confirmed by a link
    before anything is sent (double opt-in). ``sections`` names what a digest holds
    (``trending``, ``for_you``, ``searches``); ``searches`` are saved keyword alerts,
    ``[{"query", "categories", "author"}, ...]``."""

    __tablename__ = "digest_subscriptions"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    user_pk: Mapped[int | None] = mapped_column(
        ForeignKey("users.pk", ondelete="SET NULL"), nullable=True, index=True
    )
    #: ``daily`` (weekdays) or ``weekly``.
    frequency: Mapped[str] = mapped_column(String(16))
    #: IANA time zone: periods are the reader's local days and ISO weeks.
    tz: Mapped[str] = mapped_column(String(64))
    sections: Mapped[list[str]] = mapped_column(JSON)
    searches: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class DigestSendRow(Base):
    """The send log: one row per (subscription, period), claimed before sending and
    marked after the SMTP server accepted the mail, so a digest goes out at most once
    per period; ``window_end`` of the last finished row is where the next digest starts."""

    __tablename__ = "digest_sends"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_pk: Mapped[int] = mapped_column(
        ForeignKey("digest_subscriptions.pk", ondelete="CASCADE")
    )
    #: ``D2026-11-23`` (local day) or ``W2026-W48`` (ISO week).
    period: Mapped[str] = mapped_column(String(16))
    #: ``claimed`` (being sent, or its sender died), ``sent``, ``empty``, ``failed``.
    status: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    message_id: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    papers: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ux_digest_sends_subscription_period", "subscription_pk", "period", unique=True),
    )


class VectorIndexRow(Base):
    """The pgvector backend (PostgreSQL only; see :mod:`paperlens.index.pgvector`): one
    row per embedding model whose vectors are indexed in the database. The vectors live
    in a table of their own per model (``table_name``, created on demand because its
    column type ``halfvec(ndim)`` depends on the model); ``seq`` is the change counter
    the index is current to and ``count`` how many papers it holds."""

    __tablename__ = "vector_indexes"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(63), unique=True)
    ndim: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CounterRow(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def table(model: type[Base]) -> Table:
    """The Core table of a declarative model, typed as such for bulk statements."""
    t = model.__table__
    assert isinstance(t, Table)
    return t


class PaperLinkRow(Base):
    """A code or artifact link of a paper (see :mod:`paperlens.links`): found in its
    abstract, comments or Hugging Face fields (``origin='text'``, rewritten with every
    new version of the paper), or a Hugging Face model, dataset or Space that cites it
    (``origin='hf-repos'``, from ``/api/arxiv/{id}/repos``). ``url`` is always rebuilt
    from validated parts, so it is safe as an ``href``."""

    __tablename__ = "paper_links"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    #: ``github:owner/repo`` (lower-cased), ``hf-model:org/name``, ``web:host/path``...
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    #: ``text`` or ``hf-repos``: a key may be both (then shown once, as ``text``).
    origin: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(300))
    #: Hugging Face likes of a model, dataset or Space (None for other links).
    likes: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (Index("ix_paper_links_key", "key"),)


class RepoStatsRow(Base):
    """What the GitHub REST API last said about a repository, refreshed in the
    background (:mod:`paperlens.code`). ``etag`` makes the next request conditional (a
    304 keeps these values and costs no rate limit); ``stars_base`` is the star count
    at ``stars_base_at``, rolled forward weekly, so ``stars - stars_base`` is recent
    growth (trending may weigh it)."""

    __tablename__ = "repo_stats"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    #: ``owner/repo`` as GitHub spells it (from the last 200 answer) or as linked.
    full_name: Mapped[str] = mapped_column(String(300))
    stars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    forks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    #: GitHub answered 404/410: the repository is gone (or private).
    gone: Mapped[bool] = mapped_column(Boolean, default=False)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    etag: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: When GitHub last confirmed these values (a 200 or a 304).
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    #: When a refresh was last tried (whatever the answer).
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    stars_base: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stars_base_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PaperHfRow(Base):
    """What the Hugging Face daily-papers import carried for a paper besides the paper
    itself: its AI summary and keywords (shown labelled as Hugging Face's), the
    organization and who submitted it there, and when its citing models, datasets and
    Spaces were last fetched."""

    __tablename__ = "paper_hf"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    ai_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    ai_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    submitted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    num_comments: Mapped[int] = mapped_column(Integer, default=0)
    #: Hugging Face's own star count of the paper's repository (a fallback until
    #: the GitHub refresher has run).
    github_stars: Mapped[int | None] = mapped_column(Integer, nullable=True)
    repos_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- discussions (paperlens.discussions) ---------------------------------------------------


class CommentRow(Base):
    """A reader's comment on a paper, in a thread (``parent_pk``; ``depth`` 0 at the top).

    ``body`` is the Markdown as written; ``html`` its safe rendering
    (:func:`paperlens.markup.render`, made on write, of ``html_version``). ``state``:
    ``visible``, ``hidden`` (by a moderator: kept, shown to no one but admins) or
    ``deleted`` (body and HTML erased; the row stays so replies keep their place).
    ``user_pk`` becomes NULL when the account goes: the comment then reads as a
    deleted reader's."""

    __tablename__ = "comments"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    paper_pk: Mapped[int] = mapped_column(ForeignKey("papers.pk", ondelete="CASCADE"))
    parent_pk: Mapped[int | None] = mapped_column(
        ForeignKey("comments.pk", ondelete="CASCADE"), nullable=True
    )
    user_pk: Mapped[int | None] = mapped_column(
        ForeignKey("users.pk", ondelete="SET NULL"), nullable=True, index=True
    )
    depth: Mapped[int] = mapped_column(Integer, default=0)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    html_version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="visible")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: When it was last hidden, restored or deleted (by its author or a moderator).
    moderated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (Index("ix_comments_paper_created", "paper_pk", "created_at"),)


class CommentReportRow(Base):
    """A reader's report of a comment: one per (comment, reader). ``resolved_at`` is set
    when a moderator acts on the comment (hides, restores, deletes or dismisses)."""

    __tablename__ = "comment_reports"

    comment_pk: Mapped[int] = mapped_column(
        ForeignKey("comments.pk", ondelete="CASCADE"), primary_key=True
    )
    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class CommentBanRow(Base):
    """An account an admin barred from commenting (and editing or reporting)."""

    __tablename__ = "comment_bans"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    banned_by: Mapped[int | None] = mapped_column(
        ForeignKey("users.pk", ondelete="SET NULL"), nullable=True
    )
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationRow(Base):
    """Something a reader should see on their notifications page: a ``mention`` of
    them, or a ``reply`` to their comment. One per (reader, comment)."""

    __tablename__ = "notifications"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"))
    comment_pk: Mapped[int] = mapped_column(ForeignKey("comments.pk", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        Index("ux_notifications_user_comment", "user_pk", "comment_pk", unique=True),
        Index("ix_notifications_user_read", "user_pk", "read_at"),
    )


class NotificationPrefRow(Base):
    """A reader's choice to get mentions by mail too (absent: page only)."""

    __tablename__ = "notification_prefs"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    mail_mentions: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- authors, follows, claims and citations (revision 0008) ------------------------------


class PaperAuthorRow(Base):
    """One row per (paper, author position): the name as printed and its folded keys
    (:func:`paperlens.text.author_key`, :func:`~paperlens.text.author_variant`), written
    with the paper in the same transaction, so an author page is one index seek on
    ``key`` (and "possibly the same person" one on ``variant``) at any corpus size."""

    __tablename__ = "paper_authors"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        Index("ix_paper_authors_key_paper", "key", "paper_pk"),
        Index("ix_paper_authors_variant", "variant"),
    )


class AuthorFollowRow(Base):
    """A reader follows an author (by folded key; ``name`` as the reader chose it)."""

    __tablename__ = "author_follows"

    user_pk: Mapped[int] = mapped_column(
        ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True
    )
    author_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuthorshipClaimRow(Base):
    """A reader's claim to be an author of a paper: ``pending`` until an admin makes it
    ``approved`` or ``rejected``. One per (reader, paper)."""

    __tablename__ = "authorship_claims"

    pk: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_pk: Mapped[int] = mapped_column(ForeignKey("users.pk", ondelete="CASCADE"))
    paper_pk: Mapped[int] = mapped_column(ForeignKey("papers.pk", ondelete="CASCADE"), index=True)
    #: The paper's author name claimed (as printed on the paper), or what the reader
    #: typed when no name matched (then ``reason`` says why).
    author_name: Mapped[str] = mapped_column(String(300))
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reviewer_pk: Mapped[int | None] = mapped_column(
        ForeignKey("users.pk", ondelete="SET NULL"), nullable=True
    )

    __table_args__ = (Index("ux_authorship_claims_user_paper", "user_pk", "paper_pk", unique=True),)


class CitationRow(Base):
    """One citation: ``citing_id`` cites ``cited_id``. Ids are paper ids as this store
    writes them (an arXiv id without version) when the source knows one, else the
    source's own (``DOI:...``, ``S2:...``), so either side may lie outside the corpus;
    a paper stored later links up by id. ``citing_title``/``cited_title`` name the
    outside side for display."""

    __tablename__ = "citations"

    citing_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    cited_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    citing_title: Mapped[str | None] = mapped_column(Text, nullable=True)
    cited_title: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (Index("ix_citations_cited_id", "cited_id"),)


class CitationCountRow(Base):
    """A paper's counts from a citation source and when they were fetched
    (``found`` is false when the source did not know the paper)."""

    __tablename__ = "citation_counts"

    paper_pk: Mapped[int] = mapped_column(
        ForeignKey("papers.pk", ondelete="CASCADE"), primary_key=True
    )
    citation_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    influential_count: Mapped[int] = mapped_column(Integer, default=0)
    reference_count: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(32))
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

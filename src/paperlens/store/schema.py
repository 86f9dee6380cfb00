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


class Base(DeclarativeBase):
    pass


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


class CounterRow(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


def table(model: type[Base]) -> Table:
    """The Core table of a declarative model, typed as such for bulk statements."""
    t = model.__table__
    assert isinstance(t, Table)
    return t

"""Authors, follows, authorship claims and citations: ``paper_authors`` (folded name
keys per paper, backfilled here from ``papers.authors``), ``author_follows``,
``authorship_claims``, ``citations`` and ``citation_counts``.

The backfill walks ``papers`` by primary key in batches, so memory stays bounded at
any corpus size; it uses the same folding as ingest (:mod:`paperlens.text`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from paperlens.text import author_key, author_variant

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL_BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "paper_authors",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("variant", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("paper_authors_paper_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_pk", "position", name=op.f("paper_authors_pkey")),
    )
    op.create_index("ix_paper_authors_key_paper", "paper_authors", ["key", "paper_pk"])
    op.create_index("ix_paper_authors_variant", "paper_authors", ["variant"])
    op.create_table(
        "author_follows",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("author_key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("author_follows_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_pk", "author_key", name=op.f("author_follows_pkey")),
    )
    op.create_table(
        "authorship_claims",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("author_name", sa.String(length=300), nullable=False),
        sa.Column("matched", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(), nullable=True),
        sa.Column("reviewer_pk", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("authorship_claims_user_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("authorship_claims_paper_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_pk"],
            ["users.pk"],
            name=op.f("authorship_claims_reviewer_pk_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("authorship_claims_pkey")),
    )
    op.create_index(
        op.f("ix_authorship_claims_paper_pk"), "authorship_claims", ["paper_pk"], unique=False
    )
    op.create_index(
        op.f("ix_authorship_claims_status"), "authorship_claims", ["status"], unique=False
    )
    op.create_index(
        "ux_authorship_claims_user_paper", "authorship_claims", ["user_pk", "paper_pk"], unique=True
    )
    op.create_table(
        "citations",
        sa.Column("citing_id", sa.String(length=160), nullable=False),
        sa.Column("cited_id", sa.String(length=160), nullable=False),
        sa.Column("citing_title", sa.Text(), nullable=True),
        sa.Column("cited_title", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("citing_id", "cited_id", name=op.f("citations_pkey")),
    )
    op.create_index("ix_citations_cited_id", "citations", ["cited_id"])
    op.create_table(
        "citation_counts",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("citation_count", sa.Integer(), nullable=False),
        sa.Column("influential_count", sa.Integer(), nullable=False),
        sa.Column("reference_count", sa.Integer(), nullable=False),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("citation_counts_paper_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paper_pk", name=op.f("citation_counts_pkey")),
    )
    op.create_index(
        op.f("ix_citation_counts_citation_count"),
        "citation_counts",
        ["citation_count"],
        unique=False,
    )
    op.create_index(
        op.f("ix_citation_counts_fetched_at"), "citation_counts", ["fetched_at"], unique=False
    )
    _backfill_authors()


def _backfill_authors() -> None:
    conn = op.get_bind()
    papers = sa.table("papers", sa.column("pk", sa.Integer), sa.column("authors", sa.JSON))
    authors = sa.table(
        "paper_authors",
        sa.column("paper_pk", sa.Integer),
        sa.column("position", sa.Integer),
        sa.column("name", sa.String),
        sa.column("key", sa.String),
        sa.column("variant", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(papers.c.pk, papers.c.authors)
            .where(papers.c.pk > last)
            .order_by(papers.c.pk)
            .limit(BACKFILL_BATCH)
        ).all()
        if not rows:
            return
        values: list[dict[str, Any]] = []
        for pk, names in rows:
            if isinstance(names, str):  # JSON as text on some drivers
                names = json.loads(names)
            values.extend(author_rows(pk, names or []))
        if values:
            conn.execute(sa.insert(authors), values)
        last = rows[-1][0]


def author_rows(paper_pk: int, names: Sequence[str]) -> list[dict[str, Any]]:
    """The ``paper_authors`` rows of one paper (names without letters are skipped)."""
    out: list[dict[str, Any]] = []
    for position, name in enumerate(names):
        key = author_key(name)
        if key:
            out.append(
                {
                    "paper_pk": paper_pk,
                    "position": position,
                    "name": name[:300],
                    "key": key,
                    "variant": author_variant(name),
                }
            )
    return out


def downgrade() -> None:
    op.drop_table("citation_counts")
    op.drop_table("citations")
    op.drop_table("authorship_claims")
    op.drop_table("author_follows")
    op.drop_table("paper_authors")

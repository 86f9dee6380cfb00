"""Code and artifacts: ``paper_links`` (links found in a paper's text or Hugging Face
fields, and the models/datasets/Spaces citing it), ``repo_stats`` (GitHub stars with
their ETag and age) and ``paper_hf`` (Hugging Face's summary, keywords, organization).

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "paper_links",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("likes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("paper_links_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_pk", "key", "origin", name=op.f("paper_links_pkey")),
    )
    op.create_index("ix_paper_links_key", "paper_links", ["key"], unique=False)
    op.create_table(
        "repo_stats",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("full_name", sa.String(length=300), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("forks", sa.Integer(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("gone", sa.Boolean(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("stars_base", sa.Integer(), nullable=True),
        sa.Column("stars_base_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("repo_stats_pkey")),
    )
    op.create_index(op.f("ix_repo_stats_fetched_at"), "repo_stats", ["fetched_at"], unique=False)
    op.create_table(
        "paper_hf",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("ai_summary", sa.Text(), nullable=True),
        sa.Column("ai_keywords", sa.JSON(), nullable=False),
        sa.Column("organization", sa.String(length=200), nullable=True),
        sa.Column("submitted_by", sa.String(length=200), nullable=True),
        sa.Column("num_comments", sa.Integer(), nullable=False),
        sa.Column("github_stars", sa.Integer(), nullable=True),
        sa.Column("repos_fetched_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("paper_hf_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_pk", name=op.f("paper_hf_pkey")),
    )


def downgrade() -> None:
    op.drop_table("paper_hf")
    op.drop_index(op.f("ix_repo_stats_fetched_at"), table_name="repo_stats")
    op.drop_table("repo_stats")
    op.drop_index("ix_paper_links_key", table_name="paper_links")
    op.drop_table("paper_links")

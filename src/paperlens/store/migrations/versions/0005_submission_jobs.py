"""Submission queue: ``submission_jobs`` (papers submitted by arXiv id, fetched in the
background by :mod:`paperlens.jobs`) and ``fetch_pace`` (the shared pace of requests to
arXiv across every process).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "submission_jobs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("paper_pk", sa.Integer(), nullable=True),
        sa.Column("created", sa.Boolean(), nullable=False),
        sa.Column("indexed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("submission_jobs_user_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("submission_jobs_paper_pk_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("submission_jobs_pkey")),
    )
    op.create_index(
        op.f("ix_submission_jobs_user_pk"), "submission_jobs", ["user_pk"], unique=False
    )
    op.create_index(
        "ix_submission_jobs_state_not_before",
        "submission_jobs",
        ["state", "not_before"],
        unique=False,
    )
    op.create_table(
        "fetch_pace",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("last_done_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("fetch_pace_pkey")),
    )


def downgrade() -> None:
    op.drop_table("fetch_pace")
    op.drop_index("ix_submission_jobs_state_not_before", table_name="submission_jobs")
    op.drop_index(op.f("ix_submission_jobs_user_pk"), table_name="submission_jobs")
    op.drop_table("submission_jobs")

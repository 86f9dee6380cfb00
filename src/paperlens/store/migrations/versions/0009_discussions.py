"""Discussions on papers: ``comments`` (threaded, Markdown source plus its safe HTML),
``comment_reports`` (one per comment and reader), ``comment_bans`` (accounts barred from
commenting), ``notifications`` (mentions and replies) and ``notification_prefs`` (mail
opt-in). New tables only: nothing existing changes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("parent_pk", sa.Integer(), nullable=True),
        sa.Column("user_pk", sa.Integer(), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("html_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("edited_at", sa.DateTime(), nullable=True),
        sa.Column("moderated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("comments_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_pk"],
            ["comments.pk"],
            name=op.f("comments_parent_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("comments_user_pk_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("comments_pkey")),
    )
    op.create_index(op.f("ix_comments_user_pk"), "comments", ["user_pk"], unique=False)
    op.create_index(
        "ix_comments_paper_created", "comments", ["paper_pk", "created_at"], unique=False
    )
    op.create_table(
        "comment_reports",
        sa.Column("comment_pk", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_pk"],
            ["comments.pk"],
            name=op.f("comment_reports_comment_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("comment_reports_user_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_pk", "user_pk", name=op.f("comment_reports_pkey")),
    )
    op.create_index(
        op.f("ix_comment_reports_resolved_at"), "comment_reports", ["resolved_at"], unique=False
    )
    op.create_table(
        "comment_bans",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("banned_by", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("comment_bans_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["banned_by"],
            ["users.pk"],
            name=op.f("comment_bans_banned_by_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_pk", name=op.f("comment_bans_pkey")),
    )
    op.create_table(
        "notifications",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("comment_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("notifications_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comment_pk"],
            ["comments.pk"],
            name=op.f("notifications_comment_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("notifications_pkey")),
    )
    op.create_index(
        "ux_notifications_user_comment", "notifications", ["user_pk", "comment_pk"], unique=True
    )
    op.create_index(
        "ix_notifications_user_read", "notifications", ["user_pk", "read_at"], unique=False
    )
    op.create_table(
        "notification_prefs",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("mail_mentions", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("notification_prefs_user_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_pk", name=op.f("notification_prefs_pkey")),
    )


def downgrade() -> None:
    op.drop_table("notification_prefs")
    op.drop_index("ix_notifications_user_read", table_name="notifications")
    op.drop_index("ux_notifications_user_comment", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("comment_bans")
    op.drop_index(op.f("ix_comment_reports_resolved_at"), table_name="comment_reports")
    op.drop_table("comment_reports")
    op.drop_index("ix_comments_paper_created", table_name="comments")
    op.drop_index(op.f("ix_comments_user_pk"), table_name="comments")
    op.drop_table("comments")

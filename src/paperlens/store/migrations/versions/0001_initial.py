"""Initial schema: every table of store/schema.py as ``create_all`` made it before
migrations (so such a database is stamped with this revision).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("counters_pkey")),
    )
    op.create_table(
        "ingest_checkpoints",
        sa.Column("source_key", sa.String(length=1024), nullable=False),
        sa.Column("position", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_key", name=op.f("ingest_checkpoints_pkey")),
    )
    op.create_table(
        "papers",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("primary_category", sa.String(length=64), nullable=True),
        sa.Column("published", sa.DateTime(), nullable=True),
        sa.Column("updated", sa.DateTime(), nullable=True),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("doi", sa.Text(), nullable=True),
        sa.Column("journal_ref", sa.Text(), nullable=True),
        sa.Column("comments", sa.Text(), nullable=True),
        sa.Column("license", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("papers_pkey")),
        sa.UniqueConstraint("id", name=op.f("papers_id_key")),
    )
    op.create_index(op.f("ix_papers_added_at"), "papers", ["added_at"], unique=False)
    op.create_index(
        op.f("ix_papers_primary_category"), "papers", ["primary_category"], unique=False
    )
    op.create_index(op.f("ix_papers_published"), "papers", ["published"], unique=False)
    op.create_index(op.f("ix_papers_seq"), "papers", ["seq"], unique=False)

    op.create_table(
        "users",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk", name=op.f("users_pkey")),
        sa.UniqueConstraint("email", name=op.f("users_email_key")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("hint", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("api_tokens_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("api_tokens_pkey")),
        sa.UniqueConstraint("token_hash", name=op.f("api_tokens_token_hash_key")),
    )
    op.create_index(op.f("ix_api_tokens_user_pk"), "api_tokens", ["user_pk"], unique=False)

    op.create_table(
        "collections",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("collections_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("collections_pkey")),
    )
    op.create_index(op.f("ix_collections_user_pk"), "collections", ["user_pk"], unique=False)
    op.create_index("ux_collections_user_name", "collections", ["user_pk", "name"], unique=True)

    op.create_table(
        "digest_subscriptions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=True),
        sa.Column("frequency", sa.String(length=16), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("searches", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["users.pk"],
            name=op.f("digest_subscriptions_user_pk_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("digest_subscriptions_pkey")),
        sa.UniqueConstraint("email", name=op.f("digest_subscriptions_email_key")),
    )
    op.create_index(
        op.f("ix_digest_subscriptions_user_pk"), "digest_subscriptions", ["user_pk"], unique=False
    )

    op.create_table(
        "dismissals",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("dismissals_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("dismissals_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_pk", "paper_pk", name=op.f("dismissals_pkey")),
    )
    op.create_table(
        "embeddings",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("text_hash", sa.String(length=32), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("embeddings_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_pk", "model", name=op.f("embeddings_pkey")),
    )
    op.create_index("ix_embeddings_model_seq", "embeddings", ["model", "seq"], unique=False)

    op.create_table(
        "listings",
        sa.Column("feed", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=False),
        sa.Column("comments", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("listings_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("feed", "day", "paper_pk", name=op.f("listings_pkey")),
    )
    op.create_index(op.f("ix_listings_paper_pk"), "listings", ["paper_pk"], unique=False)

    op.create_table(
        "paper_categories",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("paper_categories_paper_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("category", "paper_pk", name=op.f("paper_categories_pkey")),
    )
    op.create_index(
        op.f("ix_paper_categories_paper_pk"), "paper_categories", ["paper_pk"], unique=False
    )

    op.create_table(
        "paper_notes",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("read", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("paper_notes_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("paper_notes_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_pk", "paper_pk", name=op.f("paper_notes_pkey")),
    )
    op.create_table(
        "password_resets",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("password_resets_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("password_resets_pkey")),
    )
    op.create_index(
        op.f("ix_password_resets_user_pk"), "password_resets", ["user_pk"], unique=False
    )

    op.create_table(
        "submissions",
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("submissions_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("submissions_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_pk", name=op.f("submissions_pkey")),
    )
    op.create_index(op.f("ix_submissions_user_pk"), "submissions", ["user_pk"], unique=False)

    op.create_table(
        "user_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("user_sessions_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("user_sessions_pkey")),
    )
    op.create_index(
        op.f("ix_user_sessions_expires_at"), "user_sessions", ["expires_at"], unique=False
    )
    op.create_index(op.f("ix_user_sessions_user_pk"), "user_sessions", ["user_pk"], unique=False)

    op.create_table(
        "votes",
        sa.Column("user_pk", sa.Integer(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_pk"], ["papers.pk"], name=op.f("votes_paper_pk_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"], ["users.pk"], name=op.f("votes_user_pk_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_pk", "paper_pk", name=op.f("votes_pkey")),
    )
    op.create_index(op.f("ix_votes_created_at"), "votes", ["created_at"], unique=False)
    op.create_index(op.f("ix_votes_paper_pk"), "votes", ["paper_pk"], unique=False)

    op.create_table(
        "collection_items",
        sa.Column("collection_pk", sa.Integer(), nullable=False),
        sa.Column("paper_pk", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_pk"],
            ["collections.pk"],
            name=op.f("collection_items_collection_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_pk"],
            ["papers.pk"],
            name=op.f("collection_items_paper_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collection_pk", "paper_pk", name=op.f("collection_items_pkey")),
    )
    op.create_index(
        op.f("ix_collection_items_paper_pk"), "collection_items", ["paper_pk"], unique=False
    )

    op.create_table(
        "digest_sends",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("window_end", sa.DateTime(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_pk"],
            ["digest_subscriptions.pk"],
            name=op.f("digest_sends_subscription_pk_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("digest_sends_pkey")),
    )
    op.create_index(
        "ux_digest_sends_subscription_period",
        "digest_sends",
        ["subscription_pk", "period"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_digest_sends_subscription_period", table_name="digest_sends")

    op.drop_table("digest_sends")
    op.drop_index(op.f("ix_collection_items_paper_pk"), table_name="collection_items")

    op.drop_table("collection_items")
    op.drop_index(op.f("ix_votes_paper_pk"), table_name="votes")
    op.drop_index(op.f("ix_votes_created_at"), table_name="votes")

    op.drop_table("votes")
    op.drop_index(op.f("ix_user_sessions_user_pk"), table_name="user_sessions")
    op.drop_index(op.f("ix_user_sessions_expires_at"), table_name="user_sessions")

    op.drop_table("user_sessions")
    op.drop_index(op.f("ix_submissions_user_pk"), table_name="submissions")

    op.drop_table("submissions")
    op.drop_index(op.f("ix_password_resets_user_pk"), table_name="password_resets")

    op.drop_table("password_resets")
    op.drop_table("paper_notes")
    op.drop_index(op.f("ix_paper_categories_paper_pk"), table_name="paper_categories")

    op.drop_table("paper_categories")
    op.drop_index(op.f("ix_listings_paper_pk"), table_name="listings")

    op.drop_table("listings")
    op.drop_index("ix_embeddings_model_seq", table_name="embeddings")

    op.drop_table("embeddings")
    op.drop_table("dismissals")
    op.drop_index(op.f("ix_digest_subscriptions_user_pk"), table_name="digest_subscriptions")

    op.drop_table("digest_subscriptions")
    op.drop_index("ux_collections_user_name", table_name="collections")
    op.drop_index(op.f("ix_collections_user_pk"), table_name="collections")

    op.drop_table("collections")
    op.drop_index(op.f("ix_api_tokens_user_pk"), table_name="api_tokens")

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_index(op.f("ix_papers_seq"), table_name="papers")
    op.drop_index(op.f("ix_papers_published"), table_name="papers")
    op.drop_index(op.f("ix_papers_primary_category"), table_name="papers")
    op.drop_index(op.f("ix_papers_added_at"), table_name="papers")

    op.drop_table("papers")
    op.drop_table("ingest_checkpoints")
    op.drop_table("counters")

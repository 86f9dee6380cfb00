"""pgvector: the ``vector`` extension (PostgreSQL only, where the server offers it) and
``vector_indexes``, the registry and watermark of the per-model vector tables that
:mod:`paperlens.index.pgvector` creates on demand.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        available = bind.execute(
            sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first()
        # Without pgvector on the server, or without the right to create it (it is not
        # a trusted extension: a superuser must), the migration goes on; the pgvector
        # backend says what is missing when it is used.
        if available is not None:
            try:
                with bind.begin_nested():
                    bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
            except sa.exc.DBAPIError:
                pass
    op.create_table(
        "vector_indexes",
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("ndim", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("vector_indexes_pkey")),
        sa.UniqueConstraint("table_name", name=op.f("vector_indexes_table_name_key")),
    )


def downgrade() -> None:
    bind = op.get_bind()
    for (name,) in bind.execute(sa.text("SELECT table_name FROM vector_indexes")).all():
        op.drop_table(name)
    op.drop_table("vector_indexes")
    # The extension stays: other databases objects may use it.

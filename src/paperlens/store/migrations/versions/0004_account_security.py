"""Account security: ``users.email_verified_at`` (an address is linked to nothing until
its owner proves it) and the scope and expiry of API tokens.

Accounts that exist before this migration start unverified: none of them ever proved
its address, so each must open a verification link (Settings offers to send one)
before a digest subscription of its address shows up in it. Existing API tokens keep
the whole API (``scope = 'write'``) and never expire, as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.DateTime(), nullable=True))
    op.add_column(
        "api_tokens",
        sa.Column("scope", sa.String(length=16), server_default="write", nullable=False),
    )
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("scope")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")

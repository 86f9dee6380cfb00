"""``papers.revised_at``: when the store first held a paper's newest version, so a
digest can list a revision of an old paper once, by when it arrived (see
:mod:`paperlens.digest.gather`). Existing rows take their ``added_at``: nothing stored
before this migration is announced as a revision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("papers", sa.Column("revised_at", sa.DateTime(), nullable=True))
    op.execute(sa.text("UPDATE papers SET revised_at = added_at"))


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("revised_at")

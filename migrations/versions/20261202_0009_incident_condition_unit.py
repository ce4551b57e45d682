"""incidents: the unit of the condition's value (ratio, seconds)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 02:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the nullable unit column (NULL: opened before this migration, shown as is).

    A plain ALTER TABLE (no batch copy) keeps the partial unique index of open incidents.
    """
    op.add_column("incidents", sa.Column("unit", sa.String(length=20), nullable=True))


def downgrade() -> None:
    """Drop the unit column."""
    op.drop_column("incidents", "unit")  # SQLite >= 3.35 and PostgreSQL drop it in place

"""incidents: status updates (when the last was posted, how many were missed)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the two status-update columns; open incidents start with none missed.

    Plain ALTER TABLEs (no batch copy) keep the partial unique index of open incidents.
    """
    op.add_column("incidents", sa.Column("last_update_at", bot.store.tables.UtcDateTime(timezone=True), nullable=True))
    op.add_column(
        "incidents",
        sa.Column("updates_missed", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    """Drop the status-update columns."""
    op.drop_column("incidents", "updates_missed")
    op.drop_column("incidents", "last_update_at")

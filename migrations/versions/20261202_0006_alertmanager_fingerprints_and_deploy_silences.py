"""alertmanager: firing alerts by fingerprint per condition; the deploy silence id

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the table of firing Alertmanager alerts; add the deploy silence id."""
    op.create_table(
        "monitoring_active_alerts",
        sa.Column("window_id", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=100), nullable=False),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("starts_at", bot.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("first_seen_at", bot.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", bot.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["window_id"],
            ["monitoring_windows.id"],
            name=op.f("fk_monitoring_active_alerts_window_id_monitoring_windows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "window_id", "condition", "fingerprint", name=op.f("pk_monitoring_active_alerts")
        ),
    )
    with op.batch_alter_table("rollout_operations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("silence_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Drop the table of firing Alertmanager alerts and the silence id."""
    with op.batch_alter_table("rollout_operations", schema=None) as batch_op:
        batch_op.drop_column("silence_id")
    op.drop_table("monitoring_active_alerts")

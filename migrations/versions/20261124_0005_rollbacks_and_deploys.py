"""rollbacks and deploys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IN_FLIGHT = "status IN ('requested', 'in_progress')"


def upgrade() -> None:
    """Create the rollout operations table and its in-flight guard."""
    op.create_table(
        "rollout_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=63), nullable=False),
        sa.Column("environment", sa.String(length=20), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("deployment", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_by_id", sa.String(length=40), nullable=False),
        sa.Column("requested_by_name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requested_at", bot.store.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("started_at", bot.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", bot.store.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("from_revision", sa.Integer(), nullable=True),
        sa.Column("to_revision", sa.Integer(), nullable=True),
        sa.Column("new_revision", sa.Integer(), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("override_reason", sa.Text(), nullable=False),
        sa.Column("progress", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("ticked", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_rollout_operations_release_id_releases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_operations")),
    )
    with op.batch_alter_table("rollout_operations", schema=None) as batch_op:
        batch_op.create_index("ix_rollout_operations_release_id", ["release_id"], unique=False)
        batch_op.create_index("ix_rollout_operations_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_rollout_operations_in_flight",
            ["kind", "namespace", "deployment"],
            unique=True,
            sqlite_where=sa.text(IN_FLIGHT),
            postgresql_where=sa.text(IN_FLIGHT),
        )


def downgrade() -> None:
    """Drop the rollout operations table."""
    with op.batch_alter_table("rollout_operations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_rollout_operations_in_flight",
            sqlite_where=sa.text(IN_FLIGHT),
            postgresql_where=sa.text(IN_FLIGHT),
        )
        batch_op.drop_index("ix_rollout_operations_status")
        batch_op.drop_index("ix_rollout_operations_release_id")
    op.drop_table("rollout_operations")

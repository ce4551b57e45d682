"""incidents, escalation and on-call overrides

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "status != 'resolved'"


def upgrade() -> None:
    """Create the incidents, incident_messages and oncall_overrides tables."""
    utc = bot.store.tables.UtcDateTime(timezone=True)
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("condition", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=2), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("opened_at", utc, nullable=False),
        sa.Column("opened_by", sa.String(length=40), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("sla", sa.JSON(), nullable=False),
        sa.Column("trigger_count", sa.Integer(), nullable=False),
        sa.Column("latest_value", sa.Float(), nullable=True),
        sa.Column("acked_by", sa.String(length=40), nullable=True),
        sa.Column("acked_at", utc, nullable=True),
        sa.Column("resolved_by", sa.String(length=40), nullable=True),
        sa.Column("resolved_at", utc, nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("response_due", utc, nullable=True),
        sa.Column("resolution_due", utc, nullable=True),
        sa.Column("responded_at", utc, nullable=True),
        sa.Column("response_sla_breached", sa.Boolean(), nullable=True),
        sa.Column("resolution_sla_breached", sa.Boolean(), nullable=True),
        sa.Column("escalation_token", sa.Integer(), nullable=False),
        sa.Column("escalation_started_at", utc, nullable=True),
        sa.Column("paged_user_ids", sa.JSON(), nullable=False),
        sa.Column("paged_channels", sa.JSON(), nullable=False),
        sa.Column("timers", sa.JSON(), nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["releases.id"],
            name=op.f("fk_incidents_release_id_releases"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_status", ["status"], unique=False)
        batch_op.create_index(
            "uq_incidents_open_release_condition",
            ["release_id", "condition"],
            unique=True,
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        )

    op.create_table(
        "incident_messages",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_messages_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "key", name=op.f("pk_incident_messages")),
    )

    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.Column("until", utc, nullable=False),
        sa.Column("set_by", sa.String(length=40), nullable=False),
        sa.Column("set_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_overrides")),
    )
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oncall_overrides_until"), ["until"], unique=False)


def downgrade() -> None:
    """Drop the incident tables."""
    with op.batch_alter_table("oncall_overrides", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oncall_overrides_until"))
    op.drop_table("oncall_overrides")
    op.drop_table("incident_messages")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_incidents_open_release_condition",
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        )
        batch_op.drop_index("ix_incidents_status")
    op.drop_table("incidents")

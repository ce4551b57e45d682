"""timers: an index of each owner's pending timers (no scan of the whole backlog)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 05:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Index an owner's pending timers in due order.

    Every incident change lists its own pending timers (`ref_id` + status); with only the
    (status, due_at) index that read walked every pending timer, so each firing cost more the
    longer the backlog. Due order in the index spares the sort. (Opening an incident already
    finds an open one through the partial unique index on release + condition.)
    """
    op.create_index(
        "ix_timers_ref_id_status_due_at", "timers", ["ref_id", "status", "due_at"], unique=False
    )


def downgrade() -> None:
    """Drop the owner index."""
    op.drop_index("ix_timers_ref_id_status_due_at", table_name="timers")

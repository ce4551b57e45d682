"""monitoring: window-long condition counts (Argo failure/inconclusive limits, points)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 05:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("total_breaches", "total_inconclusive", "consecutive_errors", "points")


def upgrade() -> None:
    """Add the counts, 0 for conditions tracked before (their windows keep today's rules)."""
    for name in _COLUMNS:
        op.add_column(
            "monitoring_condition_states",
            sa.Column(name, sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    """Drop the counts."""
    for name in reversed(_COLUMNS):
        op.drop_column("monitoring_condition_states", name)

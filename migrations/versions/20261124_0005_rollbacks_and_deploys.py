"""rollbacks and deploys

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration (reserved in the chain; filled in by its feature)."""


def downgrade() -> None:
    """Revert this migration."""

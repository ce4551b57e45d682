"""incidents, escalation and on-call overrides

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 12:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration (reserved in the chain; filled in by its feature)."""


def downgrade() -> None:
    """Revert this migration."""

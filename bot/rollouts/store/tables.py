"""Rows for rollbacks and deploys: one table of rollout operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables import Base

# Keep in step with bot.rollouts.domain.IN_FLIGHT.
IN_FLIGHT_SQL = "status IN ('requested', 'in_progress')"


class RolloutOperationRow(Base):
    """One rollback or deploy of one Deployment, from request to outcome."""

    __tablename__ = "rollout_operations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    release_id: Mapped[int] = mapped_column(ForeignKey("releases.id", ondelete="CASCADE"))
    service: Mapped[str] = mapped_column(String(63))
    environment: Mapped[str] = mapped_column(String(20))
    namespace: Mapped[str] = mapped_column(String(63))
    deployment: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(12))
    requested_by_id: Mapped[str] = mapped_column(String(40))
    requested_by_name: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    from_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    generation: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trigger: Mapped[str] = mapped_column(Text, default="")
    override_reason: Mapped[str] = mapped_column(Text, default="")
    progress: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    silence_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ticked: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # The durable "another rollback is in flight" guard: two bots, two clicks or a click
        # racing an auto-rollback cannot both insert an in-flight row for one Deployment.
        Index(
            "uq_rollout_operations_in_flight",
            "kind",
            "namespace",
            "deployment",
            unique=True,
            sqlite_where=text(IN_FLIGHT_SQL),
            postgresql_where=text(IN_FLIGHT_SQL),
        ),
        Index("ix_rollout_operations_release_id", "release_id"),
        Index("ix_rollout_operations_status", "status"),
    )

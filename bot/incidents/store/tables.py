"""ORM rows of the incident feature: incidents, their Discord messages, on-call overrides."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables import Base


class IncidentRow(Base):
    """One incident with the escalation policy and SLA table it snapshotted when it opened."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL"), nullable=True
    )
    condition: Mapped[str] = mapped_column(String(100))
    severity: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(40))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(40))
    # Snapshots: later config edits never change how an open incident escalates or is scored.
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    sla: Mapped[dict[str, Any]] = mapped_column(JSON)
    trigger_count: Mapped[int] = mapped_column(Integer, default=1)
    latest_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The condition's unit ("ratio", "seconds"); NULL for incidents opened before 0009.
    unit: Mapped[str | None] = mapped_column(String(20), nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    acked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    response_due: Mapped[datetime | None] = mapped_column(nullable=True)
    resolution_due: Mapped[datetime | None] = mapped_column(nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(nullable=True)
    response_sla_breached: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    resolution_sla_breached: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    escalation_token: Mapped[int] = mapped_column(Integer, default=0)
    escalation_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    paged_user_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    paged_channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Status updates (0012): the last one posted, and how many reminders went unanswered.
    last_update_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updates_missed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The incident's own timer list (fired ones too): the token guard reads it; the shared
    # `timers` table only holds the pending due times that wake the bot.
    timers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]
    revision: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # Two racing "condition met" events for one release+condition cannot open two incidents.
        Index(
            "uq_incidents_open_release_condition",
            "release_id",
            "condition",
            unique=True,
            sqlite_where=sql_text("status != 'resolved'"),
            postgresql_where=sql_text("status != 'resolved'"),
        ),
        Index("ix_incidents_status", "status"),
    )


class IncidentMessageRow(Base):
    """A Discord message showing an incident (edited when its state changes)."""

    __tablename__ = "incident_messages"
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)


class OncallOverrideRow(Base):
    """Someone standing in for an on-call role until a given time (set with /oncall set)."""

    __tablename__ = "oncall_overrides"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(index=True)
    set_by: Mapped[str] = mapped_column(String(40))
    set_at: Mapped[datetime]

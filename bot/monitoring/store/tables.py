"""ORM rows of post-deploy monitoring: windows, measurements, condition states, alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables import Base


class MonitoringWindowRow(Base):
    """One release's monitoring window, its schedule and the in-progress poll marker."""

    __tablename__ = "monitoring_windows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), unique=True
    )
    service: Mapped[str] = mapped_column(String(63))
    opened_at: Mapped[datetime]
    stages: Mapped[list[list[float]]] = mapped_column(JSON)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    closes_at: Mapped[datetime]
    paused_at: Mapped[datetime | None] = mapped_column(nullable=True)
    resumed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    extended_by_s: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(String(12))
    schedule_token: Mapped[int] = mapped_column(Integer, default=0)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(nullable=True)
    polls_done: Mapped[int] = mapped_column(Integer, default=0)
    polls_coalesced: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None] = mapped_column(nullable=True)
    poll_marker: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (Index("ix_monitoring_windows_status_service", "status", "service"),)


class MeasurementRow(Base):
    """One measurement of one condition: value, verdict, threshold, query, time, source."""

    __tablename__ = "monitoring_measurements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("monitoring_windows.id", ondelete="CASCADE"))
    release_id: Mapped[int] = mapped_column(Integer)
    condition: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    verdict: Mapped[str] = mapped_column(String(12))
    threshold: Mapped[float] = mapped_column(Float)
    op: Mapped[str] = mapped_column(String(2))
    query: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_monitoring_measurements_window_condition_at", "window_id", "condition", "at"),
    )


class ConditionStateRow(Base):
    """The tracker state of one condition in one window, and its silence."""

    __tablename__ = "monitoring_condition_states"
    window_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_windows.id", ondelete="CASCADE"), primary_key=True
    )
    condition: Mapped[str] = mapped_column(String(100), primary_key=True)
    consecutive_breaches: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_blind: Mapped[int] = mapped_column(Integer, default=0)
    met: Mapped[bool] = mapped_column(Boolean, default=False)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    blind: Mapped[bool] = mapped_column(Boolean, default=False)
    # Window-long counts for Argo's limits, and the conclusive points a verdict rests on.
    total_breaches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_inconclusive: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    points: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_measurement_id: Mapped[int | None] = mapped_column(
        # Named by hand: the convention's name would pass PostgreSQL's 63-character limit.
        ForeignKey(
            "monitoring_measurements.id",
            ondelete="SET NULL",
            name="fk_monitoring_condition_states_last_measurement",
        ),
        nullable=True,
    )
    silenced_until: Mapped[datetime | None] = mapped_column(nullable=True)
    silence_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    silenced_by_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    silenced_by_name: Mapped[str | None] = mapped_column(String(100), nullable=True)


class MonitoringAlertRow(Base):
    """One alert episode of one condition (first breach .. recovery, or blind .. restored)."""

    __tablename__ = "monitoring_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("monitoring_windows.id", ondelete="CASCADE"))
    release_id: Mapped[int] = mapped_column(Integer, index=True)
    service: Mapped[str] = mapped_column(String(63))
    condition: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(4))
    kind: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_event: Mapped[str] = mapped_column(String(30))
    measurement_id: Mapped[int] = mapped_column(ForeignKey("monitoring_measurements.id"))
    source: Mapped[str] = mapped_column(String(20))
    evaluations: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_by_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    acknowledged_by_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)

    __table_args__ = (
        Index("ix_monitoring_alerts_window_condition_kind", "window_id", "condition", "kind"),
    )


class ActiveAlertRow(Base):
    """One Alertmanager alert (by fingerprint) firing for a condition of a window."""

    __tablename__ = "monitoring_active_alerts"
    window_id: Mapped[int] = mapped_column(
        ForeignKey("monitoring_windows.id", ondelete="CASCADE"), primary_key=True
    )
    condition: Mapped[str] = mapped_column(String(100), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(100), primary_key=True)
    group_key: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    pushes: Mapped[int] = mapped_column(Integer, default=1)

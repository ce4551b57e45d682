"""ORM rows. Domain objects never see these; repositories translate."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Store aware datetimes as UTC and hand them back aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC to what SQLite returns naive."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict: JSON}


class TemplateRow(Base):
    """A checklist template snapshot, shared by releases started from the same text."""

    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class ReleaseRow(Base):
    """A release and its place in the process."""

    __tablename__ = "releases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str] = mapped_column(String(63))
    version: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    phase_index: Mapped[int] = mapped_column(Integer, default=0)
    lead_id: Mapped[str] = mapped_column(String(40))
    lead_name: Mapped[str] = mapped_column(String(100))
    template_id: Mapped[int] = mapped_column(ForeignKey("templates.id"))
    target_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    close_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # The database itself refuses a second active release of one service+version,
        # so two racing /release start commands cannot both win.
        Index(
            "uq_releases_active_service_version",
            "service",
            "version",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_releases_status", "status"),
    )


class ItemStateRow(Base):
    """The current state of one checklist item of one release."""

    __tablename__ = "item_states"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    actor_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[datetime | None] = mapped_column(nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    source: Mapped[str | None] = mapped_column(String(20), nullable=True)


class SignOffRow(Base):
    """A sign-off given on a release."""

    __tablename__ = "signoffs"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_name: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


class AuditRow(Base):
    """One append-only audit event."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    release_id: Mapped[int | None] = mapped_column(
        ForeignKey("releases.id", ondelete="SET NULL"), nullable=True, index=True
    )
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_name: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(20))
    detail: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class MessageRefRow(Base):
    """Which Discord message shows which part of a release (summary, phase page, sign-off)."""

    __tablename__ = "message_refs"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(30), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger, index=True)


class TimerRow(Base):
    """A durable due time: the truth the in-memory scheduler is rebuilt from."""

    __tablename__ = "timers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    ref_id: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime]
    token: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_timers_status_due_at", "status", "due_at"),
        Index("ix_timers_kind_ref_id", "kind", "ref_id"),
        # An owner's pending timers (every incident change lists them): no backlog scan.
        Index("ix_timers_ref_id_status_due_at", "ref_id", "status", "due_at"),
    )


class OutboxRow(Base):
    """A notification written with the change that caused it; delivered by the dispatcher."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    # Messages sharing an order key go out strictly in order (a PagerDuty resolve never
    # overtakes the trigger it resolves while that trigger waits for a retry).
    order_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_order_key", "order_key"),
    )


class LeadershipRow(Base):
    """Who leads the replicas on a shared PostgreSQL, and since which epoch (one row, id 1).

    A new leader increments `epoch` when it takes over; every transaction of a leader checks
    the row still holds its epoch (`bot.runtime.leader.LeaderLock.fence`), so a deposed
    leader (paused, partitioned) cannot claim a timer or an outbox message. Unused on SQLite.
    """

    __tablename__ = "leadership"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(Integer)
    holder: Mapped[str] = mapped_column(String(200))
    # Where the leader's web server answers (standbys forward Alertmanager pushes there).
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    acquired_at: Mapped[datetime]

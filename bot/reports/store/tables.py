"""ORM rows of the reports feature: recorded release metrics, feedback, retrospectives."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.store.tables import Base


class ReleaseMetricsRow(Base):
    """The figures of a release, recorded when it completed, was rolled back or aborted."""

    __tablename__ = "report_release_metrics"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    service: Mapped[str] = mapped_column(String(63), index=True)
    version: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)


class FeedbackRow(Base):
    """One person's vote (1-5) on a release, changeable, with an optional comment."""

    __tablename__ = "report_feedback"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100))
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime]


class RetrospectiveRow(Base):
    """The release lead's retrospective, submitted through the modal."""

    __tablename__ = "report_retrospectives"
    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    author_id: Mapped[str] = mapped_column(String(40))
    author_name: Mapped[str] = mapped_column(String(100))
    went_well: Mapped[str] = mapped_column(Text)
    went_badly: Mapped[str] = mapped_column(Text)
    actions: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime]

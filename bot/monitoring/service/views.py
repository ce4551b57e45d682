"""What the monitoring use-cases show: read models of windows, conditions, alerts, pushes.

Configuration is `config.py`; the hand-off events (condition met / recovered, alert
acknowledged) are `bot.core.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.core.ports import MessageRef
from bot.monitoring.domain import (
    Measurement,
    WindowSummary,
)
from bot.monitoring.domain.records import (
    AlertRecord,
    Silence,
    StoredCondition,
    WatchedCondition,
    WindowRecord,
)


@dataclass(frozen=True)
class ConditionLine:
    """One condition of a window as `/release monitor` shows it."""

    name: str
    title: str
    stored: StoredCondition | None
    watched: WatchedCondition | None

    @property
    def last(self) -> Measurement | None:
        """Return the latest measurement, if any."""
        return self.stored.state.last if self.stored else None


@dataclass(frozen=True)
class WindowView:
    """A window with everything a status message or the closing summary shows."""

    record: WindowRecord
    release_name: str
    conditions: tuple[ConditionLine, ...]
    summary: WindowSummary
    alerts: tuple[AlertRecord, ...]
    now: datetime


@dataclass(frozen=True)
class AlertView:
    """An alert's current state, its condition's series and where it was posted."""

    alert: AlertRecord
    release_name: str
    series: tuple[Measurement, ...]
    watched: WatchedCondition | None
    silence: Silence | None
    messages: tuple[MessageRef, ...]
    now: datetime
    # A relative condition's previous release, its series moved onto this window's clock.
    baseline: tuple[Measurement, ...] = ()
    baseline_label: str = ""

    @property
    def points(self) -> int:
        """Return how many conclusive measurements the alert's verdict rests on."""
        at = self.alert.measurement.at
        return sum(1 for m in self.series if m.verdict.conclusive and m.at <= at)

    @property
    def low_confidence(self) -> str:
        """Return "low confidence (n points)" below the condition's min_points, else ""."""
        needed = self.watched.min_points if self.watched is not None else 0
        if self.alert.source != "poll" or not self.alert.measurement.verdict.conclusive:
            return ""  # a pushed alert is Alertmanager's verdict; a blind one has no points
        points = self.points
        if points >= needed:
            return ""
        return f"low confidence ({points} point{'s' if points != 1 else ''})"

    @property
    def silenced(self) -> bool:
        """Return True while a silence on the alert's condition holds."""
        return self.silence is not None and self.silence.active(self.now)

    def message(self, place: str) -> MessageRef | None:
        """Return where the alert was posted in `place` ("alerts" or "thread"), if it was."""
        key = f"{self.alert.key}:{place}"
        return next((ref for ref in self.messages if ref.key == key), None)


@dataclass(frozen=True)
class IntakeReport:
    """What an Alertmanager webhook did: evaluated alerts and ignored ones, with reasons."""

    evaluated: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()

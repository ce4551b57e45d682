"""What the monitoring use-cases show and take: timer and outbox kinds, config, read models.

The hand-off events (condition met / recovered, alert acknowledged) are `bot.core.events`;
they are published inside the transaction that stored the measurement (or the
acknowledgement), so whatever their handlers write commits with it or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.ports import MessageRef, UnitOfWork
from bot.monitoring.domain import (
    DEFAULT_RETRY_AFTER,
    DEFAULT_STAGES,
    Measurement,
    Stage,
    WindowSummary,
)
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import (
    AlertRecord,
    Silence,
    StoredCondition,
    WatchedCondition,
    WindowRecord,
)
from bot.monitoring.probes.base import Probe

POLL_TIMER = "monitor.poll"
RETRY_TIMER = "monitor.retry"
LEASE_TIMER = "monitor.lease"
CLOSE_TIMER = "monitor.close"
TIMER_KINDS = (POLL_TIMER, RETRY_TIMER, LEASE_TIMER, CLOSE_TIMER)

ALERT_KIND = "alert"
"""Outbox kind of alert messages: {"alert_id": N, "event": ...}, rendered from current state."""
WINDOW_KIND = "monitor"
"""Outbox kind of window messages: {"window_id": N, "event": "opened"|"closed"|...}."""
ALERT_MESSAGE_KIND = "monitor-alert"
"""`MessageRef.kind` of a posted alert; the key is "<alert_id>:<place>"."""

EVENT_NAMES = {
    "first_breach": "first_breach",
    "condition_met": "met",
    "recovered": "recovered",
    "monitoring_blind": "blind",
    "sight_restored": "restored",
}
"""Tracker event kind -> the "event" of the alert outbox payload."""


class ProbeFactory(Protocol):
    """Build the probes of one poll (tests point them at loopback servers)."""

    def probes(self, service: str, conditions: Sequence[WatchedCondition]) -> list[Probe]:
        """Return one probe per condition, in the conditions' order."""
        ...


@dataclass(frozen=True)
class MonitoringConfig:
    """The schedule, timings and conditions the service works with (built from settings)."""

    conditions_for: Callable[[str], tuple[WatchedCondition, ...]]
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    retry_after: timedelta = DEFAULT_RETRY_AFTER
    probe_timeout: timedelta = timedelta(seconds=10)
    lease_margin: timedelta = timedelta(seconds=60)
    max_poll_attempts: int = 2
    blind_after: int = 3
    max_silence: timedelta = timedelta(days=7)
    max_extension: timedelta = timedelta(days=7)

    @property
    def lease(self) -> timedelta:
        """Return how long a claimed poll may take before another start re-runs it."""
        return self.probe_timeout + self.lease_margin


def monitoring_repo(uow: UnitOfWork) -> MonitoringRepository:
    """Return the unit of work's monitoring repository, or say where it must be added."""
    repo: MonitoringRepository | None = getattr(uow, "monitoring", None)
    if repo is None:
        raise RuntimeError(
            "this unit of work has no `monitoring` repository "
            "(SqlUnitOfWork.__aenter__ must set it)"
        )
    return repo


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

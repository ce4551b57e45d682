"""What the monitoring use-cases hand to others: events, hooks, config, read models.

The hand-off events are what other features register on (`on_condition_met`,
`on_recovered`, `on_alert_ack`); they run inside the transaction that stored the
measurement (or the acknowledgement), so whatever they write commits with it or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.actors import Actor
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


@dataclass(frozen=True)
class ConditionMetEvent:
    """A rollback condition was met: the incidents feature opens or updates an incident."""

    release_id: int
    window_id: int
    service: str
    condition: str
    title: str
    severity: str
    measurement: Measurement
    source: str
    alert_id: int
    consecutive: int = 1

    @property
    def value(self) -> float | None:
        """Return the measured value."""
        return self.measurement.value

    @property
    def threshold(self) -> float:
        """Return the threshold the value was compared with."""
        return self.measurement.threshold

    @property
    def query(self) -> str:
        """Return the query (or check) that produced the value."""
        return self.measurement.query

    @property
    def at(self) -> datetime:
        """Return when the measurement was taken."""
        return self.measurement.at


@dataclass(frozen=True)
class RecoveredEvent:
    """A condition that had breached passes again."""

    release_id: int
    window_id: int
    service: str
    condition: str
    title: str
    severity: str
    measurement: Measurement
    source: str
    alert_id: int


ConditionMetHook = Callable[[UnitOfWork, ConditionMetEvent], Awaitable[None]]
RecoveredHook = Callable[[UnitOfWork, RecoveredEvent], Awaitable[None]]
AlertAckHook = Callable[[UnitOfWork, int, str, Actor], Awaitable[None]]


@dataclass
class MonitoringHooks:
    """The hand-off hooks other features registered."""

    condition_met: list[ConditionMetHook] = field(default_factory=list)
    recovered: list[RecoveredHook] = field(default_factory=list)
    alert_ack: list[AlertAckHook] = field(default_factory=list)


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

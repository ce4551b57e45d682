"""How the monitoring use-cases are configured: timer and outbox kinds, the probe factory
port, the schedule and thresholds (`MonitoringConfig`), and the repository they work on."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot.core.ports import UnitOfWork
from bot.monitoring.domain import DEFAULT_RETRY_AFTER, DEFAULT_STAGES, Stage
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import WatchedCondition
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
    severity_labels: Mapping[str, str] = field(
        default_factory=lambda: {"critical": "P1", "warning": "P2", "info": "P3"}
    )
    max_silence: timedelta = timedelta(days=7)
    max_extension: timedelta = timedelta(days=7)
    hold_signoffs: tuple[str, ...] = ("monitoring-complete",)
    """The sign-offs an open window refuses (the seed's "Post-release monitoring completed")."""

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

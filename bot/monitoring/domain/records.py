"""Stored monitoring state: windows, watched conditions, alerts (pure records, no I/O).

A window snapshots its conditions when it opens (thresholds, breach counts, severities), so a
config edit during the 24 hours changes neither what a breach is nor who hears about it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.monitoring.domain.baseline import RelativeRule
from bot.monitoring.domain.schedule import MonitoringWindow, Stage
from bot.monitoring.domain.tracker import ConditionSpec, ConditionState
from bot.monitoring.domain.verdicts import Measurement, Operator, check_operator


class WindowStatus(StrEnum):
    """A window polls while OPEN; CLOSED ran its course; STOPPED ended early (rollback, abort)."""

    OPEN = "open"
    CLOSED = "closed"
    STOPPED = "stopped"


class AlertKind(StrEnum):
    """A breach episode (first breach .. recovery) or a blind episode (blind .. sight restored)."""

    BREACH = "breach"
    BLIND = "blind"


class AlertStatus(StrEnum):
    """Where an alert episode stands; WARNING and FIRING and BLIND are still open."""

    WARNING = "warning"
    FIRING = "firing"
    RECOVERED = "recovered"
    BLIND = "blind"
    RESTORED = "restored"
    ENDED = "ended"

    @property
    def open(self) -> bool:
        """Return True while the episode is still going on."""
        return self in (AlertStatus.WARNING, AlertStatus.FIRING, AlertStatus.BLIND)


@dataclass(frozen=True)
class WatchedCondition:
    """One condition as configured when the window opened: what to measure, what breaches."""

    name: str
    kind: str
    title: str
    severity: str
    threshold: float
    op: Operator
    breaches: int = 2
    blind_after: int = 3
    query: str = ""
    url: str | None = None
    expect_status: int = 200
    body_match: str | None = None
    timeout: timedelta | None = None
    unit: str = ""
    # Relative rule against the previous release ("" = absolute threshold only).
    baseline: str = ""
    max_increase: str | None = None
    max_decrease: str | None = None
    # Argo Rollouts' analysis settings (None = today's consecutive counts apply).
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    consecutive_error_limit: int | None = None
    initial_delay: timedelta | None = None
    min_points: int = 3

    def __post_init__(self) -> None:
        """Reject an unknown operator and counts the tracker would refuse."""
        check_operator(self.op)
        self.spec()
        self.relative_rule()

    def spec(self) -> ConditionSpec:
        """Return the tracker's spec for this condition."""
        return ConditionSpec(
            self.name,
            breaches=self.breaches,
            blind_after=self.blind_after,
            failure_limit=self.failure_limit,
            inconclusive_limit=self.inconclusive_limit,
            consecutive_error_limit=self.consecutive_error_limit,
        )

    def relative_rule(self) -> RelativeRule | None:
        """Return the rule against the baseline, or None for an absolute-only condition."""
        if not self.baseline:
            return None
        return RelativeRule.parse(self.max_increase, self.max_decrease, self.unit)

    def measured_at(self, offset: timedelta) -> bool:
        """Return False while `offset` from the deploy is before the initial delay."""
        return self.initial_delay is None or offset >= self.initial_delay

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (the timeout in seconds)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "title": self.title,
            "severity": self.severity,
            "threshold": self.threshold,
            "op": self.op,
            "breaches": self.breaches,
            "blind_after": self.blind_after,
            "query": self.query,
            "url": self.url,
            "expect_status": self.expect_status,
            "body_match": self.body_match,
            "timeout": None if self.timeout is None else self.timeout.total_seconds(),
            "unit": self.unit,
            "baseline": self.baseline,
            "max_increase": self.max_increase,
            "max_decrease": self.max_decrease,
            "failure_limit": self.failure_limit,
            "inconclusive_limit": self.inconclusive_limit,
            "consecutive_error_limit": self.consecutive_error_limit,
            "initial_delay": _seconds(self.initial_delay),
            "min_points": self.min_points,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WatchedCondition:
        """Return the condition stored by `to_json`."""
        timeout = raw.get("timeout")
        return cls(
            name=str(raw["name"]),
            kind=str(raw["kind"]),
            title=str(raw["title"]),
            severity=str(raw["severity"]),
            threshold=float(raw["threshold"]),
            op=check_operator(str(raw["op"])),
            breaches=int(raw["breaches"]),
            blind_after=int(raw["blind_after"]),
            query=str(raw.get("query") or ""),
            url=raw.get("url"),
            expect_status=int(raw.get("expect_status", 200)),
            body_match=raw.get("body_match"),
            timeout=None if timeout is None else timedelta(seconds=float(timeout)),
            unit=str(raw.get("unit") or ""),
            baseline=str(raw.get("baseline") or ""),
            max_increase=raw.get("max_increase"),
            max_decrease=raw.get("max_decrease"),
            failure_limit=_count(raw.get("failure_limit")),
            inconclusive_limit=_count(raw.get("inconclusive_limit")),
            consecutive_error_limit=_count(raw.get("consecutive_error_limit")),
            initial_delay=_duration(raw.get("initial_delay")),
            min_points=int(raw.get("min_points", 3)),
        )


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


def _duration(raw: Any) -> timedelta | None:
    return None if raw is None else timedelta(seconds=float(raw))


def _count(raw: Any) -> int | None:
    # Windows stored before the Argo settings existed have none of these keys.
    return None if raw is None else int(raw)


def stages_to_json(stages: tuple[Stage, ...]) -> list[list[float]]:
    """Return stages as [[every_seconds, until_seconds], ...]."""
    return [[s.every.total_seconds(), s.until.total_seconds()] for s in stages]


def stages_from_json(raw: list[list[float]]) -> tuple[Stage, ...]:
    """Return the stages stored by `stages_to_json`."""
    return tuple(Stage(timedelta(seconds=every), timedelta(seconds=until)) for every, until in raw)


@dataclass(frozen=True)
class PollInProgress:
    """A poll that has claimed its timer but not stored its results yet (crash marker)."""

    slot: datetime
    attempt: int
    kind: str
    lease_until: datetime
    conditions: tuple[str, ...] = ()
    retry: int = 0


@dataclass
class WindowRecord:
    """A monitoring window of one release, as stored."""

    release_id: int
    service: str
    window: MonitoringWindow
    conditions: tuple[WatchedCondition, ...]
    id: int | None = None
    status: WindowStatus = WindowStatus.OPEN
    schedule_token: int = 0
    revision: int = 0
    next_due_at: datetime | None = None
    polls_done: int = 0
    polls_coalesced: int = 0
    last_polled_at: datetime | None = None
    in_progress: PollInProgress | None = None
    closed_at: datetime | None = None

    @property
    def key(self) -> int:
        """Return the stored id (a window that was never stored has none)."""
        if self.id is None:
            raise ValueError(f"monitoring window of release #{self.release_id} is not stored yet")
        return self.id

    @property
    def is_open(self) -> bool:
        """Return True while the window still polls (or waits paused)."""
        return self.status is WindowStatus.OPEN

    def condition(self, name: str) -> WatchedCondition | None:
        """Return the watched condition `name`, if this window watches it."""
        return next((c for c in self.conditions if c.name == name), None)


@dataclass(frozen=True)
class Silence:
    """A condition's alerts muted until `until`, by whom and why."""

    until: datetime
    reason: str
    by_id: str
    by_name: str

    def active(self, now: datetime) -> bool:
        """Return True while the silence holds."""
        return now < self.until


@dataclass
class StoredCondition:
    """The tracker state of one condition of one window, plus its silence."""

    state: ConditionState
    silence: Silence | None = None

    @property
    def name(self) -> str:
        """Return the condition's name."""
        return self.state.name


@dataclass
class AlertRecord:
    """One alert episode of one condition; repeated evaluations update it in place."""

    window_id: int
    release_id: int
    service: str
    condition: str
    title: str
    severity: str
    kind: AlertKind
    status: AlertStatus
    opened_at: datetime
    updated_at: datetime
    last_event: str
    measurement: Measurement
    source: str = "poll"
    measurement_id: int | None = None
    id: int | None = None
    evaluations: int = 1
    acknowledged_by_id: str | None = None
    acknowledged_by_name: str | None = None
    acknowledged_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def key(self) -> int:
        """Return the stored id."""
        if self.id is None:
            raise ValueError(f"alert on {self.condition!r} is not stored yet")
        return self.id

    @property
    def acknowledged(self) -> bool:
        """Return True once someone acknowledged the alert."""
        return self.acknowledged_at is not None

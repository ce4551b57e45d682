"""Per-condition state across polls: consecutive breaches, blindness, and the events they raise.

Rules (pure; `observe` is the only transition):
- BREACH adds one to the consecutive-breach count. With `breaches > 1` the first breach
  raises `FirstBreach` (a warning); reaching `breaches` raises `BreachLimitReached`, once, until
  the condition recovers.
- PASS resets both counters; after a warning or a met condition it raises `Recovered`.
- INCONCLUSIVE and ERROR are "blind": they never count as a pass and they neither add to
  nor reset the breach count (breach, no data, breach is two consecutive breaches: the
  gap says nothing about health). `blind_after` blind results in a row raise
  `MonitoringBlind`, once, until a conclusive result raises `SightRestored`.

Argo Rollouts' settings replace those counts when given (per condition):
- `failure_limit` N: the condition is met when the window's BREACH results *in total* exceed
  N (a PASS does not forgive earlier breaches; it ends the episode, the next breach re-fires).
- `inconclusive_limit` N: blind when INCONCLUSIVE results in total exceed N.
- `consecutive_error_limit` N: blind when ERROR results in a row exceed N.
`points` counts the conclusive results a verdict rests on ("low confidence" below min_points).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import ClassVar

from bot.core.units import format_value
from bot.monitoring.domain.verdicts import Measurement, Verdict


@dataclass(frozen=True)
class ConditionSpec:
    """How many bad results in a row make a condition met or the monitoring blind."""

    name: str
    breaches: int = 2
    blind_after: int = 3
    failure_limit: int | None = None
    inconclusive_limit: int | None = None
    consecutive_error_limit: int | None = None

    def __post_init__(self) -> None:
        """Reject counts below one (limits below zero) and an empty name."""
        for key in ("failure_limit", "inconclusive_limit", "consecutive_error_limit"):
            limit = getattr(self, key)
            if limit is not None and limit < 0:
                raise ValueError(f"condition {self.name!r}: {key} must be >= 0, got {limit}")
        if not self.name:
            raise ValueError("condition spec needs a name")
        if self.breaches < 1:
            raise ValueError(f"condition {self.name!r}: breaches must be >= 1, got {self.breaches}")
        if self.blind_after < 1:
            raise ValueError(
                f"condition {self.name!r}: blind_after must be >= 1, got {self.blind_after}"
            )


@dataclass(frozen=True)
class ConditionState:
    """What the tracker remembers about one condition between polls."""

    name: str
    consecutive_breaches: int = 0
    consecutive_blind: int = 0
    met: bool = False
    warned: bool = False
    blind: bool = False
    last: Measurement | None = None
    total_breaches: int = 0
    total_inconclusive: int = 0
    consecutive_errors: int = 0
    points: int = 0


@dataclass(frozen=True)
class MonitoringEvent:
    """Something worth telling people about a condition, with the measurement behind it."""

    kind: ClassVar[str] = "event"
    measurement: Measurement

    @property
    def condition(self) -> str:
        """Return the condition's name."""
        return self.measurement.condition

    @property
    def at(self) -> datetime:
        """Return when the measurement behind the event was taken."""
        return self.measurement.at

    @property
    def value(self) -> float | None:
        """Return the measured value (None when there was no data)."""
        return self.measurement.value

    @property
    def threshold(self) -> float:
        """Return the threshold the value was compared with."""
        return self.measurement.threshold

    @property
    def query(self) -> str:
        """Return the query (or check) that produced the value."""
        return self.measurement.query

    def headline(self) -> str:
        """Return a short headline for a chat message."""
        return f"{self.kind}: {self.condition} = {format_value(self.value)}"

    def describe(self) -> str:
        """Return the headline followed by the full measurement line."""
        return f"{self.headline()}\n{self.measurement.describe()}"


@dataclass(frozen=True)
class FirstBreach(MonitoringEvent):
    """A first breach: a warning, the condition needs `needed` in a row to be met."""

    kind: ClassVar[str] = "first_breach"
    needed: int = 2


@dataclass(frozen=True)
class BreachLimitReached(MonitoringEvent):
    """The condition breached `consecutive` times in a row: act (page, roll back)."""

    kind: ClassVar[str] = "condition_met"
    consecutive: int = 1


@dataclass(frozen=True)
class Recovered(MonitoringEvent):
    """A pass after a warning or a met condition."""

    kind: ClassVar[str] = "recovered"


@dataclass(frozen=True)
class MonitoringBlind(MonitoringEvent):
    """`consecutive` inconclusive or errored results in a row: we cannot see the service."""

    kind: ClassVar[str] = "monitoring_blind"
    consecutive: int = 1


@dataclass(frozen=True)
class SightRestored(MonitoringEvent):
    """A conclusive result after the monitoring was blind."""

    kind: ClassVar[str] = "sight_restored"


def _blind_reached(state: ConditionState, verdict: Verdict, spec: ConditionSpec) -> bool:
    """Return True when this blind result makes the condition blind (see module rules)."""
    legacy = state.consecutive_blind >= spec.blind_after
    if verdict is Verdict.INCONCLUSIVE and spec.inconclusive_limit is not None:
        return state.total_inconclusive > spec.inconclusive_limit
    if verdict is Verdict.ERROR and spec.consecutive_error_limit is not None:
        return state.consecutive_errors > spec.consecutive_error_limit
    return legacy


def _observe_blind(
    state: ConditionState, measurement: Measurement, spec: ConditionSpec
) -> tuple[ConditionState, list[MonitoringEvent]]:
    error = measurement.verdict is Verdict.ERROR
    new = replace(
        state,
        consecutive_blind=state.consecutive_blind + 1,
        total_inconclusive=state.total_inconclusive + (0 if error else 1),
        consecutive_errors=state.consecutive_errors + 1 if error else 0,
        last=measurement,
    )
    events: list[MonitoringEvent] = []
    if not state.blind and _blind_reached(new, measurement.verdict, spec):
        events.append(MonitoringBlind(measurement, consecutive=new.consecutive_blind))
    return replace(new, blind=state.blind or bool(events)), events


def _limit_reached(breaches: int, total: int, spec: ConditionSpec) -> bool:
    if spec.failure_limit is not None:
        return total > spec.failure_limit
    return breaches >= spec.breaches


def observe(
    state: ConditionState, measurement: Measurement, spec: ConditionSpec
) -> tuple[ConditionState, list[MonitoringEvent]]:
    """Return the state after `measurement` and the events it raises, in the order to send."""
    if not (state.name == spec.name == measurement.condition):
        raise ValueError(
            f"condition mismatch: state {state.name!r}, spec {spec.name!r}, "
            f"measurement {measurement.condition!r}"
        )
    if not measurement.verdict.conclusive:
        return _observe_blind(state, measurement, spec)
    events: list[MonitoringEvent] = []
    if state.blind:
        events.append(SightRestored(measurement))
    # The window-long counts survive every episode; the consecutive ones do not.
    totals = replace(
        ConditionState(name=state.name, last=measurement),
        total_breaches=state.total_breaches,
        total_inconclusive=state.total_inconclusive,
        points=state.points + 1,
    )
    if measurement.verdict is Verdict.PASS:
        if state.warned or state.met:
            events.append(Recovered(measurement))
        return totals, events

    breaches, total = state.consecutive_breaches + 1, state.total_breaches + 1
    met, warned = state.met, state.warned
    if not met and _limit_reached(breaches, total, spec):
        met = warned = True
        events.append(BreachLimitReached(measurement, consecutive=breaches))
    elif not met and not warned:
        warned = True
        needed = spec.breaches if spec.failure_limit is None else spec.failure_limit + 1
        events.append(FirstBreach(measurement, needed=needed))
    new = replace(
        totals, consecutive_breaches=breaches, met=met, warned=warned, total_breaches=total
    )
    return new, events

"""Incident state: one status enum, durable timers, audit events and the effects to perform."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from bot.core.roles import Severity
from bot.incidents.domain.escalation import EscalationPolicy
from bot.incidents.domain.sla import SlaTable


class IncidentStatus(StrEnum):
    """Say where an incident is in its life."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


# ACKNOWLEDGED -> ACKNOWLEDGED is a re-ack: it restarts the ack timeout ("still on it").
TRANSITIONS: dict[IncidentStatus, frozenset[IncidentStatus]] = {
    IncidentStatus.TRIGGERED: frozenset({IncidentStatus.ACKNOWLEDGED, IncidentStatus.RESOLVED}),
    IncidentStatus.ACKNOWLEDGED: frozenset(
        {IncidentStatus.ACKNOWLEDGED, IncidentStatus.TRIGGERED, IncidentStatus.RESOLVED}
    ),
    IncidentStatus.RESOLVED: frozenset(),
}


class IncidentTransitionError(ValueError):
    """Reject a change that the incident's current status does not allow."""


def check_transition(current: IncidentStatus, target: IncidentStatus, what: str) -> None:
    """Raise IncidentTransitionError unless `current` may move to `target`."""
    if target not in TRANSITIONS[current]:
        raise IncidentTransitionError(f"cannot {what}: the incident is already {current.value}")


class TimerKind(StrEnum):
    """Name what a durable timer does when it comes due."""

    ESCALATION_STEP = "escalation_step"
    SECONDARY = "secondary"
    ACK_TIMEOUT = "ack_timeout"
    RESPONSE_REMINDER = "response_reminder"
    RESPONSE_BREACH = "response_breach"
    RESOLUTION_REMINDER = "resolution_reminder"
    RESOLUTION_BREACH = "resolution_breach"
    STATUS_UPDATE = "status_update"


@dataclass(frozen=True, slots=True)
class Timer:
    """Hold one absolute due time; it acts only while its token is the incident's token."""

    kind: TimerKind
    due_at: datetime
    step_index: int | None
    token: int
    fired: bool = False

    @property
    def key(self) -> str:
        """Return a stable id for this timer within its incident (for scheduler job ids)."""
        step = "-" if self.step_index is None else str(self.step_index)
        return f"{self.kind.value}:{step}:{self.token}:{int(self.due_at.timestamp() * 1000)}"

    def same_as(self, other: Timer) -> bool:
        """Return True if `other` is this timer, whether or not either copy has fired.

        Due times match to within a second, and a naive one is read as UTC: a copy that went
        through a database (lost microseconds or tzinfo) must still be recognised.
        """
        if (self.kind, self.step_index, self.token) != (
            TimerKind(other.kind),
            other.step_index,
            other.token,
        ):
            return False
        return abs(_epoch(self.due_at) - _epoch(other.due_at)) < 1.0


def _epoch(moment: datetime) -> float:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.timestamp()


class IncidentAction(StrEnum):
    """Name an entry of the incident's audit trail."""

    OPEN = "open"
    PAGE = "page"
    ESCALATE = "escalate"
    ACK = "ack"
    ACK_TIMEOUT = "ack_timeout"
    RESOLVE = "resolve"
    SEVERITY_CHANGE = "severity_change"
    RETRIGGER = "retrigger"
    SLA_REMINDER = "sla_reminder"
    SLA_BREACH = "sla_breach"
    ESCALATE_NOW = "escalate_now"
    STATUS_UPDATE = "status_update"
    UPDATE_MISSED = "update_missed"


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """Record who did what to an incident, and when (also returned as an effect to audit)."""

    action: IncidentAction
    actor: str
    detail: str
    at: datetime


StepDeadlines = tuple[tuple[str, datetime], ...]


@dataclass(frozen=True, slots=True)
class Page:
    """Page `recipients` for escalation step `step_index` through `channels`."""

    step_index: int
    target: str
    recipients: tuple[str, ...]
    channels: tuple[str, ...]
    deadline_of_each_step: StepDeadlines
    loop: int = 1
    loops: int = 1


@dataclass(frozen=True, slots=True)
class Repage:
    """Page the acknowledger again: they acked but the incident outlived the ack timeout."""

    acknowledger: str
    channels: tuple[str, ...]
    deadline_of_each_step: StepDeadlines


@dataclass(frozen=True, slots=True)
class Announce:
    """Tell a severity's notify audience (role keys or "everyone") about the incident."""

    audience: tuple[str, ...]
    reason: str


@dataclass(frozen=True, slots=True)
class SlaReminder:
    """Warn that the response or resolution deadline is close."""

    kind: str
    deadline: datetime


@dataclass(frozen=True, slots=True)
class SlaBreached:
    """Say that the response or resolution deadline has passed."""

    kind: str
    deadline: datetime


@dataclass(frozen=True, slots=True)
class ExternalUpdate:
    """Tell outside pagers (PagerDuty, webhooks) that the incident was acked/resolved/re-opened."""

    action: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UpdateReminder:
    """Remind the incident's owners that a status update is overdue (the `missed`-th one)."""

    owners: tuple[str, ...]
    missed: int
    every: timedelta


@dataclass(frozen=True, slots=True)
class StatusUpdate:
    """Post a responder's status update to the severity's notify audience."""

    author: str
    text: str
    audience: tuple[str, ...]


Effect = (
    Page
    | Repage
    | Announce
    | SlaReminder
    | SlaBreached
    | ExternalUpdate
    | UpdateReminder
    | StatusUpdate
    | IncidentEvent
)


@dataclass(frozen=True, slots=True)
class Incident:
    """Hold one incident, with the policy and SLA it snapshotted when it opened."""

    id: int | None
    release_id: int | None
    condition: str
    severity: Severity
    title: str
    opened_at: datetime
    opened_by: str
    source: str
    policy: EscalationPolicy
    sla: SlaTable
    status: IncidentStatus = IncidentStatus.TRIGGERED
    trigger_count: int = 1
    latest_value: float | None = None
    # How `latest_value` reads ("ratio": a percentage, "seconds": ms; "" as is, e.g. incidents
    # opened before the unit was stored).
    unit: str = ""
    acked_by: str | None = None
    acked_at: datetime | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    response_due: datetime | None = None
    resolution_due: datetime | None = None
    responded_at: datetime | None = None
    response_sla_breached: bool | None = None
    resolution_sla_breached: bool | None = None
    escalation_token: int = 0
    escalation_started_at: datetime | None = None
    paged_user_ids: tuple[str, ...] = ()
    paged_channels: tuple[str, ...] = ()
    # Status updates: when the last one was posted, and how many reminders went unanswered.
    last_update_at: datetime | None = None
    updates_missed: int = 0
    timers: tuple[Timer, ...] = ()
    events: tuple[IncidentEvent, ...] = ()

    @property
    def is_open(self) -> bool:
        """Return True until the incident is resolved."""
        return self.status is not IncidentStatus.RESOLVED

    def pending_timers(self) -> tuple[Timer, ...]:
        """Return the timers a scheduler must hold: unfired, current token, soonest first."""
        live = (t for t in self.timers if not t.fired and t.token == self.escalation_token)
        return tuple(sorted(live, key=lambda t: t.due_at))

    def next_due(self) -> datetime | None:
        """Return the due time of the soonest pending timer, if any."""
        pending = self.pending_timers()
        return pending[0].due_at if pending else None

    def time_to_respond(self) -> timedelta | None:
        """Return how long the first acknowledgement (or resolution) took, if there was one."""
        return None if self.responded_at is None else self.responded_at - self.opened_at

    def escalation_schedule(self, loop: int = 1) -> StepDeadlines:
        """Return (target, absolute time) for each step of loop `loop` of the current run."""
        start = self.loop_start(loop)
        return tuple((s.target, start + s.after) for s in self.policy.steps)

    def loop_start(self, loop: int) -> datetime:
        """Return when loop `loop` (1 = the first run) of the current escalation run starts."""
        anchor = self.escalation_started_at or self.opened_at
        return anchor + (loop - 1) * self.policy.loop_period

    def loop_at(self, moment: datetime) -> int:
        """Return the loop (1..policy.loops) of the current run that `moment` falls in."""
        anchor = self.escalation_started_at or self.opened_at
        passed = int((moment - anchor) / self.policy.loop_period) if moment > anchor else 0
        return min(passed + 1, self.policy.loops)

    def update_due(self) -> datetime | None:
        """Return when the next status update is due, if the severity has a cadence."""
        every = self.sla.for_severity(self.severity).update_every
        if every is None or not self.is_open:
            return None
        return (self.last_update_at or self.opened_at) + every


@dataclass(frozen=True, slots=True)
class AckVerdict:
    """Say whether an actor may acknowledge or resolve, and why (for the audit log)."""

    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        """Return `allowed`, so a verdict reads naturally in an `if`."""
        return self.allowed


ACK_ROLES = ("oncall", "tech_lead", "eng_manager")


def may_acknowledge(
    actor_id: str,
    actor_roles: Collection[str],
    incident: Incident,
    paged_user_ids: Collection[str] | None = None,
    ack_roles: Collection[str] = ACK_ROLES,
) -> AckVerdict:
    """Return whether `actor_id` may ack or resolve: anyone paged, or a holder of `ack_roles`."""
    if not incident.is_open:
        return AckVerdict(False, "the incident is already resolved")
    paged = incident.paged_user_ids if paged_user_ids is None else paged_user_ids
    if actor_id in paged:
        return AckVerdict(True, "was paged for this incident")
    held = sorted(set(actor_roles) & set(ack_roles))
    if held:
        return AckVerdict(True, f"holds role {held[0]}")
    wanted = ", ".join(ack_roles)
    return AckVerdict(False, f"only people paged for this incident or holders of {wanted} may")

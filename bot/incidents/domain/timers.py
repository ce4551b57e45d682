"""Timer planning for incidents: which durable timers exist and when each may act."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.incidents.domain.escalation import EscalationPolicy
from bot.incidents.domain.model import Incident, IncidentStatus, Timer, TimerKind

SLA_KINDS: dict[TimerKind, str] = {
    TimerKind.RESPONSE_REMINDER: "response",
    TimerKind.RESPONSE_BREACH: "response",
    TimerKind.RESOLUTION_REMINDER: "resolution",
    TimerKind.RESOLUTION_BREACH: "resolution",
}
RESOLUTION_KINDS = {TimerKind.RESOLUTION_REMINDER, TimerKind.RESOLUTION_BREACH}
# What an ack (or its timeout) carries to the new token: resolution alarms and the update cadence.
CARRIED_KINDS = RESOLUTION_KINDS | {TimerKind.STATUS_UPDATE}


def sla_timers(incident: Incident, now: datetime, include_response: bool) -> tuple[Timer, ...]:
    """Return reminder and breach timers for the incident's current deadlines."""
    before = incident.policy.reminder_before
    plan = [(incident.resolution_due, TimerKind.RESOLUTION_REMINDER, TimerKind.RESOLUTION_BREACH)]
    if include_response:
        plan.insert(
            0, (incident.response_due, TimerKind.RESPONSE_REMINDER, TimerKind.RESPONSE_BREACH)
        )
    timers: list[Timer] = []
    for due, reminder_kind, breach_kind in plan:
        if due is None:
            continue
        # A reminder that would sound at (or before) the opening itself tells nobody anything.
        if before > timedelta(0) and due > now and due - before > incident.opened_at:
            timers.append(Timer(reminder_kind, due - before, None, incident.escalation_token))
        timers.append(Timer(breach_kind, due, None, incident.escalation_token))
    return tuple(timers)


def step_timers(
    policy: EscalationPolicy, first: int, anchor: datetime, token: int
) -> tuple[Timer, ...]:
    """Return escalation-step timers from step `first` on, counted from `anchor`.

    With `repeat`, the later loops are planned at once (each a loop period after the one
    before, every step from step 0): an ack retokens them all away, a restart finds them
    stored, and Escalate now leaves their due times as they are.
    """
    return tuple(
        Timer(
            TimerKind.ESCALATION_STEP, anchor + loop * policy.loop_period + s.after, s.index, token
        )
        for loop in range(policy.loops)
        for s in policy.steps[(first if loop == 0 else 0) :]
    )


def update_timer(incident: Incident, now: datetime) -> tuple[Timer, ...]:
    """Return the status-update reminder due next (none without a cadence), at `now` at the
    earliest: a cadence shortened by a severity change reminds at once, not in the past."""
    due = incident.update_due()
    if due is None:
        return ()
    return (Timer(TimerKind.STATUS_UPDATE, max(due, now), None, incident.escalation_token),)


def without_pending(timers: tuple[Timer, ...], kind: TimerKind) -> tuple[Timer, ...]:
    """Return `timers` less the unfired ones of `kind` (fired ones stay as history)."""
    return tuple(t for t in timers if t.fired or t.kind is not kind)


def retoken(timers: tuple[Timer, ...], keep: set[TimerKind], token: int) -> tuple[Timer, ...]:
    """Keep fired timers as history, carry unfired `keep` kinds to `token`, drop the rest."""
    history = tuple(t for t in timers if t.fired)
    carried = tuple(replace(t, token=token) for t in timers if not t.fired and t.kind in keep)
    return history + carried


def in_state_for(incident: Incident, kind: TimerKind) -> bool:
    """Return True if a timer of `kind` may act on the incident in its current state."""
    if kind in (TimerKind.ESCALATION_STEP, TimerKind.SECONDARY):
        return incident.status is IncidentStatus.TRIGGERED
    if kind is TimerKind.ACK_TIMEOUT:
        return incident.status is IncidentStatus.ACKNOWLEDGED
    if kind in (TimerKind.RESPONSE_REMINDER, TimerKind.RESPONSE_BREACH):
        return incident.is_open and incident.responded_at is None
    return incident.is_open

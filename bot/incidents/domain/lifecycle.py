"""Incident lifecycle as pure functions: each returns the new incident and the effects to perform.

Nothing here does I/O. A caller stores the new incident, turns the effects into outbox
messages in the same transaction, and (re)schedules `incident.pending_timers()`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.core.roles import Severity
from bot.incidents.domain.cadence import update_missed
from bot.incidents.domain.escalation import ONCALL, SECONDARY, EscalationPolicy
from bot.incidents.domain.model import (
    ACK_ROLES,
    TRANSITIONS,
    AckVerdict,
    Announce,
    Effect,
    ExternalUpdate,
    Incident,
    IncidentAction,
    IncidentEvent,
    IncidentStatus,
    IncidentTransitionError,
    Page,
    Repage,
    SlaBreached,
    SlaReminder,
    StepDeadlines,
    Timer,
    TimerKind,
    check_transition,
    may_acknowledge,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import SlaTable, describe_duration, until_words
from bot.incidents.domain.timers import (
    CARRIED_KINDS,
    SLA_KINDS,
    in_state_for,
    retoken,
    sla_timers,
    step_timers,
    update_timer,
    without_pending,
)

__all__ = [
    "ACK_ROLES",
    "TRANSITIONS",
    "AckVerdict",
    "Announce",
    "Effect",
    "ExternalUpdate",
    "Incident",
    "IncidentAction",
    "IncidentEvent",
    "IncidentStatus",
    "IncidentTransitionError",
    "Page",
    "Repage",
    "SlaBreached",
    "SlaReminder",
    "Timer",
    "TimerKind",
    "acknowledge",
    "change_severity",
    "escalate_now",
    "fire_due",
    "fire_timer",
    "may_acknowledge",
    "open_incident",
    "resolve",
    "retrigger",
]

TIMER_ACTOR = "timer"
Outcome = tuple[Incident, list[Effect]]
_EXTERNAL = ("pagerduty", "webhook")


def _aware(now: datetime, what: str) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"{what}: time must be timezone-aware (UTC)")
    return now


def _event(
    incident: Incident,
    action: IncidentAction,
    actor: str,
    detail: str,
    at: datetime,
    **changes: Any,
) -> tuple[Incident, IncidentEvent]:
    # One replace() per change: an incident has ~30 fields and replace() dominates the cost.
    event = IncidentEvent(action, actor, detail, at)
    return replace(incident, events=(*incident.events, event), **changes), event


def open_incident(
    release_id: int | None,
    condition: str,
    severity: Severity,
    title: str,
    value: float | None,
    now: datetime,
    policy: EscalationPolicy,
    sla_policy: SlaTable,
    source: str,
    actor: str,
    roster: Roster,
    reading: str | None = None,
    unit: str = "",
) -> Outcome:
    """Open an incident, snapshotting `policy` and `sla_policy`, and page step 0 at once.

    `reading` is the value as people read it ("5.1 %"), shown instead of the raw number;
    `unit` is the condition's unit, kept so the incident message reads its latest value too.
    """
    _aware(now, "open_incident")
    for name, text in (("condition", condition), ("title", title), ("source", source)):
        if not text or not text.strip():
            raise ValueError(f"open_incident: {name} must not be empty")
    response_due, resolution_due = sla_policy.deadlines(severity, now)
    incident = Incident(
        id=None,
        release_id=release_id,
        condition=condition,
        severity=severity,
        title=title.strip(),
        opened_at=now,
        opened_by=actor,
        source=source,
        policy=policy,
        sla=sla_policy,
        latest_value=value,
        unit=unit,
        response_due=response_due,
        resolution_due=resolution_due,
        escalation_started_at=now,
    )
    timers = step_timers(policy, 0, now, 0) + sla_timers(incident, now, include_response=True)
    if policy.steps[0].target == ONCALL:
        timers += (Timer(TimerKind.SECONDARY, now + policy.secondary_after, 0, 0),)
    incident = replace(incident, timers=timers + update_timer(incident, now))
    sla = sla_policy.for_severity(severity)
    measured = "" if value is None else f" (value {reading or format(value, 'g')})"
    detail = (
        f"{severity.value} {condition}: {incident.title}{measured}; "
        f"respond in {describe_duration(sla.response)}, "
        f"resolve in {describe_duration(sla.resolution)}"
    )
    incident, opened = _event(incident, IncidentAction.OPEN, actor, detail, now)
    effects: list[Effect] = [opened]
    if sla.notify:
        effects.append(Announce(sla.notify, f"{severity.value} incident opened"))
    incident, fired = fire_due(incident, now, roster)
    return incident, effects + fired


def retrigger(
    incident: Incident,
    value: float | None,
    now: datetime,
    source: str = "monitoring",
    reading: str | None = None,
    unit: str | None = None,
) -> Outcome:
    """Count a repeat of the same condition on an open incident: no new incident, no re-page.

    `unit` (when given) replaces the stored one: the latest value is read in its own unit.
    """
    _aware(now, "retrigger")
    if not incident.is_open:
        raise IncidentTransitionError("cannot retrigger: the incident is already resolved")
    count = incident.trigger_count + 1
    shown = reading or ("" if value is None else format(value, "g"))
    detail = f"seen again (#{count})" + ("" if value is None else f", value {shown}")
    incident, event = _event(
        incident, IncidentAction.RETRIGGER, source, detail, now,
        trigger_count=count, latest_value=value,
        unit=incident.unit if unit is None else unit,
    )  # fmt: skip
    return incident, [event]


def fire_due(incident: Incident, now: datetime, roster: Roster) -> Outcome:
    """Fire every pending timer due by `now`, oldest first (start-up catch-up uses this too)."""
    return _fire_due(incident, now, roster, set(TimerKind))


def _fire_due(
    incident: Incident, now: datetime, roster: Roster | None, kinds: set[TimerKind]
) -> Outcome:
    effects: list[Effect] = []
    tried: set[str] = set()
    # Re-read the pending list after each firing: an ack timeout adds timers that may be due too.
    while True:
        due = [
            t
            for t in incident.pending_timers()
            if t.due_at <= now and t.kind in kinds and t.key not in tried
        ]
        if not due:
            return incident, effects
        tried.add(due[0].key)
        incident, fired = fire_timer(incident, due[0], now, roster)
        effects += fired


def fire_timer(incident: Incident, timer: Timer, now: datetime, roster: Roster | None) -> Outcome:
    """Act on `timer` exactly once; a stale, fired, early or out-of-state timer does nothing."""
    _aware(now, "fire_timer")
    position = next((i for i, t in enumerate(incident.timers) if t.same_as(timer)), None)
    if position is None:
        return incident, []
    # From here on use the incident's own copy: the caller's may have lost its timezone.
    timer = incident.timers[position]
    if (
        timer.fired
        or timer.token != incident.escalation_token
        or now < timer.due_at
        or not in_state_for(incident, timer.kind)
    ):
        return incident, []
    marked = list(incident.timers)
    marked[position] = replace(timer, fired=True)
    if timer.kind in (TimerKind.ESCALATION_STEP, TimerKind.SECONDARY):
        if roster is None:
            raise ValueError("fire_timer: escalation timers need the on-call roster")
        return _page(incident, timer, tuple(marked), now, roster)
    if timer.kind is TimerKind.ACK_TIMEOUT:
        return _ack_timed_out(incident, tuple(marked), now)
    if timer.kind is TimerKind.STATUS_UPDATE:
        return update_missed(incident, timer, tuple(marked), now, roster)
    return _sla_alarm(incident, timer, tuple(marked), now)


def _page(
    incident: Incident, timer: Timer, timers: tuple[Timer, ...], now: datetime, roster: Roster
) -> Outcome:
    index = timer.step_index if timer.step_index is not None else 0
    step = incident.policy.steps[index]
    target = SECONDARY if timer.kind is TimerKind.SECONDARY else step.target
    channels: tuple[str, ...] = ("channel", "dm")
    if timer.kind is TimerKind.ESCALATION_STEP:
        channels = step.channels
    recipients = roster.who_for(target, now)
    if timer.kind is TimerKind.SECONDARY and not recipients:
        # No secondary configured: say so in the timeline instead of posting an empty page.
        detail = "no secondary on call to page"
        incident, event = _event(
            incident, IncidentAction.PAGE, TIMER_ACTOR, detail, now, timers=timers
        )
        return incident, [event]
    action = IncidentAction.PAGE if index == 0 else IncidentAction.ESCALATE
    who = ", ".join(recipients) or "nobody (no one holds this role)"
    detail = f"step {index} {target} -> {who} via {', '.join(channels)}"
    # The timer's own due time says which loop it belongs to (Escalate now fires it early).
    loop = incident.loop_at(timer.due_at)
    if incident.policy.repeat:
        detail += f" (loop {loop} of {incident.policy.loops})"
    incident, event = _event(
        incident,
        action,
        TIMER_ACTOR,
        detail,
        now,
        timers=timers,
        paged_user_ids=tuple(dict.fromkeys((*incident.paged_user_ids, *recipients))),
        paged_channels=tuple(dict.fromkeys((*incident.paged_channels, *channels))),
    )
    page = Page(
        index, target, recipients, channels, incident.escalation_schedule(loop),
        loop=loop, loops=incident.policy.loops,
    )  # fmt: skip
    return incident, [event, page]


def _ack_timed_out(incident: Incident, timers: tuple[Timer, ...], now: datetime) -> Outcome:
    acknowledger = incident.acked_by or ""
    check_transition(incident.status, IncidentStatus.TRIGGERED, "re-trigger")
    token = incident.escalation_token + 1
    # Step 0 of the new run is the acknowledger; later steps escalate from now if they stay quiet.
    renewed = retoken(timers, CARRIED_KINDS, token) + step_timers(incident.policy, 1, now, token)
    detail = f"no resolution {incident.policy.ack_timeout} after the ack; re-paging {acknowledger}"
    incident, event = _event(
        incident,
        IncidentAction.ACK_TIMEOUT,
        TIMER_ACTOR,
        detail,
        now,
        status=IncidentStatus.TRIGGERED,
        escalation_token=token,
        escalation_started_at=now,
        timers=renewed,
    )
    schedule: StepDeadlines = (
        (f"user:{acknowledger}", now),
        *incident.escalation_schedule()[1:],
    )
    effects: list[Effect] = [event, Repage(acknowledger, ("channel", "dm"), schedule)]
    return incident, effects + _external(incident, "trigger")


def _sla_alarm(
    incident: Incident, timer: Timer, timers: tuple[Timer, ...], now: datetime
) -> Outcome:
    which = SLA_KINDS[timer.kind]
    due = incident.response_due if which == "response" else incident.resolution_due
    deadline = due if due is not None else timer.due_at
    if timer.kind in (TimerKind.RESPONSE_BREACH, TimerKind.RESOLUTION_BREACH):
        incident, event = _event(
            incident,
            IncidentAction.SLA_BREACH,
            TIMER_ACTOR,
            f"{which} SLA breached (deadline {deadline.isoformat()})",
            now,
            timers=timers,
            **{f"{which}_sla_breached": True},
        )
        return incident, [event, SlaBreached(which, deadline)]
    incident, event = _event(
        incident,
        IncidentAction.SLA_REMINDER,
        TIMER_ACTOR,
        f"{which} deadline {until_words(deadline, now)} ({deadline.isoformat()})",
        now,
        timers=timers,
    )
    return incident, [event, SlaReminder(which, deadline)]


def _external(incident: Incident, action: str) -> list[Effect]:
    channels = tuple(c for c in _EXTERNAL if c in incident.paged_channels)
    return [ExternalUpdate(action, channels)] if channels else []


def _late(at: datetime, due: datetime | None) -> bool:
    # Exactly on the deadline counts as on time, matching "respond within 15 minutes".
    return due is not None and at > due


def acknowledge(incident: Incident, actor: str, now: datetime) -> Outcome:
    """Ack: stop every pending escalation step, score the response SLA, start the ack timeout."""
    _aware(now, "acknowledge")
    check_transition(incident.status, IncidentStatus.ACKNOWLEDGED, "acknowledge")
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        # Idempotent: a repeated ack (a second click, a late Alertmanager ack) changes
        # nothing: no second "escalation stopped", the ack timeout keeps its due time.
        return incident, []
    first_response = incident.responded_at is None
    was_triggered = incident.status is IncidentStatus.TRIGGERED
    token = incident.escalation_token + 1
    ack_timeout = Timer(TimerKind.ACK_TIMEOUT, now + incident.policy.ack_timeout, None, token)
    timers = (*retoken(incident.timers, CARRIED_KINDS, token), ack_timeout)
    incident = replace(
        incident,
        status=IncidentStatus.ACKNOWLEDGED,
        acked_by=actor,
        acked_at=now,
        escalation_token=token,
        timers=timers,
    )
    if first_response:
        incident = replace(
            incident, responded_at=now, response_sla_breached=_late(now, incident.response_due)
        )
    detail = _response_detail(incident) if first_response else "re-acknowledged"
    incident, event = _event(incident, IncidentAction.ACK, actor, detail, now)
    effects: list[Effect] = [event]
    return incident, effects + (_external(incident, "acknowledge") if was_triggered else [])


def _response_detail(incident: Incident) -> str:
    taken = incident.time_to_respond()
    if incident.response_due is None:
        return f"responded after {taken} (no response SLA)"
    verdict = "breached" if incident.response_sla_breached else "met"
    allowed = incident.response_due - incident.opened_at
    return f"responded after {taken}; response SLA {allowed} {verdict}"


def resolve(incident: Incident, actor: str, note: str, now: datetime) -> Outcome:
    """Resolve: record resolution time against the SLA and cancel every timer."""
    _aware(now, "resolve")
    check_transition(incident.status, IncidentStatus.RESOLVED, "resolve")
    incident = replace(
        incident,
        status=IncidentStatus.RESOLVED,
        resolved_by=actor,
        resolved_at=now,
        resolution_note=note.strip() or None,
        resolution_sla_breached=_late(now, incident.resolution_due),
        escalation_token=incident.escalation_token + 1,
        timers=retoken(incident.timers, set(), incident.escalation_token + 1),
    )
    if incident.responded_at is None:
        incident = replace(
            incident, responded_at=now, response_sla_breached=_late(now, incident.response_due)
        )
    if incident.resolution_due is None:
        verdict_text = "no resolution SLA"
    else:
        verdict_text = "resolution SLA " + (
            "breached" if incident.resolution_sla_breached else "met"
        )
    detail = f"resolved after {now - incident.opened_at}; {verdict_text}"
    incident, event = _event(incident, IncidentAction.RESOLVE, actor, detail, now)
    effects: list[Effect] = [event]
    return incident, effects + _external(incident, "resolve")


def change_severity(incident: Incident, new: Severity, actor: str, now: datetime) -> Outcome:
    """Change severity: recompute SLA deadlines from opened_at with the snapshotted SLA table."""
    _aware(now, "change_severity")
    if not incident.is_open:
        raise IncidentTransitionError("cannot change severity: the incident is already resolved")
    if new is incident.severity:
        raise ValueError(f"the incident is already {new.value}")
    old = incident.severity
    response_due, resolution_due = incident.sla.deadlines(new, incident.opened_at)
    incident = replace(
        incident, severity=new, response_due=response_due, resolution_due=resolution_due
    )
    if incident.responded_at is not None:
        incident = replace(
            incident, response_sla_breached=_late(incident.responded_at, response_due)
        )
    # Same token: escalation steps keep running; only the SLA timers are replaced.
    kept = tuple(t for t in incident.timers if t.fired or t.kind not in SLA_KINDS)
    kept = without_pending(kept, TimerKind.STATUS_UPDATE)  # the new severity's cadence
    fresh = sla_timers(incident, now, include_response=incident.responded_at is None)
    fresh += update_timer(incident, now)
    incident = replace(incident, timers=kept + fresh)
    detail = (
        f"{old.value} -> {new.value}; response due {response_due}, resolve due {resolution_due}"
    )
    incident, event = _event(incident, IncidentAction.SEVERITY_CHANGE, actor, detail, now)
    effects: list[Effect] = [event]
    notify = incident.sla.for_severity(new).notify
    if notify:
        effects.append(Announce(notify, f"severity changed {old.value} -> {new.value}"))
    # A tighter SLA may already be due: fire those alarms now rather than at the next tick.
    incident, fired = _fire_due(incident, now, None, set(SLA_KINDS))
    return incident, effects + fired


def escalate_now(incident: Incident, actor: str, now: datetime, roster: Roster) -> Outcome:
    """Page the next pending step at once; every later step keeps its original due time.

    Only the step pulled forward changes: the one after it still pages when it was planned
    to (relative to the page, not to this click), so escalating early never delays anyone.
    """
    _aware(now, "escalate_now")
    if incident.status is not IncidentStatus.TRIGGERED:
        raise IncidentTransitionError(
            f"cannot escalate now: the incident is {incident.status.value} "
            "(escalation only runs while nobody has acknowledged)"
        )
    steps = [t for t in incident.pending_timers() if t.kind is TimerKind.ESCALATION_STEP]
    if not steps:
        loops = incident.policy.loops
        raise IncidentTransitionError(
            f"cannot escalate now: every step of the path has paged (loop {loops} of {loops})"
        )
    nxt = steps[0]
    target = incident.policy.steps[nxt.step_index or 0].target
    marked = tuple(replace(t, fired=True) if t is nxt else t for t in incident.timers)
    detail = (
        f"escalated now: step {nxt.step_index} {target} (due {nxt.due_at:%H:%M} UTC) paged "
        "early; later steps keep their times"
    )
    incident, event = _event(incident, IncidentAction.ESCALATE_NOW, actor, detail, now)
    incident, paged = _page(incident, nxt, marked, now, roster)
    return incident, [event, *paged]

"""Status updates on a cadence per severity: post one, or remind the owner when one is overdue.

Pure like the lifecycle: each function returns the new incident and the effects to perform.
The reminder is a durable timer (`STATUS_UPDATE`) due `update_every` after the last update
(or the opening); it carries across acks and ends with the resolution.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.incidents.domain.model import (
    Effect,
    Incident,
    IncidentAction,
    IncidentEvent,
    IncidentTransitionError,
    StatusUpdate,
    Timer,
    TimerKind,
    UpdateReminder,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import describe_duration
from bot.incidents.domain.timers import update_timer, without_pending

Outcome = tuple[Incident, list[Effect]]
MAX_UPDATE = 1500  # fits one Discord message with the headline and the mentions


def owners(incident: Incident, now: datetime, roster: Roster | None) -> tuple[str, ...]:
    """Return who owns the incident: who acknowledged it, else the on-call its first step pages."""
    if incident.acked_by:
        return (incident.acked_by,)
    if roster is not None:
        found = roster.who_for(incident.policy.steps[0].target, now)
        if found:
            return tuple(found)
    return incident.paged_user_ids[:1]


def post_update(incident: Incident, actor: str, text: str, now: datetime) -> Outcome:
    """Record a status update, tell the severity's notify audience, restart the cadence."""
    if not incident.is_open:
        raise IncidentTransitionError("cannot post an update: the incident is already resolved")
    body = " ".join((text or "").split())
    if not body:
        raise ValueError("a status update needs some text saying where things stand")
    if len(body) > MAX_UPDATE:
        raise ValueError(f"a status update is at most {MAX_UPDATE} characters ({len(body)})")
    incident = replace(incident, last_update_at=now)
    timers = without_pending(incident.timers, TimerKind.STATUS_UPDATE)
    incident = replace(incident, timers=timers + update_timer(incident, now))
    event = IncidentEvent(IncidentAction.STATUS_UPDATE, actor, body, now)
    incident = replace(incident, events=(*incident.events, event))
    audience = incident.sla.for_severity(incident.severity).notify
    return incident, [event, StatusUpdate(actor, body, audience)]


def update_missed(
    incident: Incident,
    timer: Timer,
    timers: tuple[Timer, ...],
    now: datetime,
    roster: Roster | None,
) -> Outcome:
    """Count a missed status update, remind the owners, and plan the next reminder."""
    every = incident.sla.for_severity(incident.severity).update_every
    if every is None:  # the severity changed to one without a cadence meanwhile
        return replace(incident, timers=timers), []
    missed = incident.updates_missed + 1
    people = owners(incident, now, roster)
    nxt = Timer(TimerKind.STATUS_UPDATE, timer.due_at + every, None, incident.escalation_token)
    since = describe_duration(now - (incident.last_update_at or incident.opened_at))
    who = ", ".join(people) or "nobody (no owner found)"
    detail = f"no status update for {since} ({missed} missed); reminded {who}"
    event = IncidentEvent(IncidentAction.UPDATE_MISSED, "timer", detail, now)
    incident = replace(
        incident,
        updates_missed=missed,
        timers=(*timers, nxt),
        events=(*incident.events, event),
    )
    return incident, [event, UpdateReminder(people, missed, every)]

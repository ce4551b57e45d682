"""Keep an incident's durable due times (the shared `timers` table) in step with the incident.

The incident holds its own timer list with tokens and fired flags; the table holds only the
pending due times that wake the bot. After every change the table is brought in line, one
timer kind at a time, so a kind that did not change is not rewritten.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.ports import UnitOfWork
from bot.core.timers import TimerRecord
from bot.incidents.domain.model import Incident, Timer, TimerKind

STEP, SECONDARY, ACK_TIMEOUT, SLA, UPDATE = (
    "incident.step",
    "incident.secondary",
    "incident.ack_timeout",
    "incident.sla",
    "incident.update",
)
TIMER_KINDS = (STEP, SECONDARY, ACK_TIMEOUT, SLA, UPDATE)
_DURABLE = {
    TimerKind.ESCALATION_STEP: STEP,
    TimerKind.SECONDARY: SECONDARY,
    TimerKind.ACK_TIMEOUT: ACK_TIMEOUT,
    TimerKind.STATUS_UPDATE: UPDATE,
}


def durable_kind(kind: TimerKind) -> str:
    """Return the `timers` table kind of a domain timer kind (every SLA alarm is "incident.sla")."""
    return _DURABLE.get(kind, SLA)


def find_timer(incident: Incident, record: TimerRecord) -> Timer | None:
    """Return the incident's timer behind `record`, or None when the record is stale."""
    if record.token != incident.escalation_token:
        return None
    key = record.payload.get("key")
    return next((t for t in incident.timers if t.key == key), None)


@dataclass(frozen=True)
class TimerSync:
    """What brings one incident's stored due times in line: kinds to cancel, timers to store."""

    cancel: tuple[str, ...]
    schedule: tuple[tuple[str, Timer], ...]


def plan_sync(incident: Incident, stored_keys: Sequence[tuple[str, str]]) -> TimerSync:
    """Return the kinds whose stored due times differ from the incident's, and what to store.

    `stored_keys`: (kind, payload key) of the incident's pending rows. A kind that did not
    change is left alone.
    """
    wanted: dict[str, list[Timer]] = defaultdict(list)
    for timer in incident.pending_timers():
        wanted[durable_kind(timer.kind)].append(timer)
    stored: dict[str, list[str]] = defaultdict(list)
    for kind, key in stored_keys:
        if kind in TIMER_KINDS:
            stored[kind].append(key)
    cancel: list[str] = []
    schedule: list[tuple[str, Timer]] = []
    for kind in TIMER_KINDS:
        want = wanted.get(kind, [])
        if sorted(stored.get(kind, [])) == sorted(t.key for t in want):
            continue
        if stored.get(kind):
            cancel.append(kind)
        schedule += [(kind, timer) for timer in want]
    return TimerSync(tuple(cancel), tuple(schedule))


def timer_payload(timer: Timer) -> dict[str, Any]:
    """Return the payload a stored due time carries (how `find_timer` finds its timer)."""
    return {"key": timer.key, "timer": timer.kind.value, "step": timer.step_index}


async def sync_timers(uow: UnitOfWork, incident: Incident) -> None:
    """Cancel stored due times the incident no longer has and store the ones it gained."""
    assert incident.id is not None
    records = await uow.timers.pending(ref_id=incident.id)
    plan = plan_sync(incident, [(r.kind, str(r.payload.get("key"))) for r in records])
    for kind in plan.cancel:
        await uow.timers.cancel(kind, incident.id)
    for kind, timer in plan.schedule:
        await uow.timers.schedule(
            kind, incident.id, timer.due_at, token=timer.token, payload=timer_payload(timer)
        )

"""Fire a batch of claimed incident timers with a constant number of statements.

`IncidentService.handle_timer` fires one timer in ~10 statements (load the incident through
the ORM, read the overrides, save, one insert per audit event and per outbox message, read and
rewrite the due times). When 1,000 escalation steps fall due at once that is most of a
second's work every hundred steps. Here the same decisions (the pure domain's
`lifecycle.fire_timer`, the same `NoticePlan` messages, the same due-time sync) are taken for a
whole batch, and written with one statement per table: the incidents in one query, one
roster, then executemany updates and inserts.

Same outcome as firing the records one after another in one transaction: records of one
incident are applied in order to its latest state, and its due times are synced once from
its final state. If the unit of work cannot write in bulk (a test's fake), the records are
fired one by one through the single-timer handler.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.actors import BOT_ACTOR, Source
from bot.core.audit import AuditEvent
from bot.core.ports import UnitOfWork
from bot.core.timers import TimerRecord
from bot.incidents.domain import lifecycle
from bot.incidents.domain.model import Incident, IncidentEvent
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.ports import (
    BatchIncidents,
    BatchOutbox,
    BatchTimers,
    NewMessage,
    NewTimer,
)
from bot.incidents.service.changes import IncidentChanges, incidents_of, load_release
from bot.incidents.service.notices import NoticePlan, ReleaseInfo
from bot.incidents.service.timers import TIMER_KINDS, find_timer, plan_sync, timer_payload

log = logging.getLogger(__name__)

SingleHandler = Callable[[UnitOfWork, TimerRecord, datetime], Awaitable[None]]
RosterSource = Callable[[UnitOfWork, datetime], Awaitable[Roster]]


def can_batch(uow: UnitOfWork) -> bool:
    """Return True if `uow` reads and writes incidents, timers and messages in bulk."""
    return (
        isinstance(incidents_of(uow), BatchIncidents)
        and isinstance(uow.timers, BatchTimers)
        and isinstance(uow.outbox, BatchOutbox)
    )


@dataclass
class _Writes:
    """What a batch stores, gathered in firing order."""

    changed: dict[int, Incident] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)
    messages: list[NewMessage] = field(default_factory=list)


@dataclass
class TimerBatch:
    """Fire claimed incident timers in bulk (see the module docstring)."""

    changes: IncidentChanges
    roster_at: RosterSource
    single: SingleHandler

    async def fire(self, uow: UnitOfWork, records: Sequence[TimerRecord], now: datetime) -> None:
        """Fire `records` (claimed in `uow`, in due order) as one change per incident."""
        if not can_batch(uow):
            for record in records:
                await self.single(uow, record, now)
            return
        store = incidents_of(uow)
        assert isinstance(store, BatchIncidents)
        current = await store.get_many([r.ref_id for r in records])
        writes, roster = _Writes(), None
        releases: dict[int, ReleaseInfo | None] = {}
        for record in records:
            incident = current.get(record.ref_id)
            if incident is None:
                log.warning("timer %s points at a missing incident #%s", record.id, record.ref_id)
                continue
            timer = find_timer(incident, record)
            if timer is None:
                log.debug("stale %s timer %s for incident #%s", record.kind, record.id, incident.id)
                continue
            if roster is None:  # one roster for the batch: every record fires at `now`
                roster = await self.roster_at(uow, now)
            updated, effects = lifecycle.fire_timer(incident, timer, now, roster)
            if updated == incident and not effects:
                continue
            assert updated.id is not None
            current[updated.id] = writes.changed[updated.id] = updated
            release = await self._release(uow, updated, releases)
            plan = NoticePlan(updated, release, self.changes.clock.now())
            for effect in effects:
                if isinstance(effect, IncidentEvent):
                    writes.audit.append(
                        self.changes.audit_event(updated, effect, BOT_ACTOR, Source.TIMER)
                    )
                writes.messages += [
                    (out.kind, out.payload, out.key, out.order_key) for out in plan.messages(effect)
                ]
        await self._store(uow, store, writes)

    async def _release(
        self, uow: UnitOfWork, incident: Incident, seen: dict[int, ReleaseInfo | None]
    ) -> ReleaseInfo | None:
        if incident.release_id is None:
            return None
        if incident.release_id not in seen:
            seen[incident.release_id] = await load_release(uow, incident.release_id)
        return seen[incident.release_id]

    async def _store(self, uow: UnitOfWork, store: BatchIncidents, writes: _Writes) -> None:
        if not writes.changed:
            return
        timers, outbox = uow.timers, uow.outbox
        assert isinstance(timers, BatchTimers)
        assert isinstance(outbox, BatchOutbox)
        changed = list(writes.changed.values())
        await store.save_many(changed)
        await store.append_audit(writes.audit)
        await outbox.enqueue_many(writes.messages)
        stored: dict[int, list[tuple[str, str]]] = {i: [] for i in writes.changed}
        for ref_id, kind, key in await timers.pending_keys(list(writes.changed), TIMER_KINDS):
            stored[ref_id].append((kind, key))
        cancel: list[tuple[str, int]] = []
        schedule: list[NewTimer] = []
        for incident in changed:
            assert incident.id is not None
            sync = plan_sync(incident, stored[incident.id])
            cancel += [(kind, incident.id) for kind in sync.cancel]
            schedule += [
                (kind, incident.id, t.due_at, t.token, timer_payload(t))
                for kind, t in sync.schedule
            ]
        await timers.cancel_many(cancel)
        await timers.schedule_many(schedule)

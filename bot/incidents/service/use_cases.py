"""Incident use-cases: open or update, ack, resolve, change severity, and the timer handler.

Every change is one transaction: the incident row, its audit events, the outbox messages it
causes and its durable due times are written together. The pure domain decides; this module
loads, stores and translates. Timers are the shared `timers` table's kinds `incident.step`,
`incident.secondary`, `incident.ack_timeout`, `incident.sla` and `incident.update` (the
status-update reminder), each carrying the incident's escalation token: a timer from before
an ack (or any superseded run) does nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.config import Settings
from bot.core.actors import BOT_ACTOR, ROLE_KEYS, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import ConcurrentUpdate, InvalidInput, UnknownTarget
from bot.core.events import (
    AlertAcknowledged,
    ConditionMet,
    ConditionRecovered,
    WindowSuperseded,
)
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.roles import Severity
from bot.core.timers import TimerRecord
from bot.core.units import PUSHED_FIRING, format_measure, format_rule
from bot.incidents.domain import cadence, lifecycle
from bot.incidents.domain.model import (
    Effect,
    Incident,
    IncidentTransitionError,
    may_acknowledge,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.ports import (
    IncidentMessage,
    audit_target,
)
from bot.incidents.service.changes import (
    IncidentChanges,
    incidents_of,
    load_release,
    release_info,
)
from bot.incidents.service.notices import RELEASE, NoticePlan, ReleaseInfo
from bot.incidents.service.oncall import OncallService
from bot.incidents.service.policy import (
    condition_severity,
    condition_title,
    is_configured,
    sla_table,
)
from bot.incidents.service.timer_batch import TimerBatch
from bot.incidents.service.timers import TIMER_KINDS, find_timer
from bot.releases.domain.release import Release, ReleaseSignal
from bot.runtime.timers import TimerService

log = logging.getLogger(__name__)

MAX_RETRIES = 8
MAX_NOTE = 1000
Change = Callable[[Incident, datetime], tuple[Incident, list[Effect]]]
RosterChange = Callable[[Incident, datetime, Roster], tuple[Incident, list[Effect]]]
# Actions checked with another action's roles: whoever may ack may escalate and post updates.
_CHECKED_AS = {"escalate": "ack", "update": "ack"}
IncidentListener = Callable[[Incident], Awaitable[None]]
PUSHED = "alertmanager"
_SOURCES = {"poll": Source.TIMER, PUSHED: Source.WEBHOOK}


@dataclass
class IncidentService:
    """Run incidents from open to resolved; each call is one unit of work."""

    uow: UnitOfWorkFactory
    clock: Clock
    access: AccessPolicy
    settings: Settings
    oncall: OncallService
    listeners: list[IncidentListener] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changes = IncidentChanges(self.clock, self.access)

    # ----- hooks other features call inside their own transaction -----------------------------

    async def open_or_update(self, uow: UnitOfWork, event: ConditionMet) -> Incident:
        """Open an incident for a met condition, or count it on the one already open."""
        now = self.clock.now()
        value = event.measurement.value
        if value is not None and math.isnan(value):
            value = None  # "no value" from Alertmanager: nothing to show or store
        reading = None if value is None else format_measure(value, event.unit)
        existing = await incidents_of(uow).find_open(event.release_id, event.condition)
        source = _SOURCES.get(event.source, Source.SYSTEM)
        if existing is not None:
            updated, effects = lifecycle.retrigger(
                existing, value, now, reading=reading, unit=event.unit
            )
            await self.changes.apply(uow, updated, effects, BOT_ACTOR, source, action="retrigger")
            return updated
        title = condition_title(self.settings, event.service, event.condition)
        if event.source == PUSHED and (
            value is None or not is_configured(self.settings, event.service, event.condition)
        ):
            # Alertmanager's firing is the breach: no "no data", no "breach if > 0".
            title += f" {reading}, {PUSHED_FIRING}" if reading else f" {PUSHED_FIRING}"
        elif reading is not None:
            rule = format_rule(event.op, event.measurement.threshold, event.unit)
            title = f"{title} {reading}" + (f" ({rule})" if rule else "")
        severity = condition_severity(self.settings, event.condition, event.severity)
        return await self._open(
            uow,
            event.release_id,
            event.condition,
            severity,
            title,
            value,
            event.source,
            BOT_ACTOR,
            source,
            reading=reading,
            unit=event.unit,
        )

    async def on_alert_ack(self, uow: UnitOfWork, event: AlertAcknowledged) -> None:
        """Acknowledge the open incident of the alert's release and condition."""
        actor = event.actor
        incident = await incidents_of(uow).find_open(event.release_id, event.condition)
        if incident is None or incident.acked_by is not None:
            return
        if not self._may(actor, incident, "ack"):
            log.info("alert ack by %s does not ack incident #%s (no role)", actor.name, incident.id)
            return
        now = self.clock.now()
        updated, effects = lifecycle.acknowledge(incident, actor.id, now)
        await self.changes.apply(uow, updated, effects, actor, Source.BUTTON, action="ack")

    async def on_recovered(self, uow: UnitOfWork, event: ConditionRecovered) -> None:
        """Note in the open incident's timeline that its condition passes again (not resolved)."""
        incident = await incidents_of(uow).find_open(event.release_id, event.condition)
        if incident is None or incident.id is None:
            return
        value = event.measurement.value
        measured = "" if value is None else f" (value {format_measure(value, event.unit)})"
        await uow.audit.append(
            AuditEvent.record(
                BOT_ACTOR,
                "incident_recovered",
                audit_target(incident.id),
                self.clock.now(),
                _SOURCES.get(event.source, Source.SYSTEM),
                incident.release_id,
                detail=f"{event.condition} passes again{measured}; resolve when confirmed",
            )
        )

    async def on_rolled_back(
        self, uow: UnitOfWork, release: Release, signal: ReleaseSignal
    ) -> None:
        """Record a completed rollback in the timeline of each open incident of the release."""
        if release.id is None:
            return
        now = self.clock.now()
        reason = release.close_reason or "rollback completed"
        info = release_info(release)
        for incident in await incidents_of(uow).list(
            open_only=True, release_id=release.id, limit=100
        ):
            assert incident.id is not None
            await uow.audit.append(
                AuditEvent.record(
                    BOT_ACTOR,
                    "incident_rollback",
                    audit_target(incident.id),
                    now,
                    Source.SYSTEM,
                    release.id,
                    detail=f"release rolled back: {reason}",
                )
            )
            plan = NoticePlan(incident, info, now)
            text = f"↩️ {release.name} was rolled back; resolve this incident once it is healthy"
            for out in plan.channel("rollback", f"{text} — {plan.headline()}", where=[RELEASE]):
                await uow.outbox.enqueue(out.kind, out.payload, out.key, order_key=out.order_key)

    async def on_release_finished(
        self, uow: UnitOfWork, release: Release, signal: ReleaseSignal
    ) -> None:
        """Write an abort or a completion into each open incident's timeline.

        An abort also asks the person who aborted, in the release thread, whether to resolve
        them: the incident's own message with its Resolve button (an abort stops the polls,
        but an incident left open keeps escalating).
        """
        if release.id is None:
            return
        detail = dict(signal.detail)
        actor_id, actor = detail.get("actor_id", ""), detail.get("actor", "someone")
        verb = "aborted" if signal.kind == "aborted" else "completed"
        why = f": {detail['reason']}" if detail.get("reason") else ""
        now = self.clock.now()
        info = release_info(release)
        for incident in await incidents_of(uow).list(
            open_only=True, release_id=release.id, limit=100
        ):
            assert incident.id is not None
            await uow.audit.append(
                AuditEvent.record(
                    BOT_ACTOR,
                    f"incident_release_{verb}",
                    audit_target(incident.id),
                    now,
                    Source.SYSTEM,
                    release.id,
                    detail=f"release {release.name} {verb} by {actor}{why}",
                )
            )
            if signal.kind != "aborted":
                continue
            plan = NoticePlan(incident, info, now)
            text = (
                f"⏹ {actor} aborted {release.name}{why}. Incident #{incident.id} is still "
                f"open and escalating: press **Resolve** (with a note) if the abort ends it, "
                f"or leave it open — {plan.headline()}"
            )
            mention = [actor_id] if actor_id else []
            for out in plan.channel(
                "release_aborted", text, mention_users=mention, where=[RELEASE]
            ):
                await uow.outbox.enqueue(out.kind, out.payload, out.key, order_key=out.order_key)

    async def on_superseded(self, uow: UnitOfWork, event: WindowSuperseded) -> None:
        """Move the earlier release's open incidents to the release that replaced it.

        One production problem, one incident: the hotfix's own breach of the same condition
        then counts on the moved incident (no second incident, no second page). An incident
        the new release already has for that condition is left where it is.
        """
        store = incidents_of(uow)
        for incident in await store.list(
            open_only=True, release_id=event.old_release_id, limit=100
        ):
            assert incident.id is not None
            if await store.find_open(event.new_release_id, incident.condition) is not None:
                continue
            moved = replace(incident, release_id=event.new_release_id)
            await store.save(moved)
            detail = (
                f"moved from {event.old_release} to {event.new_release}: {event.new_release} "
                f"reached production while {event.old_release} was watched (superseded)"
            )
            for release_id in (event.old_release_id, event.new_release_id):
                await uow.audit.append(
                    AuditEvent.record(
                        BOT_ACTOR,
                        "incident_moved",
                        audit_target(incident.id),
                        event.at,
                        Source.SYSTEM,
                        release_id,
                        detail=detail,
                        from_release_id=str(event.old_release_id),
                        to_release_id=str(event.new_release_id),
                    )
                )

    async def handle_timer(self, uow: UnitOfWork, record: TimerRecord, now: datetime) -> None:
        """Fire one incident timer (claimed exactly once); stale tokens do nothing."""
        try:
            incident = await incidents_of(uow).get(record.ref_id)
        except UnknownTarget:
            log.warning("timer %s points at a missing incident #%s", record.id, record.ref_id)
            return
        timer = find_timer(incident, record)
        if timer is None:
            log.debug("stale %s timer %s for incident #%s", record.kind, record.id, incident.id)
            return
        roster = await self.oncall.roster(uow, now)
        updated, effects = lifecycle.fire_timer(incident, timer, now, roster)
        if updated == incident and not effects:
            return
        await self.changes.apply(uow, updated, effects, BOT_ACTOR, Source.TIMER)

    def register_timers(self, timers: TimerService) -> None:
        """Handle every incident timer kind with `handle_timer`, and in bulk with `TimerBatch`."""
        batch = TimerBatch(self.changes, self.oncall.roster, self.handle_timer)
        for kind in TIMER_KINDS:  # writes through the given unit of work only: batchable
            timers.register(kind, self.handle_timer, batch=batch.fire)

    # ----- commands --------------------------------------------------------------------------

    async def open(
        self,
        actor: Actor,
        *,
        title: str,
        severity: str,
        release_id: int | None = None,
        source: Source = Source.SLASH,
    ) -> Incident:
        """Open an incident by hand (anyone holding a release role may declare one)."""
        level = _severity(severity)
        text = " ".join((title or "").split())
        if not 3 <= len(text) <= 200:
            raise InvalidInput(f"an incident title needs 3 to 200 characters (got {len(text)})")
        condition = "manual:" + "-".join(text.lower().split())[:60]
        for attempt in range(MAX_RETRIES):
            async with self.uow() as uow:
                if not set(actor.roles) & set(ROLE_KEYS):
                    await self.changes.deny(
                        uow, actor, "open", "an incident", release_id, source, frozenset(ROLE_KEYS)
                    )
                if release_id is not None:
                    await uow.releases.get(release_id)  # UnknownTarget names a wrong id
                existing = await incidents_of(uow).find_open(release_id, condition)
                if existing is not None:
                    raise InvalidInput(f"incident #{existing.id} is already open for {text!r}")
                try:
                    incident = await self._open(
                        uow, release_id, condition, level, text, None, source.value, actor, source
                    )
                except ConcurrentUpdate:
                    log.debug("concurrent open of %s (attempt %d)", condition, attempt)
                    continue
                await uow.commit()
            await self._notify(incident)
            return incident
        raise ConcurrentUpdate("incidents are changing too fast; try again")

    async def acknowledge(self, incident_id: int, actor: Actor, source: Source) -> Incident:
        """Acknowledge: stop every pending escalation step; refuse, audited, without the right."""
        return await self._mutate(
            incident_id,
            actor,
            "ack",
            source,
            lambda i, now: lifecycle.acknowledge(i, actor.id, now),
        )

    async def resolve(self, incident_id: int, actor: Actor, note: str, source: Source) -> Incident:
        """Resolve with a note; the resolution time is scored against the SLA."""
        text = (note or "").strip()
        if not text:
            raise InvalidInput("resolving needs a note saying what fixed it")
        if len(text) > MAX_NOTE:
            raise InvalidInput(f"a resolution note is at most {MAX_NOTE} characters ({len(text)})")
        return await self._mutate(
            incident_id,
            actor,
            "resolve",
            source,
            lambda i, now: lifecycle.resolve(i, actor.id, text, now),
        )

    async def change_severity(
        self, incident_id: int, severity: str, actor: Actor, source: Source
    ) -> Incident:
        """Change severity (authorized and audited); SLA deadlines are recomputed."""
        level = _severity(severity)
        return await self._mutate(
            incident_id,
            actor,
            "severity",
            source,
            lambda i, now: lifecycle.change_severity(i, level, actor.id, now),
        )

    async def escalate_now(self, incident_id: int, actor: Actor, source: Source) -> Incident:
        """Page the next step at once (later steps keep their times); the ack roles may."""
        return await self._mutate(
            incident_id,
            actor,
            "escalate",
            source,
            roster_change=lambda i, now, roster: lifecycle.escalate_now(i, actor.id, now, roster),
        )

    async def post_update(
        self, incident_id: int, actor: Actor, text: str, source: Source
    ) -> Incident:
        """Post a status update to the severity's notify audience; responders may."""
        if not " ".join((text or "").split()):
            raise InvalidInput("a status update needs some text saying where things stand")
        return await self._mutate(
            incident_id,
            actor,
            "update",
            source,
            lambda i, now: cadence.post_update(i, actor.id, text, now),
        )

    # ----- reads -----------------------------------------------------------------------------

    async def get(self, incident_id: int) -> Incident:
        """Return an incident (UnknownTarget if there is none)."""
        async with self.uow(read_only=True) as uow:
            return await incidents_of(uow).get(incident_id)

    async def list_incidents(
        self, *, open_only: bool = False, release_id: int | None = None, limit: int = 25
    ) -> Sequence[Incident]:
        """Return incidents, newest first."""
        async with self.uow(read_only=True) as uow:
            return await incidents_of(uow).list(
                open_only=open_only, release_id=release_id, limit=limit
            )

    async def status(self, incident_id: int) -> tuple[Incident, Sequence[AuditEvent]]:
        """Return an incident with its timeline (pages, acks, escalations, SLA, resolution)."""
        async with self.uow(read_only=True) as uow:
            incident = await incidents_of(uow).get(incident_id)
            return incident, await incidents_of(uow).timeline(incident)

    async def release_of(self, incident: Incident) -> ReleaseInfo | None:
        """Return what messages say about the incident's release, if it has one."""
        if incident.release_id is None:
            return None
        async with self.uow(read_only=True) as uow:
            return await load_release(uow, incident.release_id)

    async def remember_message(self, message: IncidentMessage) -> None:
        """Remember a posted Discord message so later changes edit it."""
        async with self.uow() as uow:
            await incidents_of(uow).put_message(message)
            await uow.commit()

    async def messages(self, incident_id: int) -> Sequence[IncidentMessage]:
        """Return the Discord messages showing an incident."""
        async with self.uow(read_only=True) as uow:
            return await incidents_of(uow).messages(incident_id)

    async def record_delivery(self, incident_id: int, what: str, detail: str) -> None:
        """Add a delivery note (e.g. a DM that fell back to a channel mention) to the timeline."""
        async with self.uow() as uow:
            incident = await incidents_of(uow).get(incident_id)
            await uow.audit.append(
                AuditEvent.record(
                    BOT_ACTOR,
                    what,
                    audit_target(incident_id),
                    self.clock.now(),
                    Source.SYSTEM,
                    incident.release_id,
                    detail=detail,
                )
            )
            await uow.commit()

    # ----- internals -------------------------------------------------------------------------

    async def _open(
        self,
        uow: UnitOfWork,
        release_id: int | None,
        condition: str,
        severity: Severity,
        title: str,
        value: float | None,
        origin: str,
        actor: Actor,
        source: Source,
        reading: str | None = None,
        unit: str = "",
    ) -> Incident:
        now = self.clock.now()
        roster = await self.oncall.roster(uow, now)
        incident, effects = lifecycle.open_incident(
            release_id,
            condition,
            severity,
            title,
            value,
            now,
            await self.oncall.policy(),
            sla_table(self.settings),
            origin,
            actor.id,
            roster,
            reading,
            unit,
        )
        incident_id = await incidents_of(uow).add(incident)
        stored = await incidents_of(uow).get(incident_id)
        await self.changes.apply(uow, stored, effects, actor, source, save=False)
        return stored

    def _may(self, actor: Actor, incident: Incident, action: str) -> bool:
        allowed = self.access.allowed_roles(_CHECKED_AS.get(action, action))
        return bool(may_acknowledge(actor.id, actor.roles, incident, ack_roles=allowed))

    async def _mutate(
        self,
        incident_id: int,
        actor: Actor,
        action: str,
        source: Source,
        change: Change | None = None,
        *,
        roster_change: RosterChange | None = None,
    ) -> Incident:
        for attempt in range(MAX_RETRIES):
            async with self.uow() as uow:
                incident = await incidents_of(uow).get(incident_id)
                now = self.clock.now()
                allowed = (
                    self.access.may(actor, action)
                    if action == "severity"
                    else self._may(actor, incident, action)
                )
                if not allowed and incident.is_open:
                    target = audit_target(incident_id)
                    roles = self.access.allowed_roles(_CHECKED_AS.get(action, action))
                    await self.changes.deny(
                        uow, actor, action, target, incident.release_id, source, roles
                    )
                if roster_change is not None:  # who the next step pages, read once allowed
                    change = _with_roster(roster_change, await self.oncall.roster(uow, now))
                assert change is not None
                try:
                    updated, effects = change(incident, now)
                except (IncidentTransitionError, ValueError) as refused:
                    raise InvalidInput(f"incident #{incident_id}: {refused}") from None
                if updated == incident and not effects:
                    return incident  # nothing changed (a repeated ack): nothing to say
                try:
                    await self.changes.apply(uow, updated, effects, actor, source, action=action)
                except ConcurrentUpdate:
                    log.debug("concurrent update of incident %s (attempt %d)", incident_id, attempt)
                    continue
                await uow.commit()
            await self._notify(updated)
            return updated
        raise ConcurrentUpdate(f"incident #{incident_id} is changing too fast; try again")

    async def _notify(self, incident: Incident) -> None:
        for listener in self.listeners:
            try:
                await listener(incident)
            except Exception:  # a broken listener must not undo a committed change
                log.exception("incident listener failed for incident %s", incident.id)


def _with_roster(change: RosterChange, roster: Roster) -> Change:
    return lambda incident, now: change(incident, now, roster)


def _severity(text: str) -> Severity:
    try:
        return Severity.parse(text or "")
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None

"""Write one incident change: the row, its audit events, its outbox messages, its due times.

All four land in the caller's transaction, so a page is never stored without its messages
and a message is never sent for a change that rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import NotAuthorized, UnknownTarget
from bot.core.ports import UnitOfWork
from bot.incidents.domain.model import Effect, Incident, IncidentEvent
from bot.incidents.domain.ports import IncidentRepository, IncidentUnitOfWork, audit_target
from bot.incidents.service.notices import RELEASE, NoticePlan, Outgoing, ReleaseInfo
from bot.incidents.service.timers import sync_timers
from bot.releases.domain.release import Release

log = logging.getLogger(__name__)

# How a refused action reads in "You may not <verb> <target>".
_VERBS = {
    "ack": "acknowledge",
    "severity": "change the severity of",
    "open": "open",
    "escalate": "escalate",
    "update": "post a status update on",
}
_NOT_PAGED = " (you were not paged for it)"

# What the thread is told when a person acts (timer-driven changes bring their own notices).
_ACTION_TEXT = {
    "ack": "✅ Acknowledged by <@{actor}> — escalation stopped",
    "resolve": "🟢 Resolved by <@{actor}>: {note}",
    "severity": "⚠️ Severity changed to {severity} by <@{actor}>",
    "escalate": "⏩ <@{actor}> escalated now (later steps keep their times)",
}


def incidents_of(uow: UnitOfWork) -> IncidentRepository:
    """Return the incident repository of a unit of work."""
    return cast(IncidentUnitOfWork, uow).incidents


def release_info(release: Release) -> ReleaseInfo:
    """Return what messages say about a stored release."""
    assert release.id is not None
    return ReleaseInfo(release.id, release.name, release.service, str(release.version))


async def load_release(uow: UnitOfWork, release_id: int) -> ReleaseInfo | None:
    """Return the release's info, or None if it no longer exists."""
    try:
        return release_info(await uow.releases.get(release_id))
    except UnknownTarget:
        return None


@dataclass(frozen=True)
class IncidentChanges:
    """Store incident changes and refusals in the caller's unit of work."""

    clock: Clock
    access: AccessPolicy

    async def deny(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        target: str,
        release_id: int | None,
        source: Source,
        allowed: frozenset[str],
    ) -> None:
        """Audit a refused attempt, commit it, and raise NotAuthorized."""
        what = f"{_VERBS.get(action, action)} {target}"
        if action in ("ack", "resolve", "escalate", "update"):
            what += _NOT_PAGED
        denied = NotAuthorized(what, actor.name, allowed)
        event = AuditEvent.record(
            actor,
            "denied",
            target,
            self.clock.now(),
            source,
            release_id,
            attempted=action,
            reason=denied.message,
        )
        await uow.audit.append(event)
        await uow.commit()
        log.info("denied %s %s to %s", action, target, actor.name)
        raise denied

    async def apply(
        self,
        uow: UnitOfWork,
        incident: Incident,
        effects: Sequence[Effect],
        actor: Actor,
        source: Source,
        *,
        save: bool = True,
        action: str | None = None,
    ) -> None:
        """Store the incident, audit its events, enqueue its messages, sync its due times."""
        if save:
            await incidents_of(uow).save(incident)
        release = None
        if incident.release_id is not None:
            release = await load_release(uow, incident.release_id)
        plan = NoticePlan(incident, release, self.clock.now())
        outgoing: list[Outgoing] = []
        for effect in effects:
            if isinstance(effect, IncidentEvent):
                await uow.audit.append(self.audit_event(incident, effect, actor, source))
            outgoing += plan.messages(effect)
        if action is not None:
            outgoing += self.action_notices(plan, action, actor)
        for out in outgoing:
            await uow.outbox.enqueue(out.kind, out.payload, out.key, order_key=out.order_key)
        await sync_timers(uow, incident)

    def action_notices(self, plan: NoticePlan, action: str, actor: Actor) -> list[Outgoing]:
        """Return the thread notice for a person's action, and the edit of posted messages."""
        incident = plan.incident
        out = [plan.refresh(action)]
        if action in _ACTION_TEXT:
            text = _ACTION_TEXT[action].format(
                actor=actor.id,
                note=incident.resolution_note or "",
                severity=incident.severity.value,
            )
            out += plan.channel(
                action,
                f"{text} — {plan.headline()}",
                where=[RELEASE],
                extra={"fallback_alerts": True},
            )
        return out

    def audit_event(
        self, incident: Incident, event: IncidentEvent, actor: Actor, source: Source
    ) -> AuditEvent:
        """Return the audit-log entry of an incident event (timer events are the bot's)."""
        assert incident.id is not None
        human = event.actor == actor.id
        who = actor if human else BOT_ACTOR
        return AuditEvent(
            event.at,
            who.id,
            who.name,
            f"incident_{event.action.value}",
            audit_target(incident.id),
            source if human else Source.TIMER,
            incident.release_id,
            {"detail": event.detail, "severity": incident.severity.value},
        )

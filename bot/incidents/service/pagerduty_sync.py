"""Apply PagerDuty's acks and resolves to our incidents (the inbound half of two-way sync).

The webhook's signature is the authority: PagerDuty only lets people who may act on its
service ack or resolve there. The actor is therefore PagerDuty itself ("pagerduty", named
after the PagerDuty user), holding the roles the ack and resolve permissions name right
now, and every change is audited with Source.PAGERDUTY. The bot's own ack/resolve then goes
back to PagerDuty as today; PagerDuty treats it as a no-op for an incident already in that
state, so no loop forms.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.actors import Actor, Source
from bot.core.errors import InvalidInput, UnknownTarget
from bot.incidents.paging.pagerduty_webhook import PagerDutyEvent
from bot.incidents.service.use_cases import IncidentService

log = logging.getLogger(__name__)

PAGERDUTY_ACTOR_ID = "pagerduty"
APPLIED, IGNORED = "applied", "ignored"


@dataclass
class PagerDutySync:
    """Acknowledge or resolve the incident a PagerDuty event is about."""

    incidents: IncidentService

    def actor(self, event: PagerDutyEvent) -> Actor:
        """Return PagerDuty as the actor, holding the roles allowed to ack and resolve now."""
        access = self.incidents.access
        roles = access.allowed_roles("ack") | access.allowed_roles("resolve")
        return Actor(
            PAGERDUTY_ACTOR_ID, f"PagerDuty ({_agent(event)})", frozenset(roles), is_bot=True
        )

    async def apply(self, event: PagerDutyEvent) -> tuple[str, str]:
        """Apply one incident.acknowledged / incident.resolved; say what happened."""
        incident_id = event.incident_id
        if incident_id is None:
            log.info("PagerDuty %s for %s: not one of ours (key %r)", event.event_type,
                     event.pd_incident, event.incident_key)  # fmt: skip
            return IGNORED, f"incident key {event.incident_key!r} is not a releasebot key"
        actor = self.actor(event)
        try:
            incident = await self.incidents.get(incident_id)
            if not incident.is_open:
                return IGNORED, f"incident #{incident_id} is already resolved"
            if event.event_type == "incident.acknowledged":
                if incident.acked_by is not None:
                    return IGNORED, f"incident #{incident_id} is already acknowledged"
                await self.incidents.acknowledge(incident_id, actor, Source.PAGERDUTY)
                return APPLIED, f"incident #{incident_id} acknowledged"
            note = f"resolved in PagerDuty by {_agent(event)}"
            await self.incidents.resolve(incident_id, actor, note, Source.PAGERDUTY)
            return APPLIED, f"incident #{incident_id} resolved"
        except UnknownTarget:
            log.info("PagerDuty %s names incident #%s, which does not exist",
                     event.event_type, incident_id)  # fmt: skip
            return IGNORED, f"incident #{incident_id} does not exist"
        except InvalidInput as refused:
            return IGNORED, refused.message


def _agent(event: PagerDutyEvent) -> str:
    return event.agent_name or event.agent_id or "an unnamed PagerDuty user"

"""Turn incident effects into outbox messages (stored in the same transaction as the change).

Channel and DM payloads name the incident and carry only what must be frozen at the moment
of the change (who was paged, the headline); the Discord senders render the embed from the
incident's current state, so a late delivery never shows stale status or deadlines.
PagerDuty and webhook payloads are complete request bodies (the secrets are added at send
time by the adapters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.actors import ROLE_TITLES
from bot.incidents.domain.escalation import ONCALL, SECONDARY
from bot.incidents.domain.model import (
    Announce,
    Effect,
    ExternalUpdate,
    Incident,
    IncidentEvent,
    Page,
    Repage,
    SlaBreached,
    SlaReminder,
    StatusUpdate,
    StepDeadlines,
    UpdateReminder,
)
from bot.incidents.domain.sla import describe_duration, until_words
from bot.incidents.paging.pagerduty import status_event, trigger_event
from bot.incidents.paging.webhook import webhook_body

CHANNEL, DM, PAGERDUTY, WEBHOOK = "channel", "dm", "pagerduty", "webhook"
RELEASE, ALERTS = "release", "alerts"
_WEBHOOK_EVENT = {
    "trigger": "incident.retriggered",
    "acknowledge": "incident.acknowledged",
    "resolve": "incident.resolved",
}


@dataclass(frozen=True)
class ReleaseInfo:
    """What messages say about the release an incident belongs to."""

    id: int
    name: str
    service: str
    version: str


@dataclass(frozen=True)
class Outgoing:
    """One outbox message to enqueue (`order_key`: delivered after earlier ones sharing it)."""

    kind: str
    payload: dict[str, Any]
    key: str
    order_key: str | None = None


def target_title(target: str) -> str:
    """Return a readable name for an escalation target ("Tech Lead", "on-call secondary")."""
    if target == ONCALL:
        return "on-call engineer"
    if target == SECONDARY:
        return "on-call secondary"
    if target.startswith("user:"):
        return f"<@{target.removeprefix('user:')}>"
    return ROLE_TITLES.get(target, target)


def hhmm(moment: datetime) -> str:
    """Return "09:15 UTC" (with the date when it is not today's, for far deadlines)."""
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def schedule_line(schedule: StepDeadlines, now: datetime) -> str:
    """Return "on-call engineer 09:00 UTC → Tech Lead 09:15 UTC → …" with absolute times."""
    parts = []
    for target, when in schedule:
        mark = "✓" if when <= now else "…"
        parts.append(f"{target_title(target)} {hhmm(when)} {mark}")
    return " → ".join(parts)


@dataclass(frozen=True)
class NoticePlan:
    """Build the outbox messages for one change of one stored incident."""

    incident: Incident
    release: ReleaseInfo | None
    now: datetime
    source: str = "releasebot"

    @property
    def incident_id(self) -> int:
        """Return the incident id (the incident is always stored before notices are built)."""
        assert self.incident.id is not None
        return self.incident.id

    def headline(self) -> str:
        """Return "P1 incident #7: Error rate 5.1 % (breach if > 1 %) · gw v1.2.3"."""
        where = f" · {self.release.name}" if self.release else ""
        severity = self.incident.severity.value
        return f"{severity} incident #{self.incident_id}: {self.incident.title}{where}"

    def key(self, *parts: object) -> str:
        """Return an idempotency key for this incident at this moment."""
        tail = ":".join(str(p) for p in parts)
        return f"incident:{self.incident_id}:{self.now.isoformat()}:{tail}"

    def channel(
        self,
        notice: str,
        text: str,
        *,
        mention_users: Sequence[str] = (),
        mention_roles: Sequence[str] = (),
        where: Sequence[str] = (RELEASE, ALERTS),
        extra: dict[str, Any] | None = None,
        key: str = "",
    ) -> list[Outgoing]:
        """Return a channel notice for each place in `where` (the release thread, alerts)."""
        places = [w for w in where if w != RELEASE or self.release is not None]
        if not places:
            places = [ALERTS]
        return [
            Outgoing(
                CHANNEL,
                {
                    "incident_id": self.incident_id,
                    "notice": notice,
                    "where": place,
                    "text": text,
                    "mention_user_ids": list(dict.fromkeys(mention_users)),
                    "mention_roles": list(dict.fromkeys(mention_roles)),
                    **(extra or {}),
                },
                self.key(notice, key, place),
                self.channel_order(),
            )
            for place in places
        ]

    def channel_order(self) -> str:
        """Return the order key of the incident's Discord messages (an ack never overtakes
        a page still being retried)."""
        return f"incident:{self.incident_id}:channel"

    def refresh(self, cause: str) -> Outgoing:
        """Return a message that edits every posted message of the incident to its new state."""
        return Outgoing(
            CHANNEL,
            {"incident_id": self.incident_id, "notice": "refresh", "refresh": True},
            self.key("refresh", cause),
            self.channel_order(),
        )

    def dm(self, user_id: str, notice: str, content: str, step: int | None) -> Outgoing:
        """Return a DM for `user_id`; its content stands alone (it is reused on fallback)."""
        payload = {
            "incident_id": self.incident_id,
            "notice": notice,
            "user_id": user_id,
            "content": content,
            "step": step,
        }
        return Outgoing(DM, payload, self.key(notice, step, user_id))

    def messages(self, effect: Effect) -> list[Outgoing]:
        """Return the outbox messages `effect` calls for (none for audit events)."""
        if isinstance(effect, IncidentEvent):
            return []
        if isinstance(effect, Page):
            return self._page(effect)
        if isinstance(effect, Repage):
            return self._repage(effect)
        if isinstance(effect, Announce):
            text = f"📣 {effect.reason}: {self.headline()}"
            return self.channel("announce", text, mention_roles=effect.audience)
        if isinstance(effect, SlaReminder | SlaBreached):
            return self._sla(effect)
        if isinstance(effect, UpdateReminder):
            return self._update_reminder(effect)
        if isinstance(effect, StatusUpdate):
            return self._status_update(effect)
        return self._external(effect)

    def _page_text(self, page: Page) -> str:
        step = page.step_index
        verb = "Paging" if step == 0 else f"Escalating (step {step}) to"
        nobody = "" if page.recipients else " (nobody holds this role)"
        loop = f" (loop {page.loop} of {page.loops})" if page.loops > 1 else ""
        return f"🚨 {verb} {target_title(page.target)}{nobody}{loop} — {self.headline()}"

    def _update_reminder(self, effect: UpdateReminder) -> list[Outgoing]:
        every = describe_duration(effect.every)
        missed = f"{effect.missed} update{'s' if effect.missed > 1 else ''} missed"
        text = (
            f"📝 Status update due ({self.incident.severity.value}: one every {every}; "
            f"{missed}). Post one with `/incident update {self.incident_id} <text>` — "
            f"{self.headline()}"
        )
        out = self.channel(
            "update_reminder",
            text,
            mention_users=effect.owners,
            where=[RELEASE],
            extra={"fallback_alerts": True},
            key=str(effect.missed),
        )
        dms = [self.dm(u, "update_reminder", text, None) for u in effect.owners]
        # The incident message shows the missed count: edit it too.
        return [*out, *dms, self.refresh("update_missed")]

    def _status_update(self, effect: StatusUpdate) -> list[Outgoing]:
        # The severity's notify audience, as the opening announcement: thread and channel.
        text = f"📝 Status update from <@{effect.author}>: {effect.text} — {self.headline()}"
        return self.channel("status_update", text, mention_roles=effect.audience)

    def _dm_text(self, schedule: StepDeadlines, step: int, lead: str) -> str:
        nxt = next(((t, w) for t, w in schedule[step + 1 :] if w > self.now), None)
        then = (
            f" If nobody acknowledges by {hhmm(nxt[1])}, {target_title(nxt[0])} is paged next."
            if nxt
            else ""
        )
        return f"{lead} {self.headline()}. Acknowledge or resolve it with the buttons.{then}"

    def _page(self, page: Page) -> list[Outgoing]:
        out: list[Outgoing] = []
        step_key = f"{page.step_index}-{page.target}-t{self.incident.escalation_token}"
        if CHANNEL in page.channels:
            roles = [page.target] if not page.recipients and page.target in ROLE_TITLES else []
            out += self.channel(
                "page",
                self._page_text(page),
                mention_users=page.recipients,
                mention_roles=roles,
                extra={
                    "step": page.step_index,
                    "target": page.target,
                    "release_id": self.incident.release_id,
                },
                key=step_key,
            )
        if DM in page.channels:
            lead = "🚨 You are paged:" if page.step_index == 0 else "🚨 Escalated to you:"
            text = self._dm_text(page.deadline_of_each_step, page.step_index, lead)
            out += [self.dm(user, "page", text, page.step_index) for user in page.recipients]
        if PAGERDUTY in page.channels:
            body = trigger_event(
                self.incident,
                source=self.release.service if self.release else self.source,
                release_version=self.release.version if self.release else None,
            )
            # Who to reach if PagerDuty keeps failing (stripped before sending).
            body["_releasebot"] = {"recipients": list(page.recipients), "target": page.target}
            out.append(self._external_message(PAGERDUTY, body, "trigger", step_key))
        if WEBHOOK in page.channels:
            event = "incident.triggered" if page.step_index == 0 else "incident.escalated"
            body = webhook_body(
                event, self.incident, sent_at=self.now, release=self._release_body(), step=page
            )
            out.append(self._external_message(WEBHOOK, body, event, step_key))
        return out

    def _repage(self, repage: Repage) -> list[Outgoing]:
        who = repage.acknowledger
        text = (
            f"🔁 Still unresolved {self.incident.policy.ack_timeout} after the ack: paging "
            f"<@{who}> again — {self.headline()}"
        )
        out = self.channel("repage", text, mention_users=[who], key=who)
        dm = self._dm_text(repage.deadline_of_each_step, 0, "🔁 Still yours, still unresolved:")
        return [*out, self.dm(who, "repage", dm, 0)]

    def _sla(self, effect: SlaReminder | SlaBreached) -> list[Outgoing]:
        notify = self.incident.sla.for_severity(self.incident.severity).notify
        waiting = [] if self.incident.acked_by else list(self.incident.paged_user_ids)
        if isinstance(effect, SlaReminder):
            left = until_words(effect.deadline, self.now)
            text = f"⏰ {effect.kind.capitalize()} deadline {hhmm(effect.deadline)} ({left})"
            notice = "sla_reminder"
        else:
            text = f"⛔ {effect.kind.capitalize()} SLA breached (deadline {hhmm(effect.deadline)})"
            notice = "sla_breach"
        return self.channel(
            notice,
            f"{text} — {self.headline()}",
            mention_users=waiting,
            mention_roles=notify,
            extra={"sla": effect.kind},
            key=f"{effect.kind}-{effect.deadline.isoformat()}",
        )

    def _external(self, effect: ExternalUpdate) -> list[Outgoing]:
        out: list[Outgoing] = []
        if PAGERDUTY in effect.channels:
            body = (
                trigger_event(
                    self.incident, source=self.release.service if self.release else self.source
                )
                if effect.action == "trigger"
                else status_event(effect.action, self.incident)
            )
            out.append(self._external_message(PAGERDUTY, body, effect.action))
        if WEBHOOK in effect.channels:
            event = _WEBHOOK_EVENT[effect.action]
            body = webhook_body(
                event, self.incident, sent_at=self.now, release=self._release_body()
            )
            out.append(self._external_message(WEBHOOK, body, event))
        return out

    def _external_message(
        self, kind: str, body: dict[str, Any], action: str, detail: str = ""
    ) -> Outgoing:
        # A trigger still being retried must reach PagerDuty before its acknowledge/resolve.
        order = f"incident:{self.incident_id}:{kind}"
        return Outgoing(kind, body, self.key(kind, action, detail), order)

    def _release_body(self) -> dict[str, Any] | None:
        if self.release is None:
            return None
        return {
            "id": self.release.id,
            "name": self.release.name,
            "service": self.release.service,
            "version": self.release.version,
        }

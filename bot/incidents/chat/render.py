"""Render incidents and the on-call roster as message specs (pure: state in, specs out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.chat.ids import rollback_id
from bot.chat.layout import (
    COLOR_DONE,
    COLOR_STOPPED,
    COLOR_WARNING,
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_TITLE_MAX,
    ButtonSpec,
    EmbedField,
    EmbedSpec,
    MessageSpec,
    bounded_lines,
    clip,
)
from bot.core.audit import AuditEvent
from bot.core.units import format_measure
from bot.incidents.domain.escalation import ONCALL, SECONDARY
from bot.incidents.domain.model import Incident, IncidentStatus
from bot.incidents.domain.sla import describe_duration
from bot.incidents.service.notices import ReleaseInfo
from bot.incidents.service.oncall import OncallView

ACK_TEMPLATE = r"rb:inc-ack:(?P<incident>\d+)"
RESOLVE_TEMPLATE = r"rb:inc-resolve:(?P<incident>\d+)"
NOTE_TEMPLATE = r"rb:inc-note:(?P<incident>\d+)"
ESCALATE_TEMPLATE = r"rb:inc-esc:(?P<incident>\d+)"
_COLORS = {
    IncidentStatus.TRIGGERED: COLOR_STOPPED,
    IncidentStatus.ACKNOWLEDGED: COLOR_WARNING,
    IncidentStatus.RESOLVED: COLOR_DONE,
}
_ICONS = {IncidentStatus.TRIGGERED: "🚨", IncidentStatus.ACKNOWLEDGED: "🟡",
          IncidentStatus.RESOLVED: "🟢"}  # fmt: skip


def ack_id(incident_id: int) -> str:
    """Return the custom id of an incident's Acknowledge button."""
    return f"rb:inc-ack:{incident_id}"


def resolve_id(incident_id: int) -> str:
    """Return the custom id of an incident's Resolve button."""
    return f"rb:inc-resolve:{incident_id}"


def escalate_id(incident_id: int) -> str:
    """Return the custom id of an incident's Escalate now button."""
    return f"rb:inc-esc:{incident_id}"


def note_id(incident_id: int) -> str:
    """Return the custom id of the modal asking for the resolution note."""
    return f"rb:inc-note:{incident_id}"


def when(moment: datetime | None) -> str:
    """Return "2026-01-05 09:15 UTC", or "—" when there is no time."""
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def who(target: str, names: Mapping[str, str]) -> str:
    """Return how an escalation target reads: a role's name, or a member mention."""
    if target == ONCALL:
        return "On-call engineer"
    if target == SECONDARY:
        return "On-call secondary"
    if target.startswith("user:"):
        return f"<@{target.removeprefix('user:')}>"
    return names.get(target, target)


def _by(actor_id: str | None) -> str:
    # A member is mentioned; an integration (e.g. "pagerduty") is named as it is.
    return f"<@{actor_id}>" if actor_id and actor_id.isdigit() else str(actor_id or "someone")


def _status(incident: Incident) -> str:
    if incident.status is IncidentStatus.RESOLVED:
        note = f" — {incident.resolution_note}" if incident.resolution_note else ""
        return f"Resolved by {_by(incident.resolved_by)} at {when(incident.resolved_at)}{note}"
    if incident.status is IncidentStatus.ACKNOWLEDGED:
        return f"Acknowledged by {_by(incident.acked_by)} at {when(incident.acked_at)}"
    return "Triggered — waiting for an acknowledgement"


def escalation_lines(incident: Incident, now: datetime, names: Mapping[str, str]) -> list[str]:
    """Return one line per step: who, the absolute deadline, and whether it paged."""
    lines = []
    escalating = incident.status is IncidentStatus.TRIGGERED
    loop = incident.loop_at(now)
    if incident.policy.repeat:
        lines.append(f"Loop {loop} of {incident.policy.loops}")
    for index, (target, due) in enumerate(incident.escalation_schedule(loop)):
        if due <= now:
            state = "paged"
        elif escalating:
            state = "if no ack by then"
        else:
            state = "stopped"
        # Numbered from 1, as the seed's escalation path is.
        lines.append(f"{index + 1}. {who(target, names)} — {when(due)} ({state})")
    return lines


def _sla_line(label: str, due: datetime | None, breached: bool | None, span: str) -> str:
    mark = " ⛔ breached" if breached else (" ✅ met" if breached is False else "")
    return f"{label} by {when(due)} ({span}){mark}"


def incident_embed(
    incident: Incident, release: ReleaseInfo | None, now: datetime, names: Mapping[str, str]
) -> EmbedSpec:
    """Return the embed showing an incident: status, paged people, steps, SLA deadlines."""
    assert incident.id is not None
    sla = incident.sla.for_severity(incident.severity)
    paged = ", ".join(f"<@{u}>" for u in incident.paged_user_ids) or "nobody yet"
    sla_text = "\n".join(
        (
            _sla_line("Respond", incident.response_due, incident.response_sla_breached,
                      describe_duration(sla.response)),
            _sla_line("Resolve", incident.resolution_due, incident.resolution_sla_breached,
                      describe_duration(sla.resolution)),
        )
    )  # fmt: skip
    seen = f"{incident.trigger_count} time(s)"
    updates = update_line(incident)
    if incident.latest_value is not None:
        seen += f" · latest value {format_measure(incident.latest_value, incident.unit)}"
    fields = [
        EmbedField("Status", clip(_status(incident), EMBED_FIELD_VALUE_MAX)),
        EmbedField("Paged", clip(paged, EMBED_FIELD_VALUE_MAX)),
        EmbedField(
            "Escalation",
            bounded_lines(escalation_lines(incident, now, names), EMBED_FIELD_VALUE_MAX),
        ),
        EmbedField(f"SLA ({incident.severity.value})", sla_text),
        EmbedField("Seen", seen, inline=True),
    ]
    if updates:
        fields.append(EmbedField("Status updates", clip(updates, EMBED_FIELD_VALUE_MAX), True))
    if release is not None:
        fields.insert(0, EmbedField("Release", clip(release.name, EMBED_FIELD_VALUE_MAX), True))
    icon = _ICONS[incident.status]
    title = f"{icon} {incident.severity.value} · Incident #{incident.id}: {incident.title}"
    return EmbedSpec(
        title=clip(title, EMBED_TITLE_MAX),
        color=_COLORS[incident.status],
        fields=tuple(fields),
        footer=f"{incident.condition} · {incident.source} · opened {when(incident.opened_at)}",
    )


def update_line(incident: Incident) -> str:
    """Return "last 09:40 UTC · next due 10:10 UTC · 2 updates missed" ("" without a cadence)."""
    every = incident.sla.for_severity(incident.severity).update_every
    if every is None and not incident.updates_missed and incident.last_update_at is None:
        return ""
    parts = [f"last {when(incident.last_update_at)}" if incident.last_update_at else "none yet"]
    due = incident.update_due()
    if due is not None and every is not None:
        parts.append(f"next due {when(due)} (every {describe_duration(every)})")
    if incident.updates_missed:
        missed = incident.updates_missed
        parts.append(f"⚠️ {missed} update{'s' if missed > 1 else ''} missed")
    return " · ".join(parts)


def incident_buttons(incident: Incident) -> tuple[ButtonSpec, ...]:
    """Return Acknowledge, Escalate now, Resolve and (for a release) Roll back.

    All are disabled once resolved; Escalate now only works while nobody has acknowledged.
    """
    assert incident.id is not None
    done = not incident.is_open
    quiet = incident.status is not IncidentStatus.TRIGGERED
    buttons = [
        ButtonSpec("ack", ack_id(incident.id), "Acknowledge", "success", disabled=done),
        ButtonSpec(
            "escalate", escalate_id(incident.id), "Escalate now", "secondary", disabled=quiet
        ),
        ButtonSpec("resolve", resolve_id(incident.id), "Resolve", "primary", disabled=done),
    ]
    if incident.release_id is not None:
        buttons.append(
            ButtonSpec("rollback", rollback_id(incident.release_id), "Roll back", "danger", done)
        )
    return tuple(buttons)


def incident_spec(
    incident: Incident,
    release: ReleaseInfo | None,
    now: datetime,
    names: Mapping[str, str],
    content: str = "",
) -> MessageSpec:
    """Return a page message: `content` (with the mentions) above the incident's embed."""
    embed = incident_embed(incident, release, now, names)
    return MessageSpec(content=content, embeds=(embed,), rows=(incident_buttons(incident),))


def timeline_lines(events: Sequence[AuditEvent]) -> list[str]:
    """Return one line per timeline event: time, who, what."""
    lines = []
    for event in events:
        action = event.action.removeprefix("incident_").replace("_", " ")
        detail = event.detail.get("detail") or event.detail.get("reason") or ""
        tail = f": {detail}" if detail else ""
        lines.append(f"`{event.at:%m-%d %H:%M}` {event.actor_name} · {action}{tail}")
    return lines


def status_spec(
    incident: Incident,
    release: ReleaseInfo | None,
    events: Sequence[AuditEvent],
    now: datetime,
    names: Mapping[str, str],
) -> MessageSpec:
    """Return `/incident status`: the incident's embed and its timeline."""
    embed = incident_embed(incident, release, now, names)
    timeline = bounded_lines(
        [clip(line, 300) for line in timeline_lines(events)],
        EMBED_DESCRIPTION_MAX,
        noun="earlier events",
    )
    shown = EmbedSpec(
        title=embed.title, description=f"**Timeline**\n{timeline}", color=embed.color,
        fields=embed.fields, footer=embed.footer,
    )  # fmt: skip
    return MessageSpec(embeds=(shown,))


def list_text(incidents: Sequence[Incident], now: datetime) -> str:
    """Return one line per incident, newest first, for `/incident list`."""
    if not incidents:
        return "No incidents."
    lines = [
        f"{_ICONS[i.status]} #{i.id} {i.severity.value} · {i.title} · {i.status.value}"
        f" · opened {when(i.opened_at)}"
        for i in incidents
    ]
    return bounded_lines(lines, 1900, noun="more")


def oncall_text(view: OncallView, names: Mapping[str, str]) -> str:
    """Return `/oncall show`: who each step pages right now, and the overrides in force."""
    anchor = view.at
    lines = [f"**Who an incident opened now ({when(anchor)}) would page:**"]
    for row in view.coverage:
        label = "1b" if row.step_index is None else str(row.step_index + 1)
        people = ", ".join(f"<@{u}>" for u in row.user_ids) or "nobody"
        until = f" until {when(row.override.until)}" if row.override else ""
        lines.append(
            f"{label}. {who(row.target, names)} at {when(anchor + row.pages_at)}: {people}"
            f" ({row.source}{until})"
        )
    if view.calendar:
        lines.append(f"On-call calendar: {view.calendar}")
    if view.overrides:
        lines.append("**Overrides in force:**")
        lines += [
            f"<@{s.override.user_id}> as {s.override.role} until {when(s.override.until)} "
            f"(set by <@{s.override.set_by}> at {when(s.set_at)})"
            for s in view.overrides
        ]
    return bounded_lines(lines, 1900, noun="more")

"""Render monitoring alerts and window messages as message specs (pure: state in, specs out).

Every verdict message shows the measured value, the threshold, the query and the time; a
condition with no data is "no data", never a number and never healthy. Mentions go in the
message content (Discord notifies nobody for a mention inside an embed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.chat.ids import rollback_id
from bot.chat.layout import (
    COLOR_CURRENT,
    COLOR_DONE,
    COLOR_STOPPED,
    COLOR_WARNING,
    CONTENT_MAX,
    EMBED_FIELD_VALUE_MAX,
    EMBED_TITLE_MAX,
    ButtonSpec,
    EmbedField,
    EmbedSpec,
    MessageSpec,
    bounded_lines,
    clip,
)
from bot.core.units import PUSHED_FIRING
from bot.monitoring.chat.chart import render_chart
from bot.monitoring.domain import (
    Measurement,
    Verdict,
    format_limit,
    format_measure,
)
from bot.monitoring.domain.records import AlertKind, AlertStatus, WatchedCondition, WindowStatus
from bot.monitoring.service.views import AlertView, ConditionLine, WindowView

ACK_TEMPLATE = r"rb:alert-ack:(?P<alert>\d+)"
SILENCE_TEMPLATE = r"rb:alert-silence:(?P<alert>\d+)"
HISTORY_SHOWN = 12

MENTIONS: dict[str, tuple[str, ...]] = {
    "first_breach": ("oncall",),
    "met": ("oncall", "devops"),
    "blind": ("oncall",),
}
"""Role keys to notify per alert event; the other events only edit the alert in place."""

_HEADS = {
    AlertStatus.WARNING: ("⚠️", "First breach", COLOR_WARNING),
    AlertStatus.FIRING: ("🔴", "Rollback condition met", COLOR_STOPPED),
    AlertStatus.RECOVERED: ("✅", "Recovered", COLOR_DONE),
    AlertStatus.BLIND: ("🙈", "Monitoring blind", COLOR_WARNING),
    AlertStatus.RESTORED: ("👁", "Monitoring restored", COLOR_DONE),
    AlertStatus.ENDED: ("⏹", "Ended", COLOR_CURRENT),
}

Mention = Callable[[str], str]
"""Turn a role key into what to write in content ("<@&id>", or the role's name)."""


def ack_id(alert_id: int) -> str:
    """Return the custom id of an alert's Acknowledge button."""
    return f"rb:alert-ack:{alert_id}"


def silence_id(alert_id: int) -> str:
    """Return the custom id of an alert's Silence button."""
    return f"rb:alert-silence:{alert_id}"


def when(at: datetime) -> str:
    """Return a time as "2026-01-05 09:10:00 UTC"."""
    return f"{at:%Y-%m-%d %H:%M:%S} UTC"


def rule(measurement: Measurement, unit: str = "") -> str:
    """Return the breach rule, e.g. "breach if > 1 %" (a ratio) or "breach if > 0.01"."""
    return f"breach if {measurement.op} {format_limit(measurement.threshold, unit)}"


def history_line(measurement: Measurement, unit: str = "") -> str:
    """Return one verdict-history line: time, verdict, value."""
    return (
        f"`{measurement.at:%H:%M:%S}` {measurement.verdict.value.upper()} "
        f"{format_measure(measurement.value, unit)}"
    )


def unit_of(view: AlertView) -> str:
    """Return the unit of the alert's condition ("ratio", "seconds" or "")."""
    return view.watched.unit if view.watched is not None else ""


@dataclass(frozen=True)
class AlertMessage:
    """An alert as Discord should show it, its chart, and whom a new post notifies."""

    spec: MessageSpec
    chart: bytes
    filename: str
    mentions: tuple[str, ...]


def _pushed_without_value(view: AlertView) -> bool:
    value = view.alert.measurement.value
    return view.alert.source == "alertmanager" and (value is None or value != value)


def _alertmanager_rule(view: AlertView) -> bool:
    """Return True when Alertmanager's rule is the breach (a condition only it knows): the
    stand-in threshold 0 of such a condition is never shown as "breach if > 0"."""
    return view.watched is not None and view.watched.kind == "alertmanager"


def headline(view: AlertView) -> str:
    """Return the one-line state of the alert, with the value and the rule."""
    alert, m = view.alert, view.alert.measurement
    icon, label, _ = _HEADS[alert.status]
    if alert.kind is AlertKind.BLIND and alert.status is AlertStatus.BLIND:
        detail = f"no usable result ({m.error or m.detail or 'no data'})"
    elif _pushed_without_value(view):
        detail = PUSHED_FIRING
    elif _alertmanager_rule(view):
        detail = f"{format_measure(m.value, unit_of(view))}, {PUSHED_FIRING}"
    elif _relative(view):
        detail = m.detail  # both values, the previous release, the offset and the rule
    else:
        detail = f"{format_measure(m.value, unit_of(view))} ({rule(m, unit_of(view))})"
    if view.low_confidence:
        detail += f" · {view.low_confidence}"
    return f"{icon} **{label}: {alert.title}** on {view.release_name} — {detail}"


def _relative(view: AlertView) -> bool:
    """Return True when the measurement was judged against the previous release."""
    watched, m = view.watched, view.alert.measurement
    return bool(watched and watched.baseline and m.verdict.conclusive and " vs " in m.detail)


def _notes(view: AlertView) -> list[str]:
    alert = view.alert
    notes = []
    if alert.acknowledged_at is not None:
        notes.append(
            f"Acknowledged by {alert.acknowledged_by_name} at {when(alert.acknowledged_at)}"
        )
    if view.silence is not None and view.silenced:
        notes.append(
            f"🔕 Silenced until {when(view.silence.until)} by {view.silence.by_name}: "
            f"{view.silence.reason}"
        )
    return notes


def _fields(view: AlertView) -> tuple[EmbedField, ...]:
    alert, m = view.alert, view.alert.measurement
    unit = unit_of(view)
    history = [history_line(x, unit) for x in view.series[-HISTORY_SHOWN:]]
    fields = [
        EmbedField(
            "Measured value",
            PUSHED_FIRING if _pushed_without_value(view) else format_measure(m.value, unit),
            inline=True,
        ),
        EmbedField(
            "Threshold",
            "Alertmanager's rule" if _alertmanager_rule(view) else rule(m, unit),
            inline=True,
        ),
        EmbedField("Verdict", m.verdict.value.upper(), inline=True),
        EmbedField("Measured at", when(m.at), inline=True),
        EmbedField("Severity", alert.severity, inline=True),
        EmbedField("Source", alert.source, inline=True),
        EmbedField("Query", clip(f"```\n{clip(m.query, 900)}\n```", EMBED_FIELD_VALUE_MAX)),
    ]
    if m.error or m.detail:
        fields.append(EmbedField("Detail", clip(m.error or m.detail, EMBED_FIELD_VALUE_MAX)))
    if history:
        body = bounded_lines(history, EMBED_FIELD_VALUE_MAX, noun="earlier")
        fields.append(EmbedField(f"Verdict history (last {len(history)})", body))
    return tuple(fields)


def _rows(view: AlertView) -> tuple[tuple[ButtonSpec, ...], ...]:
    alert = view.alert
    return (
        (
            ButtonSpec(
                "alert-ack",
                ack_id(alert.key),
                "Acknowledged" if alert.acknowledged else "Acknowledge",
                style="success",
                disabled=alert.acknowledged or not alert.status.open,
            ),
            ButtonSpec("rollback", rollback_id(alert.release_id), "Roll back", style="danger"),
            ButtonSpec("alert-silence", silence_id(alert.key), "Silence for…", style="secondary"),
        ),
    )


def render_alert(view: AlertView, mention: Mention) -> AlertMessage:
    """Return the alert's message: content with mentions, embed, buttons and chart."""
    alert = view.alert
    _, label, color = _HEADS[alert.status]
    keys = () if view.silenced else MENTIONS.get(_event_of(alert.status), ())
    prefix = " ".join(mention(key) for key in keys)
    lines = [f"{prefix} {headline(view)}".strip(), *_notes(view)]
    filename = f"alert-{alert.key}.png"
    embed = EmbedSpec(
        title=clip(f"{label}: {alert.title} ({alert.condition})", EMBED_TITLE_MAX),
        description=clip(alert.measurement.describe(), 2000),
        color=color,
        fields=_fields(view),
        footer=f"alert #{alert.key} · release #{alert.release_id} · {alert.evaluations} "
        f"evaluation{'s' if alert.evaluations != 1 else ''} since {when(alert.opened_at)}",
    )
    spec = MessageSpec(
        content=clip("\n".join(lines), CONTENT_MAX), embeds=(embed,), rows=_rows(view)
    )
    return AlertMessage(spec, alert_chart(view), filename, keys)


def ping_text(view: AlertView, mention: Mention, event: str) -> str | None:
    """Return the short notifying reply for an escalation of an already posted alert."""
    keys = MENTIONS.get(event, ())
    if not keys or view.silenced:
        return None
    prefix = " ".join(mention(key) for key in keys)
    return clip(f"{prefix} {headline(view)} (alert #{view.alert.key} updated above)", CONTENT_MAX)


def _event_of(status: AlertStatus) -> str:
    return {
        AlertStatus.WARNING: "first_breach",
        AlertStatus.FIRING: "met",
        AlertStatus.BLIND: "blind",
    }.get(status, "")


def alert_chart(view: AlertView) -> bytes:
    """Return the PNG of the condition's series over the window so far, with the threshold."""
    alert = view.alert
    scale, axis = _AXES.get(unit_of(view), (1.0, ""))
    points = [(m.at, None if m.value is None else m.value * scale) for m in view.series] or [
        (alert.measurement.at, None)
    ]
    # ASCII separator: Pillow's built-in font has no em dash glyph.
    title = f"{alert.title} - {view.release_name}"
    baseline = [(m.at, None if m.value is None else m.value * scale) for m in view.baseline]
    return render_chart(
        points,
        alert.measurement.threshold * scale,
        title,
        axis,
        baseline=baseline,
        baseline_label=view.baseline_label,
    )


_AXES = {"ratio": (100.0, "%"), "seconds": (1000.0, "ms")}
"""Unit -> (factor, axis unit): a ratio is charted in percent, seconds in milliseconds."""


# ----- window messages ---------------------------------------------------------------------


def stages_text(view: WindowView) -> str:
    """Return the schedule in words: "every 5m until 1h, then every 30m until 24h"."""
    parts = [
        f"every {_span(stage.every)} until {_span(stage.until)}"
        for stage in view.record.window.stages
    ]
    return ", then ".join(parts)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _condition_rule(line: ConditionLine) -> str:
    watched = line.watched
    if watched is None:
        return f"{line.title} (pushed by Alertmanager)"
    count = f"{watched.breaches} in a row"
    if watched.failure_limit is not None:  # Argo's count: breaches in total beyond the limit
        count = f"more than {watched.failure_limit} in total"
    relative = f", or {_relative_text(watched)} vs the previous release" if watched.baseline else ""
    return (
        f"{watched.title} (breach if {watched.op} {format_limit(watched.threshold, watched.unit)}"
        f"{relative}, {count}, {watched.severity})"
    )


def _relative_text(watched: WatchedCondition) -> str:
    parts = [f"+{watched.max_increase}" if watched.max_increase else ""]
    parts.append(f"-{watched.max_decrease}" if watched.max_decrease else "")
    return " / ".join(part for part in parts if part)


def render_window_event(
    view: WindowView, event: str, actor: str, mention: Mention, note: str = ""
) -> MessageSpec:
    """Return the thread message for a window event (opened, paused, closed, ...).

    `note` says why a window closed or stopped ("closed early by tom ...: reason").
    """
    record, name = view.record, view.release_name
    if event == "opened":
        watched = "; ".join(_condition_rule(line) for line in view.conditions) or "nothing"
        text = (
            f"📈 Monitoring {name} after the production deploy: {stages_text(view)} "
            f"(closes {when(record.window.closes_at)}). Watching: {watched}."
        )
        return MessageSpec(content=clip(text, CONTENT_MAX))
    if event == "closed":
        return render_closing(view, mention, note)
    if event == "stopped":
        why = f": {note}" if note else ""
        return MessageSpec(
            content=clip(
                f"⏹ Monitoring of {name} stopped after {record.polls_done} polls{why}.",
                CONTENT_MAX,
            )
        )
    icon, verb = _VERBS.get(event, ("ℹ️", event))
    nxt = when(record.next_due_at) if record.next_due_at else "none while paused"
    text = (
        f"{icon} {actor} {verb} the monitoring of {name}: next poll {nxt}, "
        f"closes {when(record.window.closes_at)}."
    )
    return MessageSpec(content=clip(text, CONTENT_MAX))


_VERBS = {"paused": ("⏸", "paused"), "resumed": ("▶️", "resumed"), "extended": ("⏩", "extended")}


def _summary_lines(view: WindowView) -> list[str]:
    lines = []
    units = {c.name: c.unit for c in view.record.conditions}
    for summary in view.summary.conditions:
        unit = units.get(summary.condition, "")
        lines.append(
            f"**{summary.condition}**: {summary.count} measurements, worst "
            f"{summary.worst.value.upper()}, {summary.breaches} breaches, {summary.blind} blind; "
            f"min {format_measure(summary.min_value, unit)}, "
            f"max {format_measure(summary.max_value, unit)}, "
            f"last {format_measure(summary.last_value, unit)}"
        )
    return lines or ["nothing was measured: the window saw nothing (never counted as healthy)"]


def render_closing(view: WindowView, mention: Mention, note: str = "") -> MessageSpec:
    """Return the closing summary, asking the On-call engineer for the sign-off."""
    record = view.record
    healthy = view.summary.healthy
    verdict = (
        "healthy throughout" if healthy else f"worst verdict {view.summary.worst.value.upper()}"
    )
    early = f" The window was {note}." if note else ""
    content = (
        f"{mention('oncall')} Post-release monitoring of {view.release_name} is over "
        f"({record.polls_done} polls, {verdict}).{early} On-call engineer: please review and "
        "give the sign-off “Post-release monitoring completed”."
    )
    lines = _summary_lines(view)
    if note:
        lines = [f"**Window {note}**", *lines]
    embed = EmbedSpec(
        title=clip(f"Monitoring summary: {view.release_name}", EMBED_TITLE_MAX),
        description=bounded_lines(lines, 3500),
        color=COLOR_DONE if healthy else COLOR_WARNING,
        footer=f"opened {when(record.window.opened_at)} · closed "
        f"{when(record.closed_at) if record.closed_at else '-'} · {len(view.alerts)} alerts",
    )
    return MessageSpec(content=clip(content, CONTENT_MAX), embeds=(embed,))


def _state_text(line: ConditionLine, now: datetime) -> str:
    last = line.last
    if last is None:
        return "not measured yet"
    unit = line.watched.unit if line.watched is not None else ""
    text = (
        f"last {last.verdict.value.upper()} {format_measure(last.value, unit)} at {when(last.at)}"
    )
    stored = line.stored
    if stored is not None:
        state = stored.state
        if state.met:
            text += f" · condition MET ({state.consecutive_breaches} in a row)"
        elif state.consecutive_breaches:
            text += f" · {state.consecutive_breaches} breach(es) in a row"
        if state.blind:
            text += f" · BLIND ({state.consecutive_blind} without data)"
        if stored.silence is not None and stored.silence.active(now):
            text += f" · silenced until {when(stored.silence.until)}"
    return text


def render_window_status(view: WindowView) -> EmbedSpec:
    """Return `/release monitor`'s embed: stages, next poll, polls done, last verdicts."""
    record, window = view.record, view.record.window
    status = record.status.value
    if record.status is WindowStatus.OPEN and window.paused_at is not None:
        status = f"paused since {when(window.paused_at)}"
    facts = [
        f"**Status:** {status}",
        f"**Schedule:** {stages_text(view)}",
        f"**Opened:** {when(window.opened_at)} · **closes:** {when(window.closes_at)}",
        f"**Next poll:** {when(record.next_due_at) if record.next_due_at else '—'}",
        f"**Polls done:** {record.polls_done}"
        + (f" ({record.polls_coalesced} missed slots coalesced)" if record.polls_coalesced else ""),
    ]
    if window.extended_by:
        facts.append(f"**Extended by:** {_span(window.extended_by)}")
    fields = tuple(
        EmbedField(clip(_condition_rule(line), 256), clip(_state_text(line, view.now), 1024))
        for line in view.conditions[:20]
    )
    worst = view.summary.worst if view.summary.conditions else Verdict.INCONCLUSIVE
    return EmbedSpec(
        title=clip(f"Monitoring: {view.release_name}", EMBED_TITLE_MAX),
        description="\n".join(facts),
        color=COLOR_DONE if worst is Verdict.PASS else COLOR_WARNING,
        fields=fields,
        footer=f"window #{record.key} · {len(view.alerts)} alerts",
    )


__all__ = [
    "ACK_TEMPLATE",
    "MENTIONS",
    "SILENCE_TEMPLATE",
    "AlertMessage",
    "alert_chart",
    "render_alert",
    "render_closing",
    "render_window_event",
    "render_window_status",
]

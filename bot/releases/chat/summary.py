"""Render the pinned summary, the sign-off messages and the release lists (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from bot.chat.layout import (
    COLOR_CURRENT,
    COLOR_DONE,
    COLOR_STOPPED,
    COLOR_UPCOMING,
    COLOR_WARNING,
    EMBED_FIELD_VALUE_MAX,
    EMBED_TITLE_MAX,
    EmbedField,
    EmbedSpec,
    MessageSpec,
    bounded_lines,
    clip,
)
from bot.checklist.model import SignOffSpec
from bot.core.audit import AuditEvent
from bot.releases.chat.render import (
    NAME_MAX,
    RenderContext,
    phase_fingerprint,
    phase_progress,
    phase_state,
    plan_phase,
    render_phase_message,
)
from bot.releases.domain.release import Release, ReleaseStatus

_PHASE_MARKS = {"closed": "✅", "in progress": "▶️", "upcoming": "☐", "stopped": "⏹"}
_STATUS_COLORS = {
    ReleaseStatus.ACTIVE: COLOR_CURRENT,
    ReleaseStatus.COMPLETED: COLOR_DONE,
    ReleaseStatus.ABORTED: COLOR_STOPPED,
    ReleaseStatus.ROLLED_BACK: COLOR_WARNING,
}
_TITLE_WIDTH = 60


def status_line(release: Release) -> str:
    """Return where the release stands, e.g. "Phase 2/4: Release Process" or "Completed"."""
    phase = release.current_phase
    if phase is not None:
        return f"Phase {release.phase_index + 1}/{len(release.phases)}: {phase.title}"
    label = release.status.value.replace("_", " ").capitalize()
    return f"{label}" + (f" ({release.close_reason})" if release.close_reason else "")


def _facts(release: Release) -> str:
    lines = [f"**{clip(status_line(release), 300)}**", f"Lead: {clip(release.lead_name, NAME_MAX)}"]
    if release.target_date:
        lines.append(f"Target date: {release.target_date.isoformat()}")
    if release.window:
        lines.append(f"Deployment window: {release.window}")
    lines.append(f"Started: {release.created_at:%Y-%m-%d %H:%M} UTC")
    if release.closed_at:
        lines.append(f"Closed: {release.closed_at:%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines)


def signoff_line(release: Release, spec: SignOffSpec, ctx: RenderContext) -> str:
    """Return one line saying whether sign-off `spec` was given, by whom and when."""
    label = clip(spec.label or spec.key, 80)
    given = release.signoffs.get(spec.key)
    if given is None:
        return f"⏳ {label} — needs {ctx.role(spec.role)}"
    return f"✅ {label} — {clip(given.actor_name, NAME_MAX)} · {given.at:%Y-%m-%d %H:%M} UTC"


def render_summary(release: Release, ctx: RenderContext) -> MessageSpec:
    """Return the pinned summary: phase, progress per phase, open gates, sign-offs, dates."""
    progress = []
    for index, phase in enumerate(release.phases):
        done, total = phase_progress(release, phase)
        mark = _PHASE_MARKS[phase_state(release, index)]
        progress.append(f"{mark} {clip(phase.title, _TITLE_WIDTH)} — {done}/{total}")
    fields = [
        EmbedField("Progress", bounded_lines(progress, EMBED_FIELD_VALUE_MAX, noun="more phases"))
    ]
    current = release.current_phase
    if current is not None:
        gates = [f"• {clip(gate, 150)}" for gate in release.open_gates(current)]
        text = bounded_lines(gates, EMBED_FIELD_VALUE_MAX, noun="more (see the phase messages)")
        fields.append(
            EmbedField(
                clip(f"Open gates — {current.title}", 256),
                text or "None: this phase can be advanced.",
            )
        )
    signoffs = [signoff_line(release, spec, ctx) for spec in release.template.signoffs]
    if signoffs:
        fields.append(EmbedField("Sign-offs", bounded_lines(signoffs, EMBED_FIELD_VALUE_MAX)))
    embed = EmbedSpec(
        title=clip(f"Release {release.name}", EMBED_TITLE_MAX),
        description=_facts(release),
        color=_STATUS_COLORS[release.status],
        fields=tuple(fields),
        footer=f"Release #{release.id} · updated as the release moves",
    )
    return MessageSpec(embeds=(embed,))


def render_signoff(release: Release, spec: SignOffSpec, ctx: RenderContext) -> MessageSpec:
    """Return the message of one sign-off: who must sign, what it gates, and who signed."""
    phase_title = next((p.title for p in release.phases if p.key == spec.phase_key), spec.phase_key)
    lines = [
        clip(spec.text, 500),
        "",
        f"Needs: **{ctx.role(spec.role)}**",
        f"Gates: {clip(phase_title, 200)}",
    ]
    if spec.blocks:
        lines.append(f"Locks until given: `{clip(spec.blocks, 200)}`")
    given = release.signoffs.get(spec.key)
    if given is not None:
        lines += [
            "",
            f"✅ Signed by **{clip(given.actor_name, NAME_MAX)}** at {given.at:%Y-%m-%d %H:%M} UTC",
        ]
        color = COLOR_DONE
    else:
        lines += ["", f"⏳ Waiting: react with {ctx.signoff_emoji} to sign off."]
        color = COLOR_UPCOMING if release.is_active else COLOR_STOPPED
    if given is not None and release.is_active:
        lines.append(f"Remove your {ctx.signoff_emoji} to withdraw while the phase is open.")
    embed = EmbedSpec(
        clip(f"Sign-off: {spec.label or spec.key}", EMBED_TITLE_MAX),
        "\n".join(lines),
        color,
        (),
        clip(f"{release.name} · sign-off {spec.key}", 200),
    )
    return MessageSpec(embeds=(embed,), reactions=(ctx.signoff_emoji,))


def render_status(
    release: Release, ctx: RenderContext, timeline: Sequence[AuditEvent], thread_id: int | None
) -> MessageSpec:
    """Return the /release status answer: the summary plus the latest timeline entries."""
    summary = render_summary(release, ctx).embeds[0]
    recent = [clip(event.describe(), 200) for event in timeline[-10:]]
    fields = summary.fields
    if recent:
        fields += (EmbedField("Latest activity", bounded_lines(recent, EMBED_FIELD_VALUE_MAX)),)
    room = f"\nRoom: <#{thread_id}>" if thread_id else ""
    embed = EmbedSpec(
        summary.title, clip(summary.description + room, 4096), summary.color, fields, summary.footer
    )
    return MessageSpec(embeds=(embed,))


def _phase_spec(
    release: Release, phase_index: int, chunk_index: int, ctx: RenderContext, memo: PhaseMemo | None
) -> MessageSpec:
    if memo is None:
        return render_phase_message(release, phase_index, chunk_index, ctx)
    return _memoised(
        memo,
        f"{phase_index}:{chunk_index}",
        phase_fingerprint(release, phase_index, chunk_index),
        lambda: render_phase_message(release, phase_index, chunk_index, ctx),
    )


def _memoised(
    memo: PhaseMemo, key: str, fingerprint: Hashable, render: Callable[[], MessageSpec]
) -> MessageSpec:
    """Return the spec `memo` holds for `key` if it was rendered from `fingerprint`, else
    render it and keep it."""
    known = memo.get(key)
    if known is not None and known[0] == fingerprint:
        return known[1]
    spec = render()
    memo[key] = (fingerprint, spec)
    return spec


def release_choice(release: Release) -> str:
    """Return a one-line label for a release (autocomplete choices, lists)."""
    where = release.current_phase.title if release.current_phase else release.status.value
    return clip(f"#{release.id} {release.name} — {where}", 100)


def render_list(releases: Sequence[Release]) -> MessageSpec:
    """Return the /release list answer: active releases first, then recent closed ones."""
    active = [
        f"• {release_choice(r)} · lead {clip(r.lead_name, NAME_MAX)}"
        for r in releases
        if r.is_active
    ]
    closed = [f"• {release_choice(r)}" for r in releases if not r.is_active]
    fields = []
    if active:
        fields.append(EmbedField("Active", bounded_lines(active, EMBED_FIELD_VALUE_MAX)))
    if closed:
        fields.append(EmbedField("Recent", bounded_lines(closed, EMBED_FIELD_VALUE_MAX)))
    description = "" if fields else "No releases yet. Start one with `/release start`."
    return MessageSpec(embeds=(EmbedSpec("Releases", description, COLOR_CURRENT, tuple(fields)),))


@dataclass(frozen=True)
class RoomMessage:
    """One message of a release room: its reference kind and key, and what it shows."""

    kind: str
    key: str
    spec: MessageSpec


PhaseMemo = dict[str, tuple[Hashable, MessageSpec]]
"""One room's rendered phase and sign-off messages by key, with the fingerprint each was
rendered from."""


def room_messages(
    release: Release, ctx: RenderContext, memo: PhaseMemo | None = None
) -> list[RoomMessage]:
    """Return every message of the release room in posting order.

    The summary comes first, then each phase's messages followed by the sign-offs that
    gate that phase. Keys are stable for the release's life: "<phase>:<chunk>" indexes
    for phase messages, the sign-off key for sign-offs. With `memo` (kept per release and
    context), a phase message whose state is unchanged is not rendered again.
    """
    messages = [RoomMessage("summary", "", render_summary(release, ctx))]
    for phase_index, phase in enumerate(release.phases):
        for chunk_index in range(len(plan_phase(phase))):
            key = f"{phase_index}:{chunk_index}"
            spec = _phase_spec(release, phase_index, chunk_index, ctx, memo)
            messages.append(RoomMessage("phase", key, spec))
        for signoff in release.phase_signoffs(phase):
            messages.append(
                RoomMessage("signoff", signoff.key, _signoff_spec(release, signoff, ctx, memo))
            )
    return messages


def _signoff_spec(
    release: Release, spec: SignOffSpec, ctx: RenderContext, memo: PhaseMemo | None
) -> MessageSpec:
    if memo is None:
        return render_signoff(release, spec, ctx)
    # All a sign-off message reads that can change: whether (and by whom) it was given, and
    # whether the release is still active; the rest is the release's template and name.
    given = release.signoffs.get(spec.key)
    signed = (given.actor_id, given.actor_name, given.at) if given is not None else None
    fingerprint = (release.id, release.name, signed, release.is_active)
    return _memoised(
        memo, f"signoff:{spec.key}", fingerprint, lambda: render_signoff(release, spec, ctx)
    )

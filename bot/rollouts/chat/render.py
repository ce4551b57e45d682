"""Render rollbacks, deploys and rollout status as message specs (pure: state in, specs out)."""

from __future__ import annotations

from bot.chat.layout import (
    COLOR_CURRENT,
    COLOR_DONE,
    COLOR_STOPPED,
    COLOR_WARNING,
    CONTENT_MAX,
    EMBED_DESCRIPTION_MAX,
    EMBED_FIELD_VALUE_MAX,
    EmbedField,
    EmbedSpec,
    clip,
)
from bot.releases.domain.release import Release
from bot.rollouts.domain import OperationKind, OperationStatus, RolloutOperation
from bot.rollouts.k8s import RolloutStatus
from bot.rollouts.service.deploy import DeployStatus, TargetReport

STATUS_MARKS = {
    OperationStatus.REQUESTED: ("⏳", "requested", COLOR_CURRENT),
    OperationStatus.IN_PROGRESS: ("🔄", "in progress", COLOR_CURRENT),
    OperationStatus.SUCCEEDED: ("✅", "succeeded", COLOR_DONE),
    OperationStatus.FAILED: ("❌", "failed", COLOR_STOPPED),
    OperationStatus.REFUSED: ("⛔", "refused", COLOR_WARNING),
}


def operation_title(op: RolloutOperation) -> str:
    """Return "Rollback of production/x" or "Deploy to staging (staging/x)"."""
    if op.kind is OperationKind.ROLLBACK:
        return f"↩️ Rollback of {op.target}"
    return f"🚀 Deploy to {op.environment} ({op.target})"


def operation_embed(op: RolloutOperation, release: Release) -> EmbedSpec:
    """Return the thread embed that follows one rollback or deploy from request to outcome."""
    mark, word, color = STATUS_MARKS[op.status]
    who = "the auto-rollback policy" if op.automatic else op.requested_by_name
    lines = [f"{mark} **{word}** · {release.name} · asked by {who}"]
    if op.trigger:
        lines.append(f"Automatic: {op.trigger}; paging continues as usual.")
    if op.override_reason:
        lines.append(f"Deployment window overridden: {op.override_reason}")
    if op.kind is OperationKind.ROLLBACK and op.from_revision and op.to_revision:
        new = f" (now revision {op.new_revision})" if op.new_revision else ""
        lines.append(f"Revision {op.from_revision} → {op.to_revision}{new}")
    if op.in_flight and op.progress:
        lines.append(f"Now: {op.progress}")
    if not op.in_flight:
        lines.append(op.detail)
    fields: tuple[EmbedField, ...] = ()
    if op.ticked:
        texts = {item.id: item.text for item in release.template.items()}
        ticked = ", ".join(f"“{texts.get(item, item)}”" for item in op.ticked)
        fields = (EmbedField("Ticked by the bot", clip(ticked, EMBED_FIELD_VALUE_MAX)),)
    return EmbedSpec(
        title=clip(operation_title(op), 256),
        description=clip("\n".join(line for line in lines if line), EMBED_DESCRIPTION_MAX),
        color=color,
        fields=fields,
        footer=f"{op.kind} #{op.id} · requested {op.requested_at:%Y-%m-%d %H:%M} UTC",
    )


def outcome_line(op: RolloutOperation) -> str:
    """Return the one-line outcome posted as a new thread message when an operation ends."""
    mark, word, _ = STATUS_MARKS[op.status]
    what = "Rollback" if op.kind is OperationKind.ROLLBACK else f"Deploy to {op.environment}"
    return clip(f"{mark} {what} of {op.target} {word}: {op.detail}", CONTENT_MAX)


def status_lines(status: RolloutStatus) -> list[str]:
    """Return the lines `/release deploy-status` shows for one Deployment."""
    conditions = ", ".join(
        f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "") for c in status.conditions
    )
    deadline = (
        f"{status.progress_deadline_seconds}s"
        if status.progress_deadline_seconds is not None
        else "not set"
    )
    return [
        status.summary(),
        f"Replicas: {status.replicas} desired · {status.updated_replicas} updated · "
        f"{status.ready_replicas} ready · {status.available_replicas} available",
        f"Generation {status.generation} (observed {status.observed_generation}) · "
        f"revision {status.revision}" + (" · paused" if status.paused else ""),
        f"Conditions: {conditions or 'none reported'}",
        f"Progress deadline: {deadline}",
        f"Images: {', '.join(status.images) or 'none'}",
    ]


def target_field(report: TargetReport, item_texts: dict[str, str]) -> EmbedField:
    """Return the embed field of one target (its status, or the API error)."""
    name = f"{report.environment} · {report.target}"
    if report.status is None:
        return EmbedField(name, clip(f"⚠️ {report.error or 'no status'}", EMBED_FIELD_VALUE_MAX))
    lines = status_lines(report.status)
    if report.ticked:
        texts = ", ".join(f"“{item_texts.get(i, i)}”" for i in report.ticked)
        lines.append(f"Ticked by the bot: {texts}")
    return EmbedField(name, clip("\n".join(lines), EMBED_FIELD_VALUE_MAX))


def deploy_status_embed(report: DeployStatus) -> EmbedSpec:
    """Return the `/release deploy-status` embed: one field per configured target."""
    release = report.release
    texts = {item.id: item.text for item in release.template.items()}
    fields = tuple(target_field(target, texts) for target in report.targets)
    description = "" if fields else f"{release.service} has no Kubernetes targets configured."
    healthy = all(t.status is not None and t.status.complete for t in report.targets)
    return EmbedSpec(
        title=clip(f"Rollout status · {release.name}", 256),
        description=description,
        color=COLOR_DONE if fields and healthy else COLOR_WARNING,
        fields=fields,
    )

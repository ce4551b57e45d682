"""Rollback use-cases: `rollout undo` from a Roll back button, `/release rollback` or a policy.

A rollback is previewed (role check, refusals, the revisions it would move between) for the
confirmation, requested when confirmed (role checked again at click time) and then run in the
background: undo, watch to completion or the progress deadline, post the outcome, move the
release to Rolled back. The shared machinery lives in `bot.rollouts.service.operations`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.core.actors import Actor, Source
from bot.core.audit import AuditEvent
from bot.core.errors import DomainError, InvalidTransition
from bot.releases.domain.release import WINDOW_MARK, ItemState, Release, ReleaseStatus
from bot.rollouts.domain import (
    ClusterRefusal,
    OperationKind,
    OperationStatus,
    RolloutInFlight,
    RolloutOperation,
    requested_operation,
    runs_release_version,
)
from bot.rollouts.k8s import (
    DeploymentTarget,
    KubernetesError,
    Revision,
    RollbackReport,
    RolloutRefused,
    UndoResult,
)
from bot.rollouts.service.operations import (
    OUTBOX_KIND,
    ClusterAccess,
    ControllerFactory,
    OperationRunner,
    RolloutTarget,
    actor_of,
    request_event,
    rollout_records,
    targets_from_settings,
)

if TYPE_CHECKING:  # kubernetes-asyncio loads at first cluster use
    from bot.rollouts.k8s.rollout import RolloutController

__all__ = [
    "OUTBOX_KIND",
    "ClusterAccess",
    "ControllerFactory",
    "NotRunningRelease",
    "RollbackPlan",
    "RollbackService",
    "RolloutTarget",
    "pick_revision",
    "targets_from_settings",
]


class NotRunningRelease(InvalidTransition):
    """Production does not run the release whose room asks for the rollback.

    An undo there would withdraw what does run (another release's version): refused unless
    the person confirms a rollback of the running version explicitly.
    """

    def __init__(self, message: str, release_id: int, environment: str, running: str) -> None:
        super().__init__(message)
        self.release_id, self.environment, self.running = release_id, environment, running


def image_versions(images: Sequence[str]) -> tuple[str, ...]:
    """Return the tags of `images` ("repo/app:v1.2.3" -> "v1.2.3"), in order, without repeats."""
    tags = [image.rsplit("/", 1)[-1].partition(":")[2] for image in images]
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def not_running_refusal(release: Release, environment: str, images: Sequence[str]) -> str | None:
    """Return why rolling back `environment` from `release`'s room is refused, or None.

    "v1.2.4 was never deployed to production; production runs v1.2.3" when the release never
    reached it (its production-deployed item is not done), "production no longer runs
    v1.2.4; it runs v1.2.5" when something replaced it since.
    """
    if release.status is ReleaseStatus.ROLLED_BACK or runs_release_version(
        images, str(release.version)
    ):
        return None  # a rolled-back release has its own refusal (name a revision)
    running = ", ".join(image_versions(images)) or "an untagged image"
    deployed = any(
        item.marks == WINDOW_MARK and release.progress(item.id).state is ItemState.DONE
        for item in release.template.items()
    )
    if environment != "production" or deployed:
        return f"{environment} no longer runs {release.version}; it runs {running}"
    return f"{release.version} was never deployed to production; production runs {running}"


@dataclass(frozen=True)
class RollbackPlan:
    """What a confirmed rollback will do: the target and the revisions, for the confirmation."""

    release_id: int
    environment: str
    target: str
    from_revision: int
    to_revision: int
    from_images: tuple[str, ...]
    to_images: tuple[str, ...]
    # Set when the person confirmed rolling back a version that is not the release's own.
    running: str | None = None

    def question(self) -> str:
        """Return the confirmation question."""
        text = (
            f"Confirm rollback of {self.target} from revision {self.from_revision} "
            f"to {self.to_revision}"
        )
        if self.from_images and self.to_images and self.from_images != self.to_images:
            text += f" ({', '.join(self.from_images)} → {', '.join(self.to_images)})"
        if self.running:
            text += f", rolling back {self.running}, which is not this release's version"
        return text + "?"


class RollbackService(OperationRunner):
    """Roll a release's Deployment back like `kubectl rollout undo`, confirmed and recorded."""

    kind = OperationKind.ROLLBACK

    async def preview(
        self,
        release_id: int,
        actor: Actor,
        source: Source,
        *,
        environment: str = "production",
        to_revision: int | None = None,
        running: bool = False,
    ) -> RollbackPlan:
        """Check the role and every refusal, then say what the rollback would do.

        A Deployment that does not run the release's version is refused (`NotRunningRelease`)
        unless `running`: the person confirmed rolling back what runs there instead.
        """
        release = await self.releases.get(release_id)
        target = self.target(release.service, environment)
        await self.authorize(release, actor, "rollback", source, str(target.deployment))
        await self._refuse_early(release, target, bool(to_revision))
        try:
            controller = await self.cluster.controller()
            status = await controller.status(target.deployment)
            if status.paused:
                raise RolloutRefused(
                    f"deployment {target.deployment} is paused; resume it before rolling back"
                )
            history = await controller.history(target.deployment)
            to = pick_revision(str(target.deployment), status.revision, history, to_revision)
        except KubernetesError as exc:
            raise ClusterRefusal(exc.message) from exc
        images = {rev.number: rev.images for rev in history}
        current = images.get(status.revision, status.images)
        refusal = not_running_refusal(release, environment, current)
        shown = ", ".join(image_versions(current)) or "an untagged image"
        if refusal is not None and not running:
            await self.releases.record_denial(
                release_id, actor, "rollback", str(target.deployment), source, refusal
            )
            raise NotRunningRelease(refusal, release_id, environment, shown)
        return RollbackPlan(
            release_id,
            environment,
            str(target.deployment),
            status.revision,
            to,
            current,
            images.get(to, ()),
            shown if refusal is not None else None,
        )

    async def request(
        self,
        release_id: int,
        actor: Actor,
        source: Source,
        *,
        environment: str = "production",
        from_revision: int | None = None,
        to_revision: int | None = None,
        explicit: bool = False,
        running: str | None = None,
    ) -> RolloutOperation:
        """Check the role again (at click time), store the request and start it.

        `from_revision`/`to_revision` pin what the person confirmed; `explicit` says they
        named the revision themselves rather than taking the previous one; `running` names
        the version they confirmed rolling back although it is not this release's (audited).
        """
        release = await self.releases.get(release_id)
        target = self.target(release.service, environment)
        await self.authorize(release, actor, "rollback", source, str(target.deployment))
        await self._refuse_early(release, target, explicit)
        now = self.clock.now()
        op = requested_operation(
            OperationKind.ROLLBACK,
            release_id=release_id,
            service=release.service,
            environment=environment,
            namespace=target.deployment.namespace,
            deployment=target.deployment.deployment,
            actor=actor,
            source=source,
            now=now,
            from_revision=from_revision,
            to_revision=to_revision,
        )
        events = [request_event(op, actor, now)]
        if running:
            events.append(
                AuditEvent.record(
                    actor,
                    "rollback_running_confirmed",
                    str(target.deployment),
                    now,
                    source,
                    release_id,
                    running=running,
                    release_version=str(release.version),
                    reason=(
                        f"{actor.name} confirmed rolling back {running} on {environment}, "
                        f"which is not {release.name}"
                    ),
                )
            )
        return await self.open_request(op, events)

    async def _refuse_early(self, release: Release, target: RolloutTarget, explicit: bool) -> None:
        if release.status is ReleaseStatus.ROLLED_BACK and not explicit:
            # A second plain undo would bring back the very revision that was rolled back.
            raise InvalidTransition(
                f"{release.name} is already rolled back; another undo would restore the "
                "version it rolled back from. Name a revision (to_revision) if you mean it."
            )
        async with self.uow() as uow:
            holder = await rollout_records(uow).in_flight(
                OperationKind.ROLLBACK, target.deployment.namespace, target.deployment.deployment
            )
        if holder is not None:
            raise RolloutInFlight(
                f"a rollback of {target.deployment} is already in progress (#{holder.id}, "
                f"requested by {holder.requested_by_name} at {holder.requested_at:%H:%M:%S} UTC)"
            )

    async def execute(self, op: RolloutOperation) -> None:
        """Undo, watch, record the outcome and move the release to Rolled back."""
        assert op.id is not None
        target = self._deployment_of(op)
        try:
            controller = await self.cluster.controller()
            await self._check_unchanged(controller, target, op)
            undone = await controller.undo(target, op.to_revision, actor=op.requested_by_name)
        except RolloutRefused as exc:
            await self.finish(op.id, OperationStatus.REFUSED, str(exc))
            return
        except KubernetesError as exc:
            await self.finish(op.id, OperationStatus.FAILED, f"rollback failed: {exc}")
            return
        await self.update(op.id, lambda o, now: _record_patch(o, undone))
        outcome = await controller.wait_for_rollout(
            target, poll=self.poll_seconds, on_progress=self.progress_writer(op.id)
        )
        report = RollbackReport(undone, outcome)
        detail = report.summary() + await self._mark_rolled_back(op, report)
        status = OperationStatus.SUCCEEDED if report.ok else OperationStatus.FAILED
        await self.finish(op.id, status, detail)

    def _deployment_of(self, op: RolloutOperation) -> DeploymentTarget:
        configured = self.targets.get((op.service, op.environment))
        if configured is not None and str(configured.deployment) == op.target:
            return configured.deployment
        return DeploymentTarget(op.namespace, op.deployment)

    async def _check_unchanged(
        self, controller: RolloutController, target: DeploymentTarget, op: RolloutOperation
    ) -> None:
        if op.from_revision is None:
            return
        current = await controller.status(target)
        if current.revision != op.from_revision:
            raise RolloutRefused(
                f"deployment {target} moved from revision {op.from_revision} to "
                f"{current.revision} after the rollback was confirmed; nothing was changed. "
                "Ask again to roll back from the current revision."
            )

    async def _mark_rolled_back(self, op: RolloutOperation, report: RollbackReport) -> str:
        # The patch landed, so the release's version is withdrawn even when the rollout has
        # not finished; marking it also stops a second undo from flipping back to it.
        actor = actor_of(op)
        source = Source.TIMER if op.automatic else op.source
        try:
            await self.releases.mark_rolled_back(op.release_id, actor, source, report.summary())
        except DomainError as exc:
            return f". The release was not moved to Rolled back: {exc.message}"
        return ". The release is now Rolled back."


def _record_patch(op: RolloutOperation, undone: UndoResult) -> None:
    op.from_revision = undone.from_revision
    op.to_revision = undone.to_revision
    op.new_revision = undone.new_revision
    note = f" ({undone.warning})" if undone.warning else ""
    op.progress = (
        f"patch applied: revision {undone.to_revision}'s template restored"
        f"{f' as revision {undone.new_revision}' if undone.new_revision else ''}{note}; "
        "watching the rollout"
    )


def pick_revision(
    target: str, current: int, history: Sequence[Revision], to_revision: int | None
) -> int:
    """Return the revision a rollback restores (kubectl's rule) or raise RolloutRefused."""
    numbers = sorted({rev.number for rev in history if rev.number > 0})
    available = ", ".join(str(n) for n in numbers) or "none"
    if to_revision:
        if to_revision not in numbers:
            raise RolloutRefused(
                f"deployment {target} has no revision {to_revision}; available revisions: "
                f"{available}"
            )
        if to_revision == current:
            raise RolloutRefused(f"deployment {target} already runs revision {to_revision}")
        return to_revision
    if len(numbers) < 2:
        raise RolloutRefused(
            f"deployment {target} has no earlier revision to roll back to "
            f"(available revisions: {available})"
        )
    return numbers[-2]

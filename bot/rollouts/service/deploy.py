"""Deploy use-cases: `/release deploy staging|production` and `/release deploy-status`.

A deploy applies the configured manifests folder (server-side apply), watches the rollout and
ticks the checklist items whose automatic check the finished rollout satisfies, as the bot.
Production is deployed only inside the release's deployment window unless a holder of
"override_window" gives a reason, which is audited.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.checklist.model import TemplateItem
from bot.core.actors import BOT_ACTOR, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.errors import DomainError, InvalidInput, InvalidTransition
from bot.releases.domain.release import ItemState, Release, require_reason
from bot.rollouts.domain import (
    ENVIRONMENTS,
    OperationKind,
    OperationStatus,
    RolloutInFlight,
    RolloutOperation,
    check_items,
    passing_items,
    requested_operation,
    runs_release_version,
    window_decision,
)
from bot.rollouts.k8s import ApplyResult, KubernetesError, RolloutStatus, plan_lines
from bot.rollouts.k8s.apply import load_rendered
from bot.rollouts.service.operations import (
    OperationRunner,
    RolloutTarget,
    request_event,
    rollout_records,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetReport:
    """One target's rollout as `/release deploy-status` shows it."""

    environment: str
    target: str
    status: RolloutStatus | None = None
    error: str | None = None
    ticked: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployStatus:
    """Every configured target of a release's service, and what the bot ticked from them."""

    release: Release
    targets: tuple[TargetReport, ...] = field(default=())


def plan_digest(plan: str) -> str:
    """Return a short digest of a rendered plan (what runs and what would be applied)."""
    return hashlib.sha256(plan.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class DeployPlan:
    """What a deploy would do, shown before anything is applied."""

    release_id: int
    release_name: str
    environment: str
    target: str
    plan: str
    """ "plan: image …: v1.3.2 → v1.4.0; replicas: 3 (unchanged)" """
    override_reason: str = ""

    @property
    def digest(self) -> str:
        """Return the digest a Confirm button carries (a changed plan is refused)."""
        return plan_digest(self.plan)

    @property
    def lines(self) -> list[str]:
        """Return the plan's lines ("image …: v1.3.2 → v1.4.0", "replicas: …")."""
        body = self.plan.removeprefix("plan: ")
        return [line for line in body.split("; ") if line]


class StalePlan(InvalidTransition):
    """What runs changed since the plan was shown: nothing was applied; here is the new one."""

    def __init__(self, plan: DeployPlan) -> None:
        """Keep the new plan."""
        super().__init__(
            f"what runs in {plan.target} changed since the plan was shown, so nothing was "
            "applied; check the new plan and confirm again"
        )
        self.plan = plan


def is_available(status: RolloutStatus) -> bool:
    """Return True when every desired replica is available (and Kubernetes agrees)."""
    condition = status.condition("Available")
    agreed = condition is None or condition.status == "True"
    return status.replicas > 0 and status.available_ratio >= 1.0 and agreed


class DeployService(OperationRunner):
    """Apply a release's manifests, watch the rollout and tick the matching checklist items."""

    kind = OperationKind.DEPLOY

    async def preview(
        self,
        release_id: int,
        actor: Actor,
        source: Source,
        *,
        environment: str,
        override: str | None = None,
    ) -> DeployPlan:
        """Check role, window, gates and in-flight work; render the plan; change nothing."""
        release, target, override_reason, plan = await self._checked(
            release_id, actor, source, environment, override
        )
        return DeployPlan(
            release_id=release_id,
            release_name=release.name,
            environment=environment,
            target=str(target.deployment),
            plan=plan,
            override_reason=override_reason,
        )

    async def request(
        self,
        release_id: int,
        actor: Actor,
        source: Source,
        *,
        environment: str,
        override: str | None = None,
        expected: str | None = None,
    ) -> RolloutOperation:
        """Check role, window, gates and in-flight work again; store the deploy and start it.

        `expected` is the digest of the plan the person confirmed: when what runs (or what
        would be applied) changed since, the deploy is refused with `StalePlan`, which
        carries the new plan to show.
        """
        release, target, override_reason, plan = await self._checked(
            release_id, actor, source, environment, override
        )
        if expected is not None and plan_digest(plan) != expected:
            raise StalePlan(
                DeployPlan(
                    release_id=release_id,
                    release_name=release.name,
                    environment=environment,
                    target=str(target.deployment),
                    plan=plan,
                    override_reason=override_reason,
                )
            )
        now = self.clock.now()
        op = requested_operation(
            OperationKind.DEPLOY,
            release_id=release_id,
            service=release.service,
            environment=environment,
            namespace=target.deployment.namespace,
            deployment=target.deployment.deployment,
            actor=actor,
            source=source,
            now=now,
            override_reason=override_reason,
            progress=plan,
        )
        events = [request_event(op, actor, now)]
        if override_reason:
            events.append(
                AuditEvent.record(
                    actor,
                    "override_window",
                    release.name,
                    now,
                    source,
                    release.id,
                    reason=override_reason,
                    window=window_decision(environment, release.window, now).reason,
                )
            )
        return await self.open_request(op, events)

    async def _checked(
        self,
        release_id: int,
        actor: Actor,
        source: Source,
        environment: str,
        override: str | None,
    ) -> tuple[Release, RolloutTarget, str, str]:
        """Run every refusal of a deploy, in order; return the release, target, reason, plan."""
        release = await self.releases.get(release_id)
        target = self.target(release.service, environment)
        await self.authorize(release, actor, "deploy", source, str(target.deployment))
        if target.manifests is None:
            raise InvalidInput(
                f"service {release.service!r} has no manifests folder for {environment} "
                f"([services.kubernetes.{environment}] manifests = ...)"
            )
        if not release.is_active:
            raise InvalidTransition(f"{release.name} is {release.status.value.replace('_', ' ')}")
        override_reason = await self._window(release, actor, source, environment, override)
        self._check_gates(release, environment)
        await self._refuse_during_rollback(target)
        plan = await self._plan(target, str(release.version))
        return release, target, override_reason, plan

    async def _window(
        self, release: Release, actor: Actor, source: Source, environment: str, override: str | None
    ) -> str:
        """Return the override reason to record ("" when the window is open)."""
        decision = window_decision(environment, release.window, self.clock.now())
        if decision.allowed:
            return ""
        if not override or not override.strip():
            roles = ", ".join(sorted(self.policy.allowed_roles("override_window")))
            raise InvalidTransition(
                f"production deploy refused: {decision.reason}. Someone with one of these roles "
                f"can deploy anyway with an override reason: {roles}"
            )
        await self.authorize(release, actor, "override_window", source, release.name)
        return require_reason(override, "overriding the deployment window")

    def _check_gates(self, release: Release, environment: str) -> None:
        items = check_items(release.template, environment)
        phase = release.current_phase
        if items and phase is not None and all(i.phase_key != phase.key for i in items):
            owner = release.phases[release.phase_position(items[0].phase_key)].title
            raise InvalidTransition(
                f"{environment} deploy belongs to {owner}; {release.name} is in {phase.title}"
            )
        for item in items:
            blocker = release.blocking_signoff(item)
            if blocker is not None:
                raise InvalidTransition(
                    f"{environment} deploy is locked until the sign-off "
                    f"“{blocker.label or blocker.key}” ({blocker.role}) is given"
                )

    async def _plan(self, target: RolloutTarget, version: str) -> str:
        """Render the manifests (refusing bad ones before any call); describe the change.

        The folder, the manifests and the image rules are checked from local files only, so
        a missing folder or a rule that matches nothing is refused before the cluster is
        asked anything. The running Deployment is then read to show image old → new and the
        replicas; if it cannot be read, the plan says so and the deploy may still go ahead.
        """
        assert target.manifests is not None
        manifests, errors = await asyncio.to_thread(
            load_rendered,
            target.manifests,
            target.deployment.namespace,
            target.rendering(version),
        )
        if errors:
            shown = "; ".join(errors[:3]) + (
                f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            )
            raise InvalidInput(f"deploy refused, nothing was changed: {shown}")
        body = next(
            (
                m.body
                for m in manifests
                if m.kind == "Deployment" and m.name == target.deployment.deployment
            ),
            None,
        )
        if body is None:
            raise InvalidInput(
                f"deploy refused, nothing was changed: the manifests in {target.manifests} do not "
                f"contain Deployment {target.deployment.deployment}, so there would be no rollout"
            )
        try:
            controller = await self.cluster.controller()
            running = await controller.status(target.deployment)
        except KubernetesError as exc:
            lines = [*plan_lines(body, (), None), f"could not read what runs: {exc}"]
        else:
            lines = plan_lines(body, running.images, running.replicas)
        return "plan: " + "; ".join(lines)

    async def _refuse_during_rollback(self, target: RolloutTarget) -> None:
        async with self.uow() as uow:
            rollback = await rollout_records(uow).in_flight(
                OperationKind.ROLLBACK, target.deployment.namespace, target.deployment.deployment
            )
        if rollback is not None:
            raise RolloutInFlight(
                f"a rollback of {target.deployment} is in progress (#{rollback.id}); "
                "deploy after it finishes"
            )

    # ----- running ---------------------------------------------------------------------------

    async def execute(self, op: RolloutOperation) -> None:
        """Apply the manifests, watch the rollout, tick the items, record the outcome."""
        assert op.id is not None
        target = self.target(op.service, op.environment)
        assert target.manifests is not None
        release = await self.releases.get(op.release_id)
        rendering = target.rendering(str(release.version))
        try:
            controller = await self.cluster.controller()
            applied = await controller.apply(target.deployment, target.manifests, rendering)
        except KubernetesError as exc:
            await self.finish(op.id, OperationStatus.FAILED, f"deploy failed: {exc}")
            return
        if not applied.ok:
            await self.finish(op.id, OperationStatus.FAILED, f"deploy failed: {applied.summary()}")
            return
        generation = _deployment_generation(applied, target)
        if generation is None:
            detail = (
                f"{applied.summary()}; but the manifests do not contain Deployment "
                f"{target.deployment.deployment}, so there is no rollout to watch and nothing "
                "was ticked"
            )
            await self.finish(op.id, OperationStatus.FAILED, detail)
            return
        progress = f"{applied.summary()}; watching the rollout"
        await self.update(op.id, lambda o, now: _record_apply(o, generation, progress))
        outcome = await controller.wait_for_rollout(
            target.deployment, poll=self.poll_seconds, on_progress=self.progress_writer(op.id)
        )
        if not outcome.ok or outcome.status is None:
            detail = f"{applied.summary()}; the rollout did not complete: {outcome.reason}"
            await self.finish(op.id, OperationStatus.FAILED, detail)
            return
        if outcome.status.generation > generation:
            detail = (
                f"{applied.summary()}; the Deployment changed again while it rolled out "
                f"(generation {outcome.status.generation}, ours was {generation}), e.g. a "
                "rollback, so nothing was ticked"
            )
            await self.finish(op.id, OperationStatus.FAILED, detail)
            return
        ticked, notes = await self.tick_checks(op.release_id, op.environment, outcome.status)
        detail = f"{applied.summary()}; {outcome.status.summary()}" + "".join(notes)
        await self.finish(op.id, OperationStatus.SUCCEEDED, detail, ticked=ticked)

    async def tick_checks(
        self, release_id: int, environment: str, status: RolloutStatus
    ) -> tuple[tuple[str, ...], list[str]]:
        """Tick, as the bot, the open check items the rollout status satisfies."""
        release = await self.releases.get(release_id)
        items = passing_items(
            release.template,
            environment,
            complete=status.complete,
            available=is_available(status),
        )
        ticked: list[str] = []
        notes: list[str] = []
        for item in items:
            if release.progress(item.id).state is not ItemState.OPEN:
                continue
            try:
                release = await self.releases.tick(release_id, item.id, BOT_ACTOR, Source.SYSTEM)
            except DomainError as exc:
                notes.append(f"; could not tick “{item.text}”: {exc.message}")
                continue
            ticked.append(item.id)
        if ticked:
            notes.insert(0, f"; ticked {', '.join(_texts(release, ticked))}")
        return tuple(ticked), notes

    # ----- status --------------------------------------------------------------------------------

    async def status(self, release_id: int) -> DeployStatus:
        """Return each target's rollout; tick check items a finished rollout of this version meets.

        Items are only ticked from a Deployment that runs an image tagged with the release's
        version, so a healthy rollout of the previous release never ticks this one's items.
        """
        release = await self.releases.get(release_id)
        reports: list[TargetReport] = []
        for environment in ENVIRONMENTS:
            target = self.targets.get((release.service, environment))
            if target is None:
                continue
            try:
                controller = await self.cluster.controller()
                current = await controller.status(target.deployment)
            except KubernetesError as exc:
                reports.append(TargetReport(environment, str(target.deployment), error=str(exc)))
                continue
            ticked: tuple[str, ...] = ()
            if release.is_active and runs_release_version(current.images, str(release.version)):
                ticked, _ = await self.tick_checks(release_id, environment, current)
            reports.append(TargetReport(environment, str(target.deployment), current, None, ticked))
        return DeployStatus(await self.releases.get(release_id), tuple(reports))


def _deployment_generation(applied: ApplyResult, target: RolloutTarget) -> int | None:
    for obj in applied.applied:
        if obj.kind == "Deployment" and obj.name == target.deployment.deployment:
            return obj.generation or 0
    return None


def _record_apply(op: RolloutOperation, generation: int, progress: str) -> None:
    op.generation = generation
    op.progress = progress


def _texts(release: Release, item_ids: Sequence[str]) -> list[str]:
    items: list[TemplateItem] = [release.item(item_id) for item_id in item_ids]
    return [f"“{item.text}”" for item in items]

"""Rollout status, history, `kubectl rollout undo` and waiting, against the real API client."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from kubernetes_asyncio import client

from bot.core.clock import Clock, SystemClock
from bot.rollouts.k8s import revisions
from bot.rollouts.k8s.apply import apply_manifests
from bot.rollouts.k8s.calls import ApiCalls, CallPolicy, Obj, Sleep
from bot.rollouts.k8s.errors import ApiUnavailable, Conflict, KubernetesError, RolloutRefused
from bot.rollouts.k8s.models import (
    ApplyResult,
    DeploymentTarget,
    Revision,
    RollbackReport,
    RolloutOutcome,
    RolloutStatus,
    UndoResult,
    status_from_deployment,
)
from bot.rollouts.k8s.render import Rendering

log = logging.getLogger(__name__)

ProgressCallback = Callable[[RolloutStatus], Awaitable[None]]


class RolloutController:
    """Read, roll back and deploy Deployments for the release process.

    Time comes from `clock` and every pause goes through `sleep`, so tests can run a whole
    rollout without waiting. The in-flight guard is per process; the services layer also
    guards durably in the database.
    """

    def __init__(
        self,
        api: client.ApiClient,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        policy: CallPolicy | None = None,
        patch_attempts: int = 3,
        observe_polls: int = 10,
        observe_interval: float = 0.5,
        field_manager: str = "releasebot",
    ) -> None:
        if patch_attempts < 1 or observe_polls < 0 or observe_interval < 0:
            raise ValueError("patch_attempts must be >= 1; observe_polls/interval must be >= 0")
        self._clock: Clock = clock or SystemClock()
        self._sleep: Sleep = sleep or asyncio.sleep
        self._calls = ApiCalls(api, self._sleep, policy or CallPolicy())
        self._patch_attempts = patch_attempts
        self._observe_polls = observe_polls
        self._observe_interval = observe_interval
        self._field_manager = field_manager
        self._in_flight: dict[str, tuple[str, datetime]] = {}

    async def status(self, target: DeploymentTarget) -> RolloutStatus:
        """Return the Deployment's current rollout status."""
        return status_from_deployment(await self._calls.read_deployment(target))

    async def history(self, target: DeploymentTarget) -> list[Revision]:
        """Return the Deployment's revisions, oldest first (like `kubectl rollout history`)."""
        deployment = await self._calls.read_deployment(target)
        return revisions.history(await self._owned_replicasets(target, deployment))

    def in_flight(self, target: DeploymentTarget) -> tuple[str, datetime] | None:
        """Return who started the rollback of `target` in flight here, and when, if any."""
        return self._in_flight.get(str(target))

    async def undo(
        self, target: DeploymentTarget, to_revision: int | None = None, *, actor: str = "unknown"
    ) -> UndoResult:
        """Roll the Deployment back like `kubectl rollout undo [--to-revision=N]`."""
        _check_revision_argument(target, to_revision)
        with self._guard(target, actor):
            return await self._undo(target, to_revision or None, actor)

    async def rollback(
        self,
        target: DeploymentTarget,
        to_revision: int | None = None,
        *,
        actor: str = "unknown",
        # A duration on the injected clock, not an asyncio deadline: tests run it instantly.
        timeout: timedelta | None = None,  # noqa: ASYNC109
        poll: float = 2.0,
        on_progress: ProgressCallback | None = None,
    ) -> RollbackReport:
        """Undo, then wait for the rollout; the guard covers both, the report covers both."""
        _check_revision_argument(target, to_revision)
        with self._guard(target, actor):
            undone = await self._undo(target, to_revision or None, actor)
            outcome = await self.wait_for_rollout(
                target, timeout=timeout, poll=poll, on_progress=on_progress
            )
        return RollbackReport(undo=undone, outcome=outcome)

    async def wait_for_rollout(
        self,
        target: DeploymentTarget,
        *,
        timeout: timedelta | None = None,  # noqa: ASYNC109
        poll: float = 2.0,
        on_progress: ProgressCallback | None = None,
    ) -> RolloutOutcome:
        """Poll until the rollout completes, stalls, is paused, or `timeout` passes.

        `timeout` defaults to the target's progress deadline. API failures end the wait with
        ok=False and the reason, instead of raising, so a patch already made is never hidden.
        `on_progress` is awaited whenever the replica counts change.
        """
        if poll <= 0:
            raise ValueError(f"poll must be a positive number of seconds, got {poll}")
        limit = timeout if timeout is not None else target.progress_deadline
        started = self._clock.now()
        last: RolloutStatus | None = None
        polls = 0
        while True:
            try:
                current = await self.status(target)
            except KubernetesError as exc:
                reason = f"lost track of the rollout: {exc}"
                return self._outcome(target, False, reason, last, started, polls)
            polls += 1
            if on_progress is not None and _progress_key(current) != _progress_key(last):
                await _notify(on_progress, current)
            last = current
            verdict = _verdict(current) or _timed_out(current, self._clock.now() - started, limit)
            if verdict is not None:
                return self._outcome(target, verdict[0], verdict[1], current, started, polls)
            await self._sleep(poll)

    async def apply(
        self, target: DeploymentTarget, manifests_dir: Path, rendering: Rendering | None = None
    ) -> ApplyResult:
        """Server-side apply the folder's Deployment/Service/ConfigMap manifests, rendered."""
        return await apply_manifests(
            self._calls, target, manifests_dir, self._field_manager, rendering
        )

    async def _owned_replicasets(self, target: DeploymentTarget, deployment: Obj) -> list[Obj]:
        try:
            selector = revisions.selector_string((deployment.get("spec") or {}).get("selector"))
        except ValueError as exc:
            raise KubernetesError(f"deployment {target}: {exc}") from exc
        return revisions.owned_replicasets(
            deployment, await self._calls.list_replicasets(target, selector)
        )

    async def _undo(
        self, target: DeploymentTarget, to_revision: int | None, actor: str
    ) -> UndoResult:
        first: revisions.UndoPlan | None = None
        uncertain: KubernetesError | None = None
        for attempt in range(1, self._patch_attempts + 1):
            deployment, owned = await self._read_for_undo(target, uncertain)
            if uncertain is not None and _landed(deployment, owned, first):
                # The earlier patch timed out or got a 5xx but did reach the server.
                assert first is not None
                return await self._finish_undo(target, first, actor, attempt - 1, deployment)
            pinned = first.source_replicaset if first is not None else None
            plan = revisions.plan_undo(target, deployment, owned, to_revision, pinned)
            first = first or plan
            try:
                patched = await self._calls.json_patch_deployment(target, plan.patch)
            except Conflict as exc:
                log.info("rollback of %s hit a conflict (attempt %d): %s", target, attempt, exc)
                uncertain = None
                continue
            except ApiUnavailable as exc:
                # The patch carries a resourceVersion precondition, so trying again is safe.
                log.warning("rollback patch of %s uncertain (attempt %d): %s", target, attempt, exc)
                uncertain = exc
                await self._sleep(self._observe_interval)
                continue
            return await self._finish_undo(target, first, actor, attempt, patched)
        raise _gave_up(target, self._patch_attempts, uncertain)

    async def _read_for_undo(
        self, target: DeploymentTarget, uncertain: KubernetesError | None
    ) -> tuple[Obj, list[Obj]]:
        try:
            deployment = await self._calls.read_deployment(target)
            return deployment, await self._owned_replicasets(target, deployment)
        except KubernetesError as exc:
            if uncertain is None:
                raise
            raise ApiUnavailable(
                f"rollback of deployment {target}: an earlier patch may or may not have "
                f"applied ({uncertain}), and reading it back failed: {exc}",
                exc.status,
            ) from exc

    async def _finish_undo(
        self,
        target: DeploymentTarget,
        plan: revisions.UndoPlan,
        actor: str,
        attempts: int,
        patched: Obj,
    ) -> UndoResult:
        generation = int((patched.get("metadata") or {}).get("generation") or 0)
        new_revision, warning = await self._observe_new_revision(target, generation)
        log.info(
            "rolled back %s from revision %d to revision %d's template (now %s) for %s",
            target,
            plan.current_revision,
            plan.source_revision,
            new_revision,
            actor,
        )
        return UndoResult(
            target=target,
            from_revision=plan.current_revision,
            to_revision=plan.source_revision,
            new_revision=new_revision,
            replicaset=plan.source_replicaset,
            actor=actor,
            attempts=max(attempts, 1),
            warning=warning,
            generation=generation or None,
        )

    async def _observe_new_revision(
        self, target: DeploymentTarget, generation: int
    ) -> tuple[int | None, str | None]:
        for poll in range(self._observe_polls + 1):
            try:
                current = await self.status(target)
            except KubernetesError as exc:
                return None, f"the rollback patch was applied but reading it back failed: {exc}"
            if current.observed_generation >= generation:
                return current.revision, None
            if poll < self._observe_polls:
                await self._sleep(self._observe_interval)
        return None, (
            f"the rollback patch was applied but the controller had not observed generation "
            f"{generation} of {target} yet"
        )

    @contextlib.contextmanager
    def _guard(self, target: DeploymentTarget, actor: str) -> Iterator[None]:
        key = str(target)
        holder = self._in_flight.get(key)
        if holder is not None:
            who, since = holder
            raise RolloutRefused(
                f"a rollback of {key} is already in progress (started by {who} at "
                f"{since:%H:%M:%S} UTC)"
            )
        self._in_flight[key] = (actor, self._clock.now())
        try:
            yield
        finally:
            del self._in_flight[key]

    def _outcome(
        self,
        target: DeploymentTarget,
        ok: bool,
        reason: str,
        status: RolloutStatus | None,
        started: datetime,
        polls: int,
    ) -> RolloutOutcome:
        return RolloutOutcome(target, ok, reason, status, self._clock.now() - started, polls)


def _check_revision_argument(target: DeploymentTarget, to_revision: int | None) -> None:
    if to_revision is not None and (isinstance(to_revision, bool) or to_revision < 0):
        raise RolloutRefused(
            f"cannot roll back deployment {target} to revision {to_revision!r}: "
            "a revision is a positive number (0 or None means the previous one)"
        )


def _gave_up(
    target: DeploymentTarget, attempts: int, uncertain: KubernetesError | None
) -> KubernetesError:
    if uncertain is not None:
        return ApiUnavailable(
            f"rollback of deployment {target} not confirmed after {attempts} attempts; "
            f"the last patch may or may not have applied: {uncertain}",
            uncertain.status,
        )
    return Conflict(
        f"rollback of deployment {target} gave up after {attempts} conflicting updates; "
        "someone else keeps changing it",
        409,
    )


def _timed_out(
    current: RolloutStatus, elapsed: timedelta, limit: timedelta
) -> tuple[bool, str] | None:
    if elapsed < limit:
        return None
    return (
        False,
        f"ProgressDeadlineExceeded: not complete after {_fmt(limit)} ({current.summary()})",
    )


def _landed(deployment: Obj, owned: list[Obj], plan: revisions.UndoPlan | None) -> bool:
    if plan is None:
        return False
    pinned = plan.source_replicaset
    rs = next((r for r in owned if (r.get("metadata") or {}).get("name") == pinned), None)
    template = ((rs or {}).get("spec") or {}).get("template")
    current = (deployment.get("spec") or {}).get("template")
    return rs is not None and revisions.equal_ignoring_hash(template, current)


def _verdict(current: RolloutStatus) -> tuple[bool, str] | None:
    if current.complete:
        return True, current.summary()
    if current.observed and current.deadline_exceeded:
        cond = current.condition("Progressing")
        detail = cond.message if cond and cond.message else current.summary()
        return False, f"ProgressDeadlineExceeded: {detail}"
    if current.paused:
        return (
            False,
            f"deployment {current.namespace}/{current.name} is paused; it will not "
            "progress until resumed",
        )
    return None


def _progress_key(st: RolloutStatus | None) -> tuple[int, ...] | None:
    if st is None:
        return None
    return (
        st.revision,
        st.observed_generation,
        st.updated_replicas,
        st.ready_replicas,
        st.available_replicas,
        st.total_replicas,
        int(st.deadline_exceeded),
    )


async def _notify(callback: ProgressCallback, current: RolloutStatus) -> None:
    try:
        await callback(current)
    except Exception:
        # A failing chat update must not abort watching a production rollout.
        log.exception("on_progress callback failed for %s/%s", current.namespace, current.name)


def _fmt(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"

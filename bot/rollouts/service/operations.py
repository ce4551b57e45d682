"""What rollbacks and deploys share: targets, cluster access, and the operation runner.

A rollback or deploy is asked for in one short transaction (role check, refusals, a durable
`requested` row, audit events, the first thread message in the outbox). The slow Kubernetes
work then runs outside any transaction in a background task, which claims the row, writes
each step back (progress, outcome) with a fresh outbox message, and always finishes the row:
nothing half-done goes unreported. Rows left in flight by a restart are reported at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import ConcurrentUpdate, InvalidInput, NotAuthorized
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.releases.domain.release import Release
from bot.releases.service import ReleaseService
from bot.rollouts.domain import (
    OperationKind,
    OperationStatus,
    RolloutOperation,
    RolloutRecords,
    check_environment,
)
from bot.rollouts.k8s import (
    DeploymentTarget,
    ImageRule,
    Rendering,
    RolloutController,
    RolloutStatus,
    make_api_client,
)

if TYPE_CHECKING:
    from bot.config import KubernetesSettings, Settings

log = logging.getLogger(__name__)

OUTBOX_KIND = "k8s.rollout"
# A request nobody started within this long is stale: acting on it after a long outage could
# roll back a release that has moved on since.
REQUEST_TTL = timedelta(minutes=15)


class RolloutUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also stores rollout operations."""

    rollouts: RolloutRecords


def rollout_records(uow: UnitOfWork) -> RolloutRecords:
    """Return the unit of work's rollout repository (the store adds it as `uow.rollouts`)."""
    return cast(RolloutUnitOfWork, uow).rollouts


@dataclass(frozen=True)
class RolloutTarget:
    """One service's Deployment in one environment, and the manifests that deploy it."""

    service: str
    environment: str
    deployment: DeploymentTarget
    manifests: Path | None = None
    images: tuple[ImageRule, ...] = ()

    def rendering(self, version: str) -> Rendering:
        """Return how this target's manifests are rendered for a release `version`."""
        return Rendering(version, self.images)


def targets_from_settings(settings: Settings) -> dict[tuple[str, str], RolloutTarget]:
    """Return every configured (service, environment) target."""
    targets: dict[tuple[str, str], RolloutTarget] = {}
    for service in settings.services:
        for environment in ("staging", "production"):
            spec = getattr(service.kubernetes, environment)
            if spec is None:
                continue
            deployment = DeploymentTarget(spec.namespace, spec.deployment, spec.progress_deadline)
            images = tuple(ImageRule(i.name, i.new_tag, i.new_name) for i in spec.images)
            targets[(service.name, environment)] = RolloutTarget(
                service.name, environment, deployment, spec.manifests, images
            )
    return targets


ControllerFactory = Callable[[], Awaitable[RolloutController]]


class ClusterAccess:
    """Connect to the cluster on first use (so the bot starts without one) and reuse it."""

    def __init__(
        self, factory: ControllerFactory, close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._factory = factory
        self._close = close
        self._controller: RolloutController | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: KubernetesSettings, clock: Clock) -> ClusterAccess:
        """Return access through in-cluster config or the configured kubeconfig and context."""
        clients: list[Any] = []

        async def connect() -> RolloutController:
            api = await make_api_client(
                in_cluster=settings.in_cluster,
                kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None,
                context=settings.context,
            )
            clients.append(api)
            return RolloutController(api, clock=clock)

        async def close() -> None:
            while clients:
                await clients.pop().close()

        return cls(connect, close)

    async def controller(self) -> RolloutController:
        """Return the controller, connecting first if needed (KubernetesError if impossible)."""
        async with self._lock:
            if self._controller is None:
                self._controller = await self._factory()
            return self._controller

    async def close(self) -> None:
        """Close the API client, if this access opened one."""
        if self._close is not None:
            await self._close()
        self._controller = None


@dataclass
class OperationRunner:
    """Request, claim, run and finish rollout operations of one kind."""

    uow: UnitOfWorkFactory
    clock: Clock
    releases: ReleaseService
    policy: AccessPolicy
    targets: Mapping[tuple[str, str], RolloutTarget]
    cluster: ClusterAccess
    poll_seconds: float = 2.0

    kind = OperationKind.ROLLBACK

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[int]] = set()

    # ----- shared reads and refusals ------------------------------------------------------------

    def target(self, service: str, environment: str) -> RolloutTarget:
        """Return the configured target or raise InvalidInput naming the missing setting."""
        check_environment(environment)
        try:
            return self.targets[(service, environment)]
        except KeyError:
            raise InvalidInput(
                f"service {service!r} has no {environment} Deployment configured "
                f"([services.kubernetes.{environment}] of {service})"
            ) from None

    async def get(self, op_id: int) -> RolloutOperation:
        """Return one operation."""
        async with self.uow() as uow:
            return await rollout_records(uow).get(op_id)

    async def for_release(self, release_id: int) -> Sequence[RolloutOperation]:
        """Return the release's operations of this kind, oldest first."""
        async with self.uow() as uow:
            return await rollout_records(uow).for_release(release_id, self.kind)

    async def authorize(
        self, release: Release, actor: Actor, action: str, source: Source, target: str
    ) -> None:
        """Raise NotAuthorized (after auditing the denial) unless `actor` may do `action`."""
        try:
            self.policy.require(actor, action, lead_id=release.lead_id, target=target)
        except NotAuthorized as denied:
            await self.releases.record_denial(
                release.id, actor, action, target, source, denied.message
            )
            raise

    async def open_request(
        self, op: RolloutOperation, events: Iterable[AuditEvent]
    ) -> RolloutOperation:
        """Store a requested operation with its audit events and first message, then run it."""
        async with self.uow() as uow:
            await rollout_records(uow).add(op)
            for event in events:
                await uow.audit.append(event)
            await self.enqueue_update(uow, op)
            await uow.commit()
        self.kick()
        return op

    # ----- running -----------------------------------------------------------------------------

    def kick(self) -> None:
        """Start running requested operations in the background."""
        task = asyncio.get_running_loop().create_task(
            self.run_requested(), name=f"releasebot-{self.kind}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[int]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("the %s runner stopped", self.kind, exc_info=task.exception())

    def after_commit(self, uow: object) -> None:
        """Kick the runner when a committed unit of work requested an operation."""
        records = getattr(uow, "rollouts", None)
        if records is not None and getattr(records, "requested", None):
            self.kick()

    async def settle(self) -> None:
        """Wait until no operation of this runner is running (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Cancel running operations (their rows are reported as interrupted at next start)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run_requested(self) -> int:
        """Claim and run every requested operation of this kind; return how many ran."""
        async with self.uow() as uow:
            waiting = await rollout_records(uow).with_status([OperationStatus.REQUESTED])
        ran = 0
        for candidate in waiting:
            if candidate.kind is not self.kind or candidate.id is None:
                continue
            op = await self._claim(candidate.id)
            if op is not None:
                await self._run(op)
                ran += 1
        return ran

    async def recover(self) -> int:
        """Report operations a restart interrupted, expire stale requests, run fresh ones."""
        async with self.uow() as uow:
            stuck = await rollout_records(uow).with_status(
                [OperationStatus.IN_PROGRESS, OperationStatus.REQUESTED]
            )
        now = self.clock.now()
        closed = 0
        for op in stuck:
            if op.kind is not self.kind or op.id is None:
                continue
            if op.status is OperationStatus.IN_PROGRESS:
                detail = (
                    f"interrupted: the bot restarted while this {op.kind} of {op.target} was "
                    "running. It may be half-way; check /release deploy-status before acting."
                )
            elif now - op.requested_at > REQUEST_TTL:
                detail = f"expired: not started within {REQUEST_TTL} of the request; ask again"
            else:
                continue
            await self.finish(op.id, OperationStatus.FAILED, detail)
            closed += 1
        self.kick()
        return closed

    async def _claim(self, op_id: int) -> RolloutOperation | None:
        async with self.uow() as uow:
            op = await rollout_records(uow).claim(op_id, self.clock.now())
            if op is None:
                return None
            await self.enqueue_update(uow, op)
            await uow.commit()
        return op

    async def _run(self, op: RolloutOperation) -> None:
        assert op.id is not None
        try:
            await self.execute(op)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the row must never stay in flight silently
            log.exception("%s #%s failed unexpectedly", op.kind, op.id)
            current = await self.get(op.id)
            if current.in_flight:
                done = f" (last step: {current.progress})" if current.progress else ""
                await self.finish(op.id, OperationStatus.FAILED, f"unexpected error: {exc!r}{done}")

    async def execute(self, op: RolloutOperation) -> None:
        """Do the Kubernetes work of `op` and finish it (subclasses)."""
        raise NotImplementedError

    # ----- writing steps back ------------------------------------------------------------------

    async def update(
        self,
        op_id: int,
        change: Callable[[RolloutOperation, datetime], None],
        events: Callable[[RolloutOperation, datetime], Iterable[AuditEvent]] = lambda o, n: (),
    ) -> RolloutOperation:
        """Change an operation in its own transaction, with its audit events and a message."""
        for _ in range(5):
            async with self.uow() as uow:
                records = rollout_records(uow)
                op = await records.get(op_id)
                now = self.clock.now()
                change(op, now)
                try:
                    await records.save(op)
                except ConcurrentUpdate:
                    continue
                for event in events(op, now):
                    await uow.audit.append(event)
                await self.enqueue_update(uow, op)
                await uow.commit()
                return op
        raise ConcurrentUpdate(f"{self.kind} #{op_id} keeps changing; giving up on this update")

    async def finish(
        self, op_id: int, status: OperationStatus, detail: str, **fields: object
    ) -> RolloutOperation:
        """Close an operation with its outcome and audit it."""

        def change(op: RolloutOperation, now: datetime) -> None:
            for name, value in fields.items():
                setattr(op, name, value)
            op.finish(status, now, detail)

        def events(op: RolloutOperation, now: datetime) -> list[AuditEvent]:
            return [outcome_event(op, now)]

        op = await self.update(op_id, change, events)
        log.info("%s #%s of %s %s: %s", op.kind, op.id, op.target, op.status, detail)
        return op

    def progress_writer(self, op_id: int) -> Callable[[RolloutStatus], Awaitable[None]]:
        """Return the on_progress callback that posts each rollout step to the thread."""

        async def write(status: RolloutStatus) -> None:
            await self.update(op_id, lambda op, now: setattr(op, "progress", status.summary()))

        return write

    async def enqueue_update(self, uow: UnitOfWork, op: RolloutOperation) -> None:
        """Queue a thread message showing `op` as it is when delivered."""
        # The key changes with every saved version, so each step is delivered exactly once;
        # the sender renders the operation as it is when it delivers.
        await uow.outbox.enqueue(
            OUTBOX_KIND,
            {"operation_id": op.id, "release_id": op.release_id},
            f"{OUTBOX_KIND}:{op.id}:{op.version}:{op.status}",
        )


def actor_of(op: RolloutOperation) -> Actor:
    """Return the actor who requested `op` (the bot for automatic ones)."""
    if op.requested_by_id == BOT_ACTOR.id:
        return BOT_ACTOR
    return Actor(op.requested_by_id, op.requested_by_name)


def request_event(op: RolloutOperation, actor: Actor, now: datetime) -> AuditEvent:
    """Return the audit event of a new request."""
    detail = {
        "environment": op.environment,
        "from_revision": str(op.from_revision or ""),
        "to_revision": str(op.to_revision or ""),
        "trigger": op.trigger,
        "override_reason": op.override_reason,
    }
    return AuditEvent.record(
        actor, f"{op.kind}_requested", op.target, now, op.source, op.release_id, **detail
    )


def outcome_event(op: RolloutOperation, now: datetime) -> AuditEvent:
    """Return the audit event of an operation's outcome."""
    return AuditEvent.record(
        BOT_ACTOR,
        f"{op.kind}_{op.status}",
        op.target,
        now,
        Source.SYSTEM,
        op.release_id,
        operation=str(op.id),
        detail=op.detail[:500],
    )

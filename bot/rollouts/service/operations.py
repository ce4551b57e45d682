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
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock, SystemClock
from bot.core.errors import ConcurrentUpdate, InvalidInput, NotAuthorized
from bot.core.events import AlertsStillFiring, EventBus, Publisher, RolloutStarted
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.releases.domain.release import Release
from bot.releases.service import ReleaseService
from bot.rollouts.alertmanager import AlertmanagerSilences, AlertmanagerUnavailable, SilenceRequest
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
    RolloutStatus,
)

if TYPE_CHECKING:
    # kubernetes-asyncio (~100 MB, >1 s to import) loads when the cluster is first reached.
    from bot.config import KubernetesSettings, Settings
    from bot.rollouts.k8s.rollout import RolloutController

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


ControllerFactory = Callable[[], Awaitable["RolloutController"]]
StillFiringHandler = Callable[[AlertsStillFiring], Awaitable[object]]


@dataclass
class DeploySilences:
    """How production rollouts silence their service's alerts in Alertmanager.

    The silence matches `service="<service>"` (the label the webhook reads). It is made to
    end by itself after the rollout's progress deadline plus `settle`, measured on
    `wall` (Alertmanager judges a silence's times by its own clock, not the bot's injected
    one), and the bot expires it `settle` after the rollout finishes.
    """

    api: AlertmanagerSilences
    settle: timedelta = timedelta(minutes=2)
    wall: Clock = field(default_factory=SystemClock)
    still_firing: list[StillFiringHandler] = field(default_factory=list)

    def matchers(self, service: str) -> dict[str, str]:
        """Return the matchers of a service's alerts."""
        return {"service": service}

    async def create(self, op: RolloutOperation, deadline: timedelta) -> tuple[str, datetime]:
        """Create the silence for `op`; return its id and planned end."""
        now = self.wall.now()
        ends_at = now + deadline + self.settle
        request = SilenceRequest(
            matchers=self.matchers(op.service),
            starts_at=now,
            ends_at=ends_at,
            created_by=f"releasebot ({op.requested_by_name})",
            comment=f"releasebot: {op.kind} #{op.id} of {op.target} (release #{op.release_id}); "
            f"expired {self.settle} after the rollout ends",
        )
        return await self.api.create(request), ends_at


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
            from bot.rollouts.k8s.client import make_api_client
            from bot.rollouts.k8s.rollout import RolloutController

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
    events: Publisher = field(default_factory=EventBus)
    """Where `RolloutStarted` is published (change events: `bot.app.events`)."""
    silences: DeploySilences | None = None
    """Deploy-time Alertmanager silences; None when no Alertmanager URL is set."""
    guild_id: int | None = None
    """The home guild, for links to the release thread in change events."""

    kind = OperationKind.ROLLBACK

    def __post_init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

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
        async with self.uow(read_only=True) as uow:
            return await rollout_records(uow).get(op_id)

    async def for_release(self, release_id: int) -> Sequence[RolloutOperation]:
        """Return the release's operations of this kind, oldest first."""
        async with self.uow(read_only=True) as uow:
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
        self._spawn(self.run_requested(), f"releasebot-{self.kind}")

    def _forget(self, task: asyncio.Task[Any]) -> None:
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
        links = await self._links(op_id)
        async with self.uow() as uow:
            op = await rollout_records(uow).claim(op_id, self.clock.now())
            if op is None:
                return None
            await self.enqueue_update(uow, op)
            if op.environment == "production" or op.kind is OperationKind.ROLLBACK:
                release = await uow.releases.get(op.release_id)
                await self.events.publish(uow, started_event(op, release, links))
            await uow.commit()
        return op

    async def _links(self, op_id: int) -> tuple[tuple[str, str], ...]:
        """Return the link to the release thread (when the guild and the thread are known)."""
        op = await self.get(op_id)
        if self.guild_id is None:
            return ()
        refs = await self.releases.messages(op.release_id)
        thread = next((r.channel_id for r in refs if r.kind == "thread"), None)
        if thread is None:
            return ()
        url = f"https://discord.com/channels/{self.guild_id}/{thread}"
        return ((url, "Release thread"),)

    async def _run(self, op: RolloutOperation) -> None:
        assert op.id is not None
        silenced = await self._silence(op)
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
        finally:
            if silenced is not None:
                self._spawn(self._lift(op, silenced), f"releasebot-{self.kind}-silence")

    # ----- deploy-time silences ----------------------------------------------------------------

    async def _silence(self, op: RolloutOperation) -> str | None:
        """Silence the service's alerts for a production rollout; None when off or failed.

        A silence that cannot be created never stops the rollout: it is audited and the
        alerts simply keep arriving.
        """
        silences = self.silences
        if silences is None or op.environment != "production" or op.id is None:
            return None
        target = self.targets.get((op.service, op.environment))
        deadline = target.deployment.progress_deadline if target else timedelta(minutes=10)
        try:
            silence_id, ends_at = await silences.create(op, deadline)
        except AlertmanagerUnavailable as exc:
            await self._note(op, "silence_failed", f"alerts not silenced: {exc}")
            return None
        await self.update(
            op.id,
            lambda o, now: setattr(o, "silence_id", silence_id),
            lambda o, now: [
                silence_event(o, now, "silence_created", silence_id, ends_at.isoformat())
            ],
        )
        return silence_id

    async def _lift(self, op: RolloutOperation, silence_id: str) -> None:
        """After the settle time: expire the silence, then hand on what still fires."""
        silences = self.silences
        assert silences is not None
        assert op.id is not None
        await asyncio.sleep(silences.settle.total_seconds())
        try:
            await silences.api.expire(silence_id)
        except AlertmanagerUnavailable as exc:
            await self._note(op, "silence_expire_failed", f"silence {silence_id}: {exc}")
            return
        await self.update(
            op.id,
            lambda o, now: setattr(o, "silence_id", None),
            lambda o, now: [silence_event(o, now, "silence_expired", silence_id, "")],
        )
        try:
            firing = await silences.api.firing(silences.matchers(op.service))
        except AlertmanagerUnavailable as exc:
            log.warning("after silence %s: could not list firing alerts: %s", silence_id, exc)
            return
        event = AlertsStillFiring(op.service, silence_id, tuple(firing))
        for handler in silences.still_firing:
            try:
                await handler(event)
            except Exception:  # one listener's failure must not hide the others
                log.exception("re-evaluating alerts after silence %s failed", silence_id)

    async def _note(self, op: RolloutOperation, action: str, detail: str) -> None:
        log.warning("%s #%s: %s", op.kind, op.id, detail)
        async with self.uow() as uow:
            await uow.audit.append(
                AuditEvent.record(
                    BOT_ACTOR, action, op.target, self.clock.now(), Source.SYSTEM,
                    op.release_id, operation=str(op.id), detail=detail[:500],
                )
            )  # fmt: skip
            await uow.commit()

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._forget)

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


def started_event(
    op: RolloutOperation, release: Release, links: tuple[tuple[str, str], ...]
) -> RolloutStarted:
    """Return the event of a production deploy or a rollback that starts now."""
    assert op.id is not None
    assert op.started_at is not None
    if op.kind is OperationKind.DEPLOY:
        what = f"deploy of {release.service} {release.version} to {op.environment}"
    else:
        why = f" ({op.trigger})" if op.trigger else ""
        what = f"rollback of {release.service} {release.version} in {op.environment}{why}"
    return RolloutStarted(
        kind=op.kind.value,
        operation_id=op.id,
        release_id=op.release_id,
        release_name=release.name,
        service=op.service,
        environment=op.environment,
        target=op.target,
        summary=f"{what} ({op.target}), by {op.requested_by_name}",
        requested_by=op.requested_by_name,
        at=op.started_at,
        links=links,
    )


def silence_event(
    op: RolloutOperation, now: datetime, action: str, silence_id: str, ends_at: str
) -> AuditEvent:
    """Return the audit event of a deploy silence created or expired."""
    return AuditEvent.record(
        BOT_ACTOR, action, op.target, now, Source.SYSTEM, op.release_id,
        operation=str(op.id), silence_id=silence_id, ends_at=ends_at,
    )  # fmt: skip


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

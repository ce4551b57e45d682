"""Build the Kubernetes rollout feature from settings: services, auto-rollback, cluster access.

`bot.app.create_bot` calls `wire_rollouts` once; tests pass `controller` (an async factory
returning a `RolloutController`, e.g. on the loopback fake API server) instead of a real
cluster. The after-commit kicks of the runners are in `bot.app.events`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from bot.config import Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock
from bot.core.events import EventBus, Publisher
from bot.core.ports import UnitOfWorkFactory
from bot.releases.service import ReleaseService
from bot.rollouts.alertmanager import AlertmanagerSilences
from bot.rollouts.k8s.models import DeploymentTarget
from bot.rollouts.service.auto_rollback import TIMER_KIND, AutoRollback, policy_from_settings
from bot.rollouts.service.deploy import DeployService
from bot.rollouts.service.operations import DeploySilences
from bot.rollouts.service.rollback import (
    ClusterAccess,
    ControllerFactory,
    RollbackService,
    targets_from_settings,
)
from bot.runtime.timers import TimerService

if TYPE_CHECKING:  # the controller (and kubernetes-asyncio) loads at first cluster use
    from bot.rollouts.k8s.rollout import RolloutController


class ControllerSource(Protocol):
    """Where a rollout controller comes from (the feature's cluster access)."""

    async def controller(self) -> RolloutController:
        """Return a connected controller (raises when the cluster cannot be reached)."""
        ...


def availability_reader(cluster: ControllerSource) -> Callable[[str, str], Awaitable[float]]:
    """Return an async `(namespace, deployment) -> available ratio` read through `cluster`."""

    async def available_ratio(namespace: str, deployment: str) -> float:
        controller = await cluster.controller()
        status = await controller.status(DeploymentTarget(namespace, deployment))
        return status.available_ratio

    return available_ratio


@dataclass
class RolloutFeature:
    """The rollout services of one bot, with what starts and stops them."""

    rollbacks: RollbackService
    deploys: DeployService
    auto_rollback: AutoRollback
    cluster: ClusterAccess
    silences: DeploySilences | None = None
    closes: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self) -> None:
        """Report operations a restart interrupted and run requests still waiting."""
        await self.rollbacks.recover()
        await self.deploys.recover()

    async def close(self) -> None:
        """Cancel running operations and close the cluster client."""
        await self.rollbacks.close()
        await self.deploys.close()
        await self.cluster.close()
        for close in self.closes:
            await close()


def wire_rollouts(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: AccessPolicy,
    releases: ReleaseService,
    timers: TimerService,
    *,
    controller: ControllerFactory | None = None,
    api_client: Any | None = None,
    poll_seconds: float = 2.0,
    events: Publisher | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> RolloutFeature:
    """Return the rollout feature; register its timer.

    Cluster access: `controller` (async factory of a RolloutController), or `api_client` (a
    kubernetes-asyncio ApiClient the caller owns and closes); default: in-cluster config or
    the configured kubeconfig and context, connected on first use. `poll_seconds`: how often
    a watched rollout is polled. `events`: where `RolloutStarted` is published (change
    events). With `[kubernetes.deploy_silence] alertmanager_url` set, production rollouts
    silence the service's alerts through `http_client` (default: one opened here).
    """
    factory = controller
    if factory is None and api_client is not None:

        async def controller_on_client() -> RolloutController:
            from bot.rollouts.k8s.rollout import RolloutController

            return RolloutController(api_client, clock=clock)

        factory = controller_on_client
    if factory is not None:
        cluster = ClusterAccess(factory)
    else:
        cluster = ClusterAccess.from_settings(settings.kubernetes, clock)
    common: dict[str, Any] = {
        "uow": uow,
        "clock": clock,
        "releases": releases,
        "policy": policy,
        "targets": targets_from_settings(settings),
        "cluster": cluster,
        "poll_seconds": float(poll_seconds),
        "events": events if events is not None else EventBus(),
        "guild_id": settings.discord.guild_id,
    }
    closes: list[Callable[[], Awaitable[None]]] = []
    silencing = settings.kubernetes.deploy_silence
    silences: DeploySilences | None = None
    if silencing.alertmanager_url is not None:
        client = http_client
        if client is None:
            client = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
            closes.append(client.aclose)
        api = AlertmanagerSilences(client, silencing.alertmanager_url)
        silences = DeploySilences(api, settle=silencing.settle)
    common["silences"] = silences
    rollbacks = RollbackService(**common)
    deploys = DeployService(**common)
    auto = AutoRollback(rollbacks, policy_from_settings(settings.kubernetes.auto_rollback), clock)
    timers.register(TIMER_KIND, auto.fire)
    return RolloutFeature(rollbacks, deploys, auto, cluster, silences, closes)

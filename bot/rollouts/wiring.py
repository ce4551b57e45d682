"""Build the Kubernetes rollout feature from settings: services, auto-rollback, cluster access.

`bot.app.create_bot` calls `wire_rollouts` once; tests pass `k8s_controller` (an async
factory returning a `RolloutController`, e.g. on the loopback fake API server) among the
collaborators instead of a real cluster.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, MutableSequence
from dataclasses import dataclass
from typing import Any, cast

from bot.config import Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock
from bot.core.ports import UnitOfWorkFactory
from bot.releases.service import ReleaseService
from bot.rollouts.k8s import RolloutController
from bot.rollouts.service.auto_rollback import TIMER_KIND, AutoRollback, policy_from_settings
from bot.rollouts.service.deploy import DeployService
from bot.rollouts.service.rollback import (
    ClusterAccess,
    ControllerFactory,
    RollbackService,
    targets_from_settings,
)
from bot.runtime.timers import TimerService


@dataclass
class RolloutFeature:
    """The rollout services of one bot, with what starts and stops them."""

    rollbacks: RollbackService
    deploys: DeployService
    auto_rollback: AutoRollback
    cluster: ClusterAccess

    async def start(self) -> None:
        """Report operations a restart interrupted and run requests still waiting."""
        await self.rollbacks.recover()
        await self.deploys.recover()

    async def close(self) -> None:
        """Cancel running operations and close the cluster client."""
        await self.rollbacks.close()
        await self.deploys.close()
        await self.cluster.close()


def wire_rollouts(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: AccessPolicy,
    releases: ReleaseService,
    timers: TimerService,
    collaborators: MutableMapping[str, object],
    after_commit: MutableSequence[Callable[[Any], None]] | None = None,
) -> RolloutFeature:
    """Return the rollout feature; register its timer and its after-commit kick.

    Collaborators read (and removed): `k8s_controller` (async factory of a RolloutController),
    or `k8s_api_client` (a kubernetes-asyncio ApiClient the caller owns and closes); default:
    in-cluster config or the configured kubeconfig and context, connected on first use. And
    `k8s_poll_seconds` (how often a watched rollout is polled; default 2).
    """
    factory = collaborators.pop("k8s_controller", None)
    api_client = collaborators.pop("k8s_api_client", None)
    if factory is None and api_client is not None:

        async def controller_on_client() -> RolloutController:
            return RolloutController(api_client, clock=clock)

        factory = controller_on_client
    if factory is not None:
        cluster = ClusterAccess(cast(ControllerFactory, factory))
    else:
        cluster = ClusterAccess.from_settings(settings.kubernetes, clock)
    poll = float(cast(Any, collaborators.pop("k8s_poll_seconds", 2.0)))
    common: dict[str, Any] = {
        "uow": uow,
        "clock": clock,
        "releases": releases,
        "policy": policy,
        "targets": targets_from_settings(settings),
        "cluster": cluster,
        "poll_seconds": poll,
    }
    rollbacks = RollbackService(**common)
    deploys = DeployService(**common)
    auto = AutoRollback(rollbacks, policy_from_settings(settings.kubernetes.auto_rollback), clock)
    timers.register(TIMER_KIND, auto.fire)
    if after_commit is not None:
        after_commit.extend([rollbacks.after_commit, deploys.after_commit])
    return RolloutFeature(rollbacks, deploys, auto, cluster)

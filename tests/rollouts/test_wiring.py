"""wire_rollouts: the cluster client from the arguments or settings, timers and hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.app.events import after_commit_handlers
from bot.config import build_settings
from bot.core.actors import AccessPolicy, Source
from bot.rollouts.domain import ClusterRefusal
from bot.rollouts.k8s import KubernetesError, make_api_client
from bot.rollouts.service.auto_rollback import TIMER_KIND
from bot.rollouts.wiring import wire_rollouts
from bot.runtime.timers import TimerService
from bot.sandbox.kubernetes.api import Recorder
from tests.rollouts.service.harness import (
    DEVOPS,
    SERVICE,
    build_world,
    fake_cluster,
    roll_out,
    rollout_rbac,
)

__all__ = ["rollout_rbac"]


def settings(tmp_path: Path, **kubernetes: Any) -> Any:
    """Return settings with nexis-gateway's production Deployment and `kubernetes` options."""
    service = {
        "name": SERVICE,
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {"production": {"namespace": "production", "deployment": SERVICE}},
    }
    return build_settings({"services": [service], "kubernetes": kubernetes}, env={})


async def test_api_client_collaborator_drives_the_controller(
    tmp_path: Path, rollout_rbac: Recorder
) -> None:
    """Use a given ApiClient; register the timer and both after-commit kicks."""
    async with build_world(tmp_path, rollout_rbac) as world, fake_cluster(rollout_rbac) as api:
        roll_out(api, "production", "v1.1.0")
        client = await make_api_client(
            in_cluster=False, kubeconfig=None, context=None, host=api.host
        )
        timers = TimerService(world.uow, world.clock)
        try:
            feature = wire_rollouts(
                settings(tmp_path),
                world.uow,
                world.clock,
                AccessPolicy(),
                world.releases,
                timers,
                api_client=client,
                poll_seconds=0.5,
            )
            hooks = after_commit_handlers(None, feature)
            controller = await feature.cluster.controller()
            status = await controller.status(
                feature.rollbacks.target(SERVICE, "production").deployment
            )
            assert status.revision == 2
            assert TIMER_KIND in timers.handlers
            assert hooks == [feature.rollbacks.after_commit, feature.deploys.after_commit]
            assert feature.rollbacks.poll_seconds == 0.5
            await feature.close()
        finally:
            await client.close()


async def test_missing_kubeconfig_is_reported_when_used_not_at_start(
    tmp_path: Path, rollout_rbac: Recorder
) -> None:
    """Start without a cluster; say which kubeconfig is missing when someone rolls back."""
    missing = tmp_path / "nowhere" / "kubeconfig"
    async with build_world(tmp_path, rollout_rbac) as world:
        feature = wire_rollouts(
            settings(tmp_path, kubeconfig=str(missing), context="prod"),
            world.uow,
            world.clock,
            AccessPolicy(),
            world.releases,
            TimerService(world.uow, world.clock),
        )
        with pytest.raises(KubernetesError, match=f"kubeconfig file {missing} does not exist"):
            await feature.cluster.controller()
        release = await world.start_release()
        assert release.id is not None
        with pytest.raises(ClusterRefusal, match="does not exist"):
            await feature.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
        await feature.close()

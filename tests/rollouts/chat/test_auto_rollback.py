"""Through SimCord, end to end: a met condition rolls production back by itself; paging goes on.

Probes are scripted (the monitoring feature's test bench); the bot, SQLite, durable timers,
the outbox, the incident feature and the Kubernetes client (against the fake API server) are
all real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.domain import OperationStatus
from bot.rollouts.k8s import CallPolicy, RolloutController, make_api_client
from bot.runtime.background import Background
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.rollouts.chat.harness import k8s_api, rollbacks, rollout_rbac, settle
from tests.rollouts.service.harness import IMAGE, SERVICE, manifests_for
from tests.support.clock import VirtualSleep
from tests.support.world import make_settings

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac"]


@pytest.fixture
def script() -> Script:
    """Return the scripted probe answers (healthy until the test says otherwise)."""
    return Script()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with auto-rollback on for the error_rate condition."""
    manifests = manifests_for(tmp_path, "v1.2.3")
    service = {
        "name": SERVICE,
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {
            env: {"namespace": env, "deployment": SERVICE, "manifests": str(manifests / env)}
            for env in ("staging", "production")
        },
    }
    return make_settings(
        tmp_path / "releasebot.db",
        services=[service],
        kubernetes={"auto_rollback": {"enabled": True, "conditions": ["error_rate"]}},
    )


@pytest.fixture
async def simcord_bot(
    settings: Settings, clock: FakeClock, k8s_api: FakeKubeApi, script: Script
) -> AsyncIterator[ReleaseBot]:
    """Return the bot with scripted probes and the fake cluster."""
    client = await make_api_client(
        in_cluster=False, kubeconfig=None, context=None, host=k8s_api.host
    )
    controller = RolloutController(
        client, clock=clock, sleep=VirtualSleep(clock), policy=CallPolicy(request_timeout_seconds=5)
    )

    async def connect() -> RolloutController:
        return controller

    yield create_bot(
        settings,
        clock=clock,
        probes=ScriptedProbes(script),
        kubernetes=connect,
        rollout_poll_seconds=1.0,
    )
    await client.close()


async def test_met_condition_rolls_back_by_itself_and_still_pages(
    world: World, clock: FakeClock, script: Script, k8s_api: FakeKubeApi
) -> None:
    """Roll production back as soon as error_rate is met, say so, and open the incident."""
    background: Any = world.bot.handle(Background)
    await world.start()
    await world.run_whole_release_until("post-release")
    await background.pump()
    script.values["error_rate"] = 0.052
    for _ in range(2):  # breaches=2: the second poll meets the condition
        clock.advance(timedelta(minutes=5))
        await background.pump()
    await settle(world)

    (op,) = await rollbacks(world).for_release(1)
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert (op.requested_by_id, op.trigger) == ("releasebot", "condition error_rate met (P1)")
    dep = k8s_api.cluster.deployment("production", SERVICE)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.1.0"
    assert (await world.release()).status is ReleaseStatus.ROLLED_BACK
    thread = list(world.thread().history())
    outcomes = [m.content for m in thread if m.content.startswith("✅ Rollback of production/")]
    assert len(outcomes) == 1 and "The release is now Rolled back." in outcomes[0]
    shown = [m for m in thread if m.embeds and (m.embeds[0].title or "").startswith("↩️")]
    assert "Automatic: condition error_rate met (P1); paging continues as usual." in (
        shown[0].embeds[0].description or ""
    )
    paged = [m.content for m in world.channel.history() + thread if "incident #1" in m.content]
    assert paged, "the incident was not announced"
    recorded = [e for e in await world.audit() if e.action == "incident_rollback"]
    assert len(recorded) == 1  # the incident's timeline records the rollback
    assert (
        "release rolled back: rolled back production/nexis-gateway" in recorded[0].detail["detail"]
    )

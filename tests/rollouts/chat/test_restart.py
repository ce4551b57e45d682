"""Through SimCord: Roll back buttons and half-done rollbacks across a bot restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.domain import OperationStatus
from bot.rollouts.k8s import CallPolicy, RolloutController, make_api_client
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import (
    post_alert,
    production_running,
    rollbacks,
    rollout_rbac,
    settings,
    settle,
    simcord_bot,
    thread_texts,
)
from tests.support.clock import VirtualSleep

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

# Production runs the room's release v1.2.3 at revision 3 (v1.0.0, v1.2.2, v1.2.3).
k8s_api = production_running("v1.2.2", "v1.2.3")

DEPLOYMENT = "/apis/apps/v1/namespaces/production/deployments/nexis-gateway"


@pytest.fixture
async def restarted_bot(
    settings: Settings, clock: FakeClock, k8s_api: FakeKubeApi
) -> AsyncIterator[ReleaseBot]:
    """Return a second bot over the same database and cluster (not started yet)."""
    client = await make_api_client(
        in_cluster=False, kubeconfig=None, context=None, host=k8s_api.host
    )
    controller = RolloutController(
        client, clock=clock, sleep=VirtualSleep(clock), policy=CallPolicy(request_timeout_seconds=5)
    )

    async def connect() -> RolloutController:
        return controller

    yield create_bot(settings, clock=clock, kubernetes=connect, rollout_poll_seconds=1.0)
    await client.close()


async def restart(world: World, bot: ReleaseBot) -> None:
    """Close the running bot and attach `bot` to the same SimCord world."""
    await world.bot.close()
    await world.env.restart_bot(bot)


async def test_roll_back_button_posted_before_a_restart_still_works(
    world: World, k8s_api: FakeKubeApi, restarted_bot: ReleaseBot
) -> None:
    """Confirm and run a rollback from an alert posted before the bot restarted."""
    await world.start()
    alert = await post_alert(world)
    await restart(world, restarted_bot)
    asked = await world.dora.click(alert, custom_id="rb:rollback:1")
    assert asked.response is not None
    assert asked.response.content.startswith("Confirm rollback of production/nexis-gateway")
    await world.dora.click(asked.response, label="Confirm rollback")
    await settle(world)
    assert (await world.release()).status is ReleaseStatus.ROLLED_BACK
    assert thread_texts(world)[-1].startswith("✅ Rollback of production/nexis-gateway succeeded")


async def test_rollback_cut_short_by_a_restart_is_reported_and_unblocks(
    world: World, k8s_api: FakeKubeApi, restarted_bot: ReleaseBot
) -> None:
    """Report a rollback the restart interrupted in the thread, then allow a new one."""
    await world.start()
    held = k8s_api.hang("GET", DEPLOYMENT)
    dora = Actor(str(world.dora.id), "dora", frozenset({"devops"}))
    await rollbacks(world).request(1, dora, Source.BUTTON, from_revision=3)
    await asyncio.wait_for(held.entered.wait(), 5)
    await restart(world, restarted_bot)
    await settle(world)
    op = await rollbacks(world).get(1)
    assert op.status is OperationStatus.FAILED
    outcome = thread_texts(world)[-1]
    assert outcome.startswith("❌ Rollback of production/nexis-gateway failed: interrupted:")
    assert "check /release deploy-status before acting" in outcome
    assert held.release is not None
    held.release.set()
    asked = await world.dora.click(await post_alert(world), custom_id="rb:rollback:1")
    assert asked.response is not None
    assert asked.response.content.startswith("Confirm rollback of production/nexis-gateway")

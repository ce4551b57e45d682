"""Fixtures for the Kubernetes chat tests: the bot wired to the loopback fake API server.

Import the fixtures into a test module (they override conftest's `settings` and
`simcord_bot`). The controller's sleeps only move the test's FakeClock, so watching a rollout
takes milliseconds; `settle()` waits for the background rollout tasks and delivers the thread
messages they queued.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.rollouts.chat.cog import rollback_button
from bot.rollouts.k8s import CallPolicy, RolloutController, make_api_client
from bot.rollouts.service.deploy import DeployService
from bot.rollouts.service.rollback import RollbackService
from bot.runtime.background import Background
from bot.sandbox.kubernetes.api import FakeKubeApi, Recorder
from tests.rollouts.service.harness import (
    SERVICE,
    VirtualSleep,
    fake_cluster,
    manifests_for,
    roll_out,
    rollout_rbac,
)
from tests.support.world import World, make_settings

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

EVERYONE = Actor("999", "setup", frozenset({"release_lead", "tech_lead", "devops", "oncall"}))


@pytest.fixture
async def k8s_api(rollout_rbac: Recorder) -> AsyncIterator[FakeKubeApi]:
    """Run the fake API server with production at revision 3 and staging at revision 1."""
    async with fake_cluster(rollout_rbac) as api:
        roll_out(api, "production", "v1.1.0", "v1.2.0")
        yield api


def production_running(*versions: str) -> Any:
    """Return a `k8s_api` fixture whose production rolled out `versions` after v1.0.0.

    A rollback test's production must run the room's release (v1.2.3): `/release rollback`
    refuses to withdraw a version that is not the release's own (issue 11).
    """

    @pytest.fixture(name="k8s_api")
    async def api(rollout_rbac: Recorder) -> AsyncIterator[FakeKubeApi]:
        async with fake_cluster(rollout_rbac) as built:
            roll_out(built, "production", *versions)
            yield built

    return api


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings whose service deploys to staging and production from tmp manifests."""
    manifests = manifests_for(tmp_path, "v1.2.3")
    service = {
        "name": SERVICE,
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {
            env: {"namespace": env, "deployment": SERVICE, "manifests": str(manifests / env)}
            for env in ("staging", "production")
        },
    }
    return make_settings(tmp_path / "releasebot.db", services=[service])


@pytest.fixture
async def simcord_bot(
    settings: Settings, clock: FakeClock, k8s_api: FakeKubeApi
) -> AsyncIterator[ReleaseBot]:
    """Return the bot with its Kubernetes client pointed at the fake API server."""
    client = await make_api_client(
        in_cluster=False, kubeconfig=None, context=None, host=k8s_api.host
    )
    controller = RolloutController(
        client,
        clock=clock,
        sleep=VirtualSleep(clock),
        policy=CallPolicy(request_timeout_seconds=5.0),
    )

    async def connect() -> RolloutController:
        return controller

    yield create_bot(settings, clock=clock, kubernetes=connect, rollout_poll_seconds=1.0)
    await client.close()


def rollbacks(world: World) -> RollbackService:
    """Return the bot's rollback service."""
    service = world.bot.handle(RollbackService)
    assert isinstance(service, RollbackService)
    return service


def deploys(world: World) -> DeployService:
    """Return the bot's deploy service."""
    service = world.bot.handle(DeployService)
    assert isinstance(service, DeployService)
    return service


async def settle(world: World) -> None:
    """Let background rollouts finish, deliver their thread messages, let the room catch up."""
    await rollbacks(world).settle()
    await deploys(world).settle()
    background: Any = world.bot.handle(Background)
    await background.pump()
    await world.bot.room.updater.wait_idle(5)


async def post_alert(world: World, release_id: int = 1) -> discord.Message:
    """Post an alert with a plain "Roll back" button in the thread, as monitoring does."""
    view = discord.ui.View(timeout=None)
    view.add_item(rollback_button(release_id))
    thread = world.bot.get_partial_messageable(world.thread().id)
    return await thread.send("🚨 error_rate = 0.031 > 0.01 (met twice)", view=view)


async def into_deployment(world: World, release_id: int = 1) -> None:
    """Walk the release into Deployment and give the Tech Lead's approval (through services)."""
    releases = world.bot.releases
    release = await releases.get(release_id)
    while release.current_phase is not None and release.current_phase.key != "deployment":
        phase = release.current_phase
        for spec in release.phase_signoffs(phase):
            release = await releases.sign(release_id, spec.key, EVERYONE, Source.SLASH)
        for item in release.phase_items(phase):
            release = await releases.tick(release_id, item.id, EVERYONE, Source.SLASH)
        release = await releases.advance(release_id, EVERYONE, Source.SLASH)
    await releases.sign(release_id, "approval", EVERYONE, Source.REACTION)
    await world.bot.room.updater.wait_idle(5)


def thread_texts(world: World) -> list[str]:
    """Return the content of every message in the release thread, oldest first."""
    return [m.content for m in world.thread().history()]


@dataclass(frozen=True)
class Asked:
    """A `/release deploy` answer: the private plan as first shown, and the confirmation."""

    ephemeral: bool
    shown: str
    """The plan's text when it was shown (the message is edited by Confirm afterwards)."""
    plan: Any
    """The plan's message (its buttons)."""
    result: Any
    """Confirm deploy's answer; None when the command was refused (nothing to confirm)."""

    @property
    def said(self) -> str:
        """Return the confirmation's answer text."""
        assert self.result is not None and self.result.response is not None
        return str(self.result.response.content)


async def confirm_deploy(world: World, member: Any, environment: str, **options: Any) -> Asked:
    """Run `/release deploy` as `member` and press Confirm deploy on the private plan."""
    asked = await member.slash(world.thread(), "release deploy", environment=environment, **options)
    assert asked.response is not None
    shown = str(asked.response.content)
    if not asked.response.components:
        return Asked(asked.ephemeral, shown, asked.response, None)
    result = await member.click(asked.response, label="Confirm deploy")
    return Asked(asked.ephemeral, shown, asked.response, result)

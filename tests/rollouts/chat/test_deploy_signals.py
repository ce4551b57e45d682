"""A production deploy and a rollback, as the rest of the company sees them.

- Change events: one PagerDuty change event (Events API v2 `change/enqueue`) and one
  generic-webhook "change.*" body per production deploy and per rollback, through the
  outbox, to a loopback receiver standing in for PagerDuty and the webhook (they cannot
  run here).
- Deploy-time silences against a real Alertmanager 0.25 (Debian package): created when the
  rollout starts (matchers service="nexis-gateway"), recorded (audit, operation row),
  expired (DELETE /api/v2/silence/{id}) after the settle time (0 s here), and what still
  fires (GET /api/v2/alerts) is evaluated at once: an alert firing through the deploy
  opens its incident right after the silence is lifted.

Kubernetes is the loopback fake API server with the real kubernetes-asyncio client;
Discord is SimCord.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings, build_settings
from bot.core.actors import Source
from bot.core.clock import FakeClock
from bot.incidents.service.use_cases import IncidentService
from bot.rollouts.domain import OperationKind
from bot.runtime.background import Background
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.monitoring.chain.alertmanager_server import Alertmanager, alert, start_alertmanager
from tests.monitoring.probes.prometheus_server import free_port
from tests.rollouts.chat.harness import (
    EVERYONE,
    confirm_deploy,
    deploys,
    k8s_api,
    rollbacks,
    rollout_rbac,
    settle,
    simcord_bot,
)
from tests.rollouts.chat.test_deploy_version import IN_WINDOW, in_window, service
from tests.rollouts.service.harness import ROOT, SERVICE
from tests.support.loopback import LoopbackReceiver

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "simcord_bot"]

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@pytest.fixture
async def receiver() -> AsyncIterator[LoopbackReceiver]:
    """Run a loopback receiver for PagerDuty, the webhook and Alertmanager's own receiver."""
    server = LoopbackReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: LoopbackReceiver) -> Iterator[Alertmanager]:
    """Run a real Alertmanager (its notifications go to the loopback receiver, unused here)."""
    server = start_alertmanager(tmp_path / "am", receiver.url("/am"), "unused")
    yield server
    server.stop()


@pytest.fixture
def settings(
    tmp_path: Path,
    receiver: LoopbackReceiver,
    alertmanager: Alertmanager,
    request: pytest.FixtureRequest,
) -> Settings:
    """Deploy from a copy of k8s/; change events to the receiver; silences in Alertmanager.

    Parametrized "down": the Alertmanager URL is a closed loopback port.
    """
    am_url = alertmanager.url
    if getattr(request, "param", "") == "down":
        am_url = f"http://127.0.0.1:{free_port()}"
    folder = tmp_path / "mounted"
    shutil.copytree(ROOT / "k8s", folder)
    return build_settings(
        {
            "services": [service(folder)],
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"},
            "checklist": {"path": str(ROOT / "config/checklists/release.md")},
            "oncall": {"primary": "omar"},
            "paging": {
                "pagerduty": {"enabled": True, "url": receiver.url("/v2/enqueue")},
                "webhook": {"enabled": True, "url": receiver.url("/hook")},
            },
            "kubernetes": {"deploy_silence": {"alertmanager_url": am_url, "settle": "0s"}},
        },
        env={"RELEASEBOT_PAGERDUTY_ROUTING_KEY": ROUTING_KEY, "RELEASEBOT_WEBHOOK_SECRET": "s"},
    )


async def deliver(world: World) -> None:
    """Finish rollouts (and the silence lifts), then deliver the outbox."""
    await settle(world)
    await world.bot.handle(Background).pump()


def learn_guild(world: World) -> None:
    """Give the rollout services the home guild (`releasebot run` requires discord.guild_id;
    SimCord's guild id exists only once the world does)."""
    deploys(world).guild_id = world.guild.id
    rollbacks(world).guild_id = world.guild.id


async def test_one_change_event_per_deploy_and_per_rollback(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock, receiver: LoopbackReceiver
) -> None:
    """PagerDuty and the webhook each get exactly one change event per deploy and rollback."""
    await in_window(world, clock, k8s_api)
    learn_guild(world)
    await confirm_deploy(world, world.dora, "production")
    await deliver(world)
    [deploy] = [r.json() for r in receiver.at("/v2/change/enqueue")]
    thread_url = f"https://discord.com/channels/{world.guild.id}/{world.thread().id}"
    assert deploy["routing_key"] == ROUTING_KEY
    assert deploy["payload"]["summary"].startswith("[releasebot] nexis-gateway v1.4.0: deploy of")
    assert (
        "v1.4.0 to production (production/nexis-gateway), by dora" in deploy["payload"]["summary"]
    )
    assert deploy["payload"]["source"] == SERVICE
    assert deploy["payload"]["timestamp"] == IN_WINDOW.isoformat()  # when it started
    assert deploy["payload"]["custom_details"]["kind"] == "deploy"
    assert deploy["links"] == [{"href": thread_url, "text": "Release thread"}]
    assert receiver.at("/v2/enqueue") == []  # a change event is not an incident
    [hook] = [r.json() for r in receiver.at("/hook")]
    assert hook["event"] == "change.deploy"
    assert hook["change"]["links"][0]["href"] == thread_url
    assert hook["release"]["name"] == "nexis-gateway v1.4.0"

    asked = await world.omar.slash(world.thread(), "release rollback")
    assert asked.response is not None
    await world.omar.click(asked.response, label="Confirm rollback")
    await deliver(world)
    changes = [r.json() for r in receiver.at("/v2/change/enqueue")]
    assert len(changes) == 2
    rollback = changes[1]
    assert rollback["payload"]["custom_details"]["kind"] == "rollback"
    assert "rollback of nexis-gateway v1.4.0 in production" in rollback["payload"]["summary"]
    assert rollback["links"] == [{"href": thread_url, "text": "Release thread"}]
    assert [r.json()["event"] for r in receiver.at("/hook")] == ["change.deploy", "change.rollback"]
    # Delivered once each, even after more pumps.
    await deliver(world)
    assert len(receiver.at("/v2/change/enqueue")) == 2


async def test_the_deploy_silence_is_created_expired_and_what_fires_is_evaluated(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock, alertmanager: Alertmanager
) -> None:
    """Silence service=nexis-gateway while rolling out; expire it; the alert still firing pages."""
    await in_window(world, clock, k8s_api)
    # devops says "deployed" first, so the monitoring window is open when the silence lifts.
    await world.bot.releases.tick(1, "prod-deployed", EVERYONE, Source.SLASH)
    await alertmanager.post(alert("HighErrorRate", severity="critical"))
    await confirm_deploy(world, world.dora, "production")
    await deliver(world)
    silences = await alertmanager.silences()
    assert len(silences) == 1, (silences, alertmanager.log_tail())
    [silence] = silences
    assert silence["status"]["state"] == "expired"
    assert silence["matchers"] == [
        {"name": "service", "value": SERVICE, "isRegex": False, "isEqual": True}
    ]
    assert silence["createdBy"] == "releasebot (dora)"
    audit = {e.action: e for e in await world.audit()}
    assert audit["silence_created"].detail["silence_id"] == silence["id"]
    assert audit["silence_expired"].detail["silence_id"] == silence["id"]
    [op] = await deploys(world).for_release(1)
    assert op.kind is OperationKind.DEPLOY and op.silence_id is None  # expired, forgotten
    # The alert fired through the deploy: evaluated as soon as the silence was lifted.
    service_ = world.bot.handle(IncidentService)
    assert isinstance(service_, IncidentService)
    [incident] = await service_.list_incidents()
    assert (incident.condition, incident.severity) == ("high_error_rate", "P1")
    [firing] = await alertmanager.alerts(silenced="false")
    assert firing["status"]["state"] == "active"


@pytest.mark.parametrize("settings", ["down"], indirect=True)
async def test_an_unreachable_alertmanager_never_stops_the_deploy(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """The silence fails (audited with the reason); the deploy goes on and succeeds."""
    await in_window(world, clock, k8s_api)
    await confirm_deploy(world, world.dora, "production")
    await deliver(world)
    audit = {e.action: e for e in await world.audit()}
    assert "silence_created" not in audit
    assert "POST /api/v2/silences: ConnectError" in audit["silence_failed"].detail["detail"]
    assert "deploy_succeeded" in audit

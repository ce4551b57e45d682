"""Through SimCord: /release deploy within and outside the window, override, deploy-status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.clock import FakeClock
from bot.core.errors import InvalidTransition, NotAuthorized
from bot.releases.domain.release import ItemState
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import (
    confirm_deploy,
    into_deployment,
    k8s_api,
    rollout_rbac,
    settings,
    settle,
    simcord_bot,
    thread_texts,
)
from tests.rollouts.service.harness import IMAGE, SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

WINDOW = "2026-01-05 10:00-12:00 UTC"
IN_WINDOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


def image(api: FakeKubeApi, namespace: str) -> str:
    """Return the image the namespace's Deployment template runs."""
    dep = api.cluster.deployment(namespace, SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def ready(world: World) -> None:
    """Start v1.2.3 with a 10:00-12:00 window and bring it to Deployment, approved."""
    await world.start(window=WINDOW)
    await into_deployment(world)


async def item_state(world: World, item_id: str) -> tuple[ItemState, str | None]:
    """Return an item's state and who moved it there."""
    progress = (await world.release()).progress(item_id)
    return progress.state, progress.actor_id


async def test_staging_deploy_applies_watches_and_ticks_the_item(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Deploy staging: apply the manifests, watch, tick “Staging deployed” as the bot."""
    await ready(world)
    asked = await confirm_deploy(world, world.dora, "staging")
    # The plan is shown privately first; nothing is applied before Confirm (issue 15).
    assert asked.ephemeral
    assert asked.shown == (
        "Deploy nexis-gateway v1.2.3 to staging/nexis-gateway?\n"
        f"• image {IMAGE}: v1.0.0 → v1.2.3\n"
        "• replicas: 3 → 1\n"
        "Nothing is applied until you press Confirm deploy."
    )
    assert asked.said == (
        "🚀 Deploying nexis-gateway v1.2.3 to staging/nexis-gateway (deploy #1); "
        "follow it in the release thread.\n"
        f"• image {IMAGE}: v1.0.0 → v1.2.3\n"
        "• replicas: 3 → 1"
    )
    await settle(world)
    assert image(k8s_api, "staging") == f"{IMAGE}:v1.2.3"
    outcome = thread_texts(world)[-1]
    assert outcome.startswith("✅ Deploy to staging of staging/nexis-gateway succeeded: apply to")
    assert "ticked “Staging 环境部署完成”" in outcome
    assert await item_state(world, "staging-deployed") == (ItemState.DONE, "releasebot")


async def test_production_outside_the_window_is_refused(world: World, k8s_api: FakeKubeApi) -> None:
    """Refuse production before the window opens and say who may override it."""
    await ready(world)
    result = await world.dora.slash(world.thread(), "release deploy", environment="production")
    assert result.response is not None
    assert result.response.content.startswith(
        "⚠️ production deploy refused: the deployment window 2026-01-05 10:00-12:00 UTC "
        "has not opened yet"
    )
    assert "eng_manager, tech_lead" in result.response.content
    assert world.errors() == [InvalidTransition]
    assert k8s_api.requests("PATCH") == []


async def test_production_inside_the_window_ticks_health_and_availability(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """Deploy production inside the window; tick the health and availability checks."""
    await ready(world)
    clock.set(IN_WINDOW)
    await confirm_deploy(world, world.dora, "production")
    await settle(world)
    assert image(k8s_api, "production") == f"{IMAGE}:v1.2.3"
    assert await item_state(world, "prod-health") == (ItemState.DONE, "releasebot")
    assert await item_state(world, "prod-available") == (ItemState.DONE, "releasebot")
    assert thread_texts(world)[-1].startswith("✅ Deploy to production of production/")


async def test_override_outside_the_window_needs_the_role_and_is_audited(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Deny DevOps an override; let DevOps + Tech Lead override with a reason, audited."""
    await ready(world)
    denied = await world.dora.slash(
        world.thread(), "release deploy", environment="production", override="customer outage"
    )
    assert denied.response is not None
    assert denied.response.content.startswith("⛔ You may not override_window")
    assert world.errors() == [NotAuthorized]
    roles = world.guild.roles
    olga = world.guild.add_member(
        world.env.create_user("olga"), roles=[roles["DevOps"], roles["Tech Lead"]]
    )
    asked = await confirm_deploy(world, olga, "production", override="customer outage")
    assert "Override reason: customer outage" in asked.shown
    assert "(deployment window overridden)" in asked.said
    await settle(world)
    assert image(k8s_api, "production") == f"{IMAGE}:v1.2.3"
    overrides = [e for e in await world.audit() if e.action == "override_window"]
    assert [(e.actor_name, e.detail["reason"]) for e in overrides] == [("olga", "customer outage")]
    denials = [e for e in await world.audit() if e.action == "denied"]
    assert [(e.actor_name, e.detail["attempted"]) for e in denials] == [("dora", "override_window")]


async def test_deploy_status_shows_every_target(world: World, k8s_api: FakeKubeApi) -> None:
    """Show replicas, generation, conditions and the progress deadline per target."""
    await world.start()
    result = await world.eve.slash(world.thread(), "release deploy-status")
    assert result.ephemeral and result.response is not None
    embed = result.response.embeds[0]
    assert embed.title == "Rollout status · nexis-gateway v1.2.3"
    fields = {f.name: f.value or "" for f in embed.fields}
    assert set(fields) == {
        "staging · staging/nexis-gateway",
        "production · production/nexis-gateway",
    }
    prod = fields["production · production/nexis-gateway"]
    assert "revision 3: successfully rolled out (3/3 available)" in prod
    assert "Replicas: 3 desired · 3 updated · 3 ready · 3 available" in prod
    assert "Conditions: Available=True (MinimumReplicasAvailable)" in prod
    assert "Progress deadline: 600s" in prod
    assert f"Images: {IMAGE}:v1.2.0" in prod

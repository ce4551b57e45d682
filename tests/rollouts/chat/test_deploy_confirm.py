"""Through SimCord and the loopback Kubernetes API: `/release deploy` waits for Confirm.

The plan is shown privately with Confirm deploy / Cancel; nothing is applied before
Confirm. Only the person who asked can press; at the click the roles, the deployment window
and what runs are checked again, and a stale plan (what runs changed since) is refused and
shown anew. The cluster is the loopback fake API server (real kubernetes-asyncio client).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from simcord.backend.errors import SetupError

from bot.core.actors import Source
from bot.core.clock import FakeClock
from bot.rollouts.chat.cog import deploy_view
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.incidents.chat.harness import said
from tests.rollouts.chat.harness import (
    EVERYONE,
    deploys,
    into_deployment,
    k8s_api,
    rollout_rbac,
    settings,
    settle,
    simcord_bot,
)
from tests.rollouts.service.harness import IMAGE, SERVICE, roll_out

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

WINDOW = "2026-01-05 10:00-12:00 UTC"
IN_WINDOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


def image(api: FakeKubeApi, namespace: str = "production") -> str:
    """Return the image the namespace's Deployment template runs."""
    dep = api.cluster.deployment(namespace, SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def planned(world: World, clock: FakeClock) -> tuple[object, str]:
    """Bring v1.2.3 into its open window; Dora asks for the production deploy."""
    await world.start(window=WINDOW)
    await into_deployment(world)
    clock.set(IN_WINDOW)
    asked = await world.dora.slash(world.thread(), "release deploy", environment="production")
    assert asked.ephemeral and asked.response is not None
    return asked.response, str(asked.response.content)


def applied(api: FakeKubeApi) -> list[object]:
    """Return the apply (PATCH) calls to production Deployments."""
    return [s for s in api.requests("PATCH", "deployments") if s.namespace == "production"]


async def test_nothing_is_applied_before_confirm_and_cancel_changes_nothing(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """The plan alone applies nothing; Cancel says so; no deploy is recorded."""
    plan, shown = await planned(world, clock)
    assert shown.startswith("Deploy nexis-gateway v1.2.3 to production/nexis-gateway?\n")
    assert f"• image {IMAGE}: v1.2.0 → v1.2.3" in shown
    await settle(world)
    assert applied(k8s_api) == []
    assert await deploys(world).for_release(1) == []
    cancelled = await world.dora.click(plan, label="Cancel")
    assert cancelled.response is not None
    assert cancelled.response.content == "Deploy cancelled; nothing was changed."
    await settle(world)
    assert applied(k8s_api) == [] and await deploys(world).for_release(1) == []


async def test_only_the_invoker_can_confirm(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """Dora's plan is private; were its buttons posted where Eve sees them, Eve is refused."""
    plan, shown = await planned(world, clock)
    with pytest.raises(SetupError, match="not visible to this user"):
        await world.eve.click(plan, label="Confirm deploy")  # Discord hides it from Eve
    preview = await deploys(world).preview(1, EVERYONE, Source.SLASH, environment="production")
    thread = world.bot.get_partial_messageable(world.thread().id)
    posted = await thread.send(shown, view=deploy_view(preview, world.dora.id))
    other = await world.eve.click(posted, label="Confirm deploy")
    assert said(other) == f"⛔ Only <@{world.dora.id}>, who asked for this deploy, can confirm it."
    await settle(world)
    assert applied(k8s_api) == []
    await world.dora.click(plan, label="Confirm deploy")
    await settle(world)
    assert image(k8s_api) == f"{IMAGE}:v1.2.3"


async def test_roles_are_checked_again_at_the_click(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """Dora loses DevOps between the plan and the click: refused, audited, nothing applied."""
    plan, _ = await planned(world, clock)
    world.env.backend.edit_member(world.guild.id, world.dora.id, {"role_ids": []})
    refused = await world.dora.click(plan, label="Confirm deploy")
    assert "You may not deploy" in said(refused)
    await settle(world)
    assert applied(k8s_api) == []
    denials = [e for e in await world.audit() if e.action == "denied"]
    assert [(e.actor_name, e.detail["attempted"]) for e in denials] == [("dora", "deploy")]


async def test_the_window_is_checked_again_at_the_click(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """The window closes between the plan and the click: refused with the reason."""
    plan, _ = await planned(world, clock)
    clock.advance(timedelta(hours=2))  # 12:30, after 10:00-12:00
    refused = await world.dora.click(plan, label="Confirm deploy")
    assert said(refused).startswith("⚠️ production deploy refused: the deployment window")
    await settle(world)
    assert applied(k8s_api) == []


async def test_a_stale_plan_is_refused_and_shown_anew(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """Someone rolls out v1.2.2 after the plan was shown: refused, new plan, confirm deploys."""
    plan, shown = await planned(world, clock)
    assert "v1.2.0 → v1.2.3" in shown
    roll_out(k8s_api, "production", "v1.2.2")
    stale = await world.dora.click(plan, label="Confirm deploy")
    assert stale.response is not None
    anew = str(stale.response.content)
    assert anew.startswith("⚠️ what runs in production/nexis-gateway changed since the plan")
    assert f"• image {IMAGE}: v1.2.2 → v1.2.3" in anew
    await settle(world)
    assert applied(k8s_api) == [] and await deploys(world).for_release(1) == []
    confirmed = await world.dora.click(stale.response, label="Confirm deploy")
    assert confirmed.response is not None
    assert "🚀 Deploying nexis-gateway v1.2.3 to production/nexis-gateway" in (
        confirmed.response.content
    )
    await settle(world)
    assert image(k8s_api) == f"{IMAGE}:v1.2.3"
    assert len(applied(k8s_api)) == 1

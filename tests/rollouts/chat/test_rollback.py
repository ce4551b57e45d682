"""Through SimCord: the Roll back button and /release rollback, from click to Rolled back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.domain import ClusterRefusal, OperationStatus
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
from tests.rollouts.service.harness import IMAGE, SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

# Production runs the room's release v1.2.3 at revision 3 (v1.0.0, v1.2.2, v1.2.3).
k8s_api = production_running("v1.2.2", "v1.2.3")


def image(api: FakeKubeApi) -> str:
    """Return the image production's Deployment template runs."""
    dep = api.cluster.deployment("production", SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_member_without_the_role_is_denied_privately_and_audited(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Deny a developer's click with an ephemeral message naming the roles; audit it."""
    await world.start()
    alert = await post_alert(world)
    result = await world.eve.click(alert, custom_id="rb:rollback:1")
    assert result.ephemeral
    assert result.response is not None
    assert result.response.content == (
        "⛔ You may not rollback on production/nexis-gateway: it needs one of these roles: "
        "DevOps, On-call, Tech Lead."
    )
    denied = [e for e in await world.audit() if e.action == "denied"]
    assert [(e.actor_name, e.detail["attempted"]) for e in denied] == [("eve", "rollback")]
    assert k8s_api.requests() == []


async def test_devops_confirms_and_the_release_is_rolled_back(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Ask DevOps to confirm, roll back 3 → 2, mark Rolled back, post the outcome."""
    await world.start()
    alert = await post_alert(world)
    asked = await world.dora.click(alert, custom_id="rb:rollback:1")
    assert asked.ephemeral and asked.response is not None
    assert asked.response.content.startswith(
        "Confirm rollback of production/nexis-gateway from revision 3 to 2 "
        f"({IMAGE}:v1.2.3 → {IMAGE}:v1.2.2)"
    )
    assert k8s_api.requests("PATCH") == []  # nothing happens before the confirmation

    confirmed = await world.dora.click(asked.response, label="Confirm rollback")
    assert confirmed.response is not None
    assert confirmed.response.content.startswith(
        "↩️ Rolling back production/nexis-gateway from revision 3 to 2 (rollback #1)"
    )
    await settle(world)

    assert image(k8s_api) == f"{IMAGE}:v1.2.2"
    assert (await world.release()).status is ReleaseStatus.ROLLED_BACK
    op = await rollbacks(world).get(1)
    assert op.status is OperationStatus.SUCCEEDED and op.requested_by_name == "dora"
    outcome = thread_texts(world)[-1]
    assert outcome.startswith("✅ Rollback of production/nexis-gateway succeeded: rolled back")
    assert "revision 2's template (revision 4); rollout complete" in outcome
    assert "The release is now Rolled back." in outcome
    progress = [
        m
        for m in world.thread().history()
        if m.embeds and (m.embeds[0].title or "").startswith("↩️ Rollback of")
    ]
    assert len(progress) == 1  # one message, edited as the rollout moved
    assert "succeeded" in (progress[0].embeds[0].description or "")
    assert "Revision 3 → 2 (now revision 4)" in (progress[0].embeds[0].description or "")
    actions = [e.action for e in await world.audit()]
    assert {"rollback_requested", "rollback_succeeded", "rolled_back"} <= set(actions)


async def test_cancel_changes_nothing(world: World, k8s_api: FakeKubeApi) -> None:
    """Cancel the confirmation: no request, no patch, the release stays active."""
    await world.start()
    asked = await world.dora.click(await post_alert(world), custom_id="rb:rollback:1")
    assert asked.response is not None
    cancelled = await world.dora.click(asked.response, label="Cancel")
    assert cancelled.response is not None
    assert cancelled.response.content == "Rollback cancelled; nothing was changed."
    await settle(world)
    assert k8s_api.requests("PATCH") == []
    assert await rollbacks(world).for_release(1) == []
    assert (await world.release()).status is ReleaseStatus.ACTIVE


async def test_slash_rollback_to_a_named_revision(world: World, k8s_api: FakeKubeApi) -> None:
    """Roll back with /release rollback to_revision:1 (kubectl's --to-revision=1)."""
    await world.start()
    asked = await world.omar.slash(world.thread(), "release rollback", to_revision=1)
    assert asked.ephemeral and asked.response is not None
    assert asked.response.content.startswith(
        "Confirm rollback of production/nexis-gateway from revision 3 to 1"
    )
    await world.omar.click(asked.response, label="Confirm rollback")
    await settle(world)
    assert image(k8s_api) == f"{IMAGE}:v1.0.0"
    assert thread_texts(world)[-1].startswith("✅ Rollback of production/nexis-gateway succeeded")


async def test_paused_deployment_is_refused_with_the_reason(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Show the adapter's refusal for a paused Deployment; change nothing."""
    await world.start()
    k8s_api.cluster.pause("production", SERVICE)
    result = await world.dora.click(await post_alert(world), custom_id="rb:rollback:1")
    assert result.response is not None
    assert result.response.content == (
        "⚠️ deployment production/nexis-gateway is paused; resume it before rolling back"
    )
    assert k8s_api.requests("PATCH") == []


async def test_unknown_revision_is_refused_with_the_available_ones(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Refuse a revision the Deployment never had, naming the ones it has."""
    await world.start()
    result = await world.dora.slash(world.thread(), "release rollback", to_revision=9)
    assert result.response is not None
    assert result.response.content == (
        "⚠️ deployment production/nexis-gateway has no revision 9; available revisions: 1, 2, 3"
    )
    assert world.errors() == [ClusterRefusal]


async def test_second_rollback_is_refused_once_rolled_back(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Refuse a second plain undo of a rolled-back release (it would restore the bad version)."""
    await world.start()
    alert = await post_alert(world)
    asked = await world.dora.click(alert, custom_id="rb:rollback:1")
    assert asked.response is not None
    await world.dora.click(asked.response, label="Confirm rollback")
    await settle(world)
    again = await world.tom.click(alert, custom_id="rb:rollback:1")
    assert again.response is not None
    assert again.response.content.startswith("⚠️ nexis-gateway v1.2.3 is already rolled back")
    assert len(k8s_api.requests("PATCH")) == 1


async def test_forbidden_patch_is_reported_in_the_thread(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Report a 403 from the API server in the thread; the release and Deployment stay."""
    await world.start()
    k8s_api.fail("PATCH", "/apis/apps/v1/namespaces/production/deployments/*", 403, times=None)
    asked = await world.dora.click(await post_alert(world), custom_id="rb:rollback:1")
    assert asked.response is not None
    await world.dora.click(asked.response, label="Confirm rollback")
    await settle(world)
    outcome = thread_texts(world)[-1]
    assert outcome.startswith("❌ Rollback of production/nexis-gateway failed: rollback failed:")
    assert "service account may not patch deployments in production" in outcome
    assert image(k8s_api) == f"{IMAGE}:v1.2.3"
    assert (await world.release()).status is ReleaseStatus.ACTIVE

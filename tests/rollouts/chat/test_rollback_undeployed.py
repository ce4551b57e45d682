"""Through SimCord: `/release rollback` in the room of a release that never reached production.

Production runs v1.2.3 (revision 3: v1.0.0, v1.2.2, v1.2.3); the room is v1.2.4's, which was
never deployed. An undo there would withdraw v1.2.3, another release: refused naming what
runs, unless the person confirms rolling back the running version explicitly (audited).
Kubernetes is the loopback fake API server driven by the real kubernetes-asyncio client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.releases.domain.release import ReleaseStatus
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import (
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

k8s_api = production_running("v1.2.2", "v1.2.3")
REFUSAL = "v1.2.4 was never deployed to production; production runs v1.2.3"


def image(api: FakeKubeApi) -> str:
    """Return the image production's Deployment template runs."""
    dep = api.cluster.deployment("production", SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_a_rollback_in_the_room_of_an_undeployed_release_is_refused_naming_what_runs(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Dora runs /release rollback in v1.2.4's room: refused, audited, nothing patched."""
    await world.start(version="v1.2.4")
    asked = await world.dora.slash(world.thread(), "release rollback")
    assert asked.ephemeral and asked.response is not None
    assert REFUSAL in asked.response.content
    assert "Confirm rollback" not in asked.response.content
    labels = [c["label"] for row in asked.response.components for c in row["components"]]
    assert labels == ["Roll back the running v1.2.3 instead"]
    await settle(world)
    assert k8s_api.requests("PATCH") == []
    assert await rollbacks(world).for_release(1) == []
    denied = [e for e in await world.audit() if e.action == "denied"]
    assert [(e.actor_name, e.detail["attempted"], e.detail["reason"]) for e in denied] == [
        ("dora", "rollback", REFUSAL)
    ]


async def test_confirming_the_running_version_explicitly_rolls_it_back_and_is_audited(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """Dora presses "Roll back the running v1.2.3 instead", confirms: 3 → 2, audited."""
    await world.start(version="v1.2.4")
    refused = await world.dora.slash(world.thread(), "release rollback")
    assert refused.response is not None
    asked = await world.dora.click(refused.response, label="Roll back the running v1.2.3 instead")
    assert asked.ephemeral and asked.response is not None
    assert asked.response.content.startswith(
        "Confirm rollback of production/nexis-gateway from revision 3 to 2 "
        f"({IMAGE}:v1.2.3 → {IMAGE}:v1.2.2), rolling back v1.2.3, which is not this release"
    )
    await world.dora.click(asked.response, label="Confirm rollback")
    await settle(world)

    assert image(k8s_api) == f"{IMAGE}:v1.2.2"
    assert thread_texts(world)[-1].startswith("✅ Rollback of production/nexis-gateway succeeded")
    [confirmed] = [e for e in await world.audit() if e.action == "rollback_running_confirmed"]
    assert (confirmed.actor_name, confirmed.detail["running"]) == ("dora", "v1.2.3")
    assert confirmed.detail["release_version"] == "v1.2.4"
    assert (await world.release()).status is ReleaseStatus.ROLLED_BACK


async def test_the_slash_option_running_confirms_it_too(world: World, k8s_api: FakeKubeApi) -> None:
    """`/release rollback running:True` goes straight to the confirmation that names v1.2.3."""
    await world.start(version="v1.2.4")
    asked = await world.dora.slash(world.thread(), "release rollback", running=True)
    assert asked.response is not None
    assert "rolling back v1.2.3, which is not this release" in asked.response.content
    assert k8s_api.requests("PATCH") == []


async def test_the_room_of_the_running_release_is_not_asked(
    world: World, k8s_api: FakeKubeApi
) -> None:
    """v1.2.3's own room gets the plain confirmation (production runs it)."""
    await world.start(version="v1.2.3")
    asked = await world.dora.slash(world.thread(), "release rollback")
    assert asked.response is not None
    assert asked.response.content.startswith("Confirm rollback of production/nexis-gateway")
    assert "not this release" not in asked.response.content

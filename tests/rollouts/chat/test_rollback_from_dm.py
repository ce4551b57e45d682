"""The paged on-call engineer rolls back from his page DM (issue 12), through SimCord.

Roles are read from his home-guild member, not from the DM user (who has none): one PATCH
against the loopback Kubernetes API server, audited as him.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.chat.cog import rollback_button
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import (
    production_running,
    rollbacks,
    rollout_rbac,
    settings,
    settle,
    simcord_bot,
)

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

# Production runs the room's release v1.2.3 at revision 3 (v1.0.0, v1.2.2, v1.2.3).
k8s_api = production_running("v1.2.2", "v1.2.3")


async def _page_dm(world: World) -> discord.Message:
    """Send Omar a page DM with the Roll back button, as incident paging does."""
    view = discord.ui.View(timeout=None)
    view.add_item(rollback_button(1))
    user = await world.bot.fetch_user(world.omar.id)
    return await user.send("📟 You are paged: P1 incident #1 on nexis-gateway", view=view)


async def test_oncall_rolls_back_from_the_page_dm(world: World, k8s_api: FakeKubeApi) -> None:
    """Roll back → Confirm in the DM: one PATCH, the release Rolled back, audited as omar."""
    await world.start()
    await _page_dm(world)
    [page] = [m for m in world.omar.user.dm_channel.history() if m.author.bot]
    asked = await world.omar.user.click(page, custom_id="rb:rollback:1")
    assert asked.response is not None
    assert asked.response.content.startswith("Confirm rollback of production/nexis-gateway")
    confirmed = await world.omar.user.click(asked.response, label="Confirm rollback")
    assert confirmed.response is not None
    assert confirmed.response.content.startswith("↩️ Rolling back production/nexis-gateway")
    await settle(world)
    assert len(k8s_api.requests("PATCH")) == 1
    assert (await world.release()).status is ReleaseStatus.ROLLED_BACK
    op = await rollbacks(world).get(1)
    assert op.requested_by_name == "omar"
    audit = await world.audit()
    assert not [e for e in audit if e.action == "denied"]
    requested = [e for e in audit if e.action == "rollback_requested"]
    assert [e.actor_name for e in requested] == ["omar"]

"""Through SimCord: ticking the production-deployed item by hand respects the deployment window.

`/release deploy production` refuses outside the window unless an override holder gives a
reason; the hand tick of “生产环境部署完成” (marks=production_deployed) is held to the same rule.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.core.clock import FakeClock
from bot.releases.domain.release import ItemState

if TYPE_CHECKING:
    from tests.support.world import World

WINDOW = "2026-01-05 10:00-12:00 UTC"
IN_WINDOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
ITEM = "prod-deployed"


async def in_deployment(world: World) -> None:
    """Start v1.2.3 with a window, walk it into Deployment and give the approval."""
    await world.start(window=WINDOW)
    await world.run_whole_release_until("deployment")
    await world.sign(world.tom, "approval")
    await world.bot.room.updater.wait_idle(5)


async def test_outside_the_window_a_hand_tick_is_refused_without_the_override(
    world: World,
) -> None:
    """Refuse DevOps' tick before the window opens and name who may override."""
    await in_deployment(world)
    result = await world.choose(world.dora, "tick", ITEM)
    assert result.modal is None
    assert len(result.followups) == 1 and result.followups[0].ephemeral
    shown = result.followups[0].content
    assert shown.startswith("⚠️ ticking “生产环境部署完成” refused:")
    assert "refused: the deployment window 2026-01-05 10:00-12:00 UTC has not opened yet" in shown
    assert "eng_manager, tech_lead" in shown
    assert (await world.release()).progress(ITEM).state is ItemState.OPEN
    assert [e for e in await world.audit() if e.action == "tick" and e.target == ITEM] == []


async def test_an_override_holder_ticks_it_with_a_reason_audited(world: World) -> None:
    """Ask DevOps + Tech Lead for the reason; tick, keep the reason, audit the override."""
    await in_deployment(world)
    roles = world.guild.roles
    olga = world.guild.add_member(
        world.env.create_user("olga"), roles=[roles["DevOps"], roles["Tech Lead"]]
    )
    shown = await world.choose(olga, "tick", ITEM)
    assert shown.modal is not None
    assert shown.modal["title"] == "Override the deployment window"
    field = shown.modal["components"][0]["components"][0]["custom_id"]
    result = await olga.submit_modal(shown, {field: "hotfix already rolled by hand"})
    assert result.response is not None
    assert "Deployment window overridden: hotfix already rolled by hand" in result.response.content
    progress = (await world.release()).progress(ITEM)
    assert (progress.state, progress.actor_name, progress.reason) == (
        ItemState.DONE,
        "olga",
        "hotfix already rolled by hand",
    )
    overrides = [e for e in await world.audit() if e.action == "override_window"]
    assert [(e.actor_name, e.detail["reason"], e.detail["item"]) for e in overrides] == [
        ("olga", "hotfix already rolled by hand", ITEM)
    ]
    assert "has not opened yet" in overrides[0].detail["window"]


async def test_inside_the_window_the_tick_needs_no_override(world: World, clock: FakeClock) -> None:
    """Tick it as before inside the window: no modal, no override audited."""
    await in_deployment(world)
    clock.set(IN_WINDOW)
    result = await world.choose(world.dora, "tick", ITEM)
    assert result.modal is None and not result.followups
    assert (await world.release()).progress(ITEM).state is ItemState.DONE
    assert [e for e in await world.audit() if e.action == "override_window"] == []

"""A restart keeps every control of every earlier message working, and all state intact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.app import create_bot
from bot.releases.domain.release import ItemState, ReleaseStatus
from tests.support.world import ROOM_EXTENSIONS

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.clock import FakeClock
    from tests.support.world import World


async def _restart(world: World, settings: Settings, clock: FakeClock) -> None:
    old = world.bot
    await old.close()  # restart_bot does not close the old client
    await world.env.restart_bot(create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS))
    assert world.bot is not old


async def test_every_control_of_old_messages_works_after_a_restart(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Tick, untick, waive, sign, advance and refresh on messages posted before the restart."""
    await world.start()
    items = (await world.release()).phases[0].all_items()
    await world.choose(world.ann, "tick", items[0].id)
    posted = {m.id for m in world.thread().history()}
    clock.advance(3600)

    await _restart(world, settings, clock)

    release = await world.release()
    assert release.progress(items[0].id).state is ItemState.DONE
    assert release.progress(items[0].id).actor_name == "ann"
    await world.choose(world.tom, "tick", items[1].id)
    await world.choose(world.tom, "untick", items[0].id)
    await world.waive(world.ann, items[2].id, "covered by the integration suite")
    refreshed = await world.ann.click(await world.message("phase", "0:1"), label="Refresh")
    assert refreshed.acknowledged and refreshed.followups == []
    release = await world.release()
    assert [release.progress(i.id).state for i in items[:3]] == [
        ItemState.OPEN,
        ItemState.DONE,
        ItemState.WAIVED,
    ]
    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    assert f"✅ **2.** {items[1].text} — tom · 10:00" in description
    await world.tick_all(world.ann)
    await world.sign(world.ann, "pre-release")
    await world.advance(world.ann)
    assert (await world.release()).phase_index == 1
    still_there = {m.id for m in world.thread().history()}
    assert posted <= still_there  # the old messages were edited in place, never reposted


async def test_a_release_started_before_a_restart_completes_after_it(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Finish a release after two restarts, driving only the messages of the first start."""
    await world.start()
    await world.run_whole_release_until("release")
    await _restart(world, settings, clock)
    await world.run_whole_release_until("deployment")
    await _restart(world, settings, clock)

    await world.run_whole_release()

    assert (await world.release()).status is ReleaseStatus.COMPLETED
    assert len(world.channel.threads) == 1

"""Restart safety through SimCord: overdue steps fire once at start-up, nothing is sent twice."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.clock import FakeClock
from tests.incidents.chat.harness import (
    add_cast,
    breach,
    dms,
    incident_bot,
    incidents,
    mentioning,
    pump,
)

if TYPE_CHECKING:
    from tests.support.world import World


async def restart(world: World, settings: Settings, clock: FakeClock) -> None:
    """Close the running bot and start a new one on the same database, then its start-up.

    Start-up is `Background.start()` in production (fire what is overdue, plan the rest);
    with an injected clock the test runs the same work with `pump()`.
    """
    await world.bot.close()
    await world.env.restart_bot(incident_bot(settings, clock))
    await pump(world)


def bot_messages(world: World) -> int:
    """Return how many messages the bot has posted in the channel and the thread."""
    return sum(
        1 for channel in (world.channel, world.thread()) for m in channel.history() if m.author.bot
    )


async def test_downtime_over_the_first_step_pages_tech_lead_once_and_nobody_twice(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Stop after the on-call page, start at +16 min: Tech Lead paged once; restart again: none."""
    cast = add_cast(world)
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    assert (len(dms(world.omar)), len(dms(world.tom))) == (1, 0)

    await world.bot.close()
    clock.advance(timedelta(minutes=16))  # the bot is down from +0 to +16
    await world.env.restart_bot(incident_bot(settings, clock))
    await pump(world)
    assert (len(dms(world.omar)), len(dms(world.tom))) == (1, 1)
    assert len(mentioning(world.thread(), world.tom)) == 1
    posted = bot_messages(world)

    await restart(world, settings, clock)
    assert (len(dms(world.omar)), len(dms(world.tom)), len(dms(cast.emma))) == (1, 1, 0)
    assert bot_messages(world) == posted
    _, events = await incidents(world).status(incident_id)
    assert [e.action for e in events].count("incident_escalate") == 1


async def test_buttons_on_a_page_posted_before_a_restart_still_work(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Acknowledge with the button of a DM sent before the restart; escalation stops."""
    cast = add_cast(world)
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    await restart(world, settings, clock)
    [page] = dms(world.omar)
    result = await world.omar.user.click(page, label="Acknowledge")
    assert result.ephemeral
    clock.advance(timedelta(minutes=31))
    await pump(world)
    assert dms(world.tom) == [] and dms(cast.emma) == []
    assert (await incidents(world).get(incident_id)).acked_by == str(world.omar.id)

"""Escalate now, repeat loops and stakeholder status updates through SimCord."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import discord
import pytest

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.core.errors import NotAuthorized
from tests.incidents.chat.harness import (
    PAGING,
    add_cast,
    breach,
    buttons,
    dms,
    incident_bot,
    incidents,
    mentioning,
    pump,
    said,
)
from tests.support.world import make_settings

if TYPE_CHECKING:
    from simcord import MemberActor

    from tests.support.world import World

MIN = timedelta(minutes=1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return test settings with Omar on call and the path repeated once (two loops)."""
    return make_settings(tmp_path / "releasebot.db", **PAGING, escalation={"repeat": 1})


async def tick(world: World, clock: FakeClock, minutes: int) -> None:
    """Advance `minutes` one at a time, firing due timers and delivering the outbox."""
    for _ in range(minutes):
        clock.advance(MIN)
        await pump(world)


def paged(member: MemberActor) -> list[discord.Message]:
    """Return the page DMs `member` got (not the status-update reminders)."""
    return [m for m in dms(member) if "Status update due" not in m.content]


def incident_embeds(world: World) -> list[discord.Embed]:
    """Return the incident embeds the bot posted (or edited) in the release thread."""
    return [
        e
        for m in world.thread().history()
        if m.author.bot
        for e in m.embeds
        if "Incident #" in (e.title or "")
    ]


async def test_escalate_now_button_pages_the_tech_lead_at_once_and_a_developer_is_refused(
    world: World, clock: FakeClock
) -> None:
    """Eve's click is refused privately (no page); Omar's click on his DM pages Tom at +2."""
    cast = add_cast(world)
    await world.start()
    incident_id = await breach(world)
    await tick(world, clock, 2)
    [page] = dms(world.omar)
    assert "Escalate now" in buttons(page)
    posted = mentioning(world.thread(), world.omar)[0]
    refused = await world.eve.click(posted, label="Escalate now")
    assert refused.ephemeral and said(refused).startswith("⛔ You may not escalate incident #1")
    await pump(world)
    assert dms(world.tom) == []
    result = await world.omar.user.click(page, label="Escalate now")
    assert result.ephemeral and "step 2 was paged now" in said(result)
    await pump(world)
    [escalated] = dms(world.tom)
    assert "Escalated to you" in escalated.content
    assert dms(cast.emma) == []
    _, events = await incidents(world).status(incident_id)
    assert [e.action for e in events].count("denied") == 1


async def test_slash_escalate_then_the_path_loops_once_more_after_a_restart(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """/incident escalate at +1 pages Tom; the EM still pages at +30; after a restart at
    +40 loop 2 pages Omar at +45 ("loop 2 of 2" in the thread), then Tom and Emma again."""
    cast = add_cast(world)
    await world.start()
    await breach(world)
    await tick(world, clock, 1)
    done = await world.tom.slash(world.thread(), "incident escalate", incident="1")
    assert "step 2 was paged now" in said(done)
    await pump(world)
    assert (len(dms(world.tom)), len(dms(cast.emma))) == (1, 0)
    await tick(world, clock, 28)  # +29
    assert len(dms(cast.emma)) == 0
    await tick(world, clock, 1)  # +30
    assert len(dms(cast.emma)) == 1
    await tick(world, clock, 10)
    await world.bot.close()
    await world.env.restart_bot(incident_bot(settings, clock))
    await pump(world)
    await tick(world, clock, 5)  # +45
    assert len(paged(world.omar)) == 2
    assert any("(loop 2 of 2)" in m.content for m in mentioning(world.thread(), world.omar))
    await tick(world, clock, 120)
    assert (len(paged(world.omar)), len(paged(world.tom)), len(paged(cast.emma))) == (2, 2, 2)


async def test_p0_without_update_reminds_omar_and_update_mentions_the_stakeholders(
    world: World, clock: FakeClock
) -> None:
    """P0 silent for 30 min: Omar (the paged on-call) is reminded by DM and the message shows
    "1 update missed"; /incident update posts in the channel and thread with @Stakeholders."""
    cast = add_cast(world)
    await world.start()
    await breach(world, severity="P0")
    await tick(world, clock, 29)
    assert not [m for m in dms(world.omar) if "Status update due" in m.content]
    await tick(world, clock, 1)
    [reminder] = [m for m in dms(world.omar) if "Status update due" in m.content]
    assert "/incident update 1" in reminder.content
    shown = [
        f.value for e in incident_embeds(world) for f in e.fields if f.name == "Status updates"
    ]
    assert shown and all("1 update missed" in v for v in shown)
    text = "Rolled back to v1.2.2; error rate back to 0.2 %; next update 10:00"
    answer = await world.omar.slash(world.thread(), "incident update", incident="1", text=text)
    assert answer.ephemeral and "Status update posted" in said(answer)
    await pump(world)
    for place in (world.channel, world.thread()):
        [update] = [m for m in place.history() if m.author.bot and text in (m.content or "")]
        assert cast.stakeholders.mention in update.content
        assert update.content.startswith(f"@everyone {cast.stakeholders.mention}")


async def test_a_developer_may_not_post_a_status_update(world: World, clock: FakeClock) -> None:
    """Eve (no incident role, not paged) is refused privately; nothing is posted."""
    add_cast(world)
    await world.start()
    await breach(world, severity="P0")
    await pump(world)
    refused = await world.eve.slash(world.thread(), "incident update", incident="1", text="ok")
    assert said(refused).startswith("⛔ You may not post a status update on incident #1")
    assert world.errors() == [NotAuthorized]
    await pump(world)
    assert not [m for m in world.channel.history() if m.author.bot and "Status update" in m.content]

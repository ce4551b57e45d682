"""Incident paging through SimCord: DMs and mentions, escalation, ack, restart safety."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.core.clock import FakeClock
from tests.incidents.chat.harness import (
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
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    from tests.support.world import World

MIN = timedelta(minutes=1)


async def test_breach_pages_oncall_by_dm_and_channel_mention_at_once(world: World) -> None:
    """Open a P1 incident and, at once, DM Omar and mention him in the thread and channel."""
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    incident = await incidents(world).get(incident_id)
    assert incident.severity.value == "P1"
    [dm] = dms(world.omar)
    assert "You are paged" in dm.content and "P1 incident #1" in dm.content
    assert set(buttons(dm)) == {"Acknowledge", "Escalate now", "Resolve", "Roll back"}
    [in_thread] = mentioning(world.thread(), world.omar)
    embed = in_thread.embeds[0]
    assert embed.title is not None and embed.title.startswith("🚨 P1 · Incident #1")
    escalation = next(f.value for f in embed.fields if f.name == "Escalation")
    assert "Tech Lead — 2026-01-05 09:15 UTC" in escalation
    assert "Engineering Manager — 2026-01-05 09:30 UTC" in escalation
    assert buttons(in_thread)["Roll back"].custom_id == "rb:rollback:1"
    assert len(mentioning(world.channel, world.omar)) == 1


async def test_no_ack_pages_tech_lead_at_15_and_manager_at_30(world: World) -> None:
    """Escalate to the Tech Lead at +15 min and the Engineering Manager at +30 min."""
    cast = add_cast(world)
    await world.start()
    await breach(world)
    await pump(world)
    world.bot.clock.advance(14 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    assert dms(world.tom) == []
    world.bot.clock.advance(1 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    assert len(dms(world.tom)) == 1 and "Escalated to you" in dms(world.tom)[0].content
    assert dms(cast.emma) == []
    world.bot.clock.advance(15 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    assert len(dms(cast.emma)) == 1
    assert len(mentioning(world.thread(), cast.emma)) == 1


async def test_ack_at_20_minutes_means_the_manager_is_never_paged(world: World) -> None:
    """Ack by the Tech Lead at +20 min with the button; the EM is never paged."""
    cast = add_cast(world)
    await world.start()
    await breach(world)
    world.bot.clock.advance(20 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    page = dms(world.tom)[0]
    result = await world.tom.user.click(page, label="Acknowledge")  # in the DM
    assert result.ephemeral
    await pump(world)
    world.bot.clock.advance(20 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    assert dms(cast.emma) == []
    thread_text = [m.content for m in world.thread().history()]
    assert any(f"Acknowledged by {world.tom.mention}" in t for t in thread_text)
    edited = mentioning(world.thread(), world.omar)[0].embeds[0]
    status = next(f.value for f in edited.fields if f.name == "Status")
    assert status.startswith(f"Acknowledged by {world.tom.mention}")


async def test_ack_by_member_without_role_is_denied_and_escalation_continues(
    world: World,
) -> None:
    """Refuse Eve's ack privately, audit it, and page the Tech Lead at +15 anyway."""
    await world.start()
    await breach(world)
    await pump(world)
    [page] = mentioning(world.thread(), world.omar)
    result = await world.eve.click(page, label="Acknowledge")
    assert result.ephemeral
    assert said(result).startswith("⛔ You may not acknowledge incident #1 (you were not paged")
    _, events = await incidents(world).status(1)
    assert [e.actor_name for e in events if e.action == "denied"] == ["eve"]
    world.bot.clock.advance(15 * MIN)  # type: ignore[attr-defined]
    await pump(world)
    assert len(dms(world.tom)) == 1


async def test_monitoring_breach_opens_p1_and_pages_in_the_same_pump(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Take a release to production, break error_rate twice: a P1 incident pages Omar at once."""
    script = Script()
    await world.bot.close()
    # Every extension, as in production: the monitoring alerts are delivered too.
    probes = ScriptedProbes(script)
    await world.env.restart_bot(incident_bot(settings, clock, probes=probes, extensions=None))
    await world.start()
    await world.run_whole_release_until("post-release")
    await pump(world)
    script.values["error_rate"] = 0.052
    clock.advance(5 * MIN)
    await pump(world)
    assert await incidents(world).list_incidents() == []  # one breach is a warning only
    clock.advance(5 * MIN)
    await pump(world)
    [incident] = await incidents(world).list_incidents()
    assert (incident.severity.value, incident.condition, incident.source) == (
        "P1", "error_rate", "poll",
    )  # fmt: skip
    assert incident.opened_at == clock.now()
    [dm] = dms(world.omar)
    # The page reads as the alert does (issue 11): a percentage and the breach rule.
    assert "Error rate 5.2 % (breach if > 1 %)" in dm.content
    assert "0.052" not in dm.content
    assert len(mentioning(world.thread(), world.omar)) == 1
    clock.advance(5 * MIN)
    await pump(world)
    assert len(await incidents(world).list_incidents()) == 1
    assert len(dms(world.omar)) == 1  # still breaching: counted, never re-paged

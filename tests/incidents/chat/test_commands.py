"""/incident and /oncall commands through SimCord: status timeline, severity, overrides."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput, NotAuthorized
from tests.incidents.chat.harness import (
    add_cast,
    breach,
    dms,
    incidents,
    pump,
    said,
)

if TYPE_CHECKING:
    from tests.support.world import World


async def test_oncall_set_changes_who_step_one_pages_and_is_audited(world: World) -> None:
    """Let the Tech Lead put Dora on call for 8 h: /oncall show and the next page follow."""
    before = await world.tom.slash(world.channel, "oncall show")
    assert before.ephemeral
    assert f"1. On-call engineer at 2026-01-05 09:00 UTC: {world.omar.mention}" in said(before)
    done = await world.tom.slash(world.channel, "oncall set", member=world.dora, until="8h")
    assert done.ephemeral and "until 2026-01-05 17:00 UTC" in said(done)
    after = said(await world.tom.slash(world.channel, "oncall show"))
    assert f"1. On-call engineer at 2026-01-05 09:00 UTC: {world.dora.mention}" in after
    assert "(override until 2026-01-05 17:00 UTC)" in after
    async with world.bot.releases.uow() as uow:
        events = await uow.audit.all()  # type: ignore[attr-defined]
    [event] = [e for e in events if e.action == "oncall_set"]
    assert (event.actor_name, event.detail["user"]) == ("tom", world.dora.mention)
    await world.start()
    await breach(world)
    await pump(world)
    assert len(dms(world.dora)) == 1 and dms(world.omar) == []


async def test_oncall_set_by_a_developer_is_refused_privately(world: World) -> None:
    """Refuse Eve's /oncall set with the roles it needs; nothing changes."""
    refused = await world.eve.slash(world.channel, "oncall set", member=world.eve, until="1h")
    assert refused.ephemeral
    assert said(refused).startswith("⛔ You may not set who is on call")
    assert world.errors() == [NotAuthorized]
    shown = said(await world.tom.slash(world.channel, "oncall show"))
    assert world.omar.mention in shown and "override" not in shown


async def test_status_shows_the_timeline_of_page_escalation_ack_and_resolve(
    world: World, clock: FakeClock
) -> None:
    """Show every page, escalation, ack and the resolution in /incident status."""
    add_cast(world)
    await world.start()
    await breach(world)
    clock.advance(timedelta(minutes=16))
    await pump(world)
    acked = await world.tom.slash(world.thread(), "incident ack", incident="1")
    assert "acknowledged incident #1" in said(acked)
    resolved = await world.tom.slash(
        world.thread(), "incident resolve", incident="#1", note="reverted the flag"
    )
    assert "within its SLA" in said(resolved)
    status = await world.tom.slash(world.thread(), "incident status", incident="1")
    embed = status.response.embeds[0] if status.response else None
    assert embed is not None and embed.description is not None
    timeline = embed.description
    for step in ("open", "page", "escalate", "ack", "resolve"):
        assert f"· {step}" in timeline, step
    assert "reverted the flag" in next(f.value for f in embed.fields if f.name == "Status")


async def test_severity_change_needs_the_role_and_moves_the_deadlines(world: World) -> None:
    """Refuse Eve's severity change; let the Tech Lead raise P1 to P0 with new deadlines."""
    await world.start()
    await breach(world)
    refused = await world.eve.slash(world.thread(), "incident severity", incident="1", level="P0")
    assert said(refused).startswith("⛔ You may not change the severity of incident #1")
    assert world.errors() == [NotAuthorized]
    changed = await world.tom.slash(world.thread(), "incident severity", incident="1", level="P0")
    assert "now P0" in said(changed)
    incident = await incidents(world).get(1)
    assert incident.response_due == incident.opened_at + timedelta(minutes=15)
    _, events = await incidents(world).status(1)
    assert [e.action for e in events].count("denied") == 1
    assert "incident_severity_change" in [e.action for e in events]


async def test_open_by_hand_pages_with_the_chosen_severity_and_lists_it(world: World) -> None:
    """Open a P0 by hand: @everyone is told, on-call is paged, /incident list shows it."""
    await world.start()
    opened = await world.tom.slash(
        world.channel, "incident open", title="Checkout returns 502", severity="P0", release=1
    )
    assert "Opened P0 incident #1" in said(opened)
    await pump(world)
    assert len(dms(world.omar)) == 1
    assert any("@everyone" in (m.content or "") for m in world.thread().history())
    listed = said(await world.eve.slash(world.channel, "incident list"))
    assert "#1 P0 · Checkout returns 502 · triggered" in listed
    bad = await world.tom.slash(world.channel, "incident status", incident="seven")
    assert said(bad) == "⚠️ incident 'seven' is not valid: pick one from the list (e.g. #7)"
    assert world.errors() == [InvalidInput]

"""Repeat loops, Escalate now and status updates on real SQLite, rebuilt mid-way (a restart).

Each "restart" builds a new World (services, timers, outbox) on the same database; only the
chat platform is a fake (see harness.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.core.actors import Source
from bot.core.errors import InvalidInput, NotAuthorized
from tests.incidents.service.harness import (
    MANAGER,
    NOBODY,
    ONCALL_PERSON,
    PRIMARY,
    TECH,
    TECH_LEAD,
    World,
    make_settings,
    start_release,
)
from tests.incidents.service.test_incidents import actions, breach

MIN = timedelta(minutes=1)
PEOPLE = (PRIMARY, TECH, MANAGER)


def repeating(times: int) -> dict[str, object]:
    """Return raw settings with `escalation.repeat = times` (on-call primary omar)."""
    return {"oncall": {"primary": "omar"}, "escalation": {"repeat": times}}


def pages(worlds: list[World]) -> dict[str, list[int]]:
    """Return the steps paged by DM to each person, over every World built so far."""
    return {who: [p["step"] for w in worlds for p in w.pages_to(who)] for who in PEOPLE}


async def run_until(world: World, t0: datetime, minutes: int) -> None:
    """Advance the clock in one-minute ticks to `t0` + `minutes`, firing what comes due."""
    while world.clock.now() < t0 + minutes * MIN:
        world.clock.advance(MIN)
        await world.pump()


@pytest.fixture
def settings_repeat_2():
    """Return settings with the path repeated twice (three loops in all)."""
    return make_settings(repeating(2))


async def test_repeat_2_pages_the_path_three_times_then_stops_across_a_restart(
    engine, clock, service, settings_repeat_2
):
    """repeat=2: on-call, Tech Lead and EM are each paged 3 times (loops at +0/+45/+90), then
    nothing more; the service is rebuilt at +50, the overdue loop-2 page fires once."""
    t0 = clock.now()
    first = World(engine, clock, settings_repeat_2)
    incident_id = await breach(first, await start_release(service))
    await first.pump()
    await run_until(first, t0, 40)
    assert pages([first]) == {PRIMARY: [0], TECH: [1], MANAGER: [2]}
    clock.advance(10 * MIN)  # down from +40 to +50: loop 2 began at +45
    second = World(engine, clock, settings_repeat_2)
    await second.pump()
    assert pages([first, second])[PRIMARY] == [0, 0]
    await run_until(second, t0, 400)
    assert pages([first, second]) == {PRIMARY: [0, 0, 0], TECH: [1, 1, 1], MANAGER: [2, 2, 2]}
    timeline = [e.detail.get("detail", "") for e in (await second.incidents.status(incident_id))[1]]
    assert any("(loop 2 of 3)" in d for d in timeline)
    assert sum("(loop 3 of 3)" in d for d in timeline) == 3
    assert [k for k, _ in await second.pending_kinds(incident_id) if k == "incident.step"] == []


async def test_an_ack_in_loop_2_stops_every_later_page(engine, clock, service):
    """Ack at +46 (loop 2, after a restart): no Tech Lead, no EM, no loop 3, no step timers
    (the ack timeout is set past the run: its re-page is tested apart)."""
    raw = repeating(2)
    raw["escalation"] = {"repeat": 2, "ack_timeout": "6h"}
    settings_repeat_2 = make_settings(raw)
    t0 = clock.now()
    first = World(engine, clock, settings_repeat_2)
    incident_id = await breach(first, await start_release(service))
    await run_until(first, t0, 46)
    second = World(engine, clock, settings_repeat_2)
    await second.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    await run_until(second, t0, 400)
    assert pages([first, second]) == {PRIMARY: [0, 0], TECH: [1], MANAGER: [2]}
    assert [k for k, _ in await second.pending_kinds(incident_id) if k == "incident.step"] == []
    assert (await actions(second, incident_id)).count("incident_ack") == 1


async def test_escalate_now_pages_the_next_step_at_once_and_later_steps_keep_their_times(
    engine, clock, service
):
    """Escalate now at +5: Tech Lead paged at +5; after a restart the EM still pages at +30
    (not earlier) and loop 2 (repeat=1) at +45, as first planned."""
    settings = make_settings(repeating(1))
    t0 = clock.now()
    first = World(engine, clock, settings)
    incident_id = await breach(first, await start_release(service))
    await run_until(first, t0, 5)
    done = await first.incidents.escalate_now(incident_id, ONCALL_PERSON, Source.BUTTON)
    await first.pump()
    assert pages([first]) == {PRIMARY: [0], TECH: [1], MANAGER: []}
    assert "incident_escalate_now" in await actions(first, incident_id)
    second = World(engine, clock, settings)
    await run_until(second, t0, 29)
    assert pages([first, second])[MANAGER] == []
    await run_until(second, t0, 30)
    assert pages([first, second])[MANAGER] == [2]
    await run_until(second, t0, 44)
    assert pages([first, second])[PRIMARY] == [0]
    await run_until(second, t0, 45)
    assert pages([first, second])[PRIMARY] == [0, 0]
    assert done.escalation_token == (await second.incidents.get(incident_id)).escalation_token


async def test_escalate_now_is_refused_without_the_ack_roles_and_audited(world_default, service):
    """A developer who was not paged may not escalate: NotAuthorized, a 'denied' event, no page."""
    world = world_default
    incident_id = await breach(world, await start_release(service))
    await world.pump()
    with pytest.raises(NotAuthorized):
        await world.incidents.escalate_now(incident_id, NOBODY, Source.BUTTON)
    await world.pump()
    assert world.pages_to(TECH) == []
    assert (await actions(world, incident_id)).count("denied") == 1


async def test_escalate_now_after_an_ack_or_past_the_last_step_names_why(world_default, service):
    """Refuse Escalate now once acked, and once every step paged, each with a clear reason."""
    world = world_default
    incident_id = await breach(world, await start_release(service))
    world.clock.advance(31 * MIN)
    await world.pump()
    with pytest.raises(InvalidInput, match=r"every step of the path has paged \(loop 1 of 1\)"):
        await world.incidents.escalate_now(incident_id, TECH_LEAD, Source.SLASH)
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    with pytest.raises(InvalidInput, match="the incident is acknowledged"):
        await world.incidents.escalate_now(incident_id, TECH_LEAD, Source.SLASH)


@pytest.fixture
def world_default(engine, clock) -> World:
    """Return the incident world with the default settings."""
    return World(engine, clock, make_settings())


def reminders(worlds: list[World], who: str) -> list[str]:
    """Return the status-update reminder DMs delivered to `who`."""
    return [
        p["content"] for w in worlds for p in w.dm.where(user_id=who)
        if p["notice"] == "update_reminder"
    ]  # fmt: skip


async def test_p0_without_an_update_reminds_the_owner_every_30_minutes_across_a_restart(
    engine, clock, service
):
    """P0: at +30 the paged on-call is reminded; after a restart and Tom's ack the next one
    (+60) goes to Tom; an update at +70 moves the next to +100; two missed are counted."""
    settings = make_settings()
    t0 = clock.now()
    first = World(engine, clock, settings)
    incident_id = await breach(first, await start_release(service), severity="P0")
    await run_until(first, t0, 29)
    assert reminders([first], PRIMARY) == []
    await run_until(first, t0, 30)
    [text] = reminders([first], PRIMARY)
    assert "Status update due" in text and f"/incident update {incident_id}" in text
    second = World(engine, clock, settings)
    await run_until(second, t0, 35)
    await second.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    await run_until(second, t0, 60)
    assert len(reminders([first, second], TECH)) == 1
    assert (await second.incidents.get(incident_id)).updates_missed == 2
    await run_until(second, t0, 70)
    await second.incidents.post_update(
        incident_id, TECH_LEAD, "rolled back; watching", Source.SLASH
    )
    await second.pump()
    posted = [p for p in second.channel.got if p.get("notice") == "status_update"]
    assert {p["where"] for p in posted} == {"release", "alerts"}
    assert all(p["mention_roles"] == ["everyone", "stakeholders"] for p in posted)
    await run_until(second, t0, 99)
    assert len(reminders([first, second], TECH)) == 1
    await run_until(second, t0, 100)
    assert len(reminders([first, second], TECH)) == 2


async def test_a_status_update_needs_a_responder_and_some_text(world_default, service):
    """Refuse an update from a developer (audited) and an empty one; P2 has no reminder timer."""
    world = world_default
    incident_id = await breach(world, await start_release(service), severity="P2")
    with pytest.raises(NotAuthorized):
        await world.incidents.post_update(incident_id, NOBODY, "all fine", Source.SLASH)
    with pytest.raises(InvalidInput, match="needs some text"):
        await world.incidents.post_update(incident_id, TECH_LEAD, "   ", Source.SLASH)
    assert "incident.update" not in [k for k, _ in await world.pending_kinds(incident_id)]
    done = await world.incidents.post_update(incident_id, TECH_LEAD, "fixed", Source.SLASH)
    assert done.last_update_at == world.clock.now()

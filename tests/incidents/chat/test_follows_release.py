"""Incidents follow the release: an abort is in the timeline and may resolve; acks are idempotent.

Everything is real but the met condition, which is reported the way monitoring's hook does
(the monitoring-to-incident path is tested in test_paging).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from bot.core.clock import FakeClock
from bot.incidents.domain.model import IncidentStatus, TimerKind
from tests.incidents.chat.harness import (
    add_cast,
    breach,
    dms,
    incidents,
    mentioning,
    pump,
    said,
)

if TYPE_CHECKING:
    from tests.support.world import World

MIN = timedelta(minutes=1)


async def test_an_abort_is_in_the_incident_timeline_and_resolving_it_stops_the_pages(
    world: World, clock: FakeClock
) -> None:
    """Tom aborts during an escalating incident; he is asked, resolves it; nobody is paged."""
    cast = add_cast(world)
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    clock.advance(16 * MIN)  # the Tech Lead is paged at +15 min: the incident escalates
    await pump(world)
    assert len(dms(world.tom)) == 1

    await world.tom.slash(world.thread(), "release abort", reason="bad build, abandon it")
    await pump(world)

    audit = await world.audit()
    noted = [e for e in audit if e.action == "incident_release_aborted"]
    assert len(noted) == 1
    assert noted[0].detail["detail"] == (
        "release nexis-gateway v1.2.3 aborted by tom: bad build, abandon it"
    )
    [asked] = [m for m in mentioning(world.thread(), world.tom) if "aborted" in m.content]
    assert "is still open and escalating" in asked.content
    shown = await world.tom.click(asked, label="Resolve")
    assert shown.modal is not None
    field = shown.modal["components"][0]["components"][0]["custom_id"]
    await world.tom.submit_modal(shown, {field: "release aborted, v1.2.2 keeps running"})
    await pump(world)
    assert (await incidents(world).get(incident_id)).status is IncidentStatus.RESOLVED

    clock.advance(2 * 60 * MIN)
    await pump(world)
    assert dms(cast.emma) == []  # the +30 min step never pages anyone
    assert len(dms(world.tom)) == 1


async def test_an_abort_left_unanswered_keeps_the_incident_open(
    world: World, clock: FakeClock
) -> None:
    """The question is a question: without Resolve the incident stays open, as chosen."""
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    await world.tom.slash(world.thread(), "release abort", reason="bad build, abandon it")
    await pump(world)
    assert (await incidents(world).get(incident_id)).status is IncidentStatus.TRIGGERED
    assert any(e.action == "incident_release_aborted" for e in await world.audit())


async def test_a_second_ack_a_minute_later_posts_nothing_and_keeps_the_ack_timeout(
    world: World, clock: FakeClock
) -> None:
    """Omar acks from his DM, then again a minute later: nothing posted, same timeout."""
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    [page] = dms(world.omar)
    await world.omar.user.click(page, label="Acknowledge")
    await pump(world)
    first = await incidents(world).get(incident_id)
    [timeout] = [t for t in first.pending_timers() if t.kind is TimerKind.ACK_TIMEOUT]
    posted = len(world.thread().history()) + len(world.channel.history())
    clock.advance(1 * MIN)

    again = await world.omar.user.click(page, label="Acknowledge")
    await pump(world)

    assert "already acknowledged" in said(again)
    assert len(world.thread().history()) + len(world.channel.history()) == posted
    stopped = [m for m in world.thread().history() if "escalation stopped" in m.content]
    assert len(stopped) == 1
    second = await incidents(world).get(incident_id)
    assert [t for t in second.pending_timers() if t.kind is TimerKind.ACK_TIMEOUT] == [timeout]
    assert second.events == first.events


async def test_an_overdue_reminder_says_overdue_by(world: World, clock: FakeClock) -> None:
    """A reminder delivered after its deadline (the bot was down) reads "overdue by"."""
    await world.start()
    await breach(world)
    await pump(world)
    clock.advance(timedelta(hours=6))  # down for hours: the reminders fire late, at start
    await pump(world)

    texts = [m.content for m in world.thread().history()]
    reminders = [t for t in texts if "⏰" in t]
    assert reminders, texts
    assert any("(overdue by " in t for t in reminders), reminders
    assert not any("-1 day" in t for t in texts)


async def test_the_abort_private_reply_names_open_incidents_and_resolves_them(
    world: World, clock: FakeClock
) -> None:
    """Tom's own answer to /release abort lists the escalating incident with its Resolve.

    He resolves it from there (the note modal is the incident's own): the incident is
    resolved, its timeline has the abort, and the +30 min step pages nobody.
    """
    cast = add_cast(world)
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    clock.advance(16 * MIN)  # the Tech Lead is paged at +15 min: the incident escalates
    await pump(world)

    aborted = await world.tom.slash(world.thread(), "release abort", reason="bad build, abandon")
    await pump(world)
    answer = aborted.response
    assert answer is not None and answer.ephemeral
    assert f"#{incident_id} P1" in answer.content and "still open and escalating" in answer.content
    shown = await world.tom.click(answer, label=f"Resolve #{incident_id}")
    assert shown.modal is not None
    field = shown.modal["components"][0]["components"][0]["custom_id"]
    await world.tom.submit_modal(shown, {field: "aborted; v1.2.2 keeps running"})
    await pump(world)

    assert (await incidents(world).get(incident_id)).status is IncidentStatus.RESOLVED
    _, events = await incidents(world).status(incident_id)
    actions = [e.action for e in events]
    assert actions.index("incident_release_aborted") < actions.index("incident_resolve")
    clock.advance(2 * 60 * MIN)
    await pump(world)
    assert dms(cast.emma) == []
    assert len(dms(world.tom)) == 1


async def test_an_abort_without_open_incidents_answers_as_before(world: World) -> None:
    """No incident: the private answer is the abort alone, without buttons."""
    await world.start()
    aborted = await world.tom.slash(world.thread(), "release abort", reason="bad build, abandon")
    answer = aborted.response
    assert answer is not None
    assert "Aborted nexis-gateway v1.2.3" in answer.content and "incident" not in answer.content
    assert not answer.components

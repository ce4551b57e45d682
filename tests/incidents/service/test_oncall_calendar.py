"""On-call from an iCal rotation, paged through the real escalation path on the real store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.incidents.calendar.source import CalendarSource
from tests.incidents.rotation import ALICE, CAROL, EXPECTED, PEOPLE, ROTATION_ICS
from tests.incidents.service.harness import EM, PRIMARY, World, make_settings, met, start_release

CONDITIONS = ("error_rate", "latency_p95", "availability", "error_budget")


def calendar_world(engine, clock, path: Path, refresh: str = "5m") -> World:
    """Return the incident world whose on-call primary comes from the calendar at `path`."""
    settings = make_settings(
        {"oncall": {"primary": "omar", "calendar": str(path), "calendar_people": PEOPLE,
                    "calendar_refresh": refresh}}
    )  # fmt: skip
    world = World(engine, clock, settings)
    oncall = settings.oncall
    assert oncall.calendar is not None
    world.oncall.calendar = CalendarSource(
        oncall.calendar, oncall.calendar_people, oncall.calendar_refresh
    )
    return world


async def page_now(world: World, release_id: int, condition: str) -> tuple[str, ...]:
    """Open an incident for `condition` now; deliver its pages; return who step 1 paged."""
    async with world.uow() as uow:
        incident = await world.incidents.open_or_update(
            uow, met(release_id, world.clock.now(), condition=condition)
        )
        await uow.commit()
    await world.pump()
    return incident.paged_user_ids


def calendar_warnings(world: World) -> list[dict[str, object]]:
    """Return the plain channel posts that warn about the calendar."""
    return [p for p in world.channel.got if "on-call calendar" in str(p.get("content", ""))]


@pytest.fixture
def ics(tmp_path: Path) -> Path:
    """Write the weekly rotation (with an EXDATE swap) to a file."""
    path = tmp_path / "rotation.ics"
    path.write_text(ROTATION_ICS)
    return path


async def test_person_paged_at_each_instant_is_the_one_the_calendar_names(
    engine, clock, ics, service
):
    """Page at four instants (weekly RRULEs, an EXDATE swap): each time the calendar's person."""
    world = calendar_world(engine, clock, ics)
    release_id = await start_release(service)
    for (at, expected), condition in zip(EXPECTED, CONDITIONS, strict=True):
        clock.set(at)
        assert await page_now(world, release_id, condition) == (expected,), at
        assert world.pages_to(expected), f"no page DM delivered to {expected} at {at}"
    assert world.pages_to(PRIMARY) == []  # the static primary was never paged
    assert calendar_warnings(world) == []


async def test_show_names_the_calendar_then_the_override(engine, clock, ics):
    """Say "calendar" for the rotation's person, and "override" once /oncall set wins."""
    world = calendar_world(engine, clock, ics)
    view = await world.oncall.show()
    assert (view.coverage[0].user_ids, view.coverage[0].source) == ((ALICE,), "calendar")
    assert view.calendar is not None and "On call: Alice" in view.calendar
    await world.oncall.set_override(EM, "777", "8h")
    view = await world.oncall.show()
    assert (view.coverage[0].user_ids, view.coverage[0].source) == (("777",), "override")


async def test_unreadable_calendar_pages_static_primary_and_warns_once_per_streak(
    engine, clock, ics, service
):
    """Fall back to oncall.primary with one channel warning per failure streak, not per page."""
    world = calendar_world(engine, clock, ics, refresh="1m")
    release_id = await start_release(service)
    ics.write_text("this is not a calendar")
    assert await page_now(world, release_id, "error_rate") == (PRIMARY,)
    clock.advance(timedelta(minutes=2))
    assert await page_now(world, release_id, "latency_p95") == (PRIMARY,)
    warnings = calendar_warnings(world)
    assert len(warnings) == 1 and "cannot be read" in warnings[0]["content"]
    assert (await world.oncall.show()).coverage[0].source == "static"
    ics.write_text(ROTATION_ICS)  # readable again: the streak ends
    clock.set(EXPECTED[2][0])
    assert await page_now(world, release_id, "availability") == (CAROL,)
    ics.unlink()  # a second streak warns again
    clock.advance(timedelta(minutes=2))
    assert await page_now(world, release_id, "error_budget") == (PRIMARY,)
    warnings = calendar_warnings(world)
    assert len(warnings) == 2 and "No such file" in warnings[1]["content"]


async def test_calendar_is_cached_until_the_refresh_is_due(engine, clock, ics, service):
    """Read the file once per refresh period, however many pages ask in between."""
    world = calendar_world(engine, clock, ics, refresh="5m")
    source = world.oncall.calendar
    assert isinstance(source, CalendarSource)
    release_id = await start_release(service)
    await page_now(world, release_id, "error_rate")
    await page_now(world, release_id, "latency_p95")
    await world.oncall.show()
    assert source.fetches == 1
    clock.advance(timedelta(minutes=5))
    await world.oncall.show()
    assert source.fetches == 2

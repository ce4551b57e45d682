"""On-call roster and overrides on real SQLite: who each step pages, audited overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.actors import Source
from bot.core.errors import InvalidInput, NotAuthorized
from bot.incidents.service.oncall import parse_until
from tests.incidents.service.harness import (
    EM,
    MANAGER,
    NOBODY,
    PRIMARY,
    TECH,
    FakeDirectory,
    World,
    make_settings,
    met,
    start_release,
)
from tests.support.actors import NOW


@pytest.fixture
def world(engine, clock) -> World:
    """Return the incident world with the default settings (on-call primary: omar = 100)."""
    return World(engine, clock, make_settings())


async def test_show_names_who_each_step_pages(world):
    """Say: step 0 the primary, then the secondary slot, Tech Lead, Engineering Manager."""
    view = await world.oncall.show()
    rows = [(row.target, row.user_ids) for row in view.coverage]
    assert rows == [
        ("oncall", (PRIMARY,)),
        ("secondary", ()),
        ("tech_lead", (TECH,)),
        ("eng_manager", (MANAGER,)),
    ]
    assert view.coverage[2].pages_at == timedelta(minutes=15)


async def test_override_changes_step_one_until_it_ends_and_is_audited(world, service):
    """Let /oncall set put someone else on step 1 until the given time; audit who did it."""
    override = await world.oncall.set_override(EM, "777", "8h", source=Source.SLASH)
    assert override.until == NOW + timedelta(hours=8)
    view = await world.oncall.show()
    assert view.coverage[0].user_ids == ("777",)
    assert view.coverage[0].override is not None and view.overrides[0].set_at == NOW
    async with world.uow() as uow:
        [event] = await uow.audit.all()
    assert (event.action, event.actor_id, event.detail["user"]) == ("oncall_set", EM.id, "<@777>")
    release_id = await start_release(service)
    async with world.uow() as uow:
        incident = await world.incidents.open_or_update(uow, met(release_id, NOW))
        await uow.commit()
    assert incident.paged_user_ids == ("777",)
    world.clock.advance(timedelta(hours=8))
    assert (await world.oncall.show()).coverage[0].user_ids == (PRIMARY,)


async def test_override_by_member_without_role_is_denied_and_audited(world):
    """Refuse /oncall set to a developer and record the denial."""
    with pytest.raises(NotAuthorized, match="needs one of these roles: eng_manager, tech_lead"):
        await world.oncall.set_override(NOBODY, "777", "1h")
    async with world.uow() as uow:
        [event] = await uow.audit.all()
    assert (event.action, event.detail["attempted"]) == ("denied", "oncall_set")
    assert (await world.oncall.show()).overrides == ()


async def test_no_primary_configured_pages_the_oncall_role(engine, clock):
    """Fall back to the holders of the on-call role when no primary is configured."""
    directory = FakeDirectory({"oncall": ["101", "102"]})
    world = World(engine, clock, make_settings({"oncall": {}}), directory)
    view = await world.oncall.show()
    assert view.coverage[0].user_ids == ("101", "102")


async def test_named_user_step_is_resolved_to_an_id(engine, clock):
    """Turn an escalation step "user:omar" into the member's id in the snapshot."""
    settings = make_settings(
        {"escalation": {"steps": [{"target": "user:omar", "after": "0m"},
                                  {"target": "user:ghost", "after": "5m"},
                                  {"target": "tech_lead", "after": "10m"}]}}
    )  # fmt: skip
    world = World(engine, clock, settings)
    steps = (await world.oncall.policy()).steps
    assert [(s.target, s.after) for s in steps] == [
        ("user:100", timedelta(0)),
        ("tech_lead", timedelta(minutes=10)),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8h", NOW + timedelta(hours=8)),
        ("1d2h", NOW + timedelta(hours=26)),
        ("2026-03-02 18:00", datetime(2026, 3, 2, 18, 0, tzinfo=UTC)),
        ("2026-03-03T07:30Z", datetime(2026, 3, 3, 7, 30, tzinfo=UTC)),
    ],
)
def test_parse_until_accepts_durations_and_utc_times(text, expected):
    """Read "until" as a duration from now or as a UTC date and time."""
    assert parse_until(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("tomorrow", "neither a duration"),
        ("2026-03-01 09:00", "not in the future"),
        ("2026-02-30 09:00", "not a real date"),
        ("40d", "more than 31 days"),
    ],
)
def test_parse_until_rejects_bad_input_naming_the_problem(text, message):
    """Refuse an unusable "until" with a message that says what is wrong."""
    with pytest.raises(InvalidInput, match=message):
        parse_until(text, NOW)

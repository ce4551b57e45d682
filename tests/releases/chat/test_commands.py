"""The other /release commands: status, list, waive, note, abort, and their defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.core.errors import InvalidInput, NotAuthorized, UnknownTarget
from bot.releases.domain.release import ItemState, ReleaseStatus

if TYPE_CHECKING:
    from tests.support.world import World


@pytest.fixture
async def started(world: World) -> World:
    """Return the world with release #1 started by Ann."""
    await world.start()
    return world


async def test_status_in_the_thread_shows_that_release_and_its_latest_activity(
    started: World,
) -> None:
    """Answer /release status in the room with the summary and the newest audit lines."""
    world = started
    item = (await world.release()).phases[0].all_items()[0]
    await world.choose(world.ann, "tick", item.id)

    result = await world.tom.slash(world.thread(), "release status")

    assert result.ephemeral and result.response is not None
    embed = result.response.embeds[0]
    assert embed.title == "Release nexis-gateway v1.2.3"
    assert f"Room: {world.thread().mention}" in (embed.description or "")
    activity = next(f for f in embed.fields if f.name == "Latest activity").value
    assert f"ann · tick {item.id}" in activity


async def test_status_outside_a_room_needs_a_release_when_several_are_active(
    started: World,
) -> None:
    """Use the only active release by default; ask to pick one when two are active."""
    world = started
    single = await world.ann.slash(world.channel, "release status")
    assert single.response is not None and single.response.embeds
    await world.start(version="v1.3.0")

    several = await world.ann.slash(world.channel, "release status")

    assert several.response is not None
    assert "several releases are active" in several.response.content
    assert world.errors() == [InvalidInput]
    picked = await world.ann.slash(world.channel, "release status", release="2")
    assert picked.response is not None
    assert picked.response.embeds[0].title == "Release nexis-gateway v1.3.0"


async def test_release_options_autocomplete_with_the_releases(started: World) -> None:
    """Offer releases as "#id service version — phase" while typing."""
    world = started
    choices = await world.ann.autocomplete(world.channel, "release status", "release", "nex")
    assert choices == [
        {"name": "#1 nexis-gateway v1.2.3 — Pre-Release Preparation (发布前准备)", "value": "1"}
    ]


async def test_list_shows_active_and_recent_releases(started: World) -> None:
    """List the active release for anyone, privately."""
    world = started
    result = await world.eve.slash(world.channel, "release list")
    assert result.ephemeral and result.response is not None
    active = result.response.embeds[0].fields[0]
    assert active.name == "Active"
    assert "#1 nexis-gateway v1.2.3" in active.value


async def test_waive_by_command_uses_the_item_autocomplete(started: World) -> None:
    """Waive an open item of the current phase picked from the autocomplete."""
    world = started
    choices = await world.tom.autocomplete(world.thread(), "release waive", "item", "E2E")
    assert [c["name"] for c in choices] == ["8. E2E 测试全部通过"]

    result = await world.tom.slash(
        world.thread(),
        "release waive",
        item=choices[0]["value"],
        reason="no E2E suite for this service yet",
    )

    assert result.response is not None and result.response.content.startswith("⏭ Waived")
    progress = (await world.release()).progress(choices[0]["value"])
    assert (progress.state, progress.reason) == (
        ItemState.WAIVED,
        "no E2E suite for this service yet",
    )


async def test_waive_by_command_names_a_wrong_item_and_a_missing_role(started: World) -> None:
    """Refuse an unknown item and a waiver by a developer, each with its reason."""
    world = started
    unknown = await world.tom.slash(world.thread(), "release waive", item="99", reason="because")
    denied = await world.eve.slash(world.thread(), "release waive", item="1", reason="because")

    assert unknown.response is not None and "there is no item '99'" in unknown.response.content
    assert denied.response is not None and denied.response.content.startswith("⛔")
    assert world.errors() == [UnknownTarget, NotAuthorized]
    assert (await world.audit())[-1].detail["attempted"] == "waive"


async def test_note_is_recorded_and_shown_in_the_thread(started: World) -> None:
    """Record a note in the timeline and post it in the release thread."""
    world = started
    result = await world.dora.slash(
        world.thread(), "release note", text="staging cluster is slow today"
    )

    assert result.response is not None and result.response.content == "📝 Noted."
    assert world.thread().history()[-1].content == "📝 dora: staging cluster is slow today"
    note = (await world.audit())[-1]
    assert (note.action, note.detail["text"]) == ("note", "staging cluster is slow today")


async def test_abort_stops_the_release_and_removes_its_controls(started: World) -> None:
    """Abort with a reason: status Aborted, announced, no controls left; Eve may not abort."""
    world = started
    denied = await world.eve.slash(world.thread(), "release abort", reason="I do not like it")
    assert denied.response is not None and denied.response.content.startswith("⛔")
    assert world.errors() == [NotAuthorized]

    await world.ann.slash(world.thread(), "release abort", reason="blocking bug found")

    release = await world.release()
    assert (release.status, release.close_reason) == (ReleaseStatus.ABORTED, "blocking bug found")
    assert world.thread().history()[-1].content == (
        "⏹ ann aborted nexis-gateway v1.2.3: blocking bug found"
    )
    assert all(not m.components for m in world.thread().history())
    summary = (await world.message("summary")).embeds[0].description or ""
    assert summary.startswith("**Aborted (blocking bug found)**")

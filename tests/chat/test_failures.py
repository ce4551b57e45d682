"""Injected Discord failures: logged, retried where that makes sense, the user told, no loss."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
import pytest

from bot.releases.chat.updater import Backoff
from bot.releases.domain.release import ItemState

if TYPE_CHECKING:
    from tests.support.world import World

# SimCord waits in real time for bot sleeps shorter than its 5 s settle deadline; retry
# delays of 10 s and more park on its virtual clock, which the tests then advance.
SLOW_BACKOFF = Backoff(base=10.0, factor=2.0, cap=60.0, attempts=8)


async def test_a_500_on_a_message_edit_is_logged_retried_and_loses_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Keep the tick when the summary edit fails twice; the retry shows it."""
    await world.start()
    summary = await world.message("summary")
    world.env.inject_error(
        "PATCH", f"/channels/{world.thread().id}/messages/{summary.id}", status=500, times=2
    )
    item = (await world.release()).phases[0].all_items()[0]
    updater = world.bot.room.updater
    updater.backoff = SLOW_BACKOFF

    result = await world.choose(world.ann, "tick", item.id)

    assert result.followups == []  # the person's action succeeded
    assert (await world.release()).progress(item.id).state is ItemState.DONE
    phase = await world.message("phase", "0:0")
    assert "✅ **1.**" in (phase.embeds[0].description or "")  # other messages are current
    assert updater.busy()  # waiting to retry the summary
    assert "— 0/22" in (await world.message("summary")).embeds[0].fields[0].value
    await world.env.advance_time(30)  # retries after 10 s and 20 s
    assert not updater.busy()
    assert updater.stats.failed_edits == 2
    progress = (await world.message("summary")).embeds[0].fields[0].value
    assert "Pre-Release Preparation (发布前准备) — 1/22" in progress
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum(f"editing message {summary.id} of release 1 failed" in w for w in warnings) == 2


async def test_edits_failing_for_long_are_given_up_then_redone_by_the_next_change(
    world: World, allow_logged_errors: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Give up after eight failed attempts (logged as an error); the next change heals it."""
    await world.start()
    summary = await world.message("summary")
    world.env.inject_error(
        "PATCH", f"/channels/{world.thread().id}/messages/{summary.id}", status=503, times=8
    )
    items = (await world.release()).phases[0].all_items()
    world.bot.room.updater.backoff = SLOW_BACKOFF

    await world.choose(world.ann, "tick", items[0].id)
    await world.env.advance_time(600)

    assert not world.bot.room.updater.busy()
    assert any(
        "giving up refreshing release 1" in r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR
    )
    await world.choose(world.ann, "tick", items[1].id)
    progress = (await world.message("summary")).embeds[0].fields[0].value
    assert "— 2/22" in progress


async def test_a_failure_opening_the_room_is_reported_and_repaired_by_status(
    world: World, allow_logged_errors: None
) -> None:
    """Tell Ann 'something went wrong (ref …)' when the thread fails; /release status fixes it."""
    world.env.inject_error("POST", f"/channels/{world.channel.id}/threads", status=500)

    result = await world.start()

    assert result.response is not None and result.ephemeral
    assert result.response.content.startswith("💥 Something went wrong; it was logged (ref ")
    assert world.errors() == [discord.HTTPException]
    assert len(await world.bot.releases.list()) == 1  # the release itself was stored
    assert world.channel.threads == []

    status = await world.ann.slash(world.channel, "release status", release="1")

    assert status.response is not None and status.ephemeral
    assert len(world.channel.threads) == 1
    assert len(await world.bot.releases.messages(1)) == 1 + 1 + 7 + 4


async def test_a_room_left_half_posted_is_completed_by_status(
    world: World, allow_logged_errors: None
) -> None:
    """Post the messages missing after a failure half-way through opening the room."""
    world.env.inject_error("POST", "/channels/*/messages", status=500, times=1)
    await world.start()
    assert world.errors() == [discord.HTTPException]
    assert len(await world.bot.releases.messages(1)) == 1  # only the thread was stored

    await world.ann.slash(world.thread(), "release status")

    kinds = sorted(r.kind for r in await world.bot.releases.messages(1))
    assert kinds == ["phase"] * 7 + ["signoff"] * 4 + ["summary", "thread"]


async def test_a_failing_interaction_answer_is_logged_with_a_reference(
    world: World, allow_logged_errors: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Answer 'logged (ref …)' when acknowledging a click fails, and log that reference."""
    await world.start()
    item = (await world.release()).phases[0].all_items()[0]
    world.env.inject_error("POST", "/interactions/*/callback", status=500, times=1)

    result = await world.choose(world.ann, "tick", item.id)

    assert result.response is not None and result.ephemeral
    ref = result.response.content.split("(ref ")[1].rstrip(").")
    assert any(f"interaction failed (ref {ref})" in r.getMessage() for r in caplog.records)
    assert (await world.release()).progress(item.id).state is ItemState.OPEN

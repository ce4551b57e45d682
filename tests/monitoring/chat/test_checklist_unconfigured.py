"""A checklist item whose condition the window does not watch is left for a person.

Probes are scripted fakes; everything else is real (see test_checklist_ticks).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.domain.release import ItemState
from tests.monitoring.chat.test_checklist_ticks import (
    ERROR_ITEM,
    P95_ITEM,
    item_id,
    minutes,
    script,
    simcord_bot,
    to_post_release,
)
from tests.support.world import make_settings

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["script", "simcord_bot"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings where P95 latency is switched off (not configured for the window)."""
    return make_settings(
        tmp_path / "releasebot.db",
        monitoring={"conditions": {"latency_p95": {"enabled": False}}},
    )


async def test_an_item_whose_condition_is_not_configured_is_left_for_a_person(
    world: World, clock: FakeClock
) -> None:
    """latency_p95 disabled: after a clean day only the error-rate item is the bot's."""
    await to_post_release(world, clock)
    await minutes(world, clock, 60)  # every 5-minute poll of the first hour
    await minutes(world, clock, 23 * 60, step=30)
    release = await world.release()
    assert release.progress(item_id(release, ERROR_ITEM)).actor_name == "releasebot"
    assert release.progress(item_id(release, P95_ITEM)).state is ItemState.OPEN

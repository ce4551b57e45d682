"""The bot ticks the Post-Release monitoring items from the window's own measurements.

The template maps items to conditions with `monitors=` (error_rate@1h: the first hour;
latency_p95: the whole window). Probes are scripted fakes (as in test_lifecycle); the bot,
SQLite, durable timers, the outbox, the event table and the release room are real.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ItemState, Release
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    from tests.support.world import World

ERROR_ITEM = "错误率监控（前 1 小时每 5 分钟检查）"
P95_ITEM = "性能监控（P95 延迟）"
PEOPLE_ITEMS = ("资源使用监控（CPU/Memory）", "业务指标监控")


@pytest.fixture
def script() -> Script:
    """Return the scripted probe answers (healthy until a test says otherwise)."""
    return Script()


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock, script: Script) -> ReleaseBot:
    """Return the bot with every extension and scripted probes."""
    return create_bot(settings, clock=clock, extensions=None, probes=ScriptedProbes(script))


async def pump(world: World, clock: FakeClock, minutes: float = 0) -> None:
    """Move time on and let the background fire timers and deliver messages."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


def item_id(release: Release, text: str) -> str:
    """Return the id of the item whose text is `text`."""
    return next(i.id for i in release.template.items() if i.text == text)


async def to_post_release(world: World, clock: FakeClock) -> None:
    """Take the release past the production deploy into Post-Release (nothing ticked there)."""
    await world.start()
    await world.run_whole_release_until("post-release")
    await pump(world, clock)


async def minutes(world: World, clock: FakeClock, total: int, step: int = 5) -> None:
    """Let `total` virtual minutes pass in steps of `step`, pumping after each."""
    for _ in range(total // step):
        await pump(world, clock, step)


async def test_the_bot_ticks_the_error_rate_item_after_a_clean_first_hour_and_p95_at_24h(
    world: World, clock: FakeClock, script: Script
) -> None:
    """A clean first hour ticks the error-rate item (12 polls); a clean day ticks P95."""
    await to_post_release(world, clock)
    release = await world.release()
    error_id, p95_id = item_id(release, ERROR_ITEM), item_id(release, P95_ITEM)
    opened = clock.now()

    await minutes(world, clock, 55)
    assert (await world.release()).progress(error_id).state is ItemState.OPEN  # not over yet
    await minutes(world, clock, 5)

    release = await world.release()
    ticked = release.progress(error_id)
    assert (ticked.state, ticked.actor_name) == (ItemState.DONE, "releasebot")
    start, end = opened + timedelta(minutes=5), opened + timedelta(hours=1)
    evidence = (
        f"Error rate: 12 polls {start:%H:%M}-{end:%H:%M} UTC all passed, max 0.1 % "
        "(breach if > 1 %)"
    )
    assert ticked.reason == evidence
    [audit] = [e for e in await world.audit() if e.action == "tick" and e.target == error_id]
    assert (audit.actor_name, audit.detail["polls"]) == ("releasebot", "12")
    assert audit.detail["evidence"] == evidence and audit.detail["end"] == end.isoformat()
    assert release.progress(p95_id).state is ItemState.OPEN  # the whole window: not yet
    phase = await world.phase_messages(release.phase_index)
    shown = "\n".join(e.description or "" for m in phase for e in m.embeds)
    assert f"{ERROR_ITEM} — releasebot" in shown and evidence in shown  # shown on the item

    await minutes(world, clock, 23 * 60, step=30)
    release = await world.release()
    p95 = release.progress(p95_id)
    assert (p95.state, p95.actor_name) == (ItemState.DONE, "releasebot")
    assert (p95.reason or "").startswith("P95 latency: 58 polls")
    assert "max 0 ms (breach if > 500 ms)" in (p95.reason or "")
    for text in PEOPLE_ITEMS:  # no condition measures them: left for a person
        assert release.progress(item_id(release, text)).state is ItemState.OPEN


async def test_a_breach_in_the_first_hour_leaves_the_item_for_a_person(
    world: World, clock: FakeClock, script: Script
) -> None:
    """One breaching poll at +20 min: the error-rate item stays open after the hour."""
    await to_post_release(world, clock)
    await minutes(world, clock, 15)
    script.values["error_rate"] = 0.03
    await minutes(world, clock, 5)
    script.values["error_rate"] = 0.001
    await minutes(world, clock, 50)
    release = await world.release()
    assert release.progress(item_id(release, ERROR_ITEM)).state is ItemState.OPEN
    assert not [
        e for e in await world.audit() if e.action == "tick" and e.actor_name == "releasebot"
    ]


async def test_an_item_a_person_waived_or_unticked_is_never_overwritten(
    world: World, clock: FakeClock
) -> None:
    """Ann waives P95 and unticks the bot's error-rate tick: the bot leaves both alone."""
    await to_post_release(world, clock)
    release = await world.release()
    error_id, p95_id = item_id(release, ERROR_ITEM), item_id(release, P95_ITEM)
    await world.waive(world.ann, p95_id, "dashboards down, checked by hand")
    await minutes(world, clock, 60)
    assert (await world.release()).progress(error_id).actor_name == "releasebot"
    # Reopening the bot's tick needs a reason, which the Untick select cannot ask for yet:
    # Ann reopens it through the release service, as herself.
    ann = Actor(str(world.ann.id), "ann", frozenset({"release_lead"}))
    await world.bot.releases.untick(1, error_id, ann, Source.SLASH, "spike seen in the logs")
    assert (await world.release()).progress(error_id).state is ItemState.OPEN

    await minutes(world, clock, 23 * 60, step=30)
    release = await world.release()
    assert release.progress(p95_id).state is ItemState.WAIVED
    assert release.progress(p95_id).actor_name == "ann"
    assert release.progress(error_id).state is ItemState.OPEN
    assert release.progress(error_id).actor_name == "ann"

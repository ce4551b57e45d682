"""Relative conditions through SimCord: two releases of one service run through Discord, the
second judged against the first at the same offset (scripted probes; the bot, SQLite, timers,
outbox and senders are real)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.runtime.background import Background
from tests.monitoring.chat.test_alerts import alerts_in, poll
from tests.monitoring.chat.test_alerts import script as script
from tests.monitoring.chat.test_alerts import simcord_bot as simcord_bot
from tests.monitoring.service.harness import Script
from tests.support.world import World, make_settings

RELATIVE = {
    "conditions": {
        "latency_p95": {"baseline": "previous_release", "max_increase": "10%", "breaches": 1},
        "error_rate": {"enabled": False},
        "availability": {"enabled": False},
    }
}


@pytest.fixture(autouse=True)
def _newest_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the world's one-thread helpers act on the newest release thread (two here)."""
    monkeypatch.setattr(World, "thread", lambda self: self.channel.threads[-1])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings whose P95 latency is relative to the previous release."""
    return make_settings(tmp_path / "releasebot.db", monitoring=RELATIVE)


async def _release(world: World, version: str, release_id: int) -> None:
    await world.start(version=version)
    await world.run_whole_release_until("post-release", release_id)
    await world.bot.handle(Background).pump()


async def _two_releases(world: World, clock: FakeClock, script: Script, new: float) -> None:
    """Watch v1.3.2 at 350 ms for 35 minutes, then v1.3.3: 350 ms to +30, `new` at +35."""
    script.values["latency_p95"] = 0.350
    await _release(world, "v1.3.2", 1)
    for _ in range(7):
        await poll(world, clock)
    await _release(world, "v1.3.3", 2)
    for _ in range(6):
        await poll(world, clock)
    script.values["latency_p95"] = new
    await poll(world, clock)


async def test_18_percent_slower_posts_an_alert_naming_both_values(world, clock, script):
    """412 ms vs v1.3.2's 350 ms at +35 min fires, saying the rule; the chart is a PNG."""
    await _two_releases(world, clock, script, 0.412)
    (alert,) = alerts_in(world.channel)
    opened = [m.content for m in world.thread().history() if m.content.startswith("📈")]
    assert "P95 latency (breach if > 500 ms, or +10% vs the previous release" in opened[0]
    assert "Rollback condition met: P95 latency" in alert.content
    assert "P95 latency 412 ms vs 350 ms for v1.3.2 at +35 min: +18 % > +10 %" in alert.content
    assert "v1.3.3" in alert.content
    fields = {f.name: f.value for f in alert.embeds[0].fields}
    assert fields["Threshold"] == "breach if > 385 ms"
    (attachment,) = alert.attachments
    assert Image.open(io.BytesIO(await attachment.read())).format == "PNG"


async def test_5_percent_slower_posts_nothing(world, clock, script):
    """368 ms vs 350 ms is within +10 %: no alert in the channel."""
    await _two_releases(world, clock, script, 0.3675)
    assert alerts_in(world.channel) == []


async def test_first_release_falls_back_to_the_absolute_threshold(world, clock, script):
    """No previous release: 412 ms passes the 500 ms threshold, 600 ms fires saying so."""
    script.values["latency_p95"] = 0.412
    await _release(world, "v1.3.2", 1)
    await poll(world, clock)
    assert alerts_in(world.channel) == []
    script.values["latency_p95"] = 0.600
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    assert "600 ms (breach if > 500 ms)" in alert.content
    assert "low confidence (2 points)" in alert.content
    fields = {f.name: f.value for f in alert.embeds[0].fields}
    assert "absolute threshold applies" in fields["Detail"]

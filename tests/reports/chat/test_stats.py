"""`/release stats`: the figures with the chart over time attached, a bad period refused, and
the figures still given when the chart cannot be drawn.

Real bot, SimCord, SQLite; scripted probes (no Prometheus needed). The chart is drawn by the
real child process; in the failure case that child really fails (matplotlib refuses the
backend named in MPLBACKEND, as with a broken install), nothing faked.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput
from bot.releases.chat.bot import ReleaseBot
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import World, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with the reports feature on."""
    return make_settings(
        tmp_path / "releasebot.db",
        reports={"enabled": True, "announcements_channel": "announcements"},
    )


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with every extension and healthy scripted probes."""
    return create_bot(settings, clock=clock, extensions=None, probes=ScriptedProbes(Script()))


def said(answer: object) -> str:
    """Return everything the bot answered to a slash command."""
    response = answer.response  # type: ignore[attr-defined]
    followups = answer.followups  # type: ignore[attr-defined]
    return " ".join([response.content if response else ""] + [f.content or "" for f in followups])


async def deployed(world: World, clock: FakeClock) -> None:
    """Take the seed release to production and 45 minutes into its window."""
    world.guild.create_text_channel("announcements")
    await world.start()
    await world.run_whole_release_until("post-release")
    clock.advance(timedelta(minutes=45))
    await world.bot.handle(Background).pump()


async def test_stats_replies_with_the_figures_and_the_chart_over_time(
    world: World, clock: FakeClock
) -> None:
    """`/release stats period:7d`: one deploy in the figures, a PNG of the 7 daily buckets."""
    await deployed(world, clock)
    answer = await world.tom.slash(world.thread(), "release stats", period="7d")
    assert answer.response is not None
    assert "1 production deploys" in said(answer) and "(7.0 days)" in said(answer)
    files = answer.response.attachments
    assert [f.filename for f in files] == [f"dora-all-{clock.now():%Y%m%d}.png"]
    data = await files[0].read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG" and 600 < image.width < 2000 and 400 < image.height < 1500
    assert world.errors() == []


async def test_stats_refuses_a_bad_period_naming_it(world: World, clock: FakeClock) -> None:
    """A bad period and days with period are answered privately with what is wrong."""
    await deployed(world, clock)
    for options, expected in (
        ({"period": "30"}, "period '30' needs a unit: e.g. 30d"),
        ({"period": "a while"}, "period 'a while' is not a duration like"),
        ({"period": "7d", "days": 7}, "either in days or as a duration"),
    ):
        answer = await world.tom.slash(world.thread(), "release stats", **options)
        assert expected in said(answer), said(answer)
        assert answer.response is None or not answer.response.attachments
    assert world.errors() == [InvalidInput] * 3


async def test_stats_still_answers_when_the_chart_cannot_be_drawn(
    world: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart process fails: the figures go out, saying the chart could not be drawn."""
    await deployed(world, clock)
    monkeypatch.setenv("MPLBACKEND", "no-such-backend")  # the child inherits the environment
    answer = await world.tom.slash(world.thread(), "release stats", days=30)
    assert "1 production deploys" in said(answer)
    assert "The chart over time could not be drawn" in said(answer)
    assert answer.response is not None and answer.response.attachments == []

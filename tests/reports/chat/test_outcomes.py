"""A rolled-back or aborted release: figures recorded, report posted, retrospective asked.

Real bot, SimCord, SQLite; scripted probes (no Prometheus needed). A rollback is marked
through the release service, as the rollout runner does once Kubernetes reports the undo
done (the Kubernetes path is tested in tests/rollouts).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import discord
import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput
from bot.releases.chat.bot import ReleaseBot
from bot.reports.service.use_cases import ReportService
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import World, make_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with an announcements channel (no email)."""
    return make_settings(
        tmp_path / "releasebot.db",
        reports={"enabled": True, "announcements_channel": "announcements"},
    )


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with every extension and healthy scripted probes."""
    return create_bot(settings, clock=clock, extensions=None, probes=ScriptedProbes(Script()))


async def pump(world: World, clock: FakeClock, minutes: float = 0) -> None:
    """Move time on and let the background fire timers and deliver messages."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


def footers(channel: object, text: str) -> list[discord.Message]:
    """Return the messages whose embed footer contains `text`."""
    return [m for m in channel.history() if m.embeds and text in (m.embeds[0].footer.text or "")]  # type: ignore[attr-defined]


async def test_a_rollback_records_the_figures_announces_and_posts_the_report(
    world: World, clock: FakeClock
) -> None:
    """Rolled back: outcome recorded with the rollback, announced, reported, lead asked."""
    announcements = world.guild.create_text_channel("announcements")
    await world.start()
    await world.run_whole_release_until("post-release")
    await pump(world, clock, 45)
    dora = Actor(str(world.dora.id), "dora", frozenset({"devops"}))
    await world.bot.releases.mark_rolled_back(1, dora, Source.SYSTEM, "undo to v1.2.2")
    await pump(world, clock, 1)

    recorded = await world.bot.handle(ReportService).recorded(1)
    assert recorded is not None
    assert recorded["outcome"] == "rolled_back" and recorded["rollbacks"] == 1
    assert recorded["failed"] is True  # a rolled-back production release counts as failed
    assert recorded["seconds_deploy_to_close"] == 45 * 60  # deployed, 45 min, rolled back

    rolled = [m for m in footers(announcements, "announcement of release #1")
              if "was rolled back" in (m.embeds[0].title or "")]  # fmt: skip
    assert len(rolled) == 1 and "Rollback: undo to v1.2.2" in (
        rolled[0].embeds[0].description or ""
    )
    report = footers(world.thread(), "report of release #1")
    assert len(report) == 1
    assert "Outcome: rolled back" in (report[0].embeds[0].description or "")
    assert any("past its monitoring" in (m.content or "") for m in world.thread().history())

    answer = await world.tom.slash(world.thread(), "release stats")
    said = " ".join(
        [answer.response.content if answer.response else ""]
        + [f.content or "" for f in answer.followups]
    )
    assert "1 production deploys" in said and "100.0% (1 of 1 failed: releases #1)" in said
    asked = await world.ann.slash(world.thread(), "release report")
    assert asked.response is not None and "being drawn" in (asked.response.content or "")
    await pump(world, clock, 1)
    assert len(footers(world.thread(), "report of release #1")) == 2  # posted again on request
    wrong = await world.tom.slash(world.thread(), "release stats", service="nope")
    said = " ".join(
        [wrong.response.content if wrong.response else ""]
        + [f.content or "" for f in wrong.followups]
    )
    assert "unknown service 'nope'" in said
    assert world.errors() == [InvalidInput]  # answered privately through the one reporter


async def test_an_abort_records_the_figures_and_only_the_lead_may_write_the_retrospective(
    world: World, clock: FakeClock
) -> None:
    """Aborted: recorded, reported; Eve's retrospective is refused and audited, Ann's kept."""
    world.guild.create_text_channel("announcements")
    await world.start()
    await world.run_whole_release_until("deployment")
    await pump(world, clock, 20)
    await world.ann.slash(world.thread(), "release abort", reason="wrong build shipped")
    await pump(world, clock, 1)
    recorded = await world.bot.handle(ReportService).recorded(1)
    assert recorded is not None and recorded["outcome"] == "aborted"
    assert recorded["failed"] is False  # never reached production: not a failed change
    assert recorded["seconds_total"] == 20 * 60  # started, 20 min, aborted

    prompt = next(m for m in world.thread().history() if "past its monitoring" in (m.content or ""))
    shown = await world.eve.click(prompt, label="Write the retrospective")
    assert shown.modal is not None
    ids = [row["components"][0]["custom_id"] for row in shown.modal["components"]]
    refused = await world.eve.submit_modal(shown, {ids[0]: "I was not there"})
    said = " ".join(
        [refused.response.content if refused.response else ""]
        + [f.content or "" for f in refused.followups]
    )
    assert "You may not submit the retrospective" in said and "Release Lead" in said
    denied = [
        e
        for e in await world.audit()
        if e.action == "denied" and e.detail.get("attempted") == "retrospective"
    ]
    assert len(denied) == 1 and denied[0].actor_name == "eve"

    shown = await world.ann.click(prompt, label="Write the retrospective")
    assert shown.modal is not None
    await world.ann.submit_modal(
        shown, {ids[0]: "", ids[1]: "the build pipeline picked the wrong tag", ids[2]: "pin tags"}
    )
    report = await world.bot.handle(ReportService).report(1)
    assert report.retrospective is not None and report.retrospective.actions == "pin tags"
    assert report.retrospective.author_name == "ann"

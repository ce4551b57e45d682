"""The bot behind a real Alertmanager 0.25 (Debian package): grouping, re-sends, severity.

Alertmanager runs on loopback and routes to the bot's own web server (aiohttp, bearer
token); the alerts are posted to Alertmanager's API v2 the way Prometheus posts them. The
bot runs in SimCord on a fake clock; Alertmanager on the wall clock with 100-300 ms group
timers. Nothing is faked but Discord (SimCord) and time on the bot's side.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.monitoring.domain import Verdict
from bot.releases.chat.bot import ReleaseBot
from tests.monitoring.chain.alertmanager_server import Alertmanager, alert, start_alertmanager
from tests.monitoring.chain.harness import (
    TOKEN,
    chain_settings,
    eventually,
    incidents,
    pump,
    webhook_url,
    window_state,
)
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    from tests.support.world import World


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with the web server on a loopback port and the webhook token."""
    return chain_settings(tmp_path)


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with its web server started (scripted probes: polls stay healthy)."""
    return create_bot(settings, clock=clock, probes=ScriptedProbes(Script()), start_web=True)


@pytest.fixture
def alertmanager_dir(tmp_path: Path) -> Path:
    """Return Alertmanager's working folder."""
    return tmp_path / "alertmanager"


async def running(world: World, workdir: Path) -> Alertmanager:
    """Run the release to post-release (window open) and start Alertmanager at the bot."""
    await world.start()
    await world.run_whole_release_until("post-release")
    return start_alertmanager(workdir, webhook_url(world), TOKEN)


async def test_a_group_of_two_recovers_only_when_both_resolved(
    world: World, alertmanager_dir: Path
) -> None:
    """api-0 and api-1 fire in one group; api-1 resolves: still met; api-0 resolves: recovered."""
    am = await running(world, alertmanager_dir)
    try:
        await am.post(
            alert("HighErrorRate", instance="api-0"), alert("HighErrorRate", instance="api-1")
        )
        state, _, firing = await eventually(
            lambda: window_state(world, "high_error_rate"),
            lambda s: len(s[2]) == 2,
            "both alerts of the group recorded by fingerprint",
        )
        assert state is not None and state.state.met
        await am.post(alert("HighErrorRate", instance="api-1", resolved=True))
        state, measured, firing = await eventually(
            lambda: window_state(world, "high_error_rate"),
            lambda s: len(s[2]) == 1,
            "api-1 resolved",
        )
        assert state is not None and state.state.met, "api-0 still fires: the condition stays met"
        assert [m.verdict for m in measured] == [Verdict.BREACH]
        # A few more group notifications (api-0 firing re-sent) change nothing.
        before = sum(firing.values())
        await eventually(
            lambda: window_state(world, "high_error_rate"),
            lambda s: sum(s[2].values()) >= before + 3,
            "re-sends of api-0",
        )
        state, measured, _ = await window_state(world, "high_error_rate")
        assert state is not None and state.state.met
        await am.post(alert("HighErrorRate", instance="api-0", resolved=True))
        state, measured, firing = await eventually(
            lambda: window_state(world, "high_error_rate"),
            lambda s: s[0] is not None and not s[0].state.met,
            "the condition recovered",
        )
        assert firing == {}
        assert [m.verdict for m in measured] == [Verdict.BREACH, Verdict.PASS]
        await pump(world)
        [incident] = await incidents(world)
        assert incident.condition == "high_error_rate"
    finally:
        am.stop()


async def test_twenty_resends_of_one_firing_alert_are_one_breach(
    world: World, alertmanager_dir: Path
) -> None:
    """Alertmanager re-sends the firing group every 300 ms: one breach, one incident, one page."""
    am = await running(world, alertmanager_dir)
    try:
        await am.post(alert("QueueBacklog", instance="worker-0"))
        _, measured, firing = await eventually(
            lambda: window_state(world, "queue_backlog"),
            lambda s: sum(s[2].values()) >= 20,
            "twenty pushes of the same alert",
            within=30,
        )
        assert len(firing) == 1
        print(f"pushes of fingerprint {next(iter(firing))}: {next(iter(firing.values()))}")
        assert [m.verdict for m in measured] == [Verdict.BREACH]
        state, _, _ = await window_state(world, "queue_backlog")
        assert state is not None and state.state.consecutive_breaches == 1
        await pump(world)
        assert [i.condition for i in await incidents(world)] == ["queue_backlog"]
    finally:
        am.stop()


async def test_severity_critical_opens_a_p1_and_warning_a_p2(
    world: World, alertmanager_dir: Path
) -> None:
    """The `severity` label through the default table: critical → P1, warning → P2."""
    am = await running(world, alertmanager_dir)
    try:
        await am.post(
            alert("DiskFull", severity="critical"), alert("SlowQueries", severity="warning")
        )
        found = await eventually(lambda: incidents(world), lambda i: len(i) == 2, "two incidents")
        assert {(i.condition, i.severity) for i in found} == {
            ("disk_full", "P1"),
            ("slow_queries", "P2"),
        }
    finally:
        am.stop()

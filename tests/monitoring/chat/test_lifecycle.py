"""The release keeps its 24 hours: sign-off and completion wait for the monitoring window.

Probes are scripted fakes (as in test_alerts); the bot, SQLite, durable timers, the outbox
and the senders are real. A rollback is marked through the release service, as the rollout
runner does once Kubernetes reports the undo done (the Kubernetes path is tested in
tests/rollouts).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.core.errors import GatesOpen, NotAuthorized
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ReleaseStatus
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    import discord

    from tests.support.world import World


@pytest.fixture
def script() -> Script:
    """Return the scripted probe answers (healthy until a test says otherwise)."""
    return Script()


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock, script: Script) -> ReleaseBot:
    """Return the bot with every extension and scripted probes."""
    return create_bot(settings, clock=clock, extensions=None, probes=ScriptedProbes(script))


def monitoring(world: World) -> MonitoringService:
    """Return the bot's monitoring service."""
    return world.bot.handle(MonitoringService)


async def pump(world: World, clock: FakeClock, minutes: float = 0) -> None:
    """Move time on and let the background fire timers and deliver messages."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


async def to_post_release(world: World, clock: FakeClock) -> str:
    """Take a release past the production deploy; tick Post-Release; return the closing time."""
    await world.start()
    await world.run_whole_release_until("post-release")
    await pump(world, clock)
    await world.tick_all(world.omar)
    view = await monitoring(world).window_view(release_id=1)
    return f"{view.record.window.closes_at:%Y-%m-%d %H:%M} UTC"


def alerts_in(channel) -> list[discord.Message]:
    """Return the alert messages of a channel."""
    return [
        m for m in channel.history() if m.embeds and "alert #" in (m.embeds[0].footer.text or "")
    ]


async def test_the_monitoring_signoff_and_the_final_advance_wait_for_the_window(
    world: World, clock: FakeClock
) -> None:
    """Refuse Omar's sign-off and Ann's final Advance, naming the window's closing time."""
    closes = await to_post_release(world, clock)
    gate = f"monitoring window open until {closes}"

    await world.sign(world.omar, "monitoring-complete")
    advanced = await world.advance(world.ann)

    release = await world.release()
    assert release.is_active and "monitoring-complete" not in release.signoffs
    refused = [e for e in await world.audit() if e.action == "denied"]
    assert gate in refused[-1].detail["reason"]
    dm = world.omar.user.dm_channel.history()  # type: ignore[attr-defined]
    assert "cannot be signed yet" in dm[-1].content and gate in dm[-1].content
    answer = advanced.followups[-1].content
    assert answer.startswith("🚧 Post-Release (发布后) cannot close yet")
    assert gate in answer and "Tech Lead or Engineering Manager" in answer


async def test_an_authorized_early_close_is_audited_and_lets_the_release_complete(
    world: World, clock: FakeClock
) -> None:
    """Dora (DevOps) may not close the window; Tom (Tech Lead) may, with a reason, audited."""
    await to_post_release(world, clock)
    await pump(world, clock, 90)

    denied = await world.dora.slash(
        world.thread(), "release monitor", action="close", reason="looks fine"
    )
    assert denied.response is not None and denied.response.content.startswith("⛔")
    assert world.errors() == [NotAuthorized]
    closed = await world.close_monitoring(world.tom, "traffic verified by hand after 90 min")
    await pump(world, clock)
    await world.sign(world.omar, "monitoring-complete")
    await world.advance(world.ann)

    assert closed is not None and closed.response is not None
    assert "Closed the monitoring window early" in closed.response.content
    audit = await world.audit()
    early = next(e for e in audit if e.action == "monitor_close_early")
    assert early.actor_name == "tom"
    assert early.detail["reason"] == "traffic verified by hand after 90 min"
    assert [e.detail.get("attempted") for e in audit if e.action == "denied"][-1] == (
        "close_monitoring"
    )
    summary = next(
        m
        for m in world.thread().history()
        if m.embeds and "Monitoring summary" in (m.embeds[0].title or "")
    )
    assert "closed early by tom" in summary.content
    assert "traffic verified by hand after 90 min" in (summary.embeds[0].description or "")
    assert (await world.release()).status is ReleaseStatus.COMPLETED


@pytest.mark.parametrize("finish", ["completed", "aborted", "rolled_back"])
async def test_no_poll_or_alert_runs_for_a_finished_release(
    world: World, clock: FakeClock, script: Script, finish: str
) -> None:
    """After Completed, Aborted or Rolled back: 24 virtual hours of a breach, nothing runs."""
    await to_post_release(world, clock)
    await pump(world, clock, 10)
    if finish == "completed":
        await world.close_monitoring(world.tom, "verified by hand")
        await world.sign(world.omar, "monitoring-complete")
        await world.advance(world.ann)
    elif finish == "aborted":
        await world.ann.slash(world.thread(), "release abort", reason="wrong build shipped")
    else:
        dora = Actor(str(world.dora.id), "dora", frozenset({"devops"}))
        await world.bot.releases.mark_rolled_back(1, dora, Source.SYSTEM, "undo to v1.2.2")
    await pump(world, clock)
    calls = len(script.calls)
    assert calls > 0  # the window did poll while the release was live
    script.values["error_rate"] = 0.2

    for _ in range(24 * 2):
        await pump(world, clock, 30)

    assert len(script.calls) == calls
    assert alerts_in(world.channel) == [] and alerts_in(world.thread()) == []
    assert (await monitoring(world).window_view(release_id=1)).record.is_open is False
    assert (await world.release()).status.value == finish


async def test_the_service_refuses_completion_while_the_window_is_open(
    world: World, clock: FakeClock
) -> None:
    """The hold lives in the transaction: a direct Advance call is refused the same way."""
    closes = await to_post_release(world, clock)
    ann = Actor(str(world.ann.id), "ann", frozenset({"release_lead"}))

    with pytest.raises(GatesOpen) as refused:
        await world.bot.releases.advance(1, ann, Source.SLASH, "post-release")

    assert f"monitoring window open until {closes}" in refused.value.message
    assert [h.gate for h in await world.bot.releases.holds(1)] == refused.value.open_gates[-1:]

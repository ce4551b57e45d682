"""Monitoring alerts through SimCord: posted once, edited in place, acknowledged, silenced.

Probes are scripted fakes here (the real-Prometheus path is tests/monitoring/test_end_to_end*);
everything else is real: the bot, SQLite, durable timers, the outbox and the senders.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput, NotAuthorized
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import ReleaseBot
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    import discord

    from tests.support.world import World

EXTENSIONS = None  # every chat extension: the other features' senders run too, as in production


@pytest.fixture
def script() -> Script:
    """Return the scripted probe answers (healthy until a test says otherwise)."""
    return Script()


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock, script: Script) -> ReleaseBot:
    """Return the bot with scripted probes and the monitoring extension loaded."""
    return create_bot(settings, clock=clock, extensions=EXTENSIONS, probes=ScriptedProbes(script))


def monitoring(world: World) -> MonitoringService:
    """Return the bot's monitoring service."""
    service = world.bot.handle(MonitoringService)
    assert isinstance(service, MonitoringService)
    return service


async def deploy(world: World) -> None:
    """Start a release through Discord and take it past the production deploy tick."""
    await world.start()
    await world.run_whole_release_until("post-release")
    await world.bot.handle(Background).pump()


async def poll(world: World, clock: FakeClock, minutes: float = 5) -> None:
    """Move time on and let the background fire timers and deliver messages."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


def alerts_in(channel) -> list[discord.Message]:
    """Return the alert messages (those with an alert embed) of a channel, oldest first."""
    return [
        m for m in channel.history() if m.embeds and "alert #" in (m.embeds[0].footer.text or "")
    ]


def said(result) -> str:
    """Return what the bot privately answered an interaction (edited reply or follow-up)."""
    if result.followups:
        return said(result)
    return result.response.content if result.response is not None else ""


def role_id(world: World, name: str) -> int:
    """Return the id of the guild role called `name`."""
    guild = world.bot.get_guild(world.guild.id)
    assert guild is not None
    return next(r.id for r in guild.roles if r.name == name)


async def test_window_opens_in_the_thread_at_the_production_deploy(world, clock):
    """Announce the window (schedule and conditions) in the release thread."""
    await deploy(world)
    texts = [m.content for m in world.thread().history()]
    opened = [t for t in texts if t.startswith("📈 Monitoring")]
    assert len(opened) == 1
    assert "every 5m until 1h, then every 30m until 1d" in opened[0]
    assert "Error rate (breach if > 1 %, 2 in a row, P1)" in opened[0]
    assert "P95 latency (breach if > 500 ms, 2 in a row, P1)" in opened[0]


async def test_breach_posts_one_alert_per_place_then_edits_it(world, clock, script):
    """Warn, then alert with the value and a PNG chart; later polls edit, never repost."""
    await deploy(world)
    script.values["error_rate"] = 0.052
    await poll(world, clock)
    (warning,) = alerts_in(world.channel)
    assert "First breach: Error rate" in warning.content
    assert f"<@&{role_id(world, 'On-call')}>" in warning.content  # mention in content
    (in_thread,) = alerts_in(world.thread())
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    assert alert.id == warning.id  # edited in place
    assert alerts_in(world.thread())[0].id == in_thread.id
    assert "Rollback condition met: Error rate" in alert.content
    assert "5.2 % (breach if > 1 %)" in alert.content  # a ratio reads as a percentage
    embed = alert.embeds[0]
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Measured value"] == "5.2 %"
    assert fields["Threshold"] == "breach if > 1 %"
    assert fields["Measured at"] == "2026-01-05 09:10:00 UTC"
    assert "http_requests_total" in fields["Query"]
    assert fields["Verdict history (last 2)"].count("BREACH") == 2
    (attachment,) = alert.attachments
    image = Image.open(io.BytesIO(await attachment.read()))
    assert image.format == "PNG"
    assert embed.image.url and attachment.filename in embed.image.url
    labels = [c.label for row in alert.components for c in row.children]
    assert labels == ["Acknowledge", "Roll back", "Silence for…"]
    custom_ids = [c.custom_id for row in alert.components for c in row.children]
    assert custom_ids[1] == "rb:rollback:1"
    pings = [m for m in world.channel.history() if "updated above" in m.content]
    assert len(pings) == 1 and f"<@&{role_id(world, 'DevOps')}>" in pings[0].content
    registry = world.bot.handle(MonitoringMetrics).registry
    sent = {
        k: registry.get_sample_value("releasebot_alerts_sent_total", {"kind": k})
        for k in ("first_breach", "met")
    }
    assert sent == {"first_breach": 2.0, "met": 2.0}  # alerts channel and thread each
    assert registry.get_sample_value("releasebot_polls_total") == 2.0
    await poll(world, clock)
    await poll(world, clock)
    assert len(alerts_in(world.channel)) == 1
    assert len([m for m in world.channel.history() if "updated above" in m.content]) == 1
    fields = {f.name: f.value for f in alerts_in(world.channel)[0].embeds[0].fields}
    assert fields["Verdict history (last 4)"].count("BREACH") == 4


async def test_healthy_polls_post_no_alert(world, clock):
    """Post nothing while every condition passes."""
    await deploy(world)
    for _ in range(3):
        await poll(world, clock)
    assert alerts_in(world.channel) == []
    assert alerts_in(world.thread()) == []


async def test_acknowledge_needs_the_role_and_updates_the_alert(world, clock, script):
    """Deny a developer privately (audited); an on-call ack edits the alert and disables it."""
    await deploy(world)
    script.values["availability"] = 0.5
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    denied = await world.eve.click(alert, label="Acknowledge")
    assert denied.ephemeral and "may not ack" in said(denied)
    assert (await world.audit())[-1].action == "denied"
    done = await world.omar.click(alert, label="Acknowledge")
    assert "You acknowledged alert #1" in said(done)
    await world.bot.handle(Background).pump()
    (alert,) = alerts_in(world.channel)
    assert "Acknowledged by omar" in alert.content
    ack = next(c for row in alert.components for c in row.children if c.label == "Acknowledged")
    assert ack.disabled
    assert "alert_ack" in [e.action for e in await world.audit()]


async def test_silence_asks_duration_and_reason_and_mutes_new_pings(world, clock, script):
    """Silence through the form (audited); a later escalation edits without a ping."""
    await deploy(world)
    script.values["error_rate"] = 0.05
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    refused = await world.eve.click(alert, label="Silence for…")
    assert refused.modal is None and "may not silence" in said(refused)
    form = await world.omar.click(alert, label="Silence for…")
    assert form.modal is not None
    fields = [row["components"][0]["custom_id"] for row in form.modal["components"]]
    result = await world.omar.submit_modal(form, {fields[0]: "2h", fields[1]: "known noisy canary"})
    assert "silenced until 2026-01-05 11:05:00 UTC" in said(result)
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    assert "Silenced until 2026-01-05 11:05:00 UTC by omar: known noisy canary" in alert.content
    assert "<@&" not in alert.content
    assert [m for m in world.channel.history() if "updated above" in m.content] == []
    silence = next(e for e in await world.audit() if e.action == "alert_silence")
    assert silence.detail["reason"] == "known noisy canary"


async def test_release_monitor_shows_and_controls_the_window(world, clock):
    """Show stages, next poll and polls done; pause/extend by On-call; deny a developer."""
    await deploy(world)
    await poll(world, clock)
    shown = await world.eve.slash(world.thread(), "release monitor")
    embed = shown.response.embeds[0]
    assert "every 5m until 1h, then every 30m until 1d" in embed.description
    assert "**Polls done:** 1" in embed.description
    assert "**Next poll:** 2026-01-05 09:10:00 UTC" in embed.description
    assert any("last PASS" in f.value for f in embed.fields)
    denied = await world.eve.slash(world.thread(), "release monitor", action="pause")
    assert "may not monitor" in denied.response.content
    paused = await world.omar.slash(world.thread(), "release monitor", action="pause")
    assert "Paused" in paused.response.content
    assert "paused since" in paused.response.embeds[0].description
    extended = await world.omar.slash(
        world.thread(), "release monitor", action="extend", extend_by="2h"
    )
    assert "closes 2026-01-06 11:00:00 UTC" in extended.response.content
    bad = await world.omar.slash(world.thread(), "release monitor", action="extend")
    assert "extend needs extend_by" in bad.response.content
    resumed = await world.omar.slash(world.thread(), "release monitor", action="resume")
    assert "next poll 2026-01-05 09:10:00 UTC" in resumed.response.content
    actions = [e.action for e in await world.audit()]
    assert {"monitor_pause", "monitor_extend", "monitor_resume"} <= set(actions)
    assert world.errors() == [NotAuthorized, InvalidInput]  # shown privately, as asserted


async def test_closing_summary_asks_the_oncall_sign_off(world, clock):
    """Post the summary when the window ends and mention the On-call role in content."""
    await deploy(world)
    await poll(world, clock, minutes=24 * 60 + 1)  # one coalesced poll, then the window ends
    closing = [m for m in world.thread().history() if "Post-release monitoring of" in m.content]
    assert len(closing) == 1
    assert f"<@&{role_id(world, 'On-call')}>" in closing[0].content
    assert "Post-release monitoring completed" in closing[0].content
    assert closing[0].embeds[0].title.startswith("Monitoring summary")


async def test_alert_buttons_work_after_a_restart(world, settings, clock, script):
    """Acknowledge an alert posted before the restart, on a new bot over the same database."""
    await deploy(world)
    script.values["availability"] = 0.0
    await poll(world, clock)
    old = world.bot
    await old.close()
    await world.env.restart_bot(
        create_bot(settings, clock=clock, extensions=EXTENSIONS, probes=ScriptedProbes(script))
    )
    (alert,) = alerts_in(world.channel)
    done = await world.omar.click(alert, label="Acknowledge")
    assert "You acknowledged alert #1" in said(done)
    await world.bot.handle(Background).pump()
    assert "Acknowledged by omar" in alerts_in(world.channel)[0].content

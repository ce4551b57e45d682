"""Delivery through SimCord: closed DMs fall back, SLA reminders, PagerDuty and the webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import discord
import httpx
import pytest

from bot.app import Database, create_bot
from bot.chat.client import default_intents
from bot.config import Settings, build_settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from tests.incidents.chat.harness import (
    EXTENSIONS,
    PAGING,
    add_cast,
    breach,
    buttons,
    dms,
    incident_bot,
    incidents,
    mentioning,
    pump,
    said,
)
from tests.support.loopback import Answer, LoopbackReceiver
from tests.support.world import make_settings

if TYPE_CHECKING:
    from tests.support.world import World

ROOT = Path(__file__).resolve().parents[3]
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


@pytest.fixture
async def receiver() -> AsyncIterator[LoopbackReceiver]:
    """Run a loopback HTTP receiver standing in for PagerDuty and the webhook."""
    server = LoopbackReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """Return the httpx client handed to the bot as a collaborator (loopback only)."""
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        yield client


@pytest.fixture
def settings(tmp_path: Path, receiver: LoopbackReceiver) -> Settings:
    """Return settings where the first step also pages PagerDuty and the webhook (loopback)."""
    return build_settings(
        {
            "services": [{"name": "nexis-gateway", "prometheus_url": "http://127.0.0.1:9090",
                          "kubernetes": {"production": {"namespace": "production",
                                                        "deployment": "nexis-gateway"}}}],
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"},
            "checklist": {"path": str(ROOT / "config/checklists/release.md")},
            **PAGING,
            "paging": {"pagerduty": {"enabled": True, "url": receiver.url("/v2/enqueue")},
                       "webhook": {"enabled": True, "url": receiver.url("/hook")}},
            "escalation": {"steps": [
                {"target": "oncall", "after": "0m", "pagerduty": True, "webhook": True},
                {"target": "tech_lead", "after": "15m"},
                {"target": "eng_manager", "after": "30m"},
            ]},
        },
        env={"RELEASEBOT_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
             "RELEASEBOT_WEBHOOK_SECRET": "whsec"},
    )  # fmt: skip


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock, http: httpx.AsyncClient) -> ReleaseBot:
    """Return the bot, its paging adapters sharing the given httpx client."""
    return incident_bot(settings, clock, http_client=http)


async def test_closed_dms_fall_back_to_a_channel_mention_and_are_recorded(world: World) -> None:
    """Turn a 50007 on Omar's DM into a mention in the release thread, noted in the timeline."""
    await world.start()
    dm_channel = world.omar.user.dm_channel
    world.env.inject_error(
        "POST", f"/channels/{dm_channel.id}/messages", status=403, code=50007,
        message="Cannot send messages to this user",
    )  # fmt: skip
    incident_id = await breach(world)
    await pump(world)
    assert dms(world.omar) == []
    fallback = [m for m in mentioning(world.thread(), world.omar) if "could not DM" in m.content]
    assert len(fallback) == 1 and "DMs are closed" in fallback[0].content
    _, events = await incidents(world).status(incident_id)
    [note] = [e for e in events if e.action == "incident_dm_fallback"]
    assert world.omar.mention in note.detail["detail"]
    dead = await world.bot.handle(Database).outbox.messages(kind="dm")  # type: ignore[union-attr]
    assert [(m.status, "fell back to channel" in (error or "")) for m, error in dead] == [
        ("dead", True)
    ]


async def test_pagerduty_and_webhook_get_the_page_once_after_a_500(
    world: World, receiver: LoopbackReceiver, clock: FakeClock
) -> None:
    """Send the first page to PagerDuty and the webhook, retrying a 500 once, delivered once."""
    receiver.script("/v2/enqueue", Answer(500, "upstream down"))
    await world.start()
    incident_id = await breach(world)
    await pump(world)
    clock.advance(timedelta(seconds=5))
    await pump(world)
    clock.advance(timedelta(minutes=5))
    await pump(world)
    triggers = [r.json() for r in receiver.at("/v2/enqueue")]
    assert len(triggers) == 2 and triggers[0] == triggers[1]
    assert triggers[0]["dedup_key"] == f"releasebot-1-{incident_id}"
    assert triggers[0]["routing_key"] == ROUTING_KEY
    assert triggers[0]["payload"]["summary"].startswith("[P1] Error rate 0.034")
    [hook] = receiver.at("/hook")
    assert hook.json()["event"] == "incident.triggered"
    assert hook.json()["step"]["recipients"] == [str(world.omar.id)]
    clock.advance(timedelta(minutes=15))
    await pump(world)
    assert len(receiver.at("/v2/enqueue")) == 2  # later steps do not page PagerDuty here


async def test_the_page_dm_and_incident_message_read_the_ratio_as_the_alert_does(
    world: World, receiver: LoopbackReceiver
) -> None:
    """An error ratio of 0.051 reads "5.1 % (breach if > 1 %)" in every page, as in the alert.

    PagerDuty's summary, the webhook's incident title, Omar's DM and the incident message in
    the thread: no raw "0.051 (threshold 0.01)" anywhere.
    """
    await world.start()
    await breach(world, value=0.051, unit="ratio")
    await pump(world)
    shown = "Error rate 5.1 % (breach if > 1 %)"
    [trigger] = [r.json() for r in receiver.at("/v2/enqueue")]
    assert trigger["payload"]["summary"].startswith(f"[P1] {shown}")
    [hook] = receiver.at("/hook")
    assert hook.json()["incident"]["title"] == shown
    [dm] = dms(world.omar)
    assert shown in dm.content
    posted = [m for m in world.thread().history() if m.author.bot and m.embeds]
    titles = [e.title or "" for m in posted for e in m.embeds if "Incident #" in (e.title or "")]
    assert titles and all(shown in t for t in titles), titles
    texts = [trigger["payload"]["summary"], hook.json()["incident"]["title"], dm.content, *titles]
    assert not any("threshold 0.01" in t or "0.051" in t for t in texts), texts
    _, events = await incidents(world).status(1)
    [opened] = [e for e in events if e.action == "incident_open"]
    assert "(value 5.1 %)" in opened.detail["detail"]


async def test_p0_reminders_before_and_at_the_response_deadline(world: World) -> None:
    """Remind @everyone and Stakeholders at +10 min and say the response SLA broke at +15."""
    cast = add_cast(world)
    await world.start()
    await breach(world, condition="availability", value=0.5)
    await pump(world)
    world.bot.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    await pump(world)
    reminders = [m for m in world.thread().history() if "Response deadline" in (m.content or "")]
    assert len(reminders) == 1
    assert "@everyone" in reminders[0].content
    assert cast.stakeholders.mention in reminders[0].content
    assert "2026-01-05 09:15 UTC" in reminders[0].content
    world.bot.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await pump(world)
    breached = [m for m in world.thread().history() if "Response SLA breached" in m.content]
    assert len(breached) == 1


async def test_resolved_after_five_hours_is_a_resolution_sla_breach(world: World) -> None:
    """Resolve a P0 with the button and note after 5 h: recorded as a resolution-SLA breach."""
    await world.start()
    incident_id = await breach(world, condition="availability", value=0.5)
    await pump(world)
    world.bot.clock.advance(timedelta(hours=5))  # type: ignore[attr-defined]
    [page] = [m for m in mentioning(world.thread(), world.omar) if m.embeds]
    shown = await world.omar.click(page, label="Resolve")
    assert shown.modal is not None
    field = shown.modal["components"][0]["components"][0]["custom_id"]
    result = await world.omar.submit_modal(shown, {field: "scaled the deployment back up"})
    assert "outside its resolution SLA" in said(result)
    incident = await incidents(world).get(incident_id)
    assert incident.resolution_sla_breached is True
    assert incident.resolution_note == "scaled the deployment back up"
    await pump(world)
    refreshed = next(m for m in mentioning(world.thread(), world.omar) if m.embeds)
    shown = {f.name: f.value for f in refreshed.embeds[0].fields}
    assert shown["Status"].startswith(f"Resolved by {world.omar.mention}")
    assert "⛔ breached" in shown["SLA (P0)"]
    assert all(button.disabled for button in buttons(refreshed).values())


def intents_without_members() -> discord.Intents:
    """Return the bot's default intents with the privileged members intent switched off."""
    intents = default_intents()
    intents.members = False
    return intents


async def test_without_the_members_intent_a_role_page_mentions_the_role(
    world: World, settings: Settings, clock: FakeClock
) -> None:
    """Mention the Tech Lead role in the channel when the bot cannot list its holders."""
    await world.bot.close()
    await world.env.restart_bot(
        create_bot(make_settings(Path(str(settings.database.url).split("///")[1]), **PAGING),
                   clock=clock, extensions=EXTENSIONS, intents=intents_without_members())
    )  # fmt: skip
    await world.start()
    await breach(world)
    clock.advance(timedelta(minutes=15))
    await pump(world)
    tech_role = next(r for r in world.guild.roles.values() if r.name == "Tech Lead")
    pages = [m for m in world.thread().history() if "Escalating" in (m.content or "")]
    assert len(pages) == 1
    assert tech_role.mention in pages[0].content
    assert "nobody holds this role" in pages[0].content
    assert dms(world.tom) == []

"""Numbers people read on incidents: the condition's unit in the incident message, and a
condition only Alertmanager knows paged as "firing (from Alertmanager)", never "> 0"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import httpx
import pytest

from bot.config import Settings, build_settings
from bot.core.clock import FakeClock
from bot.monitoring.web import WebServer
from bot.releases.chat.bot import ReleaseBot
from tests.incidents.chat.harness import (
    PAGING,
    breach,
    dms,
    incident_bot,
    incidents,
    mentioning,
    pump,
)
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import ROOT, SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

TOKEN = "push-token"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with on-call Omar, the web server on a free loopback port and a token."""
    raw: dict[str, Any] = {
        "services": [SERVICE],
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"},
        "checklist": {"path": str(ROOT / "config/checklists/release.md")},
        "web": {"host": "127.0.0.1", "port": 0},
        **PAGING,
    }
    return build_settings(raw, env={"RELEASEBOT_ALERTMANAGER_TOKEN": TOKEN})


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the whole bot (every extension) with its web server; scripted polls stay healthy.

    Only the metrics source of the polls is scripted (no Prometheus is needed to test what an
    Alertmanager push pages); the push itself goes over HTTP into the bot's real web server.
    """
    return incident_bot(
        settings, clock, extensions=None, probes=ScriptedProbes(Script()), start_web=True
    )


def incident_embeds(world: World) -> list[discord.Embed]:
    """Return the incident embeds the bot posted in the release thread."""
    return [
        e
        for m in world.thread().history()
        if m.author.bot
        for e in m.embeds
        if "Incident #" in (e.title or "")
    ]


def seen(world: World) -> list[str]:
    """Return the "Seen" field of every incident embed in the thread."""
    return [f.value for e in incident_embeds(world) for f in e.fields if f.name == "Seen"]


async def test_the_incident_message_reads_a_ratio_in_percent_and_seconds_in_ms(
    world: World,
) -> None:
    """An error ratio of 0.051 is "latest value 5.1 %", a P95 of 0.412 s "latest value 412 ms".

    The unit comes with the met condition and is stored on the incident, so a repeat (and a
    refreshed message after a restart) still reads it; no raw "0.051" or "0.412" is shown.
    """
    await world.start()
    await breach(world, value=0.051, unit="ratio")
    await pump(world)
    assert seen(world) and all(s == "1 time(s) · latest value 5.1 %" for s in seen(world))
    await breach(world, value=0.063, unit="ratio")  # the same condition again: a retrigger
    await pump(world)
    assert seen(world)[-1] == "2 time(s) · latest value 6.3 %", seen(world)
    await breach(world, condition="latency_p95", value=0.412, unit="seconds")
    await pump(world)
    latency = [
        f.value
        for e in incident_embeds(world)
        if "Incident #2" in (e.title or "")
        for f in e.fields
        if f.name == "Seen"
    ]
    assert latency and all(v == "1 time(s) · latest value 412 ms" for v in latency), latency
    assert (await incidents(world).get(2)).unit == "seconds"
    assert not any("0.051" in s or "0.063" in s or "0.412" in s for s in seen(world))


def pushed(value: str | None, condition: str = "") -> bytes:
    """Return an Alertmanager v4 body for an alert (no configured condition unless named)."""
    labels = {"alertname": "DiskPressure", "service": "nexis-gateway", "severity": "P1"}
    if condition:
        labels["releasebot_condition"] = condition
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {} if value is None else {"value": value},
        "startsAt": "2026-01-05T09:01:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "d15c",
    }
    body = {"version": "4", "groupKey": "{}", "status": "firing", "receiver": "releasebot",
            "alerts": [alert]}  # fmt: skip
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("value", "condition", "title"),
    [
        ("3", "", "disk pressure 3, firing (from Alertmanager)"),
        (None, "", "disk pressure firing (from Alertmanager)"),
        (None, "error_rate", "Error rate firing (from Alertmanager)"),
    ],
)
async def test_an_alertmanager_only_condition_pages_as_firing_not_threshold_0(
    world: World, value: str | None, condition: str, title: str
) -> None:
    """A pushed alert no configured condition matches has no threshold: its firing is the
    breach. The page in the thread, Omar's DM and the incident message say "firing (from
    Alertmanager)" and never "threshold 0" or "breach if > 0" (the stand-in rule it carries);
    so does a configured condition pushed without a value (nothing to compare).
    """
    await world.start()
    await world.run_whole_release_until("post-release")
    server = world.bot.handle(WebServer)
    assert isinstance(server, WebServer)
    async with httpx.AsyncClient(base_url=server.url, timeout=10, trust_env=False) as client:
        answer = await client.post(
            "/alertmanager",
            content=pushed(value, condition),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    await pump(world)
    [incident] = await incidents(world).list_incidents(open_only=True)
    assert (incident.condition, incident.title) == (condition or "disk_pressure", title)
    pages = [m.content for m in mentioning(world.thread(), world.omar) if "Paging" in m.content]
    [dm] = [m.content for m in dms(world.omar) if "You are paged" in m.content]
    embeds = [e.title or "" for e in incident_embeds(world)]
    assert pages and embeds
    texts = [*pages, dm, *embeds, *seen(world)]
    assert all(title in t for t in [*pages, dm, *embeds]), texts
    assert not any("threshold 0" in t or "> 0" in t or "no data" in t for t in texts), texts

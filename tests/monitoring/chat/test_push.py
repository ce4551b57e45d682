"""The Alertmanager push path through the running bot: its own web server, then Discord."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bot.app import create_bot
from bot.config import Settings, build_settings
from bot.core.clock import FakeClock
from bot.monitoring.web import WebServer
from bot.releases.chat.bot import ReleaseBot
from bot.runtime.background import Background
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import ROOT, SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

TOKEN = "push-token"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with the web server on a random loopback port and a webhook token."""
    raw: dict[str, Any] = {
        "services": [SERVICE],
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"},
        "checklist": {"path": str(ROOT / "config/checklists/release.md")},
        "web": {"host": "127.0.0.1", "port": 0},
    }
    return build_settings(raw, env={"RELEASEBOT_ALERTMANAGER_TOKEN": TOKEN})


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with its web server started (scripted probes: polls stay healthy)."""
    return create_bot(settings, clock=clock, probes=ScriptedProbes(Script()), start_web=True)


def webhook(status: str = "firing") -> bytes:
    """Return an Alertmanager v4 body for the service's error rate."""
    alert = {
        "status": status,
        "labels": {
            "alertname": "HighErrorRate",
            "service": "nexis-gateway",
            "releasebot_condition": "error_rate",
        },
        "annotations": {"value": "0.083"},
        "startsAt": "2026-01-05T09:01:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "f00d",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}",
            "status": status,
            "receiver": "releasebot",
            "alerts": [alert],
        }
    ).encode()


def alerts_in(channel: Any) -> list[Any]:
    """Return the alert messages of a channel."""
    return [
        m for m in channel.history() if m.embeds and "alert #" in (m.embeds[0].footer.text or "")
    ]


async def test_pushed_alert_is_posted_at_once_and_a_bad_token_changes_nothing(world: World):
    """Post the alert right after an authenticated push; a wrong token gets 401 and no alert."""
    await world.start()
    await world.run_whole_release_until("post-release")
    server = world.bot.handle(WebServer)
    assert isinstance(server, WebServer) and server.port  # bound to a random free port
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        refused = await client.post(
            "/alertmanager", content=webhook(), headers={"Authorization": "Bearer nope"}
        )
        assert refused.status_code == 401
        await world.bot.handle(Background).pump()
        assert alerts_in(world.channel) == []
        accepted = await client.post(
            "/alertmanager", content=webhook(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert accepted.status_code == 200
        await world.bot.handle(Background).pump()  # delivery only: no time passed, no poll ran
        (alert,) = alerts_in(world.channel)
        assert "Rollback condition met: Error rate" in alert.content
        fields = {f.name: f.value for f in alert.embeds[0].fields}
        assert (fields["Measured value"], fields["Source"]) == ("8.3 %", "alertmanager")
        resolved = await client.post(
            "/alertmanager",
            content=webhook("resolved"),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resolved.status_code == 200
        await world.bot.handle(Background).pump()
        assert "Recovered: Error rate" in alerts_in(world.channel)[0].content
        health = await client.get("/healthz")
        assert health.json()["open_windows"] == 1

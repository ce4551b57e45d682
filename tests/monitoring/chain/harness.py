"""Shared pieces of the real-Alertmanager tests: settings, the bot's state, waiting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from bot.app import Database
from bot.config import Settings, build_settings
from bot.incidents.domain.lifecycle import Incident
from bot.incidents.service.use_cases import IncidentService
from bot.monitoring.domain import Measurement
from bot.monitoring.domain.records import StoredCondition
from bot.monitoring.service.config import monitoring_repo
from bot.monitoring.web import WebServer
from bot.runtime.background import Background
from tests.support.world import ROOT, SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

TOKEN = "am-chain-token"
T = TypeVar("T")


def chain_settings(tmp_path: Path, **extra: Any) -> Settings:
    """Return settings with the web server on a free loopback port and the webhook token."""
    raw: dict[str, Any] = {
        "services": [SERVICE],
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'releasebot.db'}"},
        "checklist": {"path": str(ROOT / "config/checklists/release.md")},
        "web": {"host": "127.0.0.1", "port": 0},
        "oncall": {"primary": "omar"},
        **extra,
    }
    return build_settings(raw, env={"RELEASEBOT_ALERTMANAGER_TOKEN": TOKEN})


def webhook_url(world: World) -> str:
    """Return the bot's Alertmanager receiver URL."""
    server = world.bot.handle(WebServer)
    assert isinstance(server, WebServer) and server.port
    return f"{server.url}/alertmanager"


async def pump(world: World) -> None:
    """Deliver what the bot enqueued (no fake time passes)."""
    await world.bot.handle(Background).pump()


async def window_state(
    world: World, condition: str
) -> tuple[StoredCondition | None, list[Measurement], dict[str, int]]:
    """Return the condition's tracker state, its measurements and its firing fingerprints."""
    database = world.bot.handle(Database)
    async with database() as uow:
        repo = monitoring_repo(uow)
        window = (await repo.open_windows())[0]
        states = await repo.conditions(window.key)
        measured = list(await repo.measurements(window.key, condition))
        firing = await repo.active_fingerprints(window.key, condition)
    return states.get(condition), measured, firing


async def incidents(world: World) -> list[Incident]:
    """Return every incident, oldest first."""
    service = world.bot.handle(IncidentService)
    assert isinstance(service, IncidentService)
    return list(reversed(await service.list_incidents()))


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, within: float = 20
) -> T:
    """Await `probe()` until `done` holds (real time: Alertmanager runs on the wall clock)."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"never saw {what}; last: {value!r}")
        await asyncio.sleep(0.1)

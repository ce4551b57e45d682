"""`releasebot demo --serve`: the demo's simulated server, alive, in SimCord's browser preview.

The same sandboxes and the same real bot as `releasebot demo`; instead of playing the script,
the team gets a release room ready (v1.4.0 started by Ann, its first phase ticked and signed,
waiting for Advance) and SimCord's local preview serves the room's thread on loopback. In the
page a newcomer picks any of the demo's people as the viewer and types `/release …` commands,
clicks Tick… and Advance, reacts ✅ on a sign-off, or presses Roll back once an alert is up.
Virtual time follows wall time (one second per second) so queued messages are delivered.

Needs the optional dependency group `demo-ui` (`simcord[preview]`):
`uv sync --group demo-ui`. It is not part of the production image.
"""

from __future__ import annotations

import asyncio
import importlib.util
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.demo.mission import RELEASE, Mission, launch
from bot.runtime.background import Background

PREVIEW_MODULES = ("aiohttp", "markdown_it", "linkify_it", "regex", "PIL")
Ready = Callable[[Mission, str], Awaitable[None]]


def missing_preview() -> list[str]:
    """Return the modules SimCord's preview needs that are not installed."""
    return [m for m in PREVIEW_MODULES if importlib.util.find_spec(m) is None]


async def prepare(mission: Mission) -> None:
    """Open a release room with its first phase done, so one click on Advance moves it on."""
    team = mission.team
    await team.start("Ann", RELEASE, window=None)
    await team.tick_phase("Ann")
    await team.sign("Ann", "pre-release")
    await mission.settle()


async def serve_demo(
    out: TextIO,
    *,
    config_path: str | None = None,
    port: int = 0,
    ready: Ready | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve the demo's release room in the browser until `stop` is set (or Ctrl-C).

    `ready(mission, url)` is awaited once the page is served (tests drive the browser there).
    """
    missing = missing_preview()
    if missing:
        print(
            f"releasebot demo --serve needs SimCord's preview ({', '.join(missing)} missing): "
            "run `uv sync --group demo-ui` (or `pip install 'simcord[preview]'`)",
            file=out,
        )
        return 2
    charts = Path(tempfile.mkdtemp(prefix="releasebot-demo-charts-"))
    stop = stop or asyncio.Event()
    async with launch(out, config_path=config_path, failing=True, charts=charts) as mission:
        await prepare(mission)
        team = mission.team
        viewers = list(team.people.values())
        preview = team.env.preview(
            team.thread(),
            viewers=viewers,
            layout="channel",
            width=1280,
            height=900,
            port=port or None,
        )
        async with preview:
            print(
                f"\nrelease room #{team.thread().name} is served at:\n  {preview.url}\n"
                f"open it in a browser; choose who you are among "
                f"{', '.join(team.people)}; Ctrl-C to stop",
                file=out,
                flush=True,
            )
            ticker = asyncio.create_task(_follow_wall_time(mission, stop))
            try:
                if ready is not None:
                    await ready(mission, preview.url)
                    stop.set()
                await stop.wait()
            finally:
                stop.set()
                await ticker
    return 0


async def _follow_wall_time(mission: Mission, stop: asyncio.Event) -> None:
    background = mission.team.bot.handle(Background)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            mission.clock.advance(1.0)
            await background.pump()


__all__ = ["missing_preview", "prepare", "serve_demo"]

"""Benchmark the release room under bursts of clicks, through SimCord (prints figures only).

Two scenarios, each with the real bot on a temporary SQLite file:

1. one release, N members each ticking a different item of the current phase at once;
2. 50 releases, one member per release ticking an item at once, for several rounds.

SimCord's actors run one at a time, so simultaneous clicks are produced the way Discord
delivers them: the interactions' gateway events are all emitted first (with SimCord's own
payload builder) and the bot then handles them concurrently. SimCord answers REST calls
at once, so each scenario runs again with a simulated edit latency (default 100 ms), as
Discord's would be. Figures: p50/p99 interaction
handling time (from the control's callback starting to it returning: acknowledged, queued
behind earlier changes of the same release, committed), time to acknowledge (the defer
Discord needs within 3 s), message edits per click, retries/refusals, and peak Python memory
(tracemalloc). Nothing is asserted about time.

Run: .venv/bin/python -m bench.bench_interactions [--members 5 11 22] [--releases 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import simcord
from simcord import Env, MemberActor
from simcord import interactions as sim_interactions
from simcord.backend import serializers
from simcord.enums import ComponentType, InteractionType

from bot.app import create_bot
from bot.chat import controls, failures
from bot.config import Settings, build_settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ["bot.releases.chat.commands", "bot.releases.chat.signoffs"]


@dataclass
class Timings:
    """Callback and acknowledgement durations (seconds); refusals and failures shown."""

    samples: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)
    refusals: int = 0
    failures: int = 0


def _settings(db: Path) -> Settings:
    service = {
        "name": "nexis-gateway",
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {"production": {"namespace": "production", "deployment": "nexis-gateway"}},
    }
    return build_settings(
        {
            "services": [service],
            "database": {"url": f"sqlite+aiosqlite:///{db}"},
            "checklist": {"path": str(ROOT / "config/checklists/release.md")},
        },
        env={},
    )


CURRENT: list[Timings] = [Timings()]


def _instrument() -> None:
    """Time every control callback and count the refusals sent back privately (once)."""
    original = controls._Control.callback
    send = failures.send_private

    started: dict[int, float] = {}
    defer = discord.InteractionResponse.defer

    async def timed(self: Any, interaction: discord.Interaction) -> None:
        started[interaction.id] = time.perf_counter()
        await original(self, interaction)
        CURRENT[0].samples.append(time.perf_counter() - started.pop(interaction.id))

    async def acknowledged(self: discord.InteractionResponse, **kwargs: Any) -> None:
        await defer(self, **kwargs)
        begun = started.get(self._parent.id)
        if begun is not None:
            CURRENT[0].acks.append(time.perf_counter() - begun)

    async def counted(interaction: discord.Interaction, text: str) -> None:
        if text.startswith("💥"):
            CURRENT[0].failures += 1
        else:
            CURRENT[0].refusals += 1
        await send(interaction, text)

    controls._Control.callback = timed  # type: ignore[method-assign]
    discord.InteractionResponse.defer = acknowledged  # type: ignore[method-assign,assignment]
    # Both modules call send_private by their own global name.
    vars(controls)["send_private"] = counted
    failures.send_private = counted  # type: ignore[assignment]


def _emit_select(
    env: Env, member: MemberActor, message: discord.Message, custom_id: str, values: Sequence[str]
) -> None:
    """Deliver a select interaction's gateway event without waiting for the bot."""
    backend = env.backend
    stored = backend.get_message(message.channel.id, message.id)
    data = {
        "custom_id": custom_id,
        "component_type": ComponentType.STRING_SELECT,
        "values": list(values),
    }
    _record, payload = sim_interactions.base_payload(
        backend,
        type=InteractionType.MESSAGE_COMPONENT,
        channel_id=message.channel.id,
        guild_id=member.guild.id,
        user_id=member.id,
        data=data,
    )
    payload["message"] = dict(serializers.message_payload(backend, stored))
    backend.emit("INTERACTION_CREATE", payload)


def _tick_offers(message: discord.Message) -> list[tuple[str, str]]:
    """Return (select custom id, value) for every open item a message offers to tick."""
    return [
        (c.custom_id or "", o.value)
        for row in message.components
        for c in getattr(row, "children", [])
        if isinstance(c, discord.SelectMenu) and (c.custom_id or "").startswith("rb:tick:")
        for o in c.options
    ]


async def _room(
    env: Env, bot: ReleaseBot, release_id: int, thread: simcord.ChannelHandle
) -> list[discord.Message]:
    refs = await bot.releases.messages(release_id)
    ids = {r.message_id for r in refs if r.kind == "phase" and r.key.startswith("0:")}
    return [m for m in thread.history() if m.id in ids]


def _patches(env: Env, since: int) -> int:
    return sum(1 for r in env.http_requests[since:] if r.method == "PATCH")


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def _report(title: str, timings: Timings, clicks: int, edits: int, peak: int) -> None:
    p50, p99 = _percentiles(timings.samples)
    ack50, ack99 = _percentiles(timings.acks)
    print(
        f"{title}\n    clicks={clicks}  handled p50={p50:.1f} ms p99={p99:.1f} ms  "
        f"acknowledged p50={ack50:.1f} ms p99={ack99:.1f} ms  edits/click={edits / clicks:.2f}"
        f"  refused={timings.refusals} failed={timings.failures}  "
        f"peak memory={peak / 1_000_000:.1f} MB"
    )


_LATENCY_THREADS = ThreadPoolExecutor(max_workers=128, thread_name_prefix="edit-latency")


def _add_latency(bot: ReleaseBot, seconds: float) -> None:
    """Make each message edit take `seconds`, as a real Discord edit does (SimCord's: ~0).

    The wait runs in a thread: SimCord emulates asyncio timers on its virtual clock, and a
    hundred overlapping sleeps would measure that emulation instead of the bot.
    """
    if seconds <= 0:
        return
    real_edit = bot.room.updater.edit

    async def slow_edit(ref: Any, spec: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(_LATENCY_THREADS, time.sleep, seconds)
        await real_edit(ref, spec)

    bot.room.updater.edit = slow_edit


async def one_release(members: int, latency: float) -> None:
    """N members tick N different items of one release at the same moment."""
    timings = CURRENT[0] = Timings()
    with tempfile.TemporaryDirectory() as folder:
        bot = create_bot(
            _settings(Path(folder) / "bench.db"),
            extensions=EXTENSIONS,
            clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        )
        async with simcord.run(bot, settle_timeout=120) as env:
            guild = env.create_guild("Bench")
            channel = guild.create_text_channel("releases")
            devs = guild.create_role("Developers")
            lead = guild.add_member(
                env.create_user("lead"), roles=[guild.create_role("Release Lead")]
            )
            people = [
                guild.add_member(env.create_user(f"dev{n}"), roles=[devs]) for n in range(members)
            ]
            await lead.slash(channel, "release start", version="v1.0.0")
            _add_latency(bot, latency)
            thread = channel.threads[0]
            offers = [
                (m, offer) for m in await _room(env, bot, 1, thread) for offer in _tick_offers(m)
            ]
            since = len(env.http_requests)
            tracemalloc.start()
            for person, (message, (custom_id, value)) in zip(people, offers, strict=False):
                _emit_select(env, person, message, custom_id, [value])
            await env.settle(timeout=120)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            edits = _patches(env, since)
            await bot.close()
    title = f"one release, {members} members" + (
        f", {latency * 1000:.0f} ms edits" if latency else ""
    )
    _report(title, timings, members, edits, peak)


async def many_releases(releases: int, rounds: int, latency: float) -> None:
    """One member per release ticks an item of it, all releases at once, `rounds` times."""
    timings = CURRENT[0] = Timings()
    with tempfile.TemporaryDirectory() as folder:
        bot = create_bot(
            _settings(Path(folder) / "bench.db"),
            extensions=EXTENSIONS,
            clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        )
        async with simcord.run(bot, settle_timeout=300) as env:
            guild = env.create_guild("Bench")
            channel = guild.create_text_channel("releases")
            lead = guild.add_member(
                env.create_user("lead"), roles=[guild.create_role("Release Lead")]
            )
            for n in range(releases):
                await lead.slash(channel, "release start", version=f"v1.{n}.0")
            _add_latency(bot, latency)
            threads = {t.name: t for t in channel.threads}
            rooms = []
            for release in await bot.releases.list(limit=releases):
                assert release.id is not None
                rooms.append(await _room(env, bot, release.id, threads[release.name]))
            since = len(env.http_requests)
            tracemalloc.start()
            for round_number in range(rounds):
                for messages in rooms:
                    offers = [(m, o) for m in messages for o in _tick_offers(m)]
                    message, (custom_id, value) = offers[round_number]
                    _emit_select(env, lead, message, custom_id, [value])
                await env.settle(timeout=300)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            edits = _patches(env, since)
            await bot.close()
    title = f"{releases} releases x {rounds} rounds" + (
        f", {latency * 1000:.0f} ms edits" if latency else ""
    )
    _report(title, timings, releases * rounds, edits, peak)


async def main(argv: Sequence[str]) -> None:
    """Run both scenarios and print one line of figures per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[5, 11, 22])
    parser.add_argument("--releases", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--edit-latency",
        type=float,
        default=0.1,
        help="seconds a message edit takes in the second run of each scenario",
    )
    args = parser.parse_args(argv)
    _instrument()
    print(
        f"python {sys.version.split()[0]}, discord.py {discord.__version__}, "
        f"simcord {simcord.__version__}; SQLite on a temporary file"
    )
    for latency in (0.0, args.edit_latency):
        for members in args.members:
            await one_release(members, latency)
        await many_releases(args.releases, args.rounds, latency)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

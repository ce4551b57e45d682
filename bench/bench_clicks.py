"""Benchmark a click against the baseline peer on the same stack, in one run (prints only).

The project (the real bot, SQLite file, SimCord) and `bench.baseline_peer` (a plain
discord.py handler: one-row UPDATE with aiosqlite, one message edit) get the same scenarios:

- 1 click at a time (edited p50);
- 22 members ticking 22 items of one release at once (edited p99);
- 10 releases x 10 clicks at once (edited p99);
- 100 releases, one click each at once (edited p99).

"edited" is from a click's gateway event being emitted until the first edit of the clicked
message that shows the click reaches SimCord (the project: an edit rendered from the
revision the click committed, or a later one). Also printed: CPU per click, the bot's own
(time.process_time over the handled clicks minus SimCord's share, which
`bench.clicks_common.SimCordShare` samples by file name: SimCord, the fake Discord, runs in
this process), with the total and SimCord's share beside it; SQL statements per click (a SQLAlchemy
`before_cursor_execute` count; the peer: its UPDATEs), message edits per click, and RSS
after 100 active releases. Edited latencies include SimCord's CPU, which shares the event
loop and the cores with the bot: each latency row shows SimCord's share of that burst's CPU
(project / baseline), the part of the wait that real Discord would not add. Nothing is asserted.

Run: .venv/bin/python -m bench.bench_clicks [--releases 100] [--members 22] [--per-release 10]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import simcord
from simcord import Env
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench import baseline_peer
from bench.bot_settings import release_settings
from bench.clicks_common import Burst, Click, emit_select, freeze_world, percentile
from bot.app import create_bot
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot

ROOT = Path(__file__).resolve().parents[1]
EXTENSIONS = ["bot.releases.chat.commands", "bot.releases.chat.signoffs"]
Wave = Sequence[tuple[int, int]]  # (release, item index in phase 0) clicked at once


@dataclass(frozen=True)
class Scenario:
    """A named list of waves, and the percentile it is judged by."""

    name: str
    waves: Sequence[Wave]
    share: float


def rss_mb() -> tuple[float, float]:
    """Return (VmRSS now, peak RSS) of this process in MB."""
    now = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            now = int(line.split()[1]) / 1024
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def counting_sql(burst: Burst) -> Iterator[None]:
    """Count every statement any SQLAlchemy engine sends while the block runs."""

    def record(*_args: Any) -> None:
        burst.statements += 1

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", record)


class EditWatch:
    """Tie each message edit to the release revision it was rendered from."""

    def __init__(self, bot: ReleaseBot) -> None:
        self.committed: dict[Hashable, int] = {}
        self.edits: list[tuple[int, int, float]] = []  # message id, revision, reached at
        updater, room, service = bot.room.updater, bot.room, bot.releases
        load, edit, tick = updater._load, updater.edit, service.tick
        rendered: dict[int, tuple[Any, int]] = {}

        async def tagged_load(release_id: int) -> Any:
            wanted = await load(release_id)
            for _ref, spec in wanted:
                rendered[id(spec)] = (spec, room._rendered[release_id])
            return wanted

        async def timed_edit(ref: Any, spec: Any) -> None:
            await edit(ref, spec)
            self.edits.append((ref.message_id, rendered[id(spec)][1], time.perf_counter()))

        async def recorded_tick(release_id: int, item_id: str, *args: Any, **kw: Any) -> Any:
            release = await tick(release_id, item_id, *args, **kw)
            self.committed[(release_id, item_id)] = release.revision
            return release

        updater._load, updater.edit = tagged_load, timed_edit  # type: ignore[method-assign]
        service.tick = recorded_tick  # type: ignore[method-assign]

    def settle(self, burst: Burst, items: dict[Hashable, str]) -> None:
        """Set each click's edited time: the first edit of its message showing its tick."""
        for key, click in burst.clicks.items():
            revision = self.committed.get((key[0], items[key]))  # type: ignore[index]
            if revision is None:
                continue
            for message_id, shown, at in self.edits:
                if message_id == click.message_id and shown >= revision:
                    burst.edited(key, at)
                    break


async def _phase_messages(bot: ReleaseBot, release_id: int, thread: Any) -> list[discord.Message]:
    refs = await bot.releases.messages(release_id)
    ids = {r.message_id for r in refs if r.kind == "phase" and r.key.startswith("0:")}
    return [m for m in thread.history() if m.id in ids]


def _offers(messages: list[discord.Message]) -> list[tuple[discord.Message, str]]:
    """Return (message, select custom id) per item index of phase 0, in order."""
    found: dict[int, tuple[discord.Message, str]] = {}
    for message in messages:
        for row in message.components:
            for control in getattr(row, "children", []):
                custom_id = getattr(control, "custom_id", None) or ""
                if isinstance(control, discord.SelectMenu) and custom_id.startswith("rb:tick:"):
                    for option in control.options:
                        found[int(option.value)] = (message, custom_id)
    return [found[n] for n in sorted(found)]


async def _project_room(
    env: Env, bot: ReleaseBot, releases: int, members: int
) -> tuple[list[Any], dict[int, list[tuple[discord.Message, str]]], dict[int, list[str]]]:
    guild = env.create_guild("Bench")
    channel = guild.create_text_channel("releases")
    devs = guild.create_role("Developers")
    lead = guild.add_member(env.create_user("lead"), roles=[guild.create_role("Release Lead")])
    people = [lead] + [
        guild.add_member(env.create_user(f"dev{n}"), roles=[devs]) for n in range(members)
    ]
    for n in range(releases):
        await lead.slash(channel, "release start", version=f"v1.{n}.0")
    threads = {t.name: t for t in channel.threads}
    offers, items = {}, {}
    for release in await bot.releases.list(limit=releases):
        assert release.id is not None
        messages = await _phase_messages(bot, release.id, threads[release.name])
        offers[release.id] = _offers(messages)
        items[release.id] = [item.id for item in release.phases[0].all_items()]
    return people, offers, items


async def project(
    scenarios: Sequence[Scenario], releases: int, members: int, *, freeze: bool = True
) -> list[Burst]:
    """Run `scenarios` on one real bot with `releases` active releases; one Burst each.

    With `freeze`, the world built before the clicks is frozen first (`freeze_world`).
    """
    bursts = []
    with tempfile.TemporaryDirectory() as folder:
        bot = create_bot(
            release_settings(Path(folder) / "bench.db"),
            extensions=EXTENSIONS,
            clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        )
        async with simcord.run(bot, settle_timeout=300) as env:
            people, offers, items = await _project_room(env, bot, releases, members)
            watch = EditWatch(bot)
            if freeze:
                freeze_world()
            for scenario in scenarios:
                burst, since = Burst(), len(env.http_requests)
                keyed: dict[Hashable, str] = {}
                with burst.measuring(), counting_sql(burst):
                    for wave in scenario.waves:
                        for n, (release, index) in enumerate(wave):
                            message, custom_id = offers[release][index]
                            keyed[(release, index)] = items[release][index]
                            burst.emitted(Click((release, index), message.id), time.perf_counter())
                            person = people[1 + n % (len(people) - 1)] if members else people[0]
                            emit_select(env, person, message, custom_id, [str(index)])
                        await env.settle(timeout=300)
                burst.edits = sum(1 for r in env.http_requests[since:] if r.method == "PATCH")
                watch.settle(burst, keyed)
                bursts.append(burst)
            await bot.close()
    return bursts


def scenarios(releases: int, members: int, per_release: int) -> tuple[Scenario, ...]:
    """Return the four scenarios; the members one runs on a room of its own (release 1)."""
    singles = [[(1, 12 + n)] for n in range(min(10, 22 - 12))]
    tens = [[(r, n) for r in range(1, min(10, releases) + 1) for n in range(per_release)]]
    hundred = [[(r, 11) for r in range(1, releases + 1)]]
    return (
        Scenario("1 click, edited p50", singles, 0.5),
        Scenario(
            f"{members} members at once in one release, edited p99",
            [[(1, n) for n in range(members)]],
            0.99,
        ),
        Scenario(
            f"{min(10, releases)} releases x {per_release} clicks at once, edited p99", tens, 0.99
        ),
        Scenario(f"{releases} releases, one click each at once, edited p99", hundred, 0.99),
    )


def _row(name: str, ours: float, theirs: float, unit: str = "ms") -> str:
    # A figure the baseline does not have at all (no collection ran in its clicks,
    # say) has no ratio: print "n/a" rather than "xinf", so the row stays a row.
    ratio = f"x{ours / theirs:.1f}" if theirs else "n/a"
    return f"| {name} | {ours:.2f} {unit} | {theirs:.2f} {unit} | {ratio} |"


async def main(argv: Sequence[str]) -> None:
    """Run project and baseline on the same scenarios and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--members", type=int, default=22)
    parser.add_argument("--per-release", type=int, default=10)
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the world built before the clicks (mostly SimCord's) in the collector",
    )
    args = parser.parse_args(argv)
    freeze = not args.no_freeze
    print(
        f"python {sys.version.split()[0]}, discord.py {discord.__version__}, "
        f"simcord {simcord.__version__}; SQLite on a temporary file"
    )
    single, crowd, tens, hundred = scenarios(args.releases, args.members, args.per_release)
    # The crowd needs all of one release's items: its own bot with one release.
    (ours_crowd,) = await project([crowd], 1, args.members, freeze=freeze)
    ours_single, ours_tens, ours_hundred = await project(
        [single, tens, hundred], args.releases, 0, freeze=freeze
    )
    rss_now, rss_peak = rss_mb()
    theirs = [
        await baseline_peer.run(s.waves, args.releases + 1, Burst(), freeze=freeze)
        for s in (single, crowd, tens, hundred)
    ]
    ours = [ours_single, ours_crowd, ours_tens, ours_hundred]
    print("| scenario | project | baseline | ratio | SimCord share of CPU (project / baseline) |")
    print("|---|---|---|---|---|")
    for scenario, mine, peer in zip((single, crowd, tens, hundred), ours, theirs, strict=True):
        print(
            _row(
                scenario.name,
                percentile(mine.latencies, scenario.share),
                percentile(peer.latencies, scenario.share),
            )
            + f" {mine.simcord.fraction:.0%} / {peer.simcord.fraction:.0%} |"
        )
    for label, figure in (
        ("CPU per click, the bot's own (total - SimCord)", lambda b: b.per_click(b.bot_cpu) * 1000),
        ("CPU per click, total (bot + SimCord)", lambda b: b.per_click(b.cpu) * 1000),
        ("CPU per click, SimCord's share", lambda b: b.per_click(b.simcord_cpu) * 1000),
        ("garbage collection per click (in the total)", lambda b: b.per_click(b.gc) * 1000),
        ("SQL statements per click", lambda b: b.per_click(b.statements)),
        ("edits per click", lambda b: b.per_click(b.edits)),
    ):
        unit = "ms" if label.startswith(("CPU", "garbage")) else ""
        print(_row(label, _mean(figure, ours), _mean(figure, theirs), unit))
    for scenario, mine, peer in zip((single, crowd, tens, hundred), ours, theirs, strict=True):
        print(f"{scenario.name}:\n  project  {mine.summary()}\n  baseline {peer.summary()}")
    print(
        f"RSS after {args.releases} active releases: {rss_now:.0f} MB (peak {rss_peak:.0f} MB); "
        f"clicks without their edit: project {sum(b.missing for b in ours)}, "
        f"baseline {sum(b.missing for b in theirs)}"
    )


def _mean(figure: Any, bursts: Sequence[Burst]) -> float:
    """Return `figure` over all `bursts` together, weighted by their clicks."""
    clicks = sum(len(b.sent) for b in bursts)
    return sum(figure(b) * len(b.sent) for b in bursts) / max(1, clicks)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

"""Benchmark memory and start-up: RSS with 100 active releases, and what of it is the bot.

Run: .venv/bin/python -m bench.bench_memory [--releases 100] [--quick]

Prints figures, asserts nothing. Goal (issue 14): the whole process, bot and SimCord in one,
under 150 MB with 100 active releases after a restart; the bot-only estimate is printed too.
`--quick` runs only the restart scenario (no import probes, no tracemalloc pass: ~30 s).

1. Import cost, each in a fresh interpreter (median of 3): a bare interpreter, `import simcord`
   alone, `import bot.app` alone, both, and bot.app plus the kubernetes-asyncio client it
   used to import eagerly. SimCord's import share is RSS(bot.app + simcord) − RSS(bot.app):
   what SimCord brings that the bot does not load anyway (discord.py, aiohttp, ... count for
   the bot, which needs them in production too).
2. The full bot (every extension, as `releasebot run` builds it) in a child process, from
   `create_bot` on a temporary SQLite file through SimCord; `--releases` releases started by
   `/release start`. Printed: VmRSS after the imports, after `create_bot`, after the
   migration (run the way `Database.start` runs it), after connecting (setup hook done),
   after the releases; whether Alembic, kubernetes-asyncio, matplotlib are loaded, and
   which dev-only libraries are (rich/pygments come in through httpx's CLI module only
   because the dev tools are installed; the runtime image has no rich).
   Scenarios: "restart" (database migrated beforehand by another process, the steady state:
   no migration has to run), "first start" (empty database: Alembic runs), and "restart"
   with MALLOC_ARENA_MAX=2 (glibc arena tuning, to see whether it helps).
3. The same "restart" run under tracemalloc (15 frames), in its own child because tracing
   inflates RSS: every live allocation after the releases is owned by the innermost frame of
   its traceback that lies in simcord/, or in bot/ or discord.py (the bot's library: its
   caches of guilds, channels, messages are the bot's even when SimCord's dispatch made them)
   ("nearest owner"); neither = "other"
   (library code run by neither, e.g. the event loop). SimCord's runtime share = its traced
   bytes after the releases − its traced bytes right after the imports (the latter are in
   its import share already).
   RSS attributable to the bot = restart total − SimCord's import share − SimCord's runtime
   share. Traced bytes undercount RSS (allocator overhead, fragmentation), so the bot's figure
   is, if anything, too high.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.bot_settings import release_settings

ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY = ("rich", "pygments", "pytest")
HEAVY = ("alembic", "kubernetes_asyncio", "matplotlib")

PROBE = """
import time, sys
began = time.perf_counter()
{imports}
spent = time.perf_counter() - began
rss = next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]
print(spent, int(rss) / 1024)
"""


def rss_mb() -> float:
    """Return this process's resident set size in MB (VmRSS)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def import_cost(imports: str, runs: int = 3) -> tuple[float, float]:
    """Return the median (seconds, MB) of running `imports` in fresh interpreters."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(imports=imports)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds, mb = done.stdout.split()
        samples.append((float(seconds), float(mb)))
    return statistics.median(s for s, _ in samples), statistics.median(m for _, m in samples)


MIGRATE = """
import asyncio, sys
from bot.store import migrate
from bot.store.db import make_engine
async def main():
    engine = make_engine(sys.argv[1])
    await migrate.upgrade(engine)
    await engine.dispose()
asyncio.run(main())
"""


def _owner(trace: Any) -> str:
    """The innermost owned frame's owner: "simcord", "bot" (bot/ or discord.py) or "other"."""
    for frame in trace:  # tracemalloc orders frames innermost first
        name = frame.filename.replace("\\", "/")
        if "/simcord/" in name:
            return "simcord"
        if "/discord/" in name or ("/bot/" in name and "/site-packages/" not in name):
            return "bot"  # discord.py's caches count for the bot: it keeps them in production
    return "other"


def _traced() -> dict[str, float]:
    import tracemalloc

    shares = {"simcord": 0.0, "bot": 0.0, "other": 0.0}
    for stat in tracemalloc.take_snapshot().statistics("traceback"):
        shares[_owner(stat.traceback)] += stat.size / 2**20
    return shares


async def _run_bot(count: int, migrated: bool, trace: bool) -> dict[str, Any]:
    """Child process: build the full bot, start `count` releases, report RSS at each step."""
    figures: dict[str, Any] = {}
    import simcord  # first: its share is measured apart

    from bot.app import create_bot
    from bot.core.clock import FakeClock
    from bot.store import migrate
    from bot.store.db import make_engine

    figures["imported"] = rss_mb()
    if trace:
        figures["traced_imported"] = _traced()
    from datetime import UTC, datetime

    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        url = f"sqlite+aiosqlite:///{db}"
        if migrated:  # as a previous run (or `releasebot db upgrade`) would have left it
            argv = [sys.executable, "-c", MIGRATE, url]
            await asyncio.to_thread(subprocess.run, argv, cwd=ROOT, check=True)
        bot = create_bot(
            release_settings(db), clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        )
        figures["built"] = rss_mb()
        engine = make_engine(url)  # what Database.start does first in the setup hook
        await migrate.upgrade(engine)
        await engine.dispose()
        figures["migrated"] = rss_mb()
        async with simcord.run(bot, settle_timeout=300) as env:
            figures["connected"] = rss_mb()
            guild = env.create_guild("Bench")
            channel = guild.create_text_channel("releases")
            lead = guild.add_member(
                env.create_user("lead"), roles=[guild.create_role("Release Lead")]
            )
            for n in range(count):
                await lead.slash(channel, "release start", version=f"v1.{n}.0")
            await env.settle(timeout=300)
            figures["started"] = len(await bot.releases.list(limit=count))
            figures["after"] = rss_mb()
            if trace:
                figures["traced_after"] = _traced()
            await bot.close()
    top = {m.split(".")[0] for m in sys.modules}
    figures["heavy"] = [m for m in HEAVY if m in top]
    figures["dev_only"] = [m for m in DEV_ONLY if m in top]
    return figures


def _child(count: int, migrated: bool, trace: bool, arena: bool = False) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("MALLOC_ARENA_MAX", None)
    if arena:
        env["MALLOC_ARENA_MAX"] = "2"
    argv = [sys.executable, "-m", "bench.bench_memory", "--child", "--releases", str(count)]
    argv += ["--migrated"] if migrated else []
    argv += ["--trace"] if trace else []
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _row(name: str, f: dict[str, Any]) -> str:
    return (
        f"  {name:<28} import {f['imported']:4.0f} | create_bot {f['built']:4.0f} | migrate "
        f"{f['migrated']:4.0f} | connect {f['connected']:4.0f} | {f['started']} releases "
        f"{f['after']:4.0f} MB; loaded: {', '.join(f['heavy']) or 'none'}; "
        f"dev-only: {', '.join(f['dev_only']) or 'none'}"
    )


def main() -> None:
    """Print the import costs, the start-up RSS steps, and the bot's share with releases."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--migrated", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help="only the restart scenario's RSS steps (~30 s)"
    )
    args = parser.parse_args()
    if args.child:
        if args.trace:
            import tracemalloc

            tracemalloc.start(15)
        print(json.dumps(asyncio.run(_run_bot(args.releases, args.migrated, args.trace))))
        return

    if args.quick:
        restart = _child(args.releases, migrated=True, trace=False)
        print(_row("restart (migrated DB)", restart))
        print(f"whole process (bot + SimCord) with {restart['started']} active releases: "
              f"{restart['after']:.0f} MB (goal < 150 MB)")  # fmt: skip
        return
    _, bare = import_cost("pass")
    _, sim = import_cost("import simcord")
    now_s, app = import_cost("import bot.app")
    _, both = import_cost("import bot.app, simcord")
    k8s = "import bot.app, kubernetes_asyncio.client, kubernetes_asyncio.config"
    before_s, before_mb = import_cost(k8s)
    sim_import = both - app
    print(f"VmRSS after import (fresh interpreters, median of 3): bare python {bare:.0f} MB; "
          f"simcord alone {sim:.0f} MB; bot.app {app:.0f} MB ({now_s:.2f} s); bot.app + simcord "
          f"{both:.0f} MB -> SimCord's import share {sim_import:.0f} MB")  # fmt: skip
    print(f"  with the kubernetes-asyncio client as before: {before_s:.2f} s, {before_mb:.0f} MB "
          f"(x{before_s / now_s:.2f} time, +{before_mb - app:.0f} MB)")  # fmt: skip

    restart = _child(args.releases, migrated=True, trace=False)
    first = _child(args.releases, migrated=False, trace=False)
    arena = _child(args.releases, migrated=True, trace=False, arena=True)
    print("VmRSS (MB) of the bot process, bot + SimCord in one process:")
    print(_row("restart (migrated DB)", restart))
    print(_row("first start (empty DB)", first))
    print(_row("restart, MALLOC_ARENA_MAX=2", arena))

    traced = _child(args.releases, migrated=True, trace=True)
    at_import, after = traced["traced_imported"], traced["traced_after"]
    sim_runtime = after["simcord"] - at_import["simcord"]
    print(f"tracemalloc after {traced['started']} releases (nearest owner, MB): simcord "
          f"{after['simcord']:.1f} (of which at import {at_import['simcord']:.1f}), bot "
          f"{after['bot']:.1f} (at import {at_import['bot']:.1f}), other {after['other']:.1f} "
          f"(at import {at_import['other']:.1f})")  # fmt: skip
    own = restart["after"] - sim_import - sim_runtime
    print(f"whole process (bot + SimCord) with {restart['started']} active releases, restart: "
          f"{restart['after']:.0f} MB (goal < 150 MB); first start (Alembic runs): "
          f"{first['after']:.0f} MB")  # fmt: skip
    print(f"estimate of the bot alone (SimCord's shares taken out): {restart['after']:.0f} "
          f"total − {sim_import:.0f} SimCord import − {sim_runtime:.1f} SimCord runtime "
          f"= {own:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()

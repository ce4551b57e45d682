"""Benchmark memory and start-up: RSS with 100 active releases, import time of bot.app.

Run: .venv/bin/python -m bench.bench_memory [--releases 100]

1. Import cost, each in a fresh interpreter (median of 3): `import bot.app` as it is now, and
   the same plus the kubernetes-asyncio client it used to import eagerly (the "before").
   Printed: seconds and VmRSS after the import.
2. The full bot (every extension, as `releasebot run` builds it) from `create_bot` on a
   temporary SQLite file through SimCord; 100 releases started by `/release start`. Printed:
   VmRSS after building, after the releases, and whether kubernetes-asyncio / matplotlib are
   loaded (goal: < 150 MB with 100 active releases). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import simcord

from bot.app import create_bot
from bot.config import Settings, build_settings
from bot.core.clock import FakeClock

ROOT = Path(__file__).resolve().parents[1]


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


PROBE = """
import time, sys
began = time.perf_counter()
import bot.app
{extra}
spent = time.perf_counter() - began
rss = next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1]
print(spent, int(rss) / 1024)
"""


def rss_mb() -> float:
    """Return this process's resident set size in MB (VmRSS)."""
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def import_cost(extra: str, runs: int = 3) -> tuple[float, float]:
    """Return the median (seconds, MB) of importing bot.app (+ `extra`) in fresh interpreters."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", PROBE.format(extra=extra)],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        seconds, mb = done.stdout.split()
        samples.append((float(seconds), float(mb)))
    return statistics.median(s for s, _ in samples), statistics.median(m for _, m in samples)


async def active_releases(count: int) -> None:
    """Start `count` releases on the full bot and print its RSS."""
    with tempfile.TemporaryDirectory() as folder:
        bot = create_bot(
            _settings(Path(folder) / "bench.db"),
            clock=FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)),
        )
        built = rss_mb()
        async with simcord.run(bot, settle_timeout=300) as env:
            guild = env.create_guild("Bench")
            channel = guild.create_text_channel("releases")
            lead = guild.add_member(
                env.create_user("lead"), roles=[guild.create_role("Release Lead")]
            )
            for n in range(count):
                await lead.slash(channel, "release start", version=f"v1.{n}.0")
            await env.settle(timeout=300)
            started = len(await bot.releases.list(limit=count))
            after = rss_mb()
            await bot.close()
    heavy = [m for m in ("kubernetes_asyncio", "matplotlib") if m in sys.modules]
    print(f"full bot built: VmRSS {built:.0f} MB; after {started} active releases: "
          f"VmRSS {after:.0f} MB (goal < 150 MB); heavy libraries loaded: "
          f"{', '.join(heavy) or 'none'}")  # fmt: skip


def main() -> None:
    """Print the import costs and the RSS with active releases."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=100)
    args = parser.parse_args()
    now_s, now_mb = import_cost("")
    before_s, before_mb = import_cost("import kubernetes_asyncio.client, kubernetes_asyncio.config")
    print(f"import bot.app: {now_s:.2f} s, VmRSS {now_mb:.0f} MB; with the kubernetes-asyncio "
          f"client as before: {before_s:.2f} s, {before_mb:.0f} MB "
          f"(x{before_s / now_s:.2f} time, +{before_mb - now_mb:.0f} MB)")  # fmt: skip
    asyncio.run(active_releases(args.releases))


if __name__ == "__main__":
    main()

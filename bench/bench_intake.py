"""Benchmark the Alertmanager intake under a burst, /healthz polled throughout, on SQLite.

Run: .venv/bin/python -m bench.bench_intake [--clients 50] [--pushes 2000] [--big 3000]
     [--database-url postgresql+asyncpg://...]  (a fresh, empty database: it is migrated)
The issue's scenario at full size: `clients` concurrent senders share `pushes` valid,
authenticated pushes through the real aiohttp server (one of them `big` alerts), while one
more task polls /healthz and /readyz. Prints push p50/p99, /healthz p50/p99, the statuses
and the longest write-transaction hold of the lock; asserts nothing. The driver is the
acceptance test's (tests/monitoring/web/load.py), so both measure the same thing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bot.core.clock import FakeClock
from bot.store import migrate
from bot.store.db import make_engine
from tests.monitoring.service.harness import build_bench
from tests.monitoring.web.load import run_load
from tests.support.actors import NOW


async def main(clients: int, pushes: int, big: int, url: str | None) -> None:
    """Run one burst and print its figures."""
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        try:
            await migrate.upgrade(engine)
            bench = build_bench(engine, FakeClock(NOW))
            await bench.deploy()
            result = await run_load(bench, clients=clients, pushes=pushes, big=big)
        finally:
            await engine.dispose()
    print(f"intake on {engine.dialect.name}: {clients} clients, {pushes} pushes, one of {big}")
    for line in result.lines():
        print(f"  {line}")
    print(f"  responses >= 500: {result.failures()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--big", type=int, default=3000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.pushes, args.big, args.database_url))

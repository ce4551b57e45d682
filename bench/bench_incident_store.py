"""Benchmark the incident store: 1,000 incidents' timers rebuilt from SQLite at start-up.

Run: .venv/bin/python -m bench.bench_incident_store [--incidents 1000]
(also run by bench.bench_escalation). Prints figures, asserts nothing.

1. Open N incidents through `IncidentService.open_or_update` (real SQLite file, one
   transaction each, as monitoring would), staggered over a day.
2. Restart at the start of the day: a fresh engine and services, then `Background.start()`
   (fire what is overdue, plan the next wake-up from the `timers` table). Nothing is overdue,
   so this is the pure reschedule cost.
3. Restart again after a 1-hour outage mid-morning: every overdue step, reminder and breach
   fires once through the store (each claim + handler + outbox writes in one transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.uow import SqlUnitOfWorkFactory
from bot.config import build_settings
from bot.core.actors import AccessPolicy
from bot.core.clock import FakeClock
from bot.core.ports import UnitOfWorkFactory
from bot.incidents.service.oncall import OncallService
from bot.incidents.service.use_cases import IncidentService
from bot.runtime.background import Background
from bot.runtime.timers import TimerService
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from bot.store.outbox import SqlOutboxStore

DAY_START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
SEVERITIES = ("P0", "P1", "P1", "P2", "P3")


class Directory:
    """Role holders for the benchmark (no chat platform here)."""

    async def role_members(self, role_key: str) -> Sequence[str]:
        """Return one holder per role."""
        return {"tech_lead": ("300",), "eng_manager": ("400",)}.get(role_key, ())

    async def user_id(self, ref: str) -> str | None:
        """Return the on-call primary's id."""
        return "100" if ref == "omar" else None


@dataclass(frozen=True)
class Measured:
    """A measurement as monitoring reports it."""

    value: float | None
    threshold: float | None
    query: str | None
    at: datetime


@dataclass(frozen=True)
class Met:
    """A "condition met" event without a release (conditions are unique per incident)."""

    release_id: int | None
    service: str
    condition: str
    severity: str
    measurement: Measured
    source: str = "poll"
    unit: str = "ratio"
    op: str = ">"


def _services(url: str, clock: FakeClock) -> tuple[IncidentService, Background, AsyncEngine]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    units = SqlUnitOfWorkFactory(sessions, clock)
    uow = cast(UnitOfWorkFactory, units)  # the SQL store satisfies the port at run time
    settings = build_settings({"oncall": {"primary": "omar"}}, env={})
    oncall = OncallService(uow, clock, AccessPolicy(), settings, Directory())
    incidents = IncidentService(uow, clock, AccessPolicy(), settings, oncall)
    timers = TimerService(uow, clock)
    incidents.register_timers(timers)
    background = Background(timers, SqlOutboxStore(sessions), clock)
    units.after_commit.append(background.after_commit)
    return incidents, background, engine


async def _open_all(url: str, count: int) -> tuple[float, int, list[float]]:
    clock = FakeClock(DAY_START)
    incidents, _, engine = _services(url, clock)
    step = timedelta(minutes=23 * 60 / max(count, 1))
    each: list[float] = []
    began = time.perf_counter()
    for number in range(count):
        started = time.perf_counter()
        clock.set(DAY_START + step * number)
        event = Met(
            None, "gw", f"condition-{number}", SEVERITIES[number % len(SEVERITIES)],
            Measured(0.05, 0.01, "rate(errors[5m])", clock.now()),
        )  # fmt: skip
        async with incidents.uow() as uow:
            await incidents.open_or_update(uow, event)
            await uow.commit()
        each.append(time.perf_counter() - started)
    spent = time.perf_counter() - began
    async with incidents.uow() as uow:
        pending = len(await uow.timers.pending())
    await engine.dispose()
    return spent, pending, each


def _growth(each: Sequence[float]) -> str:
    """Return the cost of opening the first and the last incidents, and their ratio."""
    window = max(1, min(1000, len(each) // 4))
    first = sorted(each[:window])
    last = sorted(each[-window:])

    def figure(values: Sequence[float]) -> str:
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        return f"p50 {statistics.median(values) * 1000:.2f} ms / p99 {p99 * 1000:.2f} ms"

    ratio = statistics.median(last) / statistics.median(first)
    return (
        f"opening the first {window}: {figure(first)}; the last {window}: {figure(last)} "
        f"(p50 x{ratio:.2f} of the first)"
    )


async def _restart(url: str, at: datetime) -> tuple[float, int, datetime | None]:
    clock = FakeClock(at)
    _, background, engine = _services(url, clock)
    # What `Background.start()` does, minus starting APScheduler (which would run the wake-up
    # job on its own wall clock meanwhile): fire the overdue, then plan the next wake-up.
    began = time.perf_counter()
    fired = await background.timers.fire_due()
    await background.wake.rebuild()
    spent = time.perf_counter() - began
    planned = background.wake.planned
    await engine.dispose()
    return spent, fired, planned


async def run(count: int) -> None:
    """Open `count` incidents in a temporary SQLite file, then time two restarts."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        opened_s, pending, each = await _open_all(url, count)
        print(f"store: opened {count} incidents through IncidentService (one transaction each) "
              f"in {opened_s:.2f} s ({opened_s / count * 1000:.2f} ms each); "
              f"{pending} pending timer rows")  # fmt: skip
        print(f"store: {_growth(each)}")
        spent, fired, planned = await _restart(url, DAY_START)
        wake = f"{planned:%H:%M} UTC" if planned else "none"
        print(f"store start-up, nothing overdue: rescheduled from {pending} timer rows in "
              f"{spent * 1000:.1f} ms (fired {fired}; next wake-up {wake})")  # fmt: skip
        outage_end = DAY_START + timedelta(hours=9)
        spent, fired, planned = await _restart(url, outage_end)
        per = spent / fired * 1000 if fired else 0.0
        print(f"store start-up at 09:00 (timers up to then overdue): fired {fired} timers once "
              f"each through the store in {spent:.2f} s ({per:.2f} ms per timer)")  # fmt: skip


def main() -> None:
    """Run the store benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(run(args.incidents))


if __name__ == "__main__":
    main()

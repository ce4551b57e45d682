"""Benchmark the monitoring service path: active windows over a simulated hour, on SQLite.

Run: .venv/bin/python -m bench.bench_monitoring_service [--windows N]
Each window polls 3 conditions every 5 minutes (the seed's first hour: 12 polls) through the
real path: durable timers claimed exactly once, two transactions per poll (claim + marker,
then measurements, tracker, alerts, next timer), the outbox. Probes answer at once (fixed
values, one condition breaching) so the figure is the bot's own CPU, not the network's.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bot.app.uow import SqlUnitOfWorkFactory
from bot.checklist import parse_template
from bot.core.actors import AccessPolicy, Actor
from bot.core.clock import FakeClock
from bot.monitoring.domain import Measurement
from bot.monitoring.domain.records import WatchedCondition
from bot.monitoring.probes.base import Probe, ProbeBase
from bot.monitoring.service.config import MonitoringConfig
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.domain.release import ReleaseSignal
from bot.releases.service import ReleaseService, TemplateSource
from bot.runtime.timers import TimerService
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory

TEMPLATE = """\
# Release

## Deployment

- [ ] Production deployed {id=prod-deployed role=devops marks=production_deployed}
"""
LEAD = Actor("1", "lead", frozenset({"release_lead"}))
CONDITIONS = tuple(
    WatchedCondition(name, "prometheus", name, "P1", threshold, ">", query=f"q_{name}")
    for name, threshold in (("error_rate", 0.01), ("latency_p95", 0.5), ("saturation", 0.9))
)
VALUES = {"error_rate": 0.004, "latency_p95": 0.7, "saturation": 0.2}


class InstantProbe(ProbeBase):
    """A probe answering a fixed value at once."""

    def __init__(self, condition: WatchedCondition) -> None:
        """Keep the condition and report it as this probe's identity."""
        super().__init__(
            name=condition.name,
            condition=condition.name,
            threshold=condition.threshold,
            op=condition.op,
            query=condition.query,
        )
        self.watched = condition

    async def measure(self, now: datetime) -> Measurement:
        """Return the fixed value."""
        value = VALUES[self.condition]
        return Measurement.of(
            self.condition, now, value, threshold=self.threshold, op=">", query=self.query
        )


class InstantProbes:
    """A probe factory of instant probes."""

    def probes(self, service: str, conditions: Sequence[WatchedCondition]) -> list[Probe]:
        """Return one instant probe per condition."""
        return [InstantProbe(c) for c in conditions]


async def run(windows: int, folder: Path) -> None:
    """Open `windows` windows, run a simulated hour of polls, print CPU and wall figures."""
    engine = make_engine(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    await migrate.upgrade(engine)
    clock = FakeClock()
    start = clock.now()
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    source = TemplateSource(parse_template(TEMPLATE, "bench.md"), TEMPLATE)
    releases = ReleaseService(uow, clock, AccessPolicy(), lambda: source, ["svc"])
    timers = TimerService(uow, clock)
    config = MonitoringConfig(conditions_for=lambda service: CONDITIONS)
    monitoring = MonitoringService(uow, clock, AccessPolicy(), config, InstantProbes())
    monitoring.register_timers(timers)  # windows are opened by hand below
    for index in range(windows):
        release = await releases.start(LEAD, service="svc", version=f"v1.0.{index}")
        opened = start + timedelta(seconds=(index * 300) // windows)  # spread over 5 minutes
        async with uow() as unit:
            await monitoring.open_window(
                unit, release, ReleaseSignal("production_deployed", release.id, opened)
            )
            await unit.commit()
    end = start + timedelta(hours=1, minutes=5)
    cpu, wall, fired = time.process_time(), time.perf_counter(), 0
    while (due := await timers.next_due()) is not None and due <= end:
        clock.set(max(due, clock.now()))
        fired += await timers.fire_due()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    polls = await monitoring.measurement_count() // len(CONDITIONS)
    await engine.dispose()
    print(
        f"{windows} windows over a simulated hour through MonitoringService on SQLite: "
        f"{polls} polls ({fired} timers fired), CPU {cpu:.2f} s, wall {wall:.2f} s, "
        f"{cpu / polls * 1000:.2f} ms CPU per poll of {len(CONDITIONS)} conditions; "
        f"{cpu / windows:.3f} s CPU per window-hour "
        f"(1,000 windows: ~{cpu / windows * 1000:.0f} s CPU per hour)"
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run the service-path benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.windows, Path(folder)))


if __name__ == "__main__":
    main()

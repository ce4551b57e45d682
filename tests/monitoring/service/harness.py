"""A monitoring test bench: the real services, store, timers and outbox on SQLite, fake probes.

The probes are scripted fakes (a value, no data, an error or a hang per condition) because
what is under test here is the service: schedule, durability, alerts and hand-offs. The real
probes are exercised against a real Prometheus in tests/monitoring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.checklist import parse_template
from bot.core.actors import AccessPolicy, Source
from bot.core.clock import FakeClock
from bot.core.events import (
    AlertAcknowledged,
    ConditionMet,
    ConditionRecovered,
    ReleaseSignalled,
    on_signal,
)
from bot.monitoring.domain import Measurement
from bot.monitoring.domain.records import WatchedCondition
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.probes.base import Probe, ProbeBase
from bot.monitoring.service.config import MonitoringConfig
from bot.monitoring.service.use_cases import MonitoringService
from bot.monitoring.store.tables import MeasurementRow
from bot.releases.service import ReleaseService, TemplateSource
from bot.runtime.background import Background
from tests.support.actors import DEV, DEVOPS, LEAD, SMALL_TEMPLATE, TECH
from tests.support.inbox import Inbox
from tests.support.store import backbone

ERROR_RATE = WatchedCondition(
    name="error_rate",
    kind="prometheus",
    title="Error rate",
    severity="P1",
    threshold=0.01,
    op=">",
    breaches=2,
    blind_after=3,
    query='sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))',
)
AVAILABILITY = WatchedCondition(
    name="availability",
    kind="kubernetes",
    title="Core functionality",
    severity="P0",
    threshold=1.0,
    op="<",
    breaches=1,
    blind_after=3,
    query="available/desired replicas",
)
HEALTHY = {"error_rate": 0.001, "availability": 1.0}
HANG = "hang"
ERROR = "error"


@dataclass
class Script:
    """What each fake probe answers next, and every call it got."""

    values: dict[str, Any] = field(default_factory=lambda: dict(HEALTHY))
    calls: list[tuple[str, datetime]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)

    def times(self, condition: str) -> list[datetime]:
        """Return when `condition` was measured, in order."""
        return [at for name, at in self.calls if name == condition]


@dataclass
class ScriptedProbe(ProbeBase):
    """A probe answering what the script says (a fake, not a mock)."""

    script: Script
    watched: WatchedCondition

    def __post_init__(self) -> None:
        """Report the scripted condition as this probe's identity."""
        ProbeBase.__init__(
            self,
            name=f"scripted:{self.watched.name}",
            condition=self.watched.name,
            threshold=self.watched.threshold,
            op=self.watched.op,
            query=self.watched.query,
        )

    async def measure(self, now: datetime) -> Measurement:
        """Answer the scripted value; hang until released when told to."""
        self.script.calls.append((self.condition, now))
        value = self.script.values.get(self.condition, HEALTHY.get(self.condition, 0.0))
        if value == HANG:
            self.script.entered.set()
            await self.script.release.wait()
            value = HEALTHY.get(self.condition, 0.0)
        if value == ERROR:
            return Measurement.failed(
                self.condition,
                now,
                "connection refused",
                threshold=self.threshold,
                op=self.op,
                query=self.query,
            )
        return Measurement.of(
            self.condition, now, value, threshold=self.threshold, op=self.op, query=self.query
        )


@dataclass
class ScriptedProbes:
    """A probe factory handing out scripted probes."""

    script: Script

    def probes(self, service: str, conditions: Sequence[WatchedCondition]) -> list[Probe]:
        """Return one scripted probe per condition."""
        return [ScriptedProbe(self.script, c) for c in conditions]


@dataclass
class Bench:
    """One running "bot" over a database: services, timers, background and what was sent."""

    engine: AsyncEngine
    clock: FakeClock
    script: Script
    releases: ReleaseService
    monitoring: MonitoringService
    background: Background
    alerts: Inbox
    windows: Inbox
    met: list[ConditionMet]
    recovered: list[ConditionRecovered]
    acks: list[tuple[int, str, str]]

    async def pump(self) -> None:
        """Fire what is due and deliver what is queued."""
        await self.background.pump()

    async def run_until(self, end: datetime) -> None:
        """Move the clock from due time to due time, pumping at each, up to `end`."""
        while True:
            await self.pump()
            due = await self.background.timers.next_due()
            if due is None or due > end:
                self.clock.set(max(self.clock.now(), end))
                await self.pump()
                return
            self.clock.set(max(due, self.clock.now()))

    async def deploy(self, service: str = "gw", version: str = "v1.0.0") -> int:
        """Take a release to the production deploy tick; return its id."""
        release = await self.releases.start(LEAD, service=service, version=version)
        assert release.id is not None
        await self.releases.tick(release.id, release.template.items()[0].id, DEV, Source.BUTTON)
        await self.releases.sign(release.id, "pre-release", LEAD, Source.REACTION)
        await self.releases.advance(release.id, LEAD, Source.BUTTON)
        await self.releases.sign(release.id, "approval", TECH, Source.REACTION)
        await self.releases.tick(release.id, "prod-deployed", DEVOPS, Source.BUTTON)
        return release.id

    async def measurement_rows(self) -> int:
        """Return how many measurement rows are stored."""
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count(MeasurementRow.id)))).scalar_one())


def default_config(**overrides: Any) -> MonitoringConfig:
    """Return the seed schedule watching error rate and availability."""
    values: dict[str, Any] = {"conditions_for": lambda service: (ERROR_RATE, AVAILABILITY)}
    values.update(overrides)
    return MonitoringConfig(**values)


def build_bench(
    engine: AsyncEngine,
    clock: FakeClock,
    script: Script | None = None,
    config: MonitoringConfig | None = None,
    metrics: MonitoringMetrics | None = None,
) -> Bench:
    """Wire a fresh "bot" over `engine` (call again for a restart on the same database)."""
    base = backbone(engine, clock)
    uow, timers, background, events = base.uow, base.timers, base.background, base.events
    source = TemplateSource(parse_template(SMALL_TEMPLATE, "small.md"), SMALL_TEMPLATE)
    releases = ReleaseService(
        uow, clock, AccessPolicy(), lambda: source, ["gw", "api"], events=events
    )
    script = script or Script()
    monitoring = MonitoringService(
        uow, clock, AccessPolicy(), config or default_config(), ScriptedProbes(script), metrics,
        events,
    )  # fmt: skip
    monitoring.register_timers(timers)
    events.subscribe(ReleaseSignalled, on_signal("production_deployed", monitoring.open_window))
    events.subscribe(ReleaseSignalled, on_signal("rolled_back", monitoring.stop_window))
    events.subscribe(ReleaseSignalled, on_signal("aborted", monitoring.stop_window))
    bench = Bench(
        engine, clock, script, releases, monitoring, background,
        base.inbox("alert"), base.inbox("monitor"), [], [], [],
    )  # fmt: skip

    async def on_met(u: object, event: ConditionMet) -> None:
        bench.met.append(event)

    async def on_recovered(u: object, event: ConditionRecovered) -> None:
        bench.recovered.append(event)

    async def on_ack(u: object, event: AlertAcknowledged) -> None:
        bench.acks.append((event.release_id, event.condition, event.actor.name))

    events.subscribe(ConditionMet, on_met)
    events.subscribe(ConditionRecovered, on_recovered)
    events.subscribe(AlertAcknowledged, on_ack)
    return bench


def minutes(n: float) -> timedelta:
    """Return `n` minutes."""
    return timedelta(minutes=n)

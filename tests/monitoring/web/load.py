"""A burst of authenticated Alertmanager pushes against the real web server, /healthz polled.

Shared by the acceptance test (tests/monitoring/web/test_intake_load.py, bounded counts) and
the benchmark (bench/bench_intake.py, full sizes): `clients` concurrent senders share
`pushes` valid pushes of a few alerts each (new, re-sent and resolved fingerprints), one of
them `big` alerts at once, while one more task polls /healthz and /readyz until the pushes
are done. Every write transaction's hold of the lock is timed from the engine's events.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Secrets, Settings, default_settings
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.web import WebServer, make_web_app
from bot.runtime.checks import database_writable
from bot.runtime.health import Health
from bot.store.db import is_read_only
from tests.monitoring.service.harness import Bench

TOKEN = "load-token"
# Alertmanager's own cap is the body size: 3,000 compact alerts fit in the 1 MiB limit.
MAX_ALERTS = 5_000


def load_settings() -> Settings:
    """Return the default settings with room for a push of a few thousand alerts."""
    settings = default_settings()
    web = settings.web.model_copy(update={"max_alerts_per_push": MAX_ALERTS})
    return settings.model_copy(update={"web": web})


def alert(fingerprint: str, status: str = "firing", service: str = "gw") -> dict[str, Any]:
    """Return one compact Alertmanager v4 alert."""
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "service": service, "fp": fingerprint},
        "startsAt": "2026-03-02T10:01:00Z",
        "fingerprint": fingerprint,
    }


def push_body(alerts: list[dict[str, Any]], group: int) -> bytes:
    """Return a version-4 webhook body of `alerts` for group number `group`."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="HighErrorRate",group="{group}"}}',
            "status": "firing",
            "receiver": "releasebot",
            "alerts": alerts,
        },
        separators=(",", ":"),
    ).encode()


def bodies(pushes: int, big: int) -> Iterator[bytes]:
    """Yield `pushes` bodies: the first one `big` alerts, then 1-4 alerts each.

    Fingerprints come from a small pool, so pushes overlap: new ones, re-sent ones (the same
    breach) and resolved ones, as Alertmanager's groups do.
    """
    yield push_body([alert(f"big-{n:05d}") for n in range(big)], 0)
    for n in range(1, pushes):
        size = 1 + n % 4
        alerts = [
            alert(f"fp-{(n * 7 + k) % 200:03d}", "resolved" if (n + k) % 5 == 0 else "firing")
            for k in range(size)
        ]
        yield push_body(alerts, n % 20)


@dataclass
class LockHolds:
    """Seconds each write transaction held the lock (BEGIN IMMEDIATE done → COMMIT/ROLLBACK)."""

    holds: list[float] = field(default_factory=list)
    _started: dict[int, float] = field(default_factory=dict)

    def begin(self, connection: Any) -> None:
        """Note when a writer got the lock (listeners run in order: after BEGIN IMMEDIATE)."""
        if not is_read_only(connection):
            self._started[id(connection)] = time.perf_counter()

    def end(self, connection: Any) -> None:
        """Note how long the writer held it."""
        started = self._started.pop(id(connection), None)
        if started is not None:
            self.holds.append(time.perf_counter() - started)


@dataclass
class LoadResult:
    """What a run saw: statuses and latencies of pushes and probes, lock holds."""

    push_statuses: Counter[int]
    health_statuses: Counter[int]
    ready_statuses: Counter[int]
    push_seconds: list[float]
    health_seconds: list[float]
    holds: list[float]
    elapsed: float
    big_status: int

    def failures(self) -> int:
        """Return how many responses were 5xx (pushes and probes)."""
        return sum(
            n
            for counts in (self.push_statuses, self.health_statuses, self.ready_statuses)
            for status, n in counts.items()
            if status >= 500
        )

    def lines(self) -> list[str]:
        """Return the printed figures."""
        return [
            f"pushes: {sum(self.push_statuses.values())} in {self.elapsed:.1f} s, "
            f"statuses {dict(self.push_statuses)} (the big one: {self.big_status})",
            f"push latency: p50 {ms(self.push_seconds, 50)} p99 {ms(self.push_seconds, 99)}",
            f"/healthz: {sum(self.health_statuses.values())} polls, statuses "
            f"{dict(self.health_statuses)}, p50 {ms(self.health_seconds, 50)} "
            f"p99 {ms(self.health_seconds, 99)} max {max(self.health_seconds) * 1000:.1f} ms",
            f"/readyz statuses {dict(self.ready_statuses)}",
            f"write transactions: {len(self.holds)}, lock held p50 {ms(self.holds, 50)} "
            f"p99 {ms(self.holds, 99)} longest {max(self.holds, default=0) * 1000:.1f} ms",
        ]


def percentile(values: list[float], pct: int) -> float:
    """Return the `pct` percentile of `values` (0 when empty)."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def ms(values: list[float], pct: int) -> str:
    """Return the `pct` percentile of `values` in milliseconds, for printing."""
    return f"{percentile(values, pct) * 1000:.1f} ms"


@asynccontextmanager
async def served(bench: Bench) -> AsyncIterator[str]:
    """Run the web app over `bench` (bearer token auth, readiness on the database)."""
    health = Health()
    health.checks["database"] = database_writable(lambda: bench.engine)
    secrets = Secrets(alertmanager_token=SecretStr(TOKEN))
    app = make_web_app(bench.monitoring, MonitoringMetrics(), load_settings(), secrets, health)
    server = WebServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()


async def run_load(bench: Bench, *, clients: int, pushes: int, big: int) -> LoadResult:
    """Send the burst through the real server over `bench`; return what it saw."""
    holds = LockHolds()
    sync_engine = _sync(bench.engine)
    event.listen(sync_engine, "begin", holds.begin)
    event.listen(sync_engine, "commit", holds.end)
    event.listen(sync_engine, "rollback", holds.end)
    try:
        async with served(bench) as url:
            return await _burst(url, holds, clients, list(bodies(pushes, big)))
    finally:
        event.remove(sync_engine, "begin", holds.begin)
        event.remove(sync_engine, "commit", holds.end)
        event.remove(sync_engine, "rollback", holds.end)


def _sync(engine: AsyncEngine) -> Any:
    return engine.sync_engine


async def _burst(url: str, holds: LockHolds, clients: int, queue: list[bytes]) -> LoadResult:
    statuses: Counter[int] = Counter()
    seconds: list[float] = []
    big_status: list[int] = []
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=clients + 2)
    pending = list(reversed(list(enumerate(queue))))  # popped from the end: the big one first
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:

        async def sender() -> None:
            while pending:
                index, content = pending.pop()
                started = time.perf_counter()
                response = await http.post(f"{url}/alertmanager", content=content, headers=headers)
                seconds.append(time.perf_counter() - started)
                statuses[response.status_code] += 1
                if index == 0:
                    big_status.append(response.status_code)

        started = time.perf_counter()
        done = asyncio.Event()
        probe = asyncio.create_task(_poll(http, url, done))
        await asyncio.gather(*(sender() for _ in range(clients)))
        done.set()
        health, health_seconds, ready = await probe
        elapsed = time.perf_counter() - started
    return LoadResult(
        statuses, health, ready, seconds, health_seconds, holds.holds, elapsed,
        big_status[0] if big_status else 0,
    )  # fmt: skip


async def _poll(
    http: httpx.AsyncClient, url: str, done: asyncio.Event
) -> tuple[Counter[int], list[float], Counter[int]]:
    """Poll /healthz (timed) and /readyz every 20 ms until `done`."""
    health: Counter[int] = Counter()
    ready: Counter[int] = Counter()
    seconds: list[float] = []
    while not done.is_set():
        started = time.perf_counter()
        response = await http.get(f"{url}/healthz")
        seconds.append(time.perf_counter() - started)
        health[response.status_code] += 1
        ready[(await http.get(f"{url}/readyz")).status_code] += 1
        await asyncio.sleep(0.02)
    return health, seconds, ready

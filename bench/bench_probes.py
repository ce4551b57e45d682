"""Benchmark the monitoring poll and the pure tracker; prints figures, asserts nothing.

Run: .venv/bin/python -m bench.bench_probes
1. One poll of 200 Prometheus probes against a loopback aiohttp server (its own process,
   so its CPU does not count against the poll) answering after 100 ms: wall time, ratio
   to one probe's latency (serial would be ~200x), p50/p99 probe latency, client CPU.
   Once with httpx's default transport, once with bot.monitoring.probes.transport.probe_client.
2. CPU seconds for 1,000 monitoring windows over a simulated hour (schedule + observe).
   The same 1,000 windows through the service path (durable timers, two SQLite
   transactions per poll, outbox): `python -m bench.bench_monitoring_service`.
"""

from __future__ import annotations

import asyncio
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from aiohttp import web

from bot.core.clock import FakeClock
from bot.monitoring.domain import (
    ConditionSpec,
    ConditionState,
    Measurement,
    MonitoringWindow,
    observe,
)
from bot.monitoring.probes.base import Probe, ProbeBase, run_poll
from bot.monitoring.probes.prometheus import PrometheusProbe
from bot.monitoring.probes.transport import probe_client

PROBES = 200
DELAY_SECONDS = 0.1
POLLS = 3
WINDOWS = 1000
CONDITIONS = ("error_rate", "latency_p95", "availability")
BODY = (
    '{"status":"success","data":{"resultType":"vector",'
    '"result":[{"metric":{},"value":[0,"0.004"]}]}}'
)


@dataclass
class TimedProbe(ProbeBase):
    """Wrap a probe and record how long each measurement took."""

    inner: Probe
    latencies: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Report the wrapped probe's identity as our own."""
        ProbeBase.__init__(
            self,
            name=self.inner.name,
            condition=self.inner.condition,
            threshold=self.inner.threshold,
            op=self.inner.op,
            query=self.inner.query,
        )

    async def measure(self, now: datetime) -> Measurement:
        """Measure and record the latency."""
        started = time.perf_counter()
        try:
            return await self.inner.measure(now)
        finally:
            self.latencies.append(time.perf_counter() - started)


async def _slow_prometheus(request: web.Request) -> web.Response:
    await asyncio.sleep(DELAY_SECONDS)
    return web.Response(text=BODY, content_type="application/json")


def serve(port: int) -> None:
    """Serve the slow fake Prometheus on loopback until killed (runs in a child process)."""
    app = web.Application()
    app.router.add_get("/api/v1/query", _slow_prometheus)
    web.run_app(app, host="127.0.0.1", port=port, backlog=1024, print=None)


def _start_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    child = subprocess.Popen([sys.executable, "-m", "bench.bench_probes", "--serve", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return child, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("benchmark server did not start within 20 s")


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _bench_client(label: str, make: Callable[[], httpx.AsyncClient], base_url: str) -> None:
    now = FakeClock().now()
    async with make() as client:
        single = TimedProbe(PrometheusProbe(client, base_url, "q", 0.01, ">", condition="c"))
        for _ in range(5):
            await single.measure(now)
        one = statistics.median(single.latencies)
        probes = [
            TimedProbe(
                PrometheusProbe(
                    client, base_url, f"q{i}", 0.01, ">", condition=f"c{i}", name=f"p{i}"
                )
            )
            for i in range(PROBES)
        ]
        for poll in range(1, POLLS + 1):
            for probe in probes:
                probe.latencies.clear()
            cpu, started = time.process_time(), time.perf_counter()
            results = await run_poll(probes, now, per_probe_timeout=timedelta(seconds=30))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            latencies = [latency for probe in probes for latency in probe.latencies]
            failed = sum(m.value is None for m in results)
            print(
                f"{label}, poll {poll}: wall {wall * 1000:.0f} ms = {wall / one:.1f}x one probe "
                f"({one * 1000:.0f} ms; serial ~{PROBES}x); p50 "
                f"{_percentile(latencies, 0.5) * 1000:.0f} ms, p99 "
                f"{_percentile(latencies, 0.99) * 1000:.0f} ms; client CPU {cpu * 1000:.0f} ms"
                + (f"; {failed} failed" if failed else "")
            )


def bench_poll() -> None:
    """Print poll figures for 200 probes with each client kind."""
    child, base_url = _start_server()
    try:
        asyncio.run(
            _bench_client(
                "httpx default transport (pool 200)",
                lambda: httpx.AsyncClient(limits=httpx.Limits(max_connections=PROBES)),
                base_url,
            )
        )
        asyncio.run(_bench_client("probe_client (aiohttp transport)", probe_client, base_url))
    finally:
        child.terminate()
        child.wait(timeout=10)


def bench_windows() -> None:
    """Print CPU seconds for 1,000 windows over a simulated hour of polls and observe()."""
    rng = random.Random(7)
    start = FakeClock().now()
    specs = {name: ConditionSpec(name) for name in CONDITIONS}
    windows = [
        MonitoringWindow(start + timedelta(seconds=rng.randrange(300))) for _ in range(WINDOWS)
    ]
    states = [{name: ConditionState(name) for name in CONDITIONS} for _ in windows]
    end = start + timedelta(hours=1)
    polls = events = 0
    cpu_started = time.process_time()
    for window, state in zip(windows, states, strict=True):
        due = window.next_due(window.opened_at)
        while due is not None and due <= end:
            for name in CONDITIONS:
                value = rng.choice((0.002, 0.004, 0.03, None))
                measurement = Measurement.of(
                    name, due, value, threshold=0.01, op=">", query="synthetic"
                )
                state[name], raised = observe(state[name], measurement, specs[name])
                events += len(raised)
            polls += 1
            due = window.next_due(due)
    cpu = time.process_time() - cpu_started
    observations = polls * len(CONDITIONS)
    print(
        f"{WINDOWS} windows over a simulated hour: {polls} polls, {observations} observe() "
        f"calls, {events} events; CPU {cpu:.3f} s ({cpu / observations * 1e6:.1f} µs each, "
        "incl. next_due and building the measurement)"
    )


def main() -> None:
    """Run both benchmarks and print their figures (or serve, in the child process)."""
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]))
        return
    bench_poll()
    bench_windows()


if __name__ == "__main__":
    main()

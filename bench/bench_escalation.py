"""Benchmark escalation timers over a compressed day; prints figures, asserts nothing.

Run: .venv/bin/python -m bench.bench_escalation [--minute-ms 10] [--incidents 1000]
1. Start-up: open 1,000 incidents (compute every timer), then rebuild the scheduler from
   their pending timers as a restart would (`pending_timers()` + `loop.call_at`).
2. A simulated day on a real event loop (1 simulated minute = 10 ms by default): incidents
   open at staggered times, some are acked or resolved, every timer fires through
   `fire_timer`, and lateness against the due time is measured.
3. Catch-up after downtime: every incident's overdue timers fired at once with `fire_due`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

from bot.core.roles import Severity
from bot.incidents.domain.escalation import SEED_POLICY
from bot.incidents.domain.lifecycle import (
    Incident,
    Page,
    Timer,
    TimerKind,
    acknowledge,
    fire_due,
    fire_timer,
    open_incident,
    resolve,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE

DAY_START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ROSTER = Roster(
    primary="100", secondary="200", role_members={"tech_lead": ["300"], "eng_manager": ["400"]}
)
SEVERITIES = (Severity.P0, Severity.P1, Severity.P1, Severity.P2, Severity.P3)


@dataclass
class Plan:
    """One incident's script: when it opens and when a human acts on it."""

    opened_at: datetime
    severity: Severity
    ack_after: timedelta | None
    resolve_after: timedelta | None


@dataclass
class Day:
    """Run a simulated day on the event loop, mapping simulated time to loop time."""

    loop: asyncio.AbstractEventLoop
    minute_seconds: float
    incidents: dict[int, Incident] = field(default_factory=dict)
    scheduled: set[tuple[int, str]] = field(default_factory=set)
    lateness: list[float] = field(default_factory=list)
    page_lateness: list[float] = field(default_factory=list)
    fire_cost: list[float] = field(default_factory=list)
    pages: int = 0
    noops: int = 0
    pending: int = 0
    origin: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def loop_time(self, when: datetime) -> float:
        """Return the loop time at which simulated `when` happens."""
        return self.origin + (when - DAY_START).total_seconds() / 60 * self.minute_seconds

    def sim_now(self) -> datetime:
        """Return the simulated time that the loop clock stands for now."""
        minutes = (self.loop.time() - self.origin) / self.minute_seconds
        return DAY_START + timedelta(minutes=minutes)

    def at(self, when: datetime, action: Callable[[], None]) -> None:
        """Run `action` at simulated time `when`."""
        self.pending += 1
        self.loop.call_at(self.loop_time(when), self._run, action)

    def _run(self, action: Callable[[], None]) -> None:
        action()
        self.pending -= 1
        if not self.pending:
            self.done.set()

    def schedule_timers(self, number: int) -> None:
        """Put every not-yet-scheduled pending timer of incident `number` on the loop."""
        for timer in self.incidents[number].pending_timers():
            if timer.due_at >= DAY_START + DAY or (number, timer.key) in self.scheduled:
                continue
            self.scheduled.add((number, timer.key))
            due_loop = self.loop_time(timer.due_at)
            self.at(timer.due_at, partial(self.fire, number, timer, due_loop))

    def fire(self, number: int, timer: Timer, due_loop: float) -> None:
        """Fire one timer, measure its lateness and the domain's cost."""
        late_seconds = self.loop.time() - due_loop
        started = time.perf_counter()
        incident, effects = fire_timer(self.incidents[number], timer, self.sim_now(), ROSTER)
        self.fire_cost.append(time.perf_counter() - started)
        self.incidents[number] = incident
        self.lateness.append(late_seconds)
        if not effects:
            self.noops += 1
        if any(isinstance(e, Page) for e in effects):
            self.pages += 1
            self.page_lateness.append(late_seconds)
        self.schedule_timers(number)

    def human(self, number: int, act: str) -> None:
        """Ack or resolve incident `number` now, then reschedule its timers."""
        incident = self.incidents[number]
        if not incident.is_open:
            return
        now = self.sim_now()
        if act == "ack" and incident.status.value == "triggered":
            incident, _ = acknowledge(incident, "100", now)
        elif act == "resolve":
            incident, _ = resolve(incident, "100", "fixed", now)
        self.incidents[number] = incident
        self.schedule_timers(number)


def make_plans(count: int, rng: random.Random) -> list[Plan]:
    """Stagger `count` incidents over the day; 60% acked, 40% of those resolved."""
    plans = []
    for _ in range(count):
        opened = DAY_START + timedelta(minutes=rng.uniform(0, 23 * 60))
        ack = timedelta(minutes=rng.uniform(1, 40)) if rng.random() < 0.6 else None
        fix = ack + timedelta(minutes=rng.uniform(5, 90)) if ack and rng.random() < 0.4 else None
        plans.append(Plan(opened, rng.choice(SEVERITIES), ack, fix))
    return plans


def open_all(plans: list[Plan]) -> dict[int, Incident]:
    """Open one incident per plan at its opening time."""
    opened = {}
    for number, plan in enumerate(plans):
        incident, _ = open_incident(
            number, "error_rate", plan.severity, f"incident {number}", 0.05, plan.opened_at,
            SEED_POLICY, DEFAULT_SLA_TABLE, "bench", "releasebot", ROSTER,
        )  # fmt: skip
        opened[number] = incident
    return opened


def percentiles(values: list[float], scale: float = 1.0) -> str:
    """Return 'p50 / p99 / max' of `values` times `scale`, 3 decimals."""
    if not values:
        return "n/a"
    ordered = sorted(v * scale for v in values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):.3f} / {p99:.3f} / {ordered[-1]:.3f}"


def bench_startup(plans: list[Plan]) -> dict[int, Incident]:
    """Time opening every incident and rebuilding a scheduler from their pending timers."""
    started = time.perf_counter()
    incidents = open_all(plans)
    opened_s = time.perf_counter() - started

    async def rebuild() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        began = time.perf_counter()
        handles = [
            loop.call_at(loop.time() + 3600 + (t.due_at - DAY_START).total_seconds(), print)
            for incident in incidents.values()
            for t in incident.pending_timers()
        ]
        spent = time.perf_counter() - began
        for handle in handles:
            handle.cancel()
        return len(handles), spent

    count, rebuilt_s = asyncio.run(rebuild())
    print(f"start-up: opened {len(incidents)} incidents (all timers computed) in "
          f"{opened_s * 1000:.1f} ms; rebuilt {count} pending timers onto the loop in "
          f"{rebuilt_s * 1000:.1f} ms")  # fmt: skip
    return incidents


async def run_day(plans: list[Plan], minute_ms: float) -> Day:
    """Run the compressed day and return the measurements."""
    loop = asyncio.get_running_loop()
    day = Day(loop, minute_ms / 1000)
    day.origin = loop.time() + 0.2  # leave time to lay out the first openings
    for number, plan in enumerate(plans):

        def start(n: int = number, p: Plan = plan) -> None:
            incident, _ = open_incident(
                n, "error_rate", p.severity, f"incident {n}", 0.05, day.sim_now(), SEED_POLICY,
                DEFAULT_SLA_TABLE, "bench", "releasebot", ROSTER,
            )  # fmt: skip
            day.incidents[n] = incident
            day.schedule_timers(n)

        day.at(plan.opened_at, start)
        if plan.ack_after is not None:
            day.at(plan.opened_at + plan.ack_after, partial(day.human, number, "ack"))
        if plan.resolve_after is not None:
            day.at(plan.opened_at + plan.resolve_after, partial(day.human, number, "resolve"))
    await day.done.wait()
    return day


def bench_catch_up(incidents: dict[int, Incident]) -> None:
    """Time a restart after downtime: fire every overdue timer of every incident at once."""
    now = DAY_START + DAY
    started = time.perf_counter()
    pages = 0
    for incident in incidents.values():
        _, effects = fire_due(incident, now, ROSTER)
        pages += sum(isinstance(e, Page) for e in effects)
    spent = time.perf_counter() - started
    print(f"catch-up: fired every overdue timer of {len(incidents)} incidents "
          f"({pages} pages) in {spent * 1000:.1f} ms")  # fmt: skip


def main() -> None:
    """Run the three benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--minute-ms", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=20260105)
    parser.add_argument("--no-store", dest="store", action="store_false",
                        help="skip the start-up benchmark through the SQLite store")  # fmt: skip
    args = parser.parse_args()
    plans = make_plans(args.incidents, random.Random(args.seed))

    incidents = bench_startup(plans)
    started = time.perf_counter()
    day = asyncio.run(run_day(plans, args.minute_ms))
    wall = time.perf_counter() - started
    per_real_second_sim = 60 / (args.minute_ms / 1000)  # simulated seconds per real second
    kinds = sum(1 for _ in TimerKind)
    print(f"day: {len(day.incidents)} incidents, {len(day.lateness)} timer firings "
          f"({day.pages} pages, {day.noops} no-ops from stale/cancelled timers; {kinds} kinds) "
          f"in {wall:.1f} s wall (1 simulated minute = {args.minute_ms:g} ms)")  # fmt: skip
    print(f"lateness, all timers  (real ms  p50/p99/max): {percentiles(day.lateness, 1000)}")
    print(f"lateness, all timers  (sim s    p50/p99/max): "
          f"{percentiles(day.lateness, per_real_second_sim)}")  # fmt: skip
    print(f"lateness, pages only  (real ms  p50/p99/max): {percentiles(day.page_lateness, 1000)}")
    print(f"fire_timer cost       (µs       p50/p99/max): {percentiles(day.fire_cost, 1e6)}")
    bench_catch_up(incidents)
    if args.store:
        # The same start-up through the real SQLite store (bench/bench_incident_store.py).
        from bench.bench_incident_store import run as run_store

        asyncio.run(run_store(args.incidents))


if __name__ == "__main__":
    main()

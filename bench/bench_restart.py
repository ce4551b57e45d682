"""Benchmark page latency after a restart; prints figures, asserts nothing.

Run: .venv/bin/python -m bench.bench_restart [--pages 1000] [--per-incident 4] [--send-ms 2]

A crashed process left 1,000 pending pages on a SQLite file: `per-incident` ordered
PagerDuty messages per incident (a trigger and what follows it), the first of each incident
leased ("sending") as a kill mid-send leaves it. The bot restarts: the real Background
(timer loop + outbox loop) takes its leases back and delivers through a sender that takes
`send-ms` per message. Printed: latency from the restart to each delivery (p50/p99/max),
and for each incident, how long after the restart its next page went out.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.clock import SystemClock
from bot.runtime.background import Background
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from bot.store.outbox import SqlOutboxStore
from bot.store.tables import OutboxRow


class TimedSender:
    """Deliver after `seconds` (a fast receiver); note when each message went out."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: dict[int, float] = {}
        self.done = asyncio.Event()
        self.expected = 0

    async def send(self, msg: OutboxMessage) -> str | None:
        """Wait, then record the delivery time."""
        await asyncio.sleep(self.seconds)
        self.sent[msg.id] = time.monotonic()
        if len(self.sent) >= self.expected:
            self.done.set()
        return None


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile (0..1) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(pages: int, per_incident: int, send_ms: float) -> None:
    """Build the crashed state, restart, and print the figures."""
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}")
        await migrate.upgrade(engine)
        sessions = make_session_factory(engine)
        store = SqlOutboxStore(sessions, lease=timedelta(seconds=15))
        incidents = pages // per_incident
        first_of: dict[int, int] = {}
        for incident in range(incidents):
            for n in range(per_incident):
                action = "trigger" if n == 0 else ("acknowledge", "resolve", "trigger")[n % 3]
                msg_id = await store.enqueue(
                    "pagerduty", {"event_action": action, "dedup_key": f"releasebot-1-{incident}"},
                    f"incident:{incident}:pagerduty:{n}", clock.now(),
                    order_key=f"incident:{incident}:pagerduty",
                )  # fmt: skip
                first_of.setdefault(incident, msg_id)
        async with sessions() as session, session.begin():  # the crash: mid-send leases
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id.in_(list(first_of.values())))
                .values(status="sending", next_attempt_at=clock.now() + timedelta(seconds=15))
            )
        uow = SqlUnitOfWorkFactory(sessions, clock)
        background = Background(TimerService(uow, clock), store, clock)
        uow.after_commit.append(background.after_commit)
        sender = TimedSender(send_ms / 1000)
        sender.expected = incidents * per_incident
        background.add_sender("pagerduty", sender)
        restarted = time.monotonic()
        await background.start()
        await asyncio.wait_for(sender.done.wait(), timeout=600)
        total = time.monotonic() - restarted
        await background.stop()
        await engine.dispose()
    latencies = [t - restarted for t in sender.sent.values()]
    next_page = [sender.sent[first] - restarted for first in first_of.values()]
    print(
        f"{len(latencies)} pending pages ({incidents} incidents x {per_incident}, ordered), first "
        f"page of each incident leased by the crashed process, send {send_ms} ms"
    )
    print(
        f"latency after restart: p50 {pct(latencies, 0.5) * 1000:.0f} ms / "
        f"p99 {pct(latencies, 0.99) * 1000:.0f} ms / max {max(latencies) * 1000:.0f} ms; "
        f"all delivered in {total:.2f} s"
    )
    print(
        f"next page of an incident after the restart: p50 {statistics.median(next_page):.2f} s / "
        f"max {max(next_page):.2f} s (goal: within 10 s; the old 2-minute lease: >= 120 s)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--per-incident", type=int, default=4)
    parser.add_argument("--send-ms", type=float, default=2.0)
    options = parser.parse_args()
    asyncio.run(main(options.pages, options.per_incident, options.send_ms))

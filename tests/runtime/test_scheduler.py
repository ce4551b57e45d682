"""The APScheduler wake-up: plans the next due time and fires on a real event loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.core.clock import SystemClock
from bot.runtime.scheduler import WakeScheduler


async def test_wakes_at_due_time_and_replans():
    """Run fire_due at a due time 200 ms away (real loop, real APScheduler) and plan the next."""
    clock = SystemClock()
    due = [datetime.now(UTC) + timedelta(milliseconds=200)]
    fired = asyncio.Event()
    calls: list[datetime] = []

    async def fire_due() -> int:
        calls.append(clock.now())
        now = clock.now()
        ready = [d for d in due if d <= now]
        for d in ready:
            due.remove(d)
        if ready:
            fired.set()
        return len(ready)

    async def next_due():
        return min(due) if due else None

    wake = WakeScheduler(clock, fire_due, next_due)
    try:
        assert await wake.start() == 0  # nothing overdue at start
        assert wake.planned == due[0]
        await asyncio.wait_for(fired.wait(), timeout=5)
        assert due == []
        assert wake.planned is not None  # the safety tick
        assert wake.planned > clock.now() + timedelta(minutes=4)
    finally:
        wake.shutdown()


async def test_wake_at_only_moves_earlier():
    """Keep the earliest planned wake-up when later ones are requested."""
    clock = SystemClock()

    async def nothing() -> int:
        return 0

    async def none():
        return None

    wake = WakeScheduler(clock, nothing, none)
    soon = clock.now() + timedelta(minutes=1)
    wake.wake_at(soon)
    wake.wake_at(soon + timedelta(minutes=10))
    assert wake.planned == soon

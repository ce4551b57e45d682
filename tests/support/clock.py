"""The one clock fixture: a FakeClock at `clock_start` (a folder may override the start)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.core.clock import FakeClock

MONDAY = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
"""Monday 2026-01-05 09:00 UTC: where the Discord, paging and Kubernetes tests start."""


@pytest.fixture
def clock_start() -> datetime:
    """Return when the fake clock starts (store-backed tests start at `support.actors.NOW`)."""
    return MONDAY


@pytest.fixture
def clock(clock_start: datetime) -> FakeClock:
    """Return a fake clock at `clock_start`; it moves only when a test moves it."""
    return FakeClock(clock_start)


class VirtualSleep:
    """Stand in for asyncio.sleep: advance the fake clock and yield once, never wait."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Record the pause, move the clock, let other tasks run."""
        self.calls.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)

"""The clock port: every piece of domain logic asks it for the time instead of the OS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tell the current time as a timezone-aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (aware, UTC)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to; for tests, the demo and benchmarks."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start time")

    def now(self) -> datetime:
        """Return the fake current time."""
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move the clock forward by `delta` (a timedelta or seconds) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += step
        return self._now

    def set(self, when: datetime) -> None:
        """Jump to `when` (aware, not earlier than now)."""
        if when.tzinfo is None or when < self._now:
            raise ValueError("FakeClock.set needs an aware time not earlier than now")
        self._now = when

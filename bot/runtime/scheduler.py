"""APScheduler as an alarm clock: in-memory jobs rebuilt from the timers table.

Only the next due time is ever scheduled; each run fires what is due and schedules the next.
Nothing is pickled; after a restart `start()` fires whatever is overdue once and rebuilds.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.clock import Clock

log = logging.getLogger(__name__)

JOB_ID = "releasebot-wake"


class WakeScheduler:
    """Wake the timer service at the next due time."""

    def __init__(
        self,
        clock: Clock,
        fire_due: Callable[[], Awaitable[int]],
        next_due: Callable[[], Awaitable[datetime | None]],
        scheduler: AsyncIOScheduler | None = None,
        *,
        max_sleep: timedelta = timedelta(minutes=5),
    ) -> None:
        self._clock = clock
        self._fire_due = fire_due
        self._next_due = next_due
        self._scheduler = scheduler or AsyncIOScheduler(timezone="UTC")
        self._max_sleep = max_sleep
        self._planned: datetime | None = None

    @property
    def planned(self) -> datetime | None:
        """Return the wake-up time currently scheduled."""
        return self._planned

    async def start(self) -> int:
        """Start the scheduler, fire what is overdue once, and plan the next wake-up."""
        if not self._scheduler.running:
            self._scheduler.start()
        fired = await self._fire_due()
        await self.rebuild()
        return fired

    async def rebuild(self) -> None:
        """Plan a wake-up at the next pending due time (or a safety tick)."""
        due = await self._next_due()
        ceiling = self._clock.now() + self._max_sleep
        self._plan(min(due, ceiling) if due else ceiling)

    def wake_at(self, when: datetime) -> None:
        """Make sure we wake no later than `when` (called after commits that add timers)."""
        if self._planned is None or when < self._planned:
            self._plan(when)

    def _plan(self, when: datetime) -> None:
        self._planned = when
        if not self._scheduler.running:
            return
        self._scheduler.add_job(
            self._run,
            "date",
            run_date=when,
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
        )

    async def _run(self) -> None:
        self._planned = None
        try:
            await self._fire_due()
        except Exception:
            log.exception("firing due timers failed")
        await self.rebuild()

    def shutdown(self) -> None:
        """Stop the scheduler without waiting for jobs."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

"""APScheduler as an alarm clock over a loop that fires due timers and can never go deaf.

The timers table holds every due time. A single loop task (`releasebot-timers`) waits for the
next planned wake-up, fires what is due, asks for the next due time and plans it again, in
that order, every time round, whatever the firing raised. The APScheduler date job is only an
alarm: it sets an event and returns at once; it never re-adds itself from inside its own run
(APScheduler 3 skips a job re-added while an instance of it still runs, "maximum number of
running instances reached", and that lost every later wake-up). The loop also wakes by itself
at the planned time and at least every `heartbeat`, so even a dropped alarm costs no wake-up.

A failed firing or a failed read of the next due time (the database read-only, the disk full)
is logged, reported to `Health` and retried with exponential backoff until it succeeds; each
timer still fires once (claims are compare-and-set in the timers' own transactions). The loop
beats a heartbeat each time round; the background's watchdog restarts it when it stalls.
Nothing is pickled; after a restart `start()` fires whatever is overdue once and plans on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.core.clock import Clock
from bot.runtime.health import Health

log = logging.getLogger(__name__)

JOB_ID = "releasebot-wake"
LOOP = "scheduler"


class WakeScheduler:
    """Wake the timer service at the next due time, and keep doing so whatever happens."""

    def __init__(
        self,
        clock: Clock,
        fire_due: Callable[[], Awaitable[int]],
        next_due: Callable[[], Awaitable[datetime | None]],
        scheduler: AsyncIOScheduler | None = None,
        *,
        max_sleep: timedelta = timedelta(minutes=5),
        heartbeat: timedelta = timedelta(seconds=5),
        retry_base: timedelta = timedelta(milliseconds=200),
        retry_cap: timedelta = timedelta(seconds=30),
        health: Health | None = None,
        rng: random.Random | None = None,
        bound: timedelta = timedelta(seconds=60),
    ) -> None:
        self._clock = clock
        self._fire_due = fire_due
        self._next_due = next_due
        self._scheduler = scheduler or AsyncIOScheduler(timezone="UTC")
        self._max_sleep = max_sleep
        self._heartbeat = heartbeat.total_seconds()
        self._bound = max(bound.total_seconds(), self._heartbeat * 2)
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._rng = rng or random.Random()
        self.health = health or Health()
        self._planned: datetime | None = None
        self._alarm = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.failures = 0  # consecutive failed rounds (0 when the last round worked)
        self.rounds = 0  # completed rounds, for tests and the health page
        self.restarts = 0

    @property
    def planned(self) -> datetime | None:
        """Return the wake-up time currently planned."""
        return self._planned

    @property
    def running(self) -> bool:
        """Return True while the loop task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> int:
        """Start the alarm clock and the loop; fire what is overdue once first."""
        if not self._scheduler.running:
            self._scheduler.start()
        fired = 0
        try:
            fired = await self._fire_due()
            await self.rebuild()
            self._recovered()
        except Exception as exc:  # the loop retries with backoff: start-up never stays dead
            self._failed("firing overdue timers at start-up", exc)
            self._plan(self._clock.now() + self._backoff())
        self._start_loop()
        return fired

    def _start_loop(self) -> None:
        self._stopping = False
        self.health.watch(LOOP, self._bound)
        self._task = asyncio.create_task(self._loop(), name="releasebot-timers")

    async def restart(self) -> None:
        """Cancel a stalled loop and start a fresh one (the watchdog calls this)."""
        self.restarts += 1
        log.error("timer loop restarted (restart #%d)", self.restarts)
        await self._cancel_loop()
        self._plan(self._clock.now())
        self._start_loop()

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
        self._alarm.set()  # the loop re-reads the plan (it may have moved earlier)
        if not self._scheduler.running:
            return
        # Called from the loop task or a commit hook, never from inside the alarm job itself;
        # the alarm returns at once, so an instance is never still running when re-added.
        self._scheduler.add_job(
            self._ring,
            "date",
            run_date=when,
            id=JOB_ID,
            replace_existing=True,
            misfire_grace_time=None,
            coalesce=True,
            max_instances=10,
        )

    async def _ring(self) -> None:
        self._alarm.set()

    async def _wait_until_planned(self) -> None:
        while True:
            self.health.beat(LOOP)
            planned = self._planned
            now = self._clock.now()
            if planned is None:
                planned = now + self._max_sleep
                self._planned = planned
            if planned <= now or self._stopping:
                return
            self._alarm.clear()
            timeout = min((planned - now).total_seconds(), self._heartbeat)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._alarm.wait(), timeout)

    async def _loop(self) -> None:
        while not self._stopping:
            await self._wait_until_planned()
            if self._stopping:
                return
            self.health.beat(LOOP)
            try:
                await self._fire_due()
                await self.rebuild()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # database errors included: back off, report, go on
                self._failed("firing due timers", exc)
                self._plan(self._clock.now() + self._backoff())
            else:
                self._recovered()
            self.rounds += 1

    def _backoff(self) -> timedelta:
        exponent = min(self.failures - 1, 20)
        ceiling = min(self._retry_cap, self._retry_base * (1 << max(exponent, 0)))
        return ceiling * (0.5 + 0.5 * self._rng.random())

    def _failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        reason = f"{what} failed ({self.failures}x): {type(exc).__name__}: {exc}"
        if self.failures == 1:
            log.exception("timer loop: %s; retrying with backoff", what)
        else:
            log.error("timer loop: %s", reason)
        self.health.fault("timers", reason[:500])

    def _recovered(self) -> None:
        if self.failures:
            log.warning("timer loop recovered after %d failed rounds", self.failures)
        self.failures = 0
        self.health.ok("timers")

    async def _cancel_loop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the loop (letting a firing in progress finish for `grace` s) and the alarm."""
        self.health.unwatch(LOOP)
        self._stopping = True
        self._alarm.set()
        task = self._task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=grace)
        await self._cancel_loop()
        self.shutdown()

    def shutdown(self) -> None:
        """Stop the alarm clock and cancel the loop without waiting."""
        self.health.unwatch(LOOP)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

"""The bot's background work: due timers and outbox delivery, watched and restarted.

In production `start()` runs both on the event loop (APScheduler wakes the timer loop, a task
drains the outbox) plus a watchdog that restarts either loop when its heartbeat goes stale.
`ensure_started()` (the bot's on_ready listener) retries a failed start with backoff until
it succeeds, reporting the failure to `Health` meanwhile. `stop(grace)` stops taking new
work and lets in-flight sends finish for at most `grace` seconds.

Tests and the offline demo leave them stopped and call `pump()`, which does the same work
deterministically: fire what is due, deliver what is queued, until quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.core.clock import Clock
from bot.runtime.health import Health
from bot.runtime.outbox import (
    DispatchReport,
    FailureHook,
    Fallback,
    OutboxDispatcher,
    OutboxStore,
    Sender,
    StillWanted,
)
from bot.runtime.scheduler import WakeScheduler
from bot.runtime.timers import TimerService

log = logging.getLogger(__name__)

OUTBOX = "outbox"


class Background:
    """Own the timer wake-ups, the outbox dispatcher loop and the watchdog over both."""

    def __init__(
        self,
        timers: TimerService,
        outbox: OutboxStore,
        clock: Clock,
        *,
        max_attempts: int = 8,
        base_backoff: timedelta = timedelta(seconds=2),
        max_backoff: timedelta = timedelta(minutes=5),
        slow_retry: timedelta | None = None,
        idle_poll: timedelta = timedelta(seconds=30),
        health: Health | None = None,
        loop_bound: timedelta = timedelta(seconds=60),
        watchdog_every: timedelta = timedelta(seconds=2),
        heartbeat: timedelta = timedelta(seconds=5),
        start_retry_cap: timedelta = timedelta(seconds=30),
        send_guard: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.timers = timers
        self.clock = clock
        self.health = health or Health()
        self.senders: dict[str, Sender] = {}
        self.fallbacks: dict[str, Fallback] = {}
        self.failure_hooks: list[FailureHook] = []
        self.wanted_checks: list[StillWanted] = []
        self._outbox = outbox
        self.send_guard = send_guard  # a standby's fencing, asked before every send
        self._options = {
            "max_attempts": max_attempts,
            "base_backoff": base_backoff,
            "max_backoff": max_backoff,
            "slow_retry": slow_retry,
            "idle_poll": idle_poll,
        }
        self._loop_bound = loop_bound.total_seconds()
        self._watchdog_every = watchdog_every.total_seconds()
        self._heartbeat = heartbeat.total_seconds()
        self._start_retry_cap = start_retry_cap.total_seconds()
        self._dispatcher: OutboxDispatcher | None = None
        self.wake = WakeScheduler(
            clock,
            timers.fire_due,
            timers.next_due,
            health=self.health,
            heartbeat=heartbeat,
            bound=loop_bound,
        )
        timers.progress = lambda: self.health.beat("scheduler")
        self._outbox_wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._starter: asyncio.Task[None] | None = None
        self.started = False
        self.start_failures = 0
        self.outbox_restarts = 0

    def add_sender(self, kind: str, sender: Sender, fallback: Fallback | None = None) -> None:
        """Deliver outbox messages of `kind` with `sender` (register before start/pump)."""
        self.senders[kind] = sender
        if fallback is not None:
            self.fallbacks[kind] = fallback
        self._dispatcher = None  # rebuilt with the new sender on next use

    def add_fallback(self, kind: str, fallback: Fallback) -> None:
        """Use `fallback` when messages of `kind` fail past their budget or for good."""
        self.fallbacks[kind] = fallback
        self._dispatcher = None

    def on_failure(self, hook: FailureHook) -> None:
        """Run `hook(msg, failure, fallback_ids)` once when a message fails past its budget."""
        self.failure_hooks.append(hook)
        self._dispatcher = None

    def still_wanted(self, check: StillWanted) -> None:
        """Ask `check(msg)` before slow retries; a reason ends the message (e.g. resolved)."""
        self.wanted_checks.append(check)
        self._dispatcher = None

    @property
    def dispatcher(self) -> OutboxDispatcher:
        """Return the outbox dispatcher over the registered senders."""
        if self._dispatcher is None:
            self._dispatcher = OutboxDispatcher(
                self._outbox,
                dict(self.senders),
                self.clock,
                fallbacks=dict(self.fallbacks),
                on_failure=list(self.failure_hooks),
                still_wanted=list(self.wanted_checks),
                health=self.health,
                send_guard=self.send_guard,
                **self._options,  # type: ignore[arg-type]
            )
        return self._dispatcher

    def after_commit(self, uow: object) -> None:
        """Wake whatever a committed unit of work gave new work to."""
        timers = getattr(uow, "timers", None)
        if timers is not None and timers.scheduled:
            self.wake.wake_at(min(timers.scheduled))
        outbox = getattr(uow, "outbox", None)
        if outbox is not None and outbox.enqueued:
            self._outbox_wakeup.set()

    async def start(self) -> None:
        """Take back our leases, fire overdue timers once, plan the next, deliver the outbox."""
        reclaim = getattr(self._outbox, "reclaim", None)
        if reclaim is not None:
            taken = await reclaim(self.clock.now())
            if taken:
                log.warning("took back %d outbox message(s) a previous process was sending", taken)
        await self.health.start()
        await self.wake.start()
        self._stop.clear()
        self.dispatcher.draining = False
        self._start_outbox()
        if self._watchdog is None:
            self._watchdog = asyncio.create_task(self._watch(), name="releasebot-watchdog")
        self.started = True
        self.health.ok("background")

    def _start_outbox(self) -> None:
        self.health.watch(OUTBOX, self._loop_bound)
        dispatcher = self.dispatcher
        self._task = asyncio.create_task(
            dispatcher.run(self._outbox_wakeup, self._stop, heartbeat=self._heartbeat),
            name="releasebot-outbox",
        )

    def ensure_started(self) -> asyncio.Task[None] | None:
        """Start in the background, retrying with backoff until it works (idempotent)."""
        if self.started or (self._starter is not None and not self._starter.done()):
            return self._starter
        self._starter = asyncio.create_task(self._start_until_up(), name="releasebot-start")
        return self._starter

    async def _start_until_up(self) -> None:
        rng = random.Random()
        while not self.started:
            try:
                await self.start()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.start_failures += 1
                delay = min(self._start_retry_cap, 0.5 * (1 << min(self.start_failures - 1, 10)))
                delay *= 0.5 + 0.5 * rng.random()
                log.exception(
                    "background start failed (%d time(s)); retrying in %.1fs",
                    self.start_failures,
                    delay,
                )
                self.health.fault("background", f"start failed: {type(exc).__name__}: {exc}")
                await self._halt_loops()
                await asyncio.sleep(delay)
        if self.start_failures:
            log.warning("background started after %d failed attempt(s)", self.start_failures)

    async def _watch(self) -> None:
        """Restart a loop whose task died or whose heartbeat is older than its bound."""
        while True:
            await asyncio.sleep(self._watchdog_every)
            try:
                stale = self.health.stale()
                if not self.wake.running or "scheduler" in stale:
                    await self.wake.restart()  # logged; liveness showed the stall meanwhile
                outbox_dead = self._task is None or self._task.done()
                if not self._stop.is_set() and (outbox_dead or OUTBOX in stale):
                    await self._restart_outbox()
            except asyncio.CancelledError:
                raise
            except Exception:  # the watchdog itself must never die
                log.exception("watchdog round failed")

    async def _restart_outbox(self) -> None:
        self.outbox_restarts += 1
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
            if error is not None:
                log.error("outbox loop died: %r", error)
        log.error("outbox loop restarted (restart #%d)", self.outbox_restarts)
        await self._cancel(self._task)
        self._start_outbox()

    @staticmethod
    async def _cancel(task: asyncio.Task[None] | None) -> None:
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _halt_loops(self) -> None:
        self.health.unwatch(OUTBOX)
        await self._cancel(self._watchdog)
        self._watchdog = None
        await self.wake.stop(0)
        await self._cancel(self._task)
        self._task = None

    async def drain(self, grace: float) -> bool:
        """Stop claiming new messages; wait up to `grace` s for in-flight sends. True if done."""
        self._stop.set()
        self._outbox_wakeup.set()
        self.health.unwatch(OUTBOX)
        await self._cancel(self._watchdog)
        self._watchdog = None
        if self._dispatcher is not None:
            self._dispatcher.draining = True
        task = self._task

        async def outbox_finished() -> bool:
            if task is None or task.done():
                return True
            done, _ = await asyncio.wait({task}, timeout=grace)
            return bool(done)

        _, finished = await asyncio.gather(self.wake.stop(grace), outbox_finished())
        if not finished:
            log.warning("shutdown: in-flight sends did not finish within %.1fs", grace)
        return finished

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the scheduler, the watchdog and the outbox loop (waiting up to `grace` s).

        Work in progress (a firing, a send) may finish within `grace`; what is still running
        then is cancelled (its transaction rolls back; a leased message is taken back at the
        next start).
        """
        await self._cancel(self._starter)
        self._starter = None
        await self.drain(grace)
        await self._cancel(self._task)
        self._task = None
        await self.health.stop()
        self.started = False

    async def pump(self, rounds: int = 20) -> list[DispatchReport]:
        """Fire due timers and deliver due messages until nothing more happens."""
        reports: list[DispatchReport] = []
        for _ in range(rounds):
            fired = await self.timers.fire_due()
            report = await self.dispatcher.dispatch_due()
            reports.append(report)
            if not fired and not report.deliveries:
                break
        return reports


__all__ = ["Background"]

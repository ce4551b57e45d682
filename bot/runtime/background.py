"""The bot's background work: due timers and outbox delivery.

In production `start()` runs both on the event loop (APScheduler wakes the timers, a task
drains the outbox). Tests and the offline demo leave them stopped and call `pump()`, which does
the same work deterministically: fire what is due, deliver what is queued, until quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.core.clock import Clock
from bot.runtime.outbox import DispatchReport, Fallback, OutboxDispatcher, OutboxStore, Sender
from bot.runtime.scheduler import WakeScheduler
from bot.runtime.timers import TimerService

log = logging.getLogger(__name__)


class Background:
    """Own the timer wake-ups and the outbox dispatcher loop."""

    def __init__(
        self, timers: TimerService, outbox: OutboxStore, clock: Clock, *, max_attempts: int = 8
    ) -> None:
        self.timers = timers
        self.clock = clock
        self.senders: dict[str, Sender] = {}
        self.fallbacks: dict[str, Fallback] = {}
        self._outbox = outbox
        self._max_attempts = max_attempts
        self._dispatcher: OutboxDispatcher | None = None
        self.wake = WakeScheduler(clock, timers.fire_due, timers.next_due)
        self._outbox_wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add_sender(self, kind: str, sender: Sender, fallback: Fallback | None = None) -> None:
        """Deliver outbox messages of `kind` with `sender` (register before start/pump)."""
        self.senders[kind] = sender
        if fallback is not None:
            self.fallbacks[kind] = fallback
        self._dispatcher = None  # rebuilt with the new sender on next use

    @property
    def dispatcher(self) -> OutboxDispatcher:
        """Return the outbox dispatcher over the registered senders."""
        if self._dispatcher is None:
            self._dispatcher = OutboxDispatcher(
                self._outbox,
                dict(self.senders),
                self.clock,
                fallbacks=dict(self.fallbacks),
                max_attempts=self._max_attempts,
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
        """Fire overdue timers once, plan the next, and start delivering the outbox."""
        await self.wake.start()
        self._stop.clear()
        self._task = asyncio.create_task(
            self.dispatcher.run(self._outbox_wakeup, self._stop), name="releasebot-outbox"
        )

    async def stop(self) -> None:
        """Stop the scheduler and the outbox loop."""
        self.wake.shutdown()
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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

"""Fire durable timers exactly once, each in its own unit of work.

The database holds every due time; whatever wakes us (APScheduler at run time, a test that moved
a fake clock) just calls `fire_due()`. A timer is claimed with a compare-and-set inside the same
transaction as its handler's effects, so a duplicate wake-up or a crash can neither skip nor
repeat it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.timers import TimerRecord

log = logging.getLogger(__name__)

TimerHandler = Callable[[UnitOfWork, TimerRecord, datetime], Awaitable[None]]


@dataclass
class TimerService:
    """Dispatch due timers to the handler registered for their kind."""

    uow: UnitOfWorkFactory
    clock: Clock
    retry_after: timedelta = timedelta(seconds=30)
    handlers: dict[str, TimerHandler] = field(default_factory=dict)
    progress: Callable[[], None] | None = None  # called after each timer (a loop heartbeat)

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Handle timers of `kind` with `handler` (one handler per kind)."""
        if kind in self.handlers:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self.handlers[kind] = handler

    async def fire_due(self, limit: int = 200) -> int:
        """Fire every timer due now, earliest first; return how many fired."""
        fired = 0
        while True:
            now = self.clock.now()
            async with self.uow() as uow:
                batch = await uow.timers.due(now, limit)
            for timer in batch:
                fired += await self._fire(timer, now)
                if self.progress is not None:
                    self.progress()
            if len(batch) < limit:
                return fired

    async def _fire(self, timer: TimerRecord, now: datetime) -> int:
        handler = self.handlers.get(timer.kind)
        try:
            async with self.uow() as uow:
                if not await uow.timers.claim(timer.id, now):
                    return 0  # someone else fired or cancelled it first
                if handler is None:
                    log.error(
                        "no handler for timer kind %r (timer %s); dropped", timer.kind, timer.id
                    )
                else:
                    await handler(uow, timer, now)
                await uow.commit()
            return 1
        except Exception as error:  # the handler's effects rolled back with the claim
            log.exception(
                "timer %s (%s) failed; retrying in %s", timer.id, timer.kind, self.retry_after
            )
            async with self.uow() as uow:
                await uow.timers.postpone(timer.id, now + self.retry_after, repr(error))
                await uow.commit()
            return 0

    async def next_due(self) -> datetime | None:
        """Return the earliest pending due time."""
        async with self.uow() as uow:
            return await uow.timers.next_due()

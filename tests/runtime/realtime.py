"""Real-time harness for the runtime fault tests: the started Background on a SQLite file.

These tests use the system clock on purpose (issue 13): APScheduler, the timer loop and the
outbox loop run as in production. Each test takes a few seconds at most; nothing asserts
how fast anything ran, only what happened (waits have generous time-outs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.clock import SystemClock
from bot.runtime.background import Background
from bot.runtime.health import Health
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore


class ReadOnlySwitch:
    """Make every database connection read-only while `on` (SQLite's query_only pragma).

    A write then fails inside SQLite with "attempt to write a readonly database", the same
    error a read-only file or volume gives; reads keep working.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.on = False
        # On checkout, before BEGIN IMMEDIATE (which itself fails on a read-only connection).
        event.listen(engine.sync_engine, "checkout", self._apply)

    def _apply(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA query_only = {1 if self.on else 0}")
        cursor.close()


class Inbox:
    """A sender that keeps every message it was given (a fake Discord, not a mock)."""

    def __init__(self) -> None:
        self.got: list[OutboxMessage] = []
        self.arrived = asyncio.Event()

    async def send(self, msg: OutboxMessage) -> str | None:
        """Keep the message."""
        self.got.append(msg)
        self.arrived.set()
        return None

    def keys(self) -> list[str]:
        """Return the idempotency keys received, in order."""
        return [m.idempotency_key for m in self.got]


@dataclass
class Runtime:
    """A started-able Background over a real SQLite file, on the system clock."""

    engine: AsyncEngine
    background: Background
    uow: SqlUnitOfWorkFactory
    store: SqlOutboxStore
    health: Health
    readonly: ReadOnlySwitch
    clock: SystemClock = field(default_factory=SystemClock)

    async def schedule(self, kind: str, ref: int, in_seconds: float, **payload: Any) -> int:
        """Store a timer due `in_seconds` from now."""
        async with self.uow() as u:
            timer_id = await u.timers.schedule(
                kind, ref, self.clock.now() + timedelta(seconds=in_seconds), payload=payload
            )
            await u.commit()
        return timer_id

    async def pending_timers(self) -> list[Any]:
        """Return the pending timers."""
        async with self.uow() as u:
            return list(await u.timers.pending())


def runtime(engine: AsyncEngine, **options: Any) -> Runtime:
    """Build the real background over `engine` (not started)."""
    clock = SystemClock()
    sessions = make_session_factory(engine)
    uow = SqlUnitOfWorkFactory(sessions, clock)
    timers = TimerService(uow, clock, retry_after=options.pop("retry_after", timedelta(seconds=30)))
    store = SqlOutboxStore(sessions, options.pop("lease", timedelta(seconds=15)))
    health = Health()
    background = Background(timers, store, clock, health=health, **options)
    uow.after_commit.append(background.after_commit)
    return Runtime(engine, background, uow, store, health, ReadOnlySwitch(engine), clock)


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    within: float = 10.0,
    every: float = 0.02,
) -> bool:
    """Poll `check` until it is true or `within` s passed; return its last value."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if not isinstance(value, bool):
            value = await value
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)

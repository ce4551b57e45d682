"""Background pump: a due timer's notification is delivered once, end to end on SQLite."""

from __future__ import annotations

from datetime import timedelta

from bot.app.uow import SqlUnitOfWorkFactory
from bot.runtime.background import Background
from bot.runtime.outbox import OutboxMessage
from bot.runtime.timers import TimerService
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore
from tests.support.inbox import Inbox


async def test_pump_fires_timer_and_delivers_its_message_once(engine, clock):
    """Fire a due timer whose handler enqueues a page, deliver it, and never again."""
    sessions = make_session_factory(engine)
    uow = SqlUnitOfWorkFactory(sessions, clock)
    timers = TimerService(uow, clock)
    background = Background(timers, SqlOutboxStore(sessions), clock)
    uow.after_commit.append(background.after_commit)
    inbox = Inbox()
    background.add_sender("dm", inbox)

    async def page(u, timer, now):
        await u.outbox.enqueue(
            "dm", {"user_id": "42", "content": "you are paged"}, f"page-{timer.id}"
        )

    timers.register("page", page)
    async with uow() as u:
        await u.timers.schedule("page", 1, clock.now() + timedelta(minutes=15))
        await u.commit()
    assert background.wake.planned == clock.now() + timedelta(minutes=15)
    await background.pump()
    assert inbox.got == []
    clock.advance(timedelta(minutes=15))
    await background.pump()
    await background.pump()
    assert inbox.got == [{"user_id": "42", "content": "you are paged"}]


async def test_started_background_fires_and_delivers_without_pump(engine):
    """Wake the timer with APScheduler and deliver through the outbox loop, in real time."""
    import asyncio

    from bot.core.clock import SystemClock

    clock = SystemClock()
    sessions = make_session_factory(engine)
    uow = SqlUnitOfWorkFactory(sessions, clock)
    timers = TimerService(uow, clock)
    background = Background(timers, SqlOutboxStore(sessions), clock)
    uow.after_commit.append(background.after_commit)
    inbox = Inbox()
    delivered = asyncio.Event()

    class Signalling(Inbox):
        async def send(self, msg: OutboxMessage) -> str | None:
            """Keep the payload and say so."""
            await inbox.send(msg)
            delivered.set()
            return None

    background.add_sender("dm", Signalling())

    async def page(u, timer, now):
        await u.outbox.enqueue("dm", {"user_id": "7"}, f"page-{timer.id}")

    timers.register("page", page)
    await background.start()
    try:
        async with uow() as u:  # scheduled after start: the commit hook wakes the scheduler
            await u.timers.schedule("page", 1, clock.now() + timedelta(milliseconds=300))
            await u.commit()
        await asyncio.wait_for(delivered.wait(), timeout=10)
    finally:
        await background.stop()
    assert inbox.got == [{"user_id": "7"}]

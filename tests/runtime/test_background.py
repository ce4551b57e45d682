"""Background pump: a due timer's notification is delivered once, end to end on SQLite."""

from __future__ import annotations

from datetime import timedelta

from bot.paging.outbox import OutboxMessage
from bot.runtime.background import Background
from bot.services.timers import TimerService
from bot.store.db import make_session_factory
from bot.store.outbox import SqlOutboxStore
from bot.store.uow import SqlUnitOfWorkFactory


class Inbox:
    """A sender that keeps what it was given (a fake, not a mock)."""

    def __init__(self) -> None:
        self.got: list[dict] = []

    async def send(self, msg: OutboxMessage) -> str | None:
        """Keep the payload."""
        self.got.append(dict(msg.payload))
        return None


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

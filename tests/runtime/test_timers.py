"""Durable timers on real SQLite: due order, exactly once, retries, restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import text

from bot.app.uow import SqlUnitOfWorkFactory
from bot.runtime.timers import TimerService
from bot.store.db import make_session_factory
from tests.support.actors import NOW


def _service(engine, clock) -> tuple[TimerService, SqlUnitOfWorkFactory]:
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    return TimerService(uow, clock), uow


async def _schedule(uow, kind: str, ref: int, due, token: int = 0) -> int:
    async with uow() as u:
        timer_id = await u.timers.schedule(kind, ref, due, token=token)
        await u.commit()
    return timer_id


async def test_fires_due_timers_in_order_exactly_once(engine, clock):
    """Fire timers due now in due order and never again."""
    timers, uow = _service(engine, clock)
    fired: list[int] = []

    async def handler(u, timer, now):
        fired.append(timer.ref_id)

    timers.register("step", handler)
    await _schedule(uow, "step", 2, NOW + timedelta(minutes=15))
    await _schedule(uow, "step", 1, NOW + timedelta(minutes=5))
    await _schedule(uow, "step", 3, NOW + timedelta(minutes=30))
    assert await timers.fire_due() == 0
    clock.advance(timedelta(minutes=16))
    assert await timers.fire_due() == 2
    assert await timers.fire_due() == 0
    assert fired == [1, 2]
    assert await timers.next_due() == NOW + timedelta(minutes=30)


async def test_concurrent_wakeups_fire_once(engine, clock):
    """Let five overlapping fire_due calls fire each timer once."""
    timers, uow = _service(engine, clock)
    fired: list[int] = []

    async def handler(u, timer, now):
        await asyncio.sleep(0)
        fired.append(timer.ref_id)

    timers.register("step", handler)
    for ref in range(10):
        await _schedule(uow, "step", ref, NOW)
    await asyncio.gather(*(timers.fire_due() for _ in range(5)))
    assert sorted(fired) == list(range(10))


async def test_failed_handler_rolls_back_and_retries(engine, clock):
    """Postpone a timer whose handler fails; its effects are rolled back; it fires later."""
    timers, uow = _service(engine, clock)
    calls: list[str] = []

    async def flaky(u, timer, now):
        await u.outbox.enqueue("channel", {"text": "page"}, f"page-{timer.id}-{len(calls)}")
        calls.append("try")
        if len(calls) == 1:
            raise RuntimeError("Discord is down")

    timers.register("step", flaky)
    await _schedule(uow, "step", 1, NOW)
    assert await timers.fire_due() == 0
    async with uow() as u:
        (pending,) = await u.timers.pending()
        outbox_rows = (await u.session.execute(text("select count(*) from outbox"))).scalar()
    assert pending.attempts == 1
    assert outbox_rows == 0  # the failed attempt's message was rolled back with it
    clock.advance(timers.retry_after)
    assert await timers.fire_due() == 1
    assert calls == ["try", "try"]


async def test_cancelled_timer_never_fires(engine, clock):
    """Skip a timer cancelled before it was due."""
    timers, uow = _service(engine, clock)
    fired: list[int] = []

    async def handler(u, timer, now):
        fired.append(timer.ref_id)

    timers.register("step", handler)
    await _schedule(uow, "step", 7, NOW + timedelta(minutes=1))
    async with uow() as u:
        assert await u.timers.cancel("step", 7) == 1
        await u.commit()
    clock.advance(timedelta(minutes=2))
    assert await timers.fire_due() == 0
    assert fired == []


async def test_restart_fires_overdue_once(engine, clock):
    """Fire an overdue timer once after a 'restart' (a new service on the same database)."""
    _, uow = _service(engine, clock)
    await _schedule(uow, "step", 1, NOW + timedelta(minutes=15))
    clock.advance(timedelta(minutes=16))  # the bot was down at +15
    fired: list[int] = []

    async def handler(u, timer, now):
        fired.append(timer.ref_id)

    for _ in range(2):  # two restarts in a row
        restarted, _ = _service(engine, clock)
        restarted.register("step", handler)
        await restarted.fire_due()
    assert fired == [1]

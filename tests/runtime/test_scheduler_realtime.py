"""The timer loop in real time: no wake-up is ever lost, whatever the firings do (issue 13)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.runtime.checks import database_writable
from tests.runtime.realtime import Inbox, eventually, runtime


async def test_stall_reproducer_fires_6_of_6(engine):
    """Three pairs of timers due 20 ms apart, 50 ms of work each: every one fires, once."""
    rt = runtime(engine)
    fired: list[int] = []

    async def work(u, timer, now):
        await asyncio.sleep(0.05)  # 50 ms of work inside the firing
        fired.append(timer.ref_id)

    rt.background.timers.register("work", work)
    await rt.background.start()
    try:
        for pair in range(3):
            base = 0.3 + pair * 0.4
            await rt.schedule("work", pair * 2, base)
            await rt.schedule("work", pair * 2 + 1, base + 0.02)
        assert await eventually(lambda: len(fired) >= 6, within=15)
        await asyncio.sleep(0.2)  # nothing fires twice
    finally:
        await rt.background.stop()
    assert sorted(fired) == [0, 1, 2, 3, 4, 5]
    assert await rt.pending_timers() == []


async def test_a_firing_that_raises_does_not_stop_later_timers(engine):
    """A handler that raises is postponed; the timers after it still fire on time."""
    rt = runtime(engine, retry_after=timedelta(milliseconds=300))
    fired: list[int] = []
    failures = 0

    async def flaky(u, timer, now):
        nonlocal failures
        if timer.ref_id == 1 and failures < 2:
            failures += 1
            raise RuntimeError("handler bug")
        fired.append(timer.ref_id)

    rt.background.timers.register("flaky", flaky)
    await rt.background.start()
    try:
        await rt.schedule("flaky", 1, 0.2)
        await rt.schedule("flaky", 2, 0.4)
        await rt.schedule("flaky", 3, 0.6)
        assert await eventually(lambda: len(fired) >= 3, within=15)
    finally:
        await rt.background.stop()
    assert failures == 2
    assert sorted(fired) == [1, 2, 3]  # 1 fired after two postponements, exactly once


async def test_database_read_only_then_writable_timers_resume_once(engine):
    """With writes failing for 2 s, due timers wait; afterwards each fires once; faults shown."""
    rt = runtime(engine)
    inbox = Inbox()
    rt.background.add_sender("dm", inbox)

    async def page(u, timer, now):
        await u.outbox.enqueue("dm", {"user_id": str(timer.ref_id)}, f"page-{timer.id}")

    rt.background.timers.register("page", page)
    rt.health.checks["database"] = database_writable(lambda: engine)
    await rt.background.start()
    try:
        for n in range(4):
            await rt.schedule("page", n, 0.3 + 0.2 * n)
        rt.readonly.on = True
        await asyncio.sleep(2.0)  # every timer falls due while the database refuses writes
        ready, details = await rt.health.readiness()
        assert inbox.got == []
        assert not ready
        assert "readonly" in str(details["database"])
        assert "attempt to write a readonly database" in rt.health.faults["timers"]
        assert rt.background.wake.failures >= 2  # retried with backoff, never gave up
        rt.readonly.on = False
        assert await eventually(lambda: len(inbox.got) >= 4, within=40)
        await asyncio.sleep(0.3)
        ready, details = await rt.health.readiness()
    finally:
        await rt.background.stop()
    assert sorted(m.payload["user_id"] for m in inbox.got) == ["0", "1", "2", "3"]
    assert len(set(inbox.keys())) == 4
    assert ready, details
    assert await rt.pending_timers() == []


async def test_watchdog_restarts_a_stalled_timer_loop(engine):
    """A firing that hangs stalls the loop's heartbeat; the watchdog restarts it; timers go on."""
    rt = runtime(
        engine, loop_bound=timedelta(seconds=1), watchdog_every=timedelta(milliseconds=100),
        heartbeat=timedelta(milliseconds=200),
    )  # fmt: skip
    fired: list[int] = []
    hung = asyncio.Event()

    async def handler(u, timer, now):
        if timer.ref_id == 1 and not hung.is_set():
            hung.set()
            await asyncio.Event().wait()  # hangs for ever (a stuck network call, say)
        fired.append(timer.ref_id)

    rt.background.timers.register("h", handler)
    await rt.background.start()
    try:
        await rt.schedule("h", 1, 0.1)
        await rt.schedule("h", 2, 0.5)
        assert await eventually(hung.is_set, within=10)
        assert await eventually(lambda: len(fired) >= 2, within=20)
    finally:
        await rt.background.stop()
    assert rt.background.wake.restarts >= 1
    assert sorted(fired) == [1, 2]  # the hung firing rolled back and fired again, once


async def test_a_failed_start_is_retried_until_it_works(engine):
    """Start-up on a read-only database fails, is reported, and succeeds once writable."""
    rt = runtime(engine, lease=timedelta(hours=1))
    inbox = Inbox()
    rt.background.add_sender("dm", inbox)
    async with rt.uow() as u:
        await u.outbox.enqueue("dm", {"user_id": "9"}, "left-behind")
        await u.commit()
    # A crashed process left it leased for an hour; the start takes the lease back at once.
    assert [m.id for m in await rt.store.claim_due(rt.clock.now(), 10)] == [1]
    rt.readonly.on = True
    starter = rt.background.ensure_started()
    assert starter is not None
    try:
        assert await eventually(lambda: rt.background.start_failures >= 2, within=15)
        assert not rt.background.started
        assert "start failed" in rt.health.faults["background"]
        rt.readonly.on = False
        assert await eventually(lambda: rt.background.started, within=30)
        assert await eventually(lambda: inbox.keys() == ["left-behind"], within=10)
    finally:
        await rt.background.stop()
    assert "background" not in rt.health.faults

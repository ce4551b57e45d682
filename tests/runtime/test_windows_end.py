"""Monitoring windows always end: an abandoned last poll closes the window, with its reason."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.monitoring.domain.records import WindowStatus
from bot.monitoring.service.config import TIMER_KINDS
from bot.releases.domain.release import ReleaseStatus
from tests.monitoring.service.harness import build_bench, minutes
from tests.support.actors import NOW

LAST_SLOT = NOW + timedelta(hours=24)


async def test_an_abandoned_last_poll_closes_the_window_with_a_reason(engine, clock):
    """Crash the last poll twice (lease re-run, then given up): the window closes anyway."""
    bench = build_bench(engine, clock)
    release_id = await bench.deploy()
    await bench.run_until(LAST_SLOT - minutes(1))  # every poll but the last, all healthy
    bench.script.values["error_rate"] = "hang"
    for at in (LAST_SLOT, LAST_SLOT + minutes(2)):  # the poll, then its lease re-run, hang
        clock.set(at)
        bench.script.entered.clear()
        bench = build_bench(engine, clock, bench.script)
        task = asyncio.create_task(bench.pump())
        await bench.script.entered.wait()
        task.cancel()  # the process dies mid-probe
        with pytest.raises(asyncio.CancelledError):
            await task
    clock.set(LAST_SLOT + minutes(4))
    bench = build_bench(engine, clock, bench.script)
    await bench.pump()  # the second lease expiry gives the last slot up
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.CLOSED
    assert view.record.closed_at == LAST_SLOT + minutes(4)
    async with bench.monitoring.uow() as uow:
        pending = [t for t in await uow.timers.pending() if t.kind in TIMER_KINDS]
    assert pending == []
    events = await bench.releases.timeline(release_id)
    closed = [e for e in events if e.action == "monitor_closed"]
    assert len(closed) == 1
    assert "last poll abandoned after 2 attempts" in closed[0].detail["reason"]
    assert "monitor_poll_abandoned" in [e.action for e in events]


async def test_a_window_of_an_aborted_release_stops_at_its_next_timer(engine, clock):
    """A window whose release ended without the signal reaching it stops at the next timer."""
    bench = build_bench(engine, clock)
    release_id = await bench.deploy()
    async with bench.monitoring.uow() as uow:  # the release row says aborted; no signal sent
        release = await uow.releases.get(release_id)
        release._close(ReleaseStatus.ABORTED, clock.now(), "aborted; the signal was lost")
        await uow.releases.save(release)
        await uow.commit()
    await bench.run_until(NOW + minutes(6))
    view = await bench.monitoring.window_view(release_id=release_id)
    assert view.record.status is WindowStatus.STOPPED
    assert bench.script.times("error_rate") == []  # no probe ran for an ended release

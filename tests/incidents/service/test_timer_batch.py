"""The bulk incident timer handler falls back to one timer at a time without bulk ports."""

from __future__ import annotations

from types import SimpleNamespace

from bot.core.actors import AccessPolicy
from bot.core.clock import FakeClock
from bot.core.timers import TimerRecord, TimerStatus
from bot.incidents.service.changes import IncidentChanges
from bot.incidents.service.timer_batch import TimerBatch, can_batch
from tests.support.actors import NOW


class _PlainTimers:
    """Timers without the bulk methods (as a hand-written fake would be)."""


async def test_without_bulk_ports_each_record_goes_to_the_single_handler() -> None:
    """Hand every record, in order, to the one-timer handler when the unit of work cannot
    write in bulk."""
    uow = SimpleNamespace(incidents=object(), timers=_PlainTimers(), outbox=object())
    seen: list[int] = []

    async def single(u, record, now) -> None:
        assert u is uow
        seen.append(record.id)

    async def no_roster(u, now):
        raise AssertionError("the fallback must not read a roster itself")

    batch = TimerBatch(IncidentChanges(FakeClock(NOW), AccessPolicy()), no_roster, single)
    records = [
        TimerRecord(n, "incident.step", 7, NOW, 0, {"key": f"k{n}"}, TimerStatus.FIRED, 0)
        for n in (3, 1, 2)
    ]
    assert not can_batch(uow)  # type: ignore[arg-type]
    await batch.fire(uow, records, NOW)  # type: ignore[arg-type]
    assert seen == [3, 1, 2]

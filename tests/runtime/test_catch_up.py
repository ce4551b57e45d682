"""Catch-up after downtime through the real store: thousands of overdue timers, each once.

SQLite only (the runtime tier); the claim statements are the same on PostgreSQL, where the
kill tests cover them.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.core.timers import TimerStatus
from bot.store.tables import TimerRow
from tests.incidents.service.harness import World, make_settings, met, start_release
from tests.support.actors import NOW


@pytest.fixture
def world(engine, clock) -> World:
    """Incidents wired as the app wires them, on a migrated SQLite file."""
    return World(engine, clock, make_settings())


async def _open(world: World, release_id: int, count: int) -> None:
    for number in range(count):
        async with world.uow() as uow:
            await world.incidents.open_or_update(uow, met(release_id, NOW, f"c-{number}"))
            await uow.commit()


async def _overdue(world: World, at) -> set[tuple[int, str]]:
    """Return the overdue timers as (incident, timer key): a firing re-stores the incident's
    remaining steps under new row ids, so a timer is named by what it is, not by its row."""
    async with world.uow() as uow:
        return {(t.ref_id, t.payload["key"]) for t in await uow.timers.pending() if t.due_at <= at}


def _record_claims(world: World) -> Counter[int]:
    """Count committed claims per timer row."""
    claims: Counter[int] = Counter()
    world.uow.after_commit.append(lambda uow: claims.update(uow.timers.claimed))
    return claims


async def _fired(world: World, claims: Counter[int]) -> Counter[tuple[int, str]]:
    """Return the committed claims per (incident, timer key); every row claimed at most once."""
    assert max(claims.values()) == 1
    async with world.uow() as uow:
        rows = await uow.session.scalars(select(TimerRow).where(TimerRow.id.in_(list(claims))))
        return Counter((row.ref_id, row.payload["key"]) for row in rows)


async def test_two_thousand_overdue_timers_over_many_incidents_fire_exactly_once(
    world, service, clock
):
    """After a 9-hour outage every overdue step, reminder and SLA alarm of 400 incidents fires
    once (committed claims counted per timer id), and nothing is left overdue."""
    release_id = await start_release(service)
    await _open(world, release_id, 400)
    clock.advance(timedelta(hours=9))
    overdue = await _overdue(world, clock.now())
    assert len(overdue) >= 2000
    claims = _record_claims(world)
    fired = await world.timers.fire_due()
    assert fired == sum(claims.values())
    per_timer = await _fired(world, claims)
    assert set(per_timer) >= overdue
    assert max(per_timer.values()) == 1
    async with world.uow() as uow:
        left = await uow.session.scalar(
            select(func.count()).where(
                TimerRow.status == TimerStatus.PENDING.value, TimerRow.due_at <= clock.now()
            )
        )
    assert left == 0


async def test_a_failing_handler_in_a_batch_is_postponed_and_the_others_fire(world, service, clock):
    """One handler raising rolls its batch back; the batch is fired again one timer per
    transaction: the failing row is postponed, never claimed; every other timer fires once."""
    release_id = await start_release(service)
    await _open(world, release_id, 10)
    clock.advance(timedelta(hours=2))
    overdue = await _overdue(world, clock.now())
    async with world.uow() as uow:
        victim_row = min(
            (t for t in await uow.timers.pending() if t.kind == "incident.step"),
            key=lambda t: t.id,
        )
    victim = (victim_row.ref_id, victim_row.payload["key"])
    real = world.timers.handlers["incident.step"]
    calls: Counter[int] = Counter()  # handler runs per row, retries of a rolled-back batch too

    async def flaky(uow, record, now):
        calls[record.id] += 1
        if record.id == victim_row.id:
            raise RuntimeError("handler bug")
        await real(uow, record, now)

    for kind in list(world.timers.handlers):
        world.timers.handlers[kind] = flaky if kind == "incident.step" else real
    claims = _record_claims(world)
    await world.timers.fire_due()
    assert victim_row.id not in claims
    per_timer = await _fired(world, claims)
    assert set(per_timer) >= overdue - {victim}
    assert max(per_timer.values()) == 1
    async with world.uow() as uow:
        row = await uow.session.get(TimerRow, victim_row.id)
        assert row is not None  # postponed (its step may since be re-stored under a new row)
        assert row.attempts == 1 and "handler bug" in (row.last_error or "")
    assert calls[victim_row.id] == 2  # in the batch, then alone


async def test_a_batch_cut_short_by_its_time_bound_gives_back_the_rest(world, service, clock):
    """With no time allowed per batch, each batch commits after one timer and gives the
    other claims back; every overdue timer still fires exactly once."""
    release_id = await start_release(service)
    await _open(world, release_id, 5)
    clock.advance(timedelta(hours=2))
    overdue = await _overdue(world, clock.now())
    world.timers.batch_hold = 0.0
    claims = _record_claims(world)
    await world.timers.fire_due()
    per_timer = await _fired(world, claims)
    assert set(per_timer) >= overdue
    assert max(per_timer.values()) == 1


def test_batchable_kinds_are_the_ones_registered_so(world) -> None:
    """Incident timers are batched; a kind registered without `in_batch` is not."""

    async def handler(uow, record, now) -> None:
        return None

    world.timers.register("plain", handler)
    assert "incident.step" in world.timers.batched_kinds
    assert "plain" not in world.timers.batched_kinds

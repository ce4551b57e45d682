"""Catch-up after downtime through the real store: thousands of overdue timers, each once.

SQLite only (the runtime tier); the claim statements are the same on PostgreSQL, where the
kill tests cover them.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from contextlib import closing
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.timers import TimerStatus
from bot.runtime.timers import TimerService
from bot.store.db import make_engine, make_session_factory
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

    real_batch = world.timers.batch_handlers["incident.step"]

    async def flaky_batch(uow, records, now):
        for record in records:
            if record.id == victim_row.id:
                calls[record.id] += 1
                raise RuntimeError("handler bug")
        await real_batch(uow, records, now)

    for kind in list(world.timers.handlers):
        world.timers.handlers[kind] = flaky if kind == "incident.step" else real
        world.timers.batch_handlers[kind] = flaky_batch
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
    # The bound cuts between handler calls: without the bulk handler (which takes a whole run
    # of incident timers in one call) every timer is a call of its own.
    world.timers.batch_handlers.clear()
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


async def _store_state(engine) -> dict[str, list[tuple]]:
    """Return what firing timers writes: incidents, audit rows, outbox rows, pending timers."""
    async with engine.connect() as conn:
        incidents = await conn.execute(text("SELECT * FROM incidents ORDER BY id"))
        skip = {"updated_at", "revision"}  # one bulk save per batch, not one per timer
        rows = [tuple(v for k, v in row._mapping.items() if k not in skip) for row in incidents]
        audit = await conn.execute(
            text(
                "SELECT at, actor_id, action, target, source, detail FROM audit_events ORDER BY id"
            )
        )
        outbox = await conn.execute(
            text("SELECT kind, payload, idempotency_key, order_key FROM outbox ORDER BY id")
        )
        pending = await conn.execute(
            text("SELECT kind, ref_id, due_at, token, payload FROM timers WHERE status = 'pending'")
        )
        return {
            "incidents": rows,
            "audit": [tuple(r) for r in audit],
            "outbox": [tuple(r) for r in outbox],
            "pending": sorted(tuple(r) for r in pending),
        }


async def test_the_bulk_incident_handler_writes_what_one_timer_at_a_time_writes(
    world, service, clock, engine, tmp_path
):
    """The same overdue timers fired through the bulk handler and one per transaction (on a
    copy of the database) leave the same incidents, audit rows, outbox rows (same order) and
    pending due times."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the copy is made with SQLite's VACUUM INTO")
    release_id = await start_release(service)
    await _open(world, release_id, 12)
    copy = tmp_path / "one-by-one.db"
    with closing(sqlite3.connect(engine.url.database)) as source:
        source.execute("VACUUM INTO ?", (str(copy),))
    other_engine = make_engine(f"sqlite+aiosqlite:///{copy}")
    try:
        one_by_one = World(other_engine, clock, make_settings())
        one_by_one.timers.batch_handlers.clear()
        one_by_one.timers.batch_size = 1
        for hours in (0.3, 2, 9):
            clock.set(NOW + timedelta(hours=hours))
            assert await world.timers.fire_due() > 0
            await one_by_one.timers.fire_due()
            bulk, single = await _store_state(engine), await _store_state(other_engine)
            assert len(bulk["outbox"]) > 12
            for part in ("incidents", "audit", "outbox", "pending"):
                assert bulk[part] == single[part], part
    finally:
        await other_engine.dispose()


async def test_a_batch_handler_gets_runs_of_its_kinds_and_fires_each_claim_once(engine, clock):
    """Consecutive timers sharing a batch handler reach it in one call, in due order; a kind
    without one splits the runs; every timer is handled once."""
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    timers = TimerService(uow, clock)
    calls: list[list[tuple[str, int]]] = []

    async def single(u, record, now) -> None:
        calls.append([(record.kind, record.ref_id)])

    async def batch(u, records, now) -> None:
        calls.append([(r.kind, r.ref_id) for r in records])

    timers.register("a", single, batch=batch)
    timers.register("b", single, batch=batch)
    timers.register("plain", single, in_batch=True)
    for ref, kind in enumerate(("a", "b", "a", "plain", "b", "a")):
        async with uow() as u:
            await u.timers.schedule(kind, ref, NOW + timedelta(minutes=ref))
            await u.commit()
    clock.set(NOW + timedelta(hours=1))
    assert await timers.fire_due() == 6
    assert await timers.fire_due() == 0
    assert calls == [[("a", 0), ("b", 1), ("a", 2)], [("plain", 3)], [("b", 4), ("a", 5)]]


_BIG_TABLES = ("timers", "outbox", "audit_events", "incidents")


async def test_the_batch_path_reads_no_table_by_scanning_it(world, service, clock, engine):
    """EXPLAIN QUERY PLAN of every statement firing a batch issues (claims, the give-back of a
    batch cut short, the incidents, audit, outbox and due-time sync): no full scan of the
    tables that grow with the backlog, and timers named by id are found by primary key, not
    by walking the (status, due_at) index over every pending timer."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query planner")
    release_id = await start_release(service)
    await _open(world, release_id, 6)
    issued: list[tuple[str, tuple]] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        first = parameters[0] if executemany and parameters else parameters
        issued.append((statement, tuple(first or ())))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        clock.advance(timedelta(hours=2))
        assert await world.timers.fire_due() > 0
        clock.advance(timedelta(hours=9))  # and a batch cut after each timer (the give-back)
        world.timers.batch_hold = 0.0
        world.timers.batch_handlers.clear()
        assert await world.timers.fire_due() > 0
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
    by_id = [s for s in issued if s[0].startswith("UPDATE timers") and "timers.id IN" in s[0]]
    assert any("RETURNING" in s for s, _ in by_id)  # the claim
    assert any("fired_at=?" in s and "RETURNING" not in s for s, _ in by_id)  # the give-back
    with closing(sqlite3.connect(engine.url.database)) as db:
        for statement, params in issued:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
                continue
            steps = [r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN {statement}", params)]
            plan = " / ".join(steps)
            scans = [s for s in steps if s.split(" ")[:2] in (["SCAN", t] for t in _BIG_TABLES)]
            assert not scans, (statement, plan)
            if (statement, params) in by_id:
                assert "INTEGER PRIMARY KEY" in plan, (statement, plan)


@pytest.mark.parametrize(("hold", "sizes"), [(1e9, [5, 10, 10]), (0.0, [10] + [1] * 15)])
async def test_batches_are_sized_to_the_time_a_batch_may_hold(engine, clock, hold, sizes):
    """A kind not yet timed in a wake-up counts as if half of `batch_size` fitted in
    `batch_hold` (so a nil hold does not limit the first batch); then a batch takes as many
    as fit at that kind's cost per timer: all of `batch_size` when the hold is generous, one
    timer at a time when it is nil. Each timer is handled once either way."""
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    timers = TimerService(uow, clock, batch_size=10, batch_hold=hold)
    calls: list[list[int]] = []

    async def single(u, record, now) -> None:
        calls.append([record.ref_id])

    async def batch(u, records, now) -> None:
        calls.append([r.ref_id for r in records])

    timers.register("a", single, batch=batch)
    async with uow() as u:
        for ref in range(25):
            await u.timers.schedule("a", ref, NOW + timedelta(seconds=ref))
        await u.commit()
    clock.set(NOW + timedelta(hours=1))
    assert await timers.fire_due() == 25
    assert [len(c) for c in calls] == sizes
    assert sorted(ref for c in calls for ref in c) == list(range(25))

"""Read-only units of work never wait for a writer, cannot write, skip the fence; writers queue."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.errors import StoreBusy
from bot.store import migrate
from bot.store.db import is_busy, make_engine, make_session_factory
from bot.store.tables import AuditRow
from tests.support.actors import NOW

# A guard against a hang only (the test fails instead of blocking the suite); not a timing.
DEADLOCK_GUARD = 10


def _factory(engine: object, clock: object) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(make_session_factory(engine), clock)  # type: ignore[arg-type]


def _row(n: int) -> AuditRow:
    return AuditRow(
        release_id=None, at=NOW, actor_id=str(n), actor_name="tom", action="note",
        target="-", source="cli", detail={},
    )  # fmt: skip


async def _audit_rows(uow: object) -> int:
    session = uow.session  # type: ignore[attr-defined]
    return int(await session.scalar(select(func.count()).select_from(AuditRow)))


async def test_a_reader_reads_while_a_writer_holds_the_lock(database, engine, clock):
    """A read-only unit of work answers while a writer is mid-transaction, from the old snapshot."""
    units = _factory(engine, clock)
    async with units() as writer:
        writer.session.add(_row(1))
        await writer.session.flush()  # the write lock is held from here on (SQLite and PG)

        async def read() -> int:
            async with units(read_only=True) as reader:
                return await _audit_rows(reader)

        seen = await asyncio.wait_for(read(), DEADLOCK_GUARD)
        await writer.commit()
    assert seen == 0  # the uncommitted row is not visible to the reader
    async with units(read_only=True) as reader:
        assert await _audit_rows(reader) == 1


async def test_a_write_in_a_read_only_unit_fails_at_once(database, engine, clock):
    """Writing in a read-only unit of work is refused by the database itself."""
    units = _factory(engine, clock)

    async def write() -> None:
        async with units(read_only=True) as reader:
            reader.session.add(_row(1))
            await reader.session.flush()

    with pytest.raises(DBAPIError, match=r"(?i)read-?only"):
        await write()
    async with units() as writer:  # the pooled connection writes again afterwards
        writer.session.add(_row(1))
        await writer.commit()
    async with units(read_only=True) as reader:
        assert await _audit_rows(reader) == 1


async def test_the_fence_refuses_writers_and_lets_readers_read(tmp_path, clock):
    """A deposed leader's fence refuses every write; its reads still work."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'fenced.db'}"
    calls: list[str] = []

    def fence(connection: object) -> None:
        calls.append("fence")
        raise RuntimeError("this process is not the leader")

    setup = make_engine(url)
    await migrate.upgrade(setup)
    await setup.dispose()
    engine = make_engine(url, fence=fence)
    try:
        units = _factory(engine, clock)
        async with units(read_only=True) as reader:
            assert await _audit_rows(reader) == 0
        assert calls == []
        with pytest.raises(RuntimeError, match="not the leader"):
            async with units() as writer:
                await writer.commit()
        assert calls == ["fence"]
    finally:
        await engine.dispose()


async def test_a_writer_without_a_turn_in_time_is_store_busy(engine, clock):
    """A second writer that cannot get its turn raises StoreBusy (not a raw database error)."""
    units = _factory(engine, clock)
    units.queue.timeout = 0.05

    async def second_writer() -> None:
        async with units():
            pass  # pragma: no cover - never entered

    async with units():
        with pytest.raises(StoreBusy, match="no turn to write"):
            await asyncio.create_task(second_writer())
        async with units(read_only=True) as reader:  # readers need no turn
            assert await _audit_rows(reader) == 0
    async with units() as writer:  # the turn is free again
        await writer.commit()


async def test_writers_queue_in_order_and_all_commit(engine, clock):
    """Twenty concurrent writers each commit once, one after another, none refused."""
    units = _factory(engine, clock)

    async def write(n: int) -> None:
        async with units() as writer:
            writer.session.add(_row(n))
            await asyncio.sleep(0)  # hand the loop to the others mid-transaction
            await writer.commit()

    await asyncio.wait_for(asyncio.gather(*(write(n) for n in range(20))), DEADLOCK_GUARD)
    async with units(read_only=True) as reader:
        assert await _audit_rows(reader) == 20
    assert units.queue.waiting == 0


def test_locked_and_lock_timeout_errors_are_busy_others_are_not():
    """`is_busy` knows SQLite's "database is locked" and PostgreSQL's lock timeout only."""
    locked = OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
    missing = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))

    class LockTimeout(Exception):
        sqlstate = "55P03"

    assert is_busy(locked)
    assert not is_busy(missing)
    assert is_busy(DBAPIError("SELECT", {}, LockTimeout("canceling statement")))
    assert not is_busy(ValueError("database is locked"))

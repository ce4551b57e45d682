"""Readiness checks that need the database driver (kept out of `health`, which is pure)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from bot.runtime.health import ReadinessCheck


def database_writable(engine: Callable[[], Any]) -> ReadinessCheck:
    """Return a check that the database takes writes, without ever waiting behind a writer.

    SQLite: BEGIN IMMEDIATE with no busy wait, rolled back at once; "locked" means another
    writer holds the lock right now, which proves the database takes writes (ready). A
    read-only file or connection fails ("attempt to write a readonly database").
    PostgreSQL: the server is not a read-only standby (no advisory lock is taken).
    Both go through the raw driver connection, past the engine's BEGIN listeners (which
    would queue for the write lock). `engine()` returns the AsyncEngine (None: "not started").
    """

    async def check() -> str | None:
        current = engine()
        if current is None:
            return "not started"
        async with current.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if current.dialect.name == "sqlite":
                return await _sqlite_takes_writes(raw)
            return await _postgresql_takes_writes(raw)

    return check


async def _sqlite_takes_writes(db: Any) -> str | None:
    (restore,) = await (await db.execute("PRAGMA busy_timeout")).fetchone()
    await db.execute("PRAGMA busy_timeout=0")
    try:
        await db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if "locked" in str(error) or "busy" in str(error):
            return None  # a writer holds the lock this instant: writes are being taken
        raise
    finally:
        await db.execute(f"PRAGMA busy_timeout={int(restore)}")
    await db.execute("ROLLBACK")
    return None


async def _postgresql_takes_writes(db: Any) -> str | None:
    standby, read_only = await db.fetchrow(
        "SELECT pg_is_in_recovery(), current_setting('default_transaction_read_only')"
    )
    if standby:
        return "read-only: the server is a standby in recovery"
    return "read-only: default_transaction_read_only is on" if read_only == "on" else None


def leader_check(lock: Any) -> ReadinessCheck:
    """Return a check that this replica still leads (a LeaderLock): ready only on the leader."""

    async def check() -> str | None:
        return None if lock.is_leader else "not the leader (lost the lock)"

    return check


__all__ = ["database_writable", "leader_check"]

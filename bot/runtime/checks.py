"""Readiness checks that need the database driver (kept out of `health`, which is pure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from bot.runtime.health import ReadinessCheck


def database_writable(engine: Callable[[], Any]) -> ReadinessCheck:
    """Return a check that the database takes a write: one no-op UPDATE, rolled back at once.

    `engine()` returns the AsyncEngine (None until the bot started: then "not started").
    """

    async def check() -> str | None:
        current = engine()
        if current is None:
            return "not started"
        async with current.connect() as conn:
            try:
                await conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
            finally:
                await conn.rollback()
        return None

    return check


def leader_check(lock: Any) -> ReadinessCheck:
    """Return a check that this replica still leads (a LeaderLock): ready only on the leader."""

    async def check() -> str | None:
        return None if lock.is_leader else "not the leader (lost the lock)"

    return check


__all__ = ["database_writable", "leader_check"]

"""Engine and session factory; SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

BUSY_TIMEOUT_MS = 5000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # Take transaction control from the sqlite3 module (it would BEGIN lazily, only before the
    # first write): we issue BEGIN ourselves in `_begin_immediate`.
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    # A unit of work reads, then writes. A deferred transaction would take a read snapshot and
    # fail with "database is locked" when it tries to write after another writer committed
    # (busy_timeout cannot help there). BEGIN IMMEDIATE takes the write lock up front, so
    # writers queue politely behind busy_timeout and every read-modify-write is serialized.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> AsyncEngine:
    """Create an async engine for `url`; for SQLite, create the folder and set pragmas."""
    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, pool_pre_ping=not is_sqlite)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory; sessions keep objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)

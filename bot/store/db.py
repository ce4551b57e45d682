"""Engine and session factory; the one place that knows how each database serializes writers.

SQLite gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE`; PostgreSQL gets the same
"one writer at a time" contract from a transaction-scoped advisory lock taken at BEGIN (see
`_postgresql_begin`). An optional `fence` runs inside every writing transaction right after
that lock: the leader's epoch check (`bot.store.leadership`), so a deposed leader cannot write.

Readers never queue behind writers: a connection of `reader_engine(engine)` begins a
read-only transaction instead (SQLite: a deferred BEGIN under `PRAGMA query_only`, a WAL
snapshot that takes no lock; PostgreSQL: REPEATABLE READ READ ONLY, no advisory lock, no
fence). A write attempted in one fails at once instead of quietly taking the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, NoSuchModuleError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

BUSY_TIMEOUT_MS = 5000
# pg_advisory_xact_lock key of the write lock: "rbot" in ASCII, far from the leader's key.
WRITE_LOCK_KEY = 0x72626F74
# How long a PostgreSQL transaction waits for the write lock before failing (like busy_timeout).
LOCK_TIMEOUT = "15s"
# With several replicas (a fence given), a transaction left idle this long is ended by the
# server: a leader paused inside a transaction must not hold the write lock, and so its
# successor, hostage (shorter than LOCK_TIMEOUT, so the successor's first transaction waits
# it out). Not for a lone bot: a slow migration on a loaded machine must not be cut short.
IDLE_IN_TRANSACTION_TIMEOUT = "10s"

# Execution option marking the connections of `reader_engine` (read by the begin listeners).
READ_ONLY = "releasebot_read_only"
# PostgreSQL SQLSTATEs of "the lock could not be had in time" and "serialization failure".
_PG_BUSY_STATES = frozenset({"55P03", "40001", "40P01"})

_DRIVER_MODULES = {"asyncpg": "asyncpg", "aiosqlite": "aiosqlite", "psycopg": "psycopg"}


class DatabaseDriverMissing(RuntimeError):
    """The URL names a database driver that is not installed (one line, no traceback)."""


Fence = Callable[[Any], None]
"""Called with the SQLAlchemy connection at the start of every transaction; raises to refuse."""


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


def is_read_only(connection: Any) -> bool:
    """Return whether `connection` belongs to `reader_engine` (a read-only transaction)."""
    return bool(connection.get_execution_options().get(READ_ONLY, False))


def _begin_immediate(connection: Any) -> None:
    # A unit of work reads, then writes. A deferred transaction would take a read snapshot and
    # fail with "database is locked" when it tries to write after another writer committed
    # (busy_timeout cannot help there). BEGIN IMMEDIATE takes the write lock up front, so
    # writers queue politely behind busy_timeout and every read-modify-write is serialized.
    # A reader needs none of that: a deferred BEGIN reads a WAL snapshot without any lock.
    if is_read_only(connection):
        _query_only(connection, True)
        connection.exec_driver_sql("BEGIN")
        return
    _query_only(connection, False)  # only if a reader's transaction ended without its reset
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _end_read_only(connection: Any) -> None:
    # The pooled connection serves writers next: a reader lifts its query_only at its end.
    if is_read_only(connection):
        _query_only(connection, False)


def _query_only(connection: Any, wanted: bool) -> None:
    # Only a reader's own pragma is undone (remembered on the DBAPI connection): writers pay
    # nothing, and a query_only set by someone else (a read-only volume drill) is left alone.
    info = connection.connection.info
    if wanted or info.pop("query_only", False):
        cursor = connection.connection.dbapi_connection.cursor()
        cursor.execute(f"PRAGMA query_only={int(wanted)}")
        cursor.close()
        if wanted:
            info["query_only"] = True


def _postgresql_read_only(connection: Any) -> bool:
    # One snapshot for the whole unit of work (a view that reads several tables is
    # consistent), and no advisory lock: readers never wait for the writer.
    if not is_read_only(connection):
        return False
    connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    return True


def _postgresql_begin(connection: Any) -> None:
    # The PostgreSQL equivalent of BEGIN IMMEDIATE: every transaction first takes one
    # transaction-scoped advisory lock, released by COMMIT or ROLLBACK. Units of work then run
    # one after another exactly as on SQLite (the code was written for that contract: read,
    # decide, write), across every process on the database. READ COMMITTED is enough under it:
    # each transaction starts after the previous writer committed, so it reads fresh rows.
    if _postgresql_read_only(connection):
        return
    connection.exec_driver_sql(
        f"SELECT set_config('lock_timeout', '{LOCK_TIMEOUT}', true), "
        f"pg_advisory_xact_lock({WRITE_LOCK_KEY})"
    )


def _postgresql_begin_replica(connection: Any) -> None:
    # As `_postgresql_begin`, and the idle-in-transaction timeout (one round trip, in order).
    if _postgresql_read_only(connection):
        return
    connection.exec_driver_sql(
        f"SELECT set_config('lock_timeout', '{LOCK_TIMEOUT}', true), "
        "set_config('idle_in_transaction_session_timeout', "
        f"'{IDLE_IN_TRANSACTION_TIMEOUT}', true), pg_advisory_xact_lock({WRITE_LOCK_KEY})"
    )


def make_engine(url: str, *, fence: Fence | None = None) -> AsyncEngine:
    """Create an async engine for `url`; for SQLite, create the folder and set pragmas.

    Raise DatabaseDriverMissing when the URL's driver (e.g. asyncpg) is not installed.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    is_sqlite = backend == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_async_engine(url, pool_pre_ping=not is_sqlite)
    except (ModuleNotFoundError, NoSuchModuleError) as missing:
        driver = parsed.get_driver_name()
        module = _DRIVER_MODULES.get(driver, driver)
        raise DatabaseDriverMissing(
            f"{backend}+{driver} URLs need the {module} driver, which is not installed here: "
            f"install releasebot with its postgres extra, e.g. `uv sync --extra postgres` in a "
            "checkout or `pip install 'releasebot[postgres]'`"
            if backend == "postgresql"
            else f"{backend}+{driver} URLs need the {module} driver, which is not installed "
            f"here ({missing})"
        ) from None
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
        event.listen(engine.sync_engine, "commit", _end_read_only)
        event.listen(engine.sync_engine, "rollback", _end_read_only)
    elif backend == "postgresql":
        begin = _postgresql_begin if fence is None else _postgresql_begin_replica
        event.listen(engine.sync_engine, "begin", begin)
    if fence is not None:
        event.listen(engine.sync_engine, "begin", _writers_only(fence))
    return engine


def _writers_only(fence: Fence) -> Fence:
    # A deposed leader may still read (it changes nothing); only its writes are refused.
    def check(connection: Any) -> None:
        if not is_read_only(connection):
            fence(connection)

    return check


def reader_engine(engine: AsyncEngine) -> AsyncEngine:
    """Return `engine` for read-only transactions (same pool; see the module docstring)."""
    return engine.execution_options(**{READ_ONLY: True})


def is_busy(error: BaseException) -> bool:
    """Return whether `error` means "the store is busy, try again" (not a bug, not bad data).

    SQLite's "database is locked/busy" after busy_timeout, PostgreSQL's lock_timeout,
    serialization failure or deadlock, or no pooled connection free in time.
    """
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, DBAPIError):
        return False
    orig = error.orig
    if isinstance(orig, sqlite3.OperationalError) or "sqlite" in type(orig).__module__:
        text = str(orig).lower()
        return "database is locked" in text or "database is busy" in text
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state in _PG_BUSY_STATES


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory; sessions keep objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)

"""The unit of work: one session, one transaction, repositories sharing it.

A writing unit of work first waits its turn in the process's write queue (`WriteQueue`, FIFO),
then takes the database's write lock: writers of one process queue on the event loop, not
on pooled connections blocked in busy_timeout, so readers always find a free connection.
A read-only one (`factory(read_only=True)`) skips both (see `bot.store.db.reader_engine`).
A busy store ("database is locked", lock_timeout, no turn in time) is raised as `StoreBusy`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import StoreBusy
from bot.core.ports import MessageRef
from bot.incidents.store.repository import SqlIncidentRepository
from bot.monitoring.store.repository import SqlMonitoringRepository
from bot.releases.store.repository import SqlReleaseRepository, audit_event, audit_row
from bot.reports.store.repository import SqlReportRepository
from bot.rollouts.store.repository import SqlRolloutRecords
from bot.store.db import is_busy, reader_engine
from bot.store.tables import AuditRow, MessageRefRow
from bot.store.timers import SqlOutbox, SqlTimers


class SqlAuditLog:
    """Append-only audit events in the unit of work's session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, event: AuditEvent) -> None:
        """Append `event`."""
        self._session.add(audit_row(event, event.release_id))
        await self._session.flush()

    async def for_release(self, release_id: int, limit: int = 50) -> Sequence[AuditEvent]:
        """Return the newest `limit` events of a release, oldest first."""
        rows = await self._session.scalars(
            select(AuditRow)
            .where(AuditRow.release_id == release_id)
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        return [audit_event(row) for row in reversed(rows.all())]

    async def all(self, limit: int = 1000) -> Sequence[AuditEvent]:
        """Return the newest `limit` events of every release, oldest first."""
        rows = await self._session.scalars(
            select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        )
        return [audit_event(row) for row in reversed(rows.all())]


class SqlMessageRefs:
    """Message references in the unit of work's session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, ref: MessageRef) -> None:
        """Insert or replace `ref`."""
        await self._session.merge(
            MessageRefRow(
                release_id=ref.release_id,
                kind=ref.kind,
                key=ref.key,
                channel_id=ref.channel_id,
                message_id=ref.message_id,
            )
        )
        await self._session.flush()

    async def for_release(self, release_id: int) -> Sequence[MessageRef]:
        """Return every message reference of a release."""
        rows = await self._session.scalars(
            select(MessageRefRow).where(MessageRefRow.release_id == release_id)
        )
        return [_ref(row) for row in rows]

    async def find_by_message(self, message_id: int) -> MessageRef | None:
        """Return the reference of `message_id`, if any."""
        row = await self._session.scalar(
            select(MessageRefRow).where(MessageRefRow.message_id == message_id)
        )
        return _ref(row) if row else None


def _ref(row: MessageRefRow) -> MessageRef:
    return MessageRef(row.release_id, row.kind, row.key, row.channel_id, row.message_id)


# How long a writer waits for its turn in the process's queue before giving up (StoreBusy):
# as long as a PostgreSQL writer waits for the lock (`bot.store.db.LOCK_TIMEOUT`).
WRITE_TURN_TIMEOUT = 15.0

# (queue, task) holding a turn: a task started meanwhile inherits the context, not the turn.
_holding: contextvars.ContextVar[tuple[WriteQueue, object] | None] = contextvars.ContextVar(
    "releasebot_write_turn", default=None
)


class WriteQueue:
    """One writer at a time per process, first come first served, with a bounded wait."""

    def __init__(self, timeout: float = WRITE_TURN_TIMEOUT) -> None:
        self._lock = asyncio.Lock()
        self.timeout = timeout
        self.waiting = 0

    async def acquire(self) -> bool:
        """Wait for the turn; return False when this task already holds it (nested unit)."""
        if _holding.get() == (self, asyncio.current_task()):
            return False  # nesting keeps today's behaviour: the database decides
        self.waiting += 1
        try:
            # `asyncio.timeout` arms one timer; `wait_for` would also wrap the wait in a Task
            # and cost the turn an extra pass of the event loop, on every write.
            async with asyncio.timeout(self.timeout):
                await self._lock.acquire()
        except TimeoutError:
            raise StoreBusy(
                f"no turn to write within {self.timeout:g} s ({self.waiting} writers queued)"
            ) from None
        finally:
            self.waiting -= 1
        _holding.set((self, asyncio.current_task()))
        return True

    def release(self) -> None:
        """Give the turn to the next writer."""
        _holding.set(None)
        self._lock.release()


class SqlUnitOfWork:
    """One transaction over the store; commit once, roll back on error or when not committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        after_commit: Sequence[Callable[[SqlUnitOfWork], None]] = (),
        *,
        queue: WriteQueue | None = None,
        read_only: bool = False,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._after_commit = after_commit
        self._session: AsyncSession | None = None
        self._queue = queue
        self._turn = False
        self.read_only = read_only

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._queue is not None:
            self._turn = await self._queue.acquire()
        self._session = self._sessions()
        try:
            await self._session.begin()
            # BEGIN is lazy: take the snapshot or the write lock now, inside this guard.
            await self._session.connection()
        except BaseException as error:
            await self._session.close()
            self._session = None
            self._end_turn()
            _raise_busy(error)
            raise
        now = self._clock.now()
        self.session = self._session
        self.releases = SqlReleaseRepository(self._session, now)
        self.audit = SqlAuditLog(self._session)
        self.messages = SqlMessageRefs(self._session)
        self.timers = SqlTimers(self._session, now)
        self.outbox = SqlOutbox(self._session, now)
        self.incidents = SqlIncidentRepository(self._session, now)
        self.monitoring = SqlMonitoringRepository(self._session, now)
        self.rollouts = SqlRolloutRecords(self._session, now)
        self.reports = SqlReportRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            if self._session.in_transaction():
                await self._session.rollback()
        finally:
            await self._session.close()
            self._session = None
            self._end_turn()
        if exc is not None:
            _raise_busy(exc)

    async def commit(self) -> None:
        """Commit the transaction (and let the next writer go: the lock is free now)."""
        assert self._session is not None
        try:
            await self._session.commit()
        finally:
            self._end_turn()
        for hook in self._after_commit:
            hook(self)

    def _end_turn(self) -> None:
        if self._turn and self._queue is not None:
            self._turn = False
            self._queue.release()


def _raise_busy(error: BaseException) -> None:
    """Raise StoreBusy from a "try again" database error; return for any other error."""
    if is_busy(error):
        raise StoreBusy(f"the database is busy: {str(error).splitlines()[0][:200]}") from error


class SqlUnitOfWorkFactory:
    """Open a fresh `SqlUnitOfWork` per use-case."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        # Called after every commit: wakes the scheduler for new timers and the outbox dispatcher.
        self.after_commit: list[Callable[[SqlUnitOfWork], None]] = []
        self.queue = WriteQueue()
        bind = sessions.kw.get("bind")
        self.readers = (
            async_sessionmaker(
                reader_engine(bind), **{k: v for k, v in sessions.kw.items() if k != "bind"}
            )
            if isinstance(bind, AsyncEngine)
            else sessions
        )

    def __call__(self, *, read_only: bool = False) -> SqlUnitOfWork:
        """Return a new unit of work (read-only: no write lock, no queue, writes refused)."""
        if read_only:
            return SqlUnitOfWork(self.readers, self.clock, read_only=True)
        return SqlUnitOfWork(self.sessions, self.clock, self.after_commit, queue=self.queue)


__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory", "WriteQueue"]

"""The unit of work: one session, one transaction, repositories sharing it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.ports import MessageRef
from bot.incidents.store.repository import SqlIncidentRepository
from bot.monitoring.store.repository import SqlMonitoringRepository
from bot.releases.store.repository import SqlReleaseRepository, audit_event, audit_row
from bot.reports.store.repository import SqlReportRepository
from bot.rollouts.store.repository import SqlRolloutRecords
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


class SqlUnitOfWork:
    """One transaction over the store; commit once, roll back on error or when not committed."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        after_commit: Sequence[Callable[[SqlUnitOfWork], None]] = (),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._after_commit = after_commit
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        self._session = self._sessions()
        await self._session.begin()
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

    async def commit(self) -> None:
        """Commit the transaction."""
        assert self._session is not None
        await self._session.commit()
        for hook in self._after_commit:
            hook(self)


class SqlUnitOfWorkFactory:
    """Open a fresh `SqlUnitOfWork` per use-case."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        # Called after every commit: wakes the scheduler for new timers and the outbox dispatcher.
        self.after_commit: list[Callable[[SqlUnitOfWork], None]] = []

    def __call__(self) -> SqlUnitOfWork:
        """Return a new unit of work."""
        return SqlUnitOfWork(self.sessions, self.clock, self.after_commit)


__all__ = ["SqlUnitOfWork", "SqlUnitOfWorkFactory"]

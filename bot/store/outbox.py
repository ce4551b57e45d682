"""The SQL outbox store behind the dispatcher: claim with a lease, mark outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.core.redaction import redact
from bot.runtime.outbox import OutboxMessage
from bot.store.tables import OutboxRow
from bot.store.timers import SqlOutbox

SENDING = "sending"


def _message(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(
        row.id,
        row.kind,
        dict(row.payload),
        row.idempotency_key,
        row.attempts,
        row.next_attempt_at,
        row.status,
        row.order_key,
        row.created_at,
    )


DEFAULT_LEASE = timedelta(seconds=15)


def _claimable() -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Return (due status, waits for an older message of its order) for outbox queries."""
    due = or_(OutboxRow.status == "pending", OutboxRow.status == SENDING)
    older = aliased(OutboxRow)
    waits_for_older = exists().where(
        older.order_key == OutboxRow.order_key,
        older.id < OutboxRow.id,
        older.status.in_(("pending", SENDING)),
    )
    return due, waits_for_older


class SqlOutboxStore:
    """Outbox rows for the dispatcher; each call is its own short transaction.

    A claim leases a message for `lease` (seconds: a crash mid-send delays it by no more).
    One process at a time runs the outbox on a database: the only one on SQLite, the leader
    on PostgreSQL (`bot.runtime.leader`). So at start-up, or on taking the lead, `reclaim()`
    makes every lease left by an earlier process due at once: that process is dead or fenced
    (its epoch is stale, so its transactions are refused and its sends not confirmed).
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], lease: timedelta = DEFAULT_LEASE
    ) -> None:
        self._sessions = sessions
        self._lease = lease

    async def reclaim(self, now: datetime) -> int:
        """Make every message a previous process left "sending" due now; return how many."""
        async with self._sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.status == SENDING)
                .values(status="pending", next_attempt_at=now)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def next_due(self) -> datetime | None:
        """Return when the earliest claimable message is due (None: nothing waits)."""
        due, waits_for_older = _claimable()
        async with self._sessions() as session:
            return await session.scalar(
                select(func.min(OutboxRow.next_attempt_at)).where(due, ~waits_for_older)
            )

    async def delivered_before(self, msg: OutboxMessage) -> bool:
        """Return True if an older message of `msg`'s order key was delivered."""
        if not msg.order_key:
            return True
        async with self._sessions() as session:
            found = await session.scalar(
                select(OutboxRow.id)
                .where(
                    OutboxRow.order_key == msg.order_key,
                    OutboxRow.id < msg.id,
                    OutboxRow.status == "delivered",
                )
                .limit(1)
            )
            return found is not None

    async def claim_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Lease up to `limit` due messages so no concurrent pass sends them too."""
        due, waits_for_older = _claimable()
        async with self._sessions() as session, session.begin():
            ids = list(
                await session.scalars(
                    select(OutboxRow.id)
                    .where(due, OutboxRow.next_attempt_at <= now, ~waits_for_older)
                    .order_by(OutboxRow.id)
                    .limit(limit)
                    # PostgreSQL: row locks on top of the write lock (bot.store.db), so even a
                    # claim outside it never waits for, or takes, a row another pass holds.
                    # SQLite has no row locks and renders nothing here.
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            # A lease, not a lock: if we crash mid-send the message becomes due again later.
            # RETURNING gives exactly the rows this pass won; a concurrent pass gets the others.
            claimed = await session.scalars(
                update(OutboxRow)
                .where(OutboxRow.id.in_(ids), due, OutboxRow.next_attempt_at <= now)
                .values(status=SENDING, next_attempt_at=now + self._lease)
                .returning(OutboxRow)
                .execution_options(populate_existing=True)
            )
            rows = sorted(claimed.all(), key=lambda row: row.id)
            return [_message(row) for row in rows]

    async def _finish(self, msg_id: int, **values: Any) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == msg_id)
                .values(attempts=OutboxRow.attempts + 1, **values)
            )

    async def mark_delivered(self, msg_id: int, now: datetime, detail: str | None) -> None:
        """Record a delivery."""
        await self._finish(msg_id, status="delivered", delivered_at=now, result=detail)

    async def mark_retry(
        self,
        msg_id: int,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
        *,
        count: bool = True,
    ) -> None:
        """Record a failed attempt (counted unless throttled) and when to try again."""
        values = {
            "status": "pending",
            "next_attempt_at": next_attempt_at,
            "last_error": redact(error)[:2000],
        }
        if count:
            await self._finish(msg_id, **values)
            return
        async with self._sessions() as session, session.begin():
            await session.execute(update(OutboxRow).where(OutboxRow.id == msg_id).values(**values))

    async def mark_dead(self, msg_id: int, now: datetime, error: str) -> None:
        """Record that the message will never be delivered."""
        await self._finish(msg_id, status="dead", last_error=redact(error)[:2000])

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        now: datetime,
        *,
        order_key: str | None = None,
    ) -> int:
        """Store a message (a repeated key returns the existing id)."""
        async with self._sessions() as session, session.begin():
            new_id = await SqlOutbox(session, now).enqueue(
                kind, payload, idempotency_key, now, order_key=order_key
            )
            if new_id is not None:
                return new_id
            existing = await session.scalar(
                select(OutboxRow.id).where(OutboxRow.idempotency_key == idempotency_key[:255])
            )
            assert existing is not None
            return existing

    async def messages(self, *, kind: str | None = None) -> list[tuple[OutboxMessage, str | None]]:
        """Return every message (with its last error), oldest first: for status views and tests."""
        async with self._sessions() as session:
            query = select(OutboxRow).order_by(OutboxRow.id)
            if kind is not None:
                query = query.where(OutboxRow.kind == kind)
            return [(_message(row), row.last_error) for row in await session.scalars(query)]

"""Durable timers and the outbox, in the unit of work's session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.timers import TimerRecord, TimerStatus
from bot.store.tables import OutboxRow, TimerRow

_TABLE = cast(Table, TimerRow.__table__)
_OUTBOX = cast(Table, OutboxRow.__table__)
_PENDING = TimerStatus.PENDING.value


def _by_id_with(status: str) -> Any:
    """Return a `status` test that no index can serve, for statements that pick rows by id.

    `id IN (...) AND status = ?` made SQLite walk the (status, due_at) index over every
    pending timer (it has no statistics telling it that `status` is not selective), so each
    claim of a batch cost more the longer the backlog: 1 ms at 1,000 overdue timers, 6 ms at
    50,000. `status || ''` is the same test written so that the planner looks rows up by
    primary key instead, on SQLite and PostgreSQL alike.
    """
    return _TABLE.c.status.concat("") == status


def _record(row: Any) -> TimerRecord:
    """Return the record of an ORM row or of a Core row of the `timers` table."""
    return TimerRecord(
        row.id,
        row.kind,
        row.ref_id,
        row.due_at,
        row.token,
        dict(row.payload or {}),
        TimerStatus(row.status),
        row.attempts,
    )


# (kind, ref_id, due_at, token, payload): a pending timer for `SqlTimers.schedule_many`.
NewTimer = tuple[str, int, datetime, int, Mapping[str, Any]]
# (kind, payload, idempotency_key, order_key): a message for `SqlOutbox.enqueue_many`.
NewMessage = tuple[str, Mapping[str, Any], str, str | None]


class SqlTimers:
    """Schedule, cancel, list and claim durable timers."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self.scheduled: list[datetime] = []  # due times added in this unit of work (to wake up)
        self.claimed: list[int] = []  # timers this unit of work fired (once it commits)

    async def schedule(
        self,
        kind: str,
        ref_id: int,
        due_at: datetime,
        *,
        token: int = 0,
        payload: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a pending timer and return its id."""
        row = TimerRow(
            kind=kind,
            ref_id=ref_id,
            due_at=due_at,
            token=token,
            payload=dict(payload or {}),
            status=TimerStatus.PENDING.value,
            attempts=0,
            created_at=self._now,
        )
        self._session.add(row)
        await self._session.flush()
        self.scheduled.append(due_at)
        return row.id

    async def cancel(self, kind: str | None, ref_id: int, *, kinds: Sequence[str] = ()) -> int:
        """Cancel pending timers of `ref_id` (of `kind`, or any of `kinds`); return how many."""
        wanted = [kind] if kind else list(kinds)
        query = update(TimerRow).where(
            TimerRow.ref_id == ref_id, TimerRow.status == TimerStatus.PENDING.value
        )
        if wanted:
            query = query.where(TimerRow.kind.in_(wanted))
        result = await self._session.execute(
            query.values(status=TimerStatus.CANCELLED.value, fired_at=self._now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int = 100) -> Sequence[TimerRecord]:
        """Return pending timers due at or before `now`, earliest first."""
        # A Core select: the rows are only read, so no ORM identity map to fill per timer.
        rows = await self._session.execute(
            select(_TABLE)
            .where(_TABLE.c.status == _PENDING, _TABLE.c.due_at <= now)
            .order_by(_TABLE.c.due_at, _TABLE.c.id)
            .limit(limit)
        )
        return [_record(row) for row in rows]

    async def pending_keys(
        self, ref_ids: Sequence[int], kinds: Sequence[str]
    ) -> list[tuple[int, str, str]]:
        """Return (ref_id, kind, payload key) of the pending timers of `kinds` of `ref_ids`.

        Just those columns, in one query: what a bulk due-time sync compares. The key is read
        out of the payload by the database, so no payload is parsed here.
        """
        if not ref_ids:
            return []
        rows = await self._session.execute(
            select(_TABLE.c.ref_id, _TABLE.c.kind, _TABLE.c.payload["key"].as_string()).where(
                _TABLE.c.ref_id.in_(list(ref_ids)),
                _TABLE.c.kind.in_(list(kinds)),
                _TABLE.c.status == _PENDING,
            )
        )
        return [(ref_id, kind, str(key)) for ref_id, kind, key in rows]

    async def cancel_many(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Cancel the pending timers of each (kind, ref_id) pair, in one statement."""
        if not pairs:
            return
        await self._session.execute(
            update(_TABLE)
            .where(
                and_(
                    _TABLE.c.kind == bindparam("b_kind"),
                    _TABLE.c.ref_id == bindparam("b_ref"),
                    _TABLE.c.status == _PENDING,
                )
            )
            .values(status=TimerStatus.CANCELLED.value, fired_at=self._now),
            [{"b_kind": kind, "b_ref": ref_id} for kind, ref_id in pairs],
        )

    async def schedule_many(self, timers: Sequence[NewTimer]) -> None:
        """Store several pending timers in one statement (their ids are not needed)."""
        if not timers:
            return
        await self._session.execute(
            insert(_TABLE),
            [
                {
                    "kind": kind,
                    "ref_id": ref_id,
                    "due_at": due_at,
                    "token": token,
                    "payload": dict(payload),
                    "status": _PENDING,
                    "attempts": 0,
                    "created_at": self._now,
                }
                for kind, ref_id, due_at, token, payload in timers
            ],
        )
        self.scheduled.extend(due_at for _, _, due_at, _, _ in timers)

    async def pending(
        self, *, kind: str | None = None, ref_id: int | None = None
    ) -> Sequence[TimerRecord]:
        """Return pending timers, earliest first."""
        query = select(TimerRow).where(TimerRow.status == TimerStatus.PENDING.value)
        if kind is not None:
            query = query.where(TimerRow.kind == kind)
        if ref_id is not None:
            query = query.where(TimerRow.ref_id == ref_id)
        rows = await self._session.scalars(query.order_by(TimerRow.due_at, TimerRow.id))
        return [_record(row) for row in rows]

    async def next_due(self) -> datetime | None:
        """Return the earliest pending due time."""
        return await self._session.scalar(
            select(func.min(TimerRow.due_at)).where(TimerRow.status == TimerStatus.PENDING.value)
        )

    async def claim(self, timer_id: int, now: datetime) -> bool:
        """Mark a pending timer fired; return False if someone else already did (exactly once)."""
        result = await self._session.execute(
            update(TimerRow)
            .where(TimerRow.id == timer_id, TimerRow.status == TimerStatus.PENDING.value)
            .values(status=TimerStatus.FIRED.value, fired_at=now)
        )
        if int(result.rowcount) != 1:  # type: ignore[attr-defined]
            return False
        self.claimed.append(timer_id)
        return True

    async def claim_many(self, timer_ids: Sequence[int], now: datetime) -> set[int]:
        """Claim several pending timers in one statement; return the ids this call claimed."""
        if not timer_ids:
            return set()
        result = await self._session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(list(timer_ids)), _by_id_with(_PENDING))
            .values(status=TimerStatus.FIRED.value, fired_at=now)
            .returning(_TABLE.c.id)
        )
        claimed = set(result.scalars().all())
        self.claimed.extend(i for i in timer_ids if i in claimed)
        return claimed

    async def unclaim(self, timer_ids: Sequence[int]) -> None:
        """Give back claims made earlier in this same unit of work (they were not fired)."""
        if not timer_ids:
            return
        await self._session.execute(
            update(_TABLE)
            .where(_TABLE.c.id.in_(list(timer_ids)), _by_id_with(TimerStatus.FIRED.value))
            .values(status=_PENDING, fired_at=None)
        )
        given_back = set(timer_ids)
        self.claimed = [i for i in self.claimed if i not in given_back]

    async def postpone(self, timer_id: int, due_at: datetime, error: str) -> None:
        """Push a failed timer back, counting the attempt."""
        await self._session.execute(
            update(TimerRow)
            .where(TimerRow.id == timer_id)
            .values(
                due_at=due_at,
                attempts=TimerRow.attempts + 1,
                last_error=error[:2000],
                status=TimerStatus.PENDING.value,
            )
        )


class SqlOutbox:
    """Enqueue notifications in the unit of work's transaction (idempotent on the key)."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self.enqueued = 0

    @staticmethod
    def _row(
        kind: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        order_key: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        """Return the column values of a new pending message (shared by both enqueues)."""
        return {
            "kind": kind,
            "payload": dict(payload),
            "idempotency_key": idempotency_key[:255],
            "order_key": order_key[:255] if order_key else None,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        now: datetime | None = None,
        *,
        order_key: str | None = None,
    ) -> int | None:
        """Store a message to deliver; a repeated key is ignored. Return the id if new.

        Messages sharing an `order_key` are delivered strictly one after another.
        """
        values = self._row(kind, payload, idempotency_key, order_key, now or self._now)
        dialect = self._session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        result = await self._session.execute(
            insert(OutboxRow).values(**values).on_conflict_do_nothing().returning(OutboxRow.id)
        )
        new_id = result.scalar()
        if new_id is not None:
            self.enqueued += 1
        return new_id

    async def enqueue_many(self, messages: Sequence[NewMessage]) -> None:
        """Store several messages in one statement, in order; repeated keys are ignored."""
        if not messages:
            return
        dialect = self._session.get_bind().dialect.name
        insert_ = postgresql_insert if dialect == "postgresql" else sqlite_insert
        result = await self._session.execute(
            insert_(_OUTBOX).on_conflict_do_nothing(),
            [
                self._row(kind, payload, key, order_key, self._now)
                for kind, payload, key, order_key in messages
            ],
        )
        # rowcount sums an executemany's inserted rows (-1 where a driver cannot say: assume all)
        count = int(result.rowcount)  # type: ignore[attr-defined]
        self.enqueued += count if count >= 0 else len(messages)

"""Rollout operation repository: rows <-> `RolloutOperation`, and the in-flight guard."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actors import Source
from bot.core.errors import ConcurrentUpdate, UnknownTarget
from bot.rollouts.domain import (
    IN_FLIGHT,
    OperationKind,
    OperationStatus,
    RolloutInFlight,
    RolloutOperation,
)
from bot.rollouts.store.tables import RolloutOperationRow

_FIELDS = (
    "release_id",
    "service",
    "environment",
    "namespace",
    "deployment",
    "requested_by_id",
    "requested_by_name",
    "requested_at",
    "started_at",
    "finished_at",
    "from_revision",
    "to_revision",
    "new_revision",
    "generation",
    "trigger",
    "override_reason",
    "progress",
    "detail",
    "silence_id",
)


def _operation(row: RolloutOperationRow) -> RolloutOperation:
    op = RolloutOperation(
        kind=OperationKind(row.kind),
        release_id=row.release_id,
        service=row.service,
        environment=row.environment,
        namespace=row.namespace,
        deployment=row.deployment,
        requested_by_id=row.requested_by_id,
        requested_by_name=row.requested_by_name,
        source=Source(row.source),
        requested_at=row.requested_at,
        id=row.id,
        status=OperationStatus(row.status),
    )
    for name in _FIELDS[8:]:
        setattr(op, name, getattr(row, name))
    op.ticked = tuple(str(item) for item in row.ticked or ())
    op.version = row.version
    return op


def _values(op: RolloutOperation) -> dict[str, object]:
    values: dict[str, object] = {name: getattr(op, name) for name in _FIELDS}
    values.update(
        kind=op.kind.value, status=op.status.value, source=op.source.value, ticked=list(op.ticked)
    )
    return values


def describe_in_flight(op: RolloutOperation) -> str:
    """Return the sentence that refuses a second operation while `op` is in flight."""
    return (
        f"a {op.kind} of {op.target} is already in progress (#{op.id}, requested by "
        f"{op.requested_by_name} at {op.requested_at:%H:%M:%S} UTC); wait for it to finish"
    )


class SqlRolloutRecords:
    """Store rollout operations in the unit of work's session."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self.requested: list[int] = []  # operations requested in this unit of work (to run)

    async def add(self, op: RolloutOperation) -> int:
        """Insert `op`; raise RolloutInFlight if one of its kind is in flight on its target."""
        holder = await self.in_flight(op.kind, op.namespace, op.deployment)
        if holder is not None and op.in_flight:
            raise RolloutInFlight(describe_in_flight(holder))
        row = RolloutOperationRow(**_values(op), version=0)
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError:
            # Another transaction won the race between our check and our insert.
            raise RolloutInFlight(
                f"a {op.kind} of {op.target} is already in progress; wait for it to finish"
            ) from None
        op.id, op.version = row.id, 0
        if op.status is OperationStatus.REQUESTED:
            self.requested.append(row.id)
        return row.id

    async def get(self, op_id: int) -> RolloutOperation:
        """Return operation `op_id` or raise UnknownTarget."""
        row = await self._session.get(RolloutOperationRow, op_id, populate_existing=True)
        if row is None:
            raise UnknownTarget(f"there is no rollback or deploy #{op_id}")
        return _operation(row)

    async def save(self, op: RolloutOperation) -> None:
        """Persist `op` if nobody saved it since it was read; its version goes up by one."""
        if op.id is None:
            raise UnknownTarget("cannot save an operation that was never added")
        result = await self._session.execute(
            update(RolloutOperationRow)
            .where(RolloutOperationRow.id == op.id, RolloutOperationRow.version == op.version)
            .values(**_values(op), version=op.version + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            raise ConcurrentUpdate(f"{op.kind} #{op.id} was changed by someone else")
        op.version += 1

    async def claim(self, op_id: int, now: datetime) -> RolloutOperation | None:
        """Move a requested operation to in progress; None if it was not requested any more."""
        result = await self._session.execute(
            update(RolloutOperationRow)
            .where(
                RolloutOperationRow.id == op_id,
                RolloutOperationRow.status == OperationStatus.REQUESTED.value,
            )
            .values(
                status=OperationStatus.IN_PROGRESS.value,
                started_at=now,
                version=RolloutOperationRow.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            return None
        return await self.get(op_id)

    async def in_flight(
        self, kind: OperationKind, namespace: str, deployment: str
    ) -> RolloutOperation | None:
        """Return the operation of `kind` in flight on the Deployment, if any."""
        row = await self._session.scalar(
            select(RolloutOperationRow).where(
                RolloutOperationRow.kind == kind.value,
                RolloutOperationRow.namespace == namespace,
                RolloutOperationRow.deployment == deployment,
                RolloutOperationRow.status.in_([s.value for s in IN_FLIGHT]),
            )
        )
        return _operation(row) if row is not None else None

    async def with_status(
        self, statuses: Collection[OperationStatus], limit: int = 100
    ) -> Sequence[RolloutOperation]:
        """Return operations in any of `statuses`, oldest first."""
        rows = await self._session.scalars(
            select(RolloutOperationRow)
            .where(RolloutOperationRow.status.in_([s.value for s in statuses]))
            .order_by(RolloutOperationRow.id)
            .limit(limit)
        )
        return [_operation(row) for row in rows]

    async def for_release(
        self, release_id: int, kind: OperationKind | None = None
    ) -> Sequence[RolloutOperation]:
        """Return the release's operations, oldest first."""
        query = select(RolloutOperationRow).where(RolloutOperationRow.release_id == release_id)
        if kind is not None:
            query = query.where(RolloutOperationRow.kind == kind.value)
        rows = await self._session.scalars(query.order_by(RolloutOperationRow.id))
        return [_operation(row) for row in rows]

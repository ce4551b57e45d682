"""Monitoring repository: rows <-> windows, measurements, condition states and alerts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.errors import ConcurrentUpdate
from bot.domain.monitoring.records import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    PollInProgress,
    Silence,
    StoredCondition,
    WatchedCondition,
    WindowRecord,
    WindowStatus,
    stages_from_json,
    stages_to_json,
)
from bot.domain.monitoring.schedule import MonitoringWindow
from bot.domain.monitoring.tracker import ConditionState
from bot.domain.monitoring.verdicts import Measurement, Verdict, check_operator
from bot.store.monitoring_tables import (
    ConditionStateRow,
    MeasurementRow,
    MonitoringAlertRow,
    MonitoringWindowRow,
)

_OPEN_ALERT_STATUSES = [status.value for status in AlertStatus if status.open]


def _marker_json(marker: PollInProgress | None) -> dict[str, Any] | None:
    if marker is None:
        return None
    return {
        "slot": marker.slot.isoformat(),
        "attempt": marker.attempt,
        "kind": marker.kind,
        "lease_until": marker.lease_until.isoformat(),
        "conditions": list(marker.conditions),
        "retry": marker.retry,
    }


def _marker(raw: dict[str, Any] | None) -> PollInProgress | None:
    if not raw:
        return None
    return PollInProgress(
        slot=datetime.fromisoformat(raw["slot"]),
        attempt=int(raw["attempt"]),
        kind=str(raw["kind"]),
        lease_until=datetime.fromisoformat(raw["lease_until"]),
        conditions=tuple(raw.get("conditions", ())),
        retry=int(raw.get("retry", 0)),
    )


def _window(row: MonitoringWindowRow) -> WindowRecord:
    window = MonitoringWindow(
        opened_at=row.opened_at,
        stages=stages_from_json(row.stages),
        paused_at=row.paused_at,
        resumed_at=row.resumed_at,
        extended_by=timedelta(seconds=row.extended_by_s),
    )
    return WindowRecord(
        release_id=row.release_id,
        service=row.service,
        window=window,
        conditions=tuple(WatchedCondition.from_json(raw) for raw in row.conditions),
        id=row.id,
        status=WindowStatus(row.status),
        schedule_token=row.schedule_token,
        revision=row.revision,
        next_due_at=row.next_due_at,
        polls_done=row.polls_done,
        polls_coalesced=row.polls_coalesced,
        last_polled_at=row.last_polled_at,
        in_progress=_marker(row.poll_marker),
        closed_at=row.closed_at,
    )


def _window_values(record: WindowRecord) -> dict[str, Any]:
    window = record.window
    return {
        "release_id": record.release_id,
        "service": record.service,
        "opened_at": window.opened_at,
        "stages": stages_to_json(window.stages),
        "conditions": [c.to_json() for c in record.conditions],
        "closes_at": window.closes_at,
        "paused_at": window.paused_at,
        "resumed_at": window.resumed_at,
        "extended_by_s": window.extended_by.total_seconds(),
        "status": record.status.value,
        "schedule_token": record.schedule_token,
        "next_due_at": record.next_due_at,
        "polls_done": record.polls_done,
        "polls_coalesced": record.polls_coalesced,
        "last_polled_at": record.last_polled_at,
        "poll_marker": _marker_json(record.in_progress),
        "closed_at": record.closed_at,
    }


def _measurement(row: MeasurementRow) -> Measurement:
    return Measurement(
        condition=row.condition,
        at=row.at,
        value=row.value,
        verdict=Verdict(row.verdict),
        threshold=row.threshold,
        op=check_operator(row.op),
        query=row.query,
        detail=row.detail,
        error=row.error,
    )


def _alert(row: MonitoringAlertRow, measurement: Measurement) -> AlertRecord:
    return AlertRecord(
        window_id=row.window_id,
        release_id=row.release_id,
        service=row.service,
        condition=row.condition,
        title=row.title,
        severity=row.severity,
        kind=AlertKind(row.kind),
        status=AlertStatus(row.status),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        last_event=row.last_event,
        measurement=measurement,
        source=row.source,
        measurement_id=row.measurement_id,
        id=row.id,
        evaluations=row.evaluations,
        acknowledged_by_id=row.acknowledged_by_id,
        acknowledged_by_name=row.acknowledged_by_name,
        acknowledged_at=row.acknowledged_at,
        ended_at=row.ended_at,
    )


def _alert_values(alert: AlertRecord) -> dict[str, Any]:
    if alert.measurement_id is None:
        raise ValueError(f"alert on {alert.condition!r} needs the id of its stored measurement")
    return {
        "window_id": alert.window_id,
        "release_id": alert.release_id,
        "service": alert.service,
        "condition": alert.condition,
        "title": alert.title[:200],
        "severity": alert.severity,
        "kind": alert.kind.value,
        "status": alert.status.value,
        "opened_at": alert.opened_at,
        "updated_at": alert.updated_at,
        "last_event": alert.last_event,
        "measurement_id": alert.measurement_id,
        "source": alert.source,
        "evaluations": alert.evaluations,
        "acknowledged_by_id": alert.acknowledged_by_id,
        "acknowledged_by_name": alert.acknowledged_by_name,
        "acknowledged_at": alert.acknowledged_at,
        "ended_at": alert.ended_at,
    }


class SqlMonitoringRepository:
    """Monitoring state in the unit of work's session."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    # ----- windows ---------------------------------------------------------------------------

    async def add_window(self, record: WindowRecord) -> int:
        """Insert a window and return its id (also set on `record`)."""
        row = MonitoringWindowRow(**_window_values(record), revision=0)
        self._session.add(row)
        await self._session.flush()
        record.id, record.revision = row.id, 0
        return row.id

    async def get_window(self, window_id: int) -> WindowRecord | None:
        """Return window `window_id`, if it exists."""
        row = await self._session.get(MonitoringWindowRow, window_id, populate_existing=True)
        return _window(row) if row is not None else None

    async def window_for_release(self, release_id: int) -> WindowRecord | None:
        """Return the window of release `release_id`, if one was opened."""
        row = await self._session.scalar(
            select(MonitoringWindowRow)
            .where(MonitoringWindowRow.release_id == release_id)
            .execution_options(populate_existing=True)
        )
        return _window(row) if row is not None else None

    async def open_windows(self, service: str | None = None) -> Sequence[WindowRecord]:
        """Return every open window (of `service`, when given), oldest first."""
        query = select(MonitoringWindowRow).where(
            MonitoringWindowRow.status == WindowStatus.OPEN.value
        )
        if service is not None:
            query = query.where(MonitoringWindowRow.service == service)
        rows = await self._session.scalars(
            query.order_by(MonitoringWindowRow.id).execution_options(populate_existing=True)
        )
        return [_window(row) for row in rows]

    async def save_window(self, record: WindowRecord) -> None:
        """Store `record` unless someone saved it first (then raise ConcurrentUpdate)."""
        result = await self._session.execute(
            update(MonitoringWindowRow)
            .where(
                MonitoringWindowRow.id == record.key,
                MonitoringWindowRow.revision == record.revision,
            )
            .values(**_window_values(record), revision=record.revision + 1)
            .execution_options(synchronize_session=False)
        )
        if int(result.rowcount) != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(
                f"monitoring window #{record.key} changed meanwhile (revision {record.revision})"
            )
        record.revision += 1

    # ----- condition states ------------------------------------------------------------------

    async def conditions(self, window_id: int) -> dict[str, StoredCondition]:
        """Return the stored tracker state of every condition measured in the window."""
        rows = list(
            await self._session.scalars(
                select(ConditionStateRow)
                .where(ConditionStateRow.window_id == window_id)
                .execution_options(populate_existing=True)
            )
        )
        ids = [row.last_measurement_id for row in rows if row.last_measurement_id is not None]
        lasts: dict[int, Measurement] = {}
        if ids:
            found = await self._session.scalars(
                select(MeasurementRow).where(MeasurementRow.id.in_(ids))
            )
            lasts = {row.id: _measurement(row) for row in found}
        return {row.condition: _stored(row, lasts) for row in rows}

    async def put_condition(
        self, window_id: int, stored: StoredCondition, last_measurement_id: int | None
    ) -> None:
        """Insert or replace one condition's state."""
        state, silence = stored.state, stored.silence
        values = {
            "consecutive_breaches": state.consecutive_breaches,
            "consecutive_blind": state.consecutive_blind,
            "met": state.met,
            "warned": state.warned,
            "blind": state.blind,
            "last_measurement_id": last_measurement_id,
            "silenced_until": silence.until if silence else None,
            "silence_reason": silence.reason if silence else None,
            "silenced_by_id": silence.by_id if silence else None,
            "silenced_by_name": silence.by_name if silence else None,
        }
        # One upsert statement: cheaper than merge()'s SELECT-then-write on every poll.
        insert = postgresql_insert if self._dialect() == "postgresql" else sqlite_insert
        statement = insert(ConditionStateRow).values(
            window_id=window_id, condition=state.name, **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[ConditionStateRow.window_id, ConditionStateRow.condition],
                set_=values,
            )
        )

    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    # ----- measurements ----------------------------------------------------------------------

    async def add_measurement(
        self, window_id: int, release_id: int, measurement: Measurement, source: str
    ) -> int:
        """Store one measurement and return its id (NaN is stored as no value)."""
        value = measurement.value
        row = MeasurementRow(
            window_id=window_id,
            release_id=release_id,
            condition=measurement.condition,
            at=measurement.at,
            value=None if value is None or math.isnan(value) else value,
            verdict=measurement.verdict.value,
            threshold=measurement.threshold,
            op=measurement.op,
            query=measurement.query,
            detail=measurement.detail,
            error=measurement.error,
            source=source,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def measurements(
        self, window_id: int, condition: str | None = None
    ) -> Sequence[Measurement]:
        """Return the window's measurements (of `condition`, when given), oldest first."""
        query = select(MeasurementRow).where(MeasurementRow.window_id == window_id)
        if condition is not None:
            query = query.where(MeasurementRow.condition == condition)
        rows = await self._session.scalars(query.order_by(MeasurementRow.at, MeasurementRow.id))
        return [_measurement(row) for row in rows]

    async def count_measurements(self, window_id: int | None = None) -> int:
        """Return how many measurements are stored (in one window, when given)."""
        query = select(func.count(MeasurementRow.id))
        if window_id is not None:
            query = query.where(MeasurementRow.window_id == window_id)
        return int(await self._session.scalar(query) or 0)

    # ----- alerts ----------------------------------------------------------------------------

    async def current_alert(
        self, window_id: int, condition: str, kind: AlertKind
    ) -> AlertRecord | None:
        """Return the open alert episode of `condition` and `kind`, if there is one."""
        row = await self._session.scalar(
            select(MonitoringAlertRow)
            .where(
                MonitoringAlertRow.window_id == window_id,
                MonitoringAlertRow.condition == condition,
                MonitoringAlertRow.kind == kind.value,
                MonitoringAlertRow.status.in_(_OPEN_ALERT_STATUSES),
            )
            .order_by(MonitoringAlertRow.id.desc())
            .limit(1)
            .execution_options(populate_existing=True)
        )
        return await self._with_measurement(row) if row is not None else None

    async def open_alerts(self, window_id: int) -> Sequence[AlertRecord]:
        """Return the window's open alert episodes (at most one per condition and kind)."""
        rows = await self._session.execute(
            select(MonitoringAlertRow, MeasurementRow)
            .join(MeasurementRow, MeasurementRow.id == MonitoringAlertRow.measurement_id)
            .where(
                MonitoringAlertRow.window_id == window_id,
                MonitoringAlertRow.status.in_(_OPEN_ALERT_STATUSES),
            )
            .order_by(MonitoringAlertRow.id)
            .execution_options(populate_existing=True)
        )
        return [_alert(alert, _measurement(measurement)) for alert, measurement in rows]

    async def add_alert(self, alert: AlertRecord) -> int:
        """Insert an alert and return its id (also set on `alert`)."""
        row = MonitoringAlertRow(**_alert_values(alert))
        self._session.add(row)
        await self._session.flush()
        alert.id = row.id
        return row.id

    async def save_alert(self, alert: AlertRecord) -> None:
        """Store the alert's changed fields."""
        await self._session.execute(
            update(MonitoringAlertRow)
            .where(MonitoringAlertRow.id == alert.key)
            .values(**_alert_values(alert))
            .execution_options(synchronize_session=False)
        )

    async def get_alert(self, alert_id: int) -> AlertRecord | None:
        """Return alert `alert_id`, if it exists."""
        row = await self._session.get(MonitoringAlertRow, alert_id, populate_existing=True)
        return await self._with_measurement(row) if row is not None else None

    async def alerts(self, window_id: int) -> Sequence[AlertRecord]:
        """Return every alert of the window, oldest first."""
        rows = await self._session.scalars(
            select(MonitoringAlertRow)
            .where(MonitoringAlertRow.window_id == window_id)
            .order_by(MonitoringAlertRow.id)
            .execution_options(populate_existing=True)
        )
        return [await self._with_measurement(row) for row in rows]

    async def _with_measurement(self, row: MonitoringAlertRow) -> AlertRecord:
        measurement = await self._session.get(MeasurementRow, row.measurement_id)
        assert measurement is not None  # foreign key guarantees it
        return _alert(row, _measurement(measurement))


def _stored(row: ConditionStateRow, lasts: dict[int, Measurement]) -> StoredCondition:
    silence = None
    if row.silenced_until is not None:
        silence = Silence(
            until=row.silenced_until,
            reason=row.silence_reason or "",
            by_id=row.silenced_by_id or "",
            by_name=row.silenced_by_name or "",
        )
    last = lasts.get(row.last_measurement_id) if row.last_measurement_id is not None else None
    state = ConditionState(
        name=row.condition,
        consecutive_breaches=row.consecutive_breaches,
        consecutive_blind=row.consecutive_blind,
        met=row.met,
        warned=row.warned,
        blind=row.blind,
        last=last,
    )
    return StoredCondition(state=state, silence=silence)

"""Monitoring repository: rows <-> windows, measurements, condition states and alerts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.errors import ConcurrentUpdate
from bot.monitoring.domain.records import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    StoredCondition,
    WindowRecord,
    WindowStatus,
)
from bot.monitoring.domain.verdicts import Measurement, Verdict
from bot.monitoring.store.mapping import (
    alert_record,
    alert_values,
    measurement_record,
    stored_condition,
    window_record,
    window_values,
)
from bot.monitoring.store.tables import (
    ActiveAlertRow,
    ConditionStateRow,
    MeasurementRow,
    MonitoringAlertRow,
    MonitoringWindowRow,
)

_OPEN_ALERT_STATUSES = [status.value for status in AlertStatus if status.open]


class SqlMonitoringRepository:
    """Monitoring state in the unit of work's session."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        # Active alerts read ahead by `preload_active` (None: known absent), by primary key.
        self._active: dict[tuple[int, str, str], ActiveAlertRow | None] = {}

    # ----- windows ---------------------------------------------------------------------------

    async def add_window(self, record: WindowRecord) -> int:
        """Insert a window and return its id (also set on `record`)."""
        row = MonitoringWindowRow(**window_values(record), revision=0)
        self._session.add(row)
        await self._session.flush()
        record.id, record.revision = row.id, 0
        return row.id

    async def get_window(self, window_id: int) -> WindowRecord | None:
        """Return window `window_id`, if it exists."""
        row = await self._session.get(MonitoringWindowRow, window_id, populate_existing=True)
        return window_record(row) if row is not None else None

    async def window_for_release(self, release_id: int) -> WindowRecord | None:
        """Return the window of release `release_id`, if one was opened."""
        row = await self._session.scalar(
            select(MonitoringWindowRow)
            .where(MonitoringWindowRow.release_id == release_id)
            .execution_options(populate_existing=True)
        )
        return window_record(row) if row is not None else None

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
        return [window_record(row) for row in rows]

    async def windows_before(
        self, service: str, before: datetime, limit: int = 5
    ) -> Sequence[WindowRecord]:
        """Return up to `limit` windows of `service` opened before `before`, newest first."""
        rows = await self._session.scalars(
            select(MonitoringWindowRow)
            .where(MonitoringWindowRow.service == service, MonitoringWindowRow.opened_at < before)
            .order_by(MonitoringWindowRow.opened_at.desc(), MonitoringWindowRow.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        return [window_record(row) for row in rows]

    async def save_window(self, record: WindowRecord) -> None:
        """Store `record` unless someone saved it first (then raise ConcurrentUpdate)."""
        result = await self._session.execute(
            update(MonitoringWindowRow)
            .where(
                MonitoringWindowRow.id == record.key,
                MonitoringWindowRow.revision == record.revision,
            )
            .values(**window_values(record), revision=record.revision + 1)
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
            lasts = {row.id: measurement_record(row) for row in found}
        return {row.condition: stored_condition(row, lasts) for row in rows}

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
            "total_breaches": state.total_breaches,
            "total_inconclusive": state.total_inconclusive,
            "consecutive_errors": state.consecutive_errors,
            "points": state.points,
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
        return [measurement_record(row) for row in rows]

    async def measurement_near(
        self, window_id: int, condition: str, at: datetime, tolerance: timedelta
    ) -> Measurement | None:
        """Return the conclusive measurement of `condition` nearest `at` within `tolerance`."""
        rows = await self._session.scalars(
            select(MeasurementRow).where(
                MeasurementRow.window_id == window_id,
                MeasurementRow.condition == condition,
                MeasurementRow.value.is_not(None),
                MeasurementRow.verdict.in_([Verdict.PASS.value, Verdict.BREACH.value]),
                MeasurementRow.at >= at - tolerance,
                MeasurementRow.at <= at + tolerance,
            )
        )
        found = [measurement_record(row) for row in rows]
        return min(found, key=lambda m: (abs(m.at - at), m.at), default=None)

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
        return [alert_record(alert, measurement_record(measurement)) for alert, measurement in rows]

    async def add_alert(self, alert: AlertRecord) -> int:
        """Insert an alert and return its id (also set on `alert`)."""
        row = MonitoringAlertRow(**alert_values(alert))
        self._session.add(row)
        await self._session.flush()
        alert.id = row.id
        return row.id

    async def save_alert(self, alert: AlertRecord) -> None:
        """Store the alert's changed fields."""
        await self._session.execute(
            update(MonitoringAlertRow)
            .where(MonitoringAlertRow.id == alert.key)
            .values(**alert_values(alert))
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
        return alert_record(row, measurement_record(measurement))

    # ----- Alertmanager alerts firing per condition ------------------------------------------

    async def active_fingerprints(self, window_id: int, condition: str) -> dict[str, int]:
        """Return the fingerprints firing for `condition` in the window, with their push counts."""
        rows = await self._session.execute(
            select(ActiveAlertRow.fingerprint, ActiveAlertRow.pushes).where(
                ActiveAlertRow.window_id == window_id, ActiveAlertRow.condition == condition
            )
        )
        return {fingerprint: pushes for fingerprint, pushes in rows}

    async def note_firing(
        self,
        window_id: int,
        condition: str,
        fingerprint: str,
        *,
        group_key: str,
        starts_at: datetime,
    ) -> bool:
        """Record one firing push of an alert; return True when the fingerprint is new."""
        key = (window_id, condition, fingerprint)
        # Changes are flushed with the next query or the commit: a batch of new alerts
        # becomes one multi-row INSERT, not one round trip per alert.
        row = (
            self._active[key]
            if key in self._active
            else await self._session.get(ActiveAlertRow, key)
        )
        if row is not None:
            row.pushes += 1
            row.last_seen_at = self._now
            return False
        self._active[key] = ActiveAlertRow(
            window_id=window_id,
            condition=condition,
            fingerprint=fingerprint,
            group_key=group_key,
            starts_at=starts_at,
            first_seen_at=self._now,
            last_seen_at=self._now,
            pushes=1,
        )
        self._session.add(self._active[key])
        return True

    async def preload_active(self, window_id: int, alerts: Iterable[tuple[str, str]]) -> None:
        """Read the window's (condition, fingerprint) alerts in one query, for `note_firing`."""
        wanted = set(alerts)
        if not wanted:
            return
        rows = await self._session.scalars(
            select(ActiveAlertRow).where(
                ActiveAlertRow.window_id == window_id,
                ActiveAlertRow.fingerprint.in_({fingerprint for _, fingerprint in wanted}),
            )
        )
        found = {(row.condition, row.fingerprint): row for row in rows}
        for condition, fingerprint in wanted:
            self._active[(window_id, condition, fingerprint)] = found.get((condition, fingerprint))

    async def note_resolved(self, window_id: int, condition: str, fingerprint: str) -> int:
        """Forget a resolved alert; return how many alerts of `condition` still fire."""
        self._active.pop((window_id, condition, fingerprint), None)
        await self._session.execute(
            delete(ActiveAlertRow).where(
                ActiveAlertRow.window_id == window_id,
                ActiveAlertRow.condition == condition,
                ActiveAlertRow.fingerprint == fingerprint,
            )
        )
        return len(await self.active_fingerprints(window_id, condition))

"""Rows <-> monitoring records: windows, poll markers, measurements, alerts, condition states."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.monitoring.domain.records import (
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
from bot.monitoring.domain.schedule import MonitoringWindow
from bot.monitoring.domain.tracker import ConditionState
from bot.monitoring.domain.verdicts import Measurement, Verdict, check_operator
from bot.monitoring.store.tables import (
    ConditionStateRow,
    MeasurementRow,
    MonitoringAlertRow,
    MonitoringWindowRow,
)


def marker_json(marker: PollInProgress | None) -> dict[str, Any] | None:
    """Return the poll-in-progress marker as JSON (None when no poll is in flight)."""
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


def marker(raw: dict[str, Any] | None) -> PollInProgress | None:
    """Return the marker stored by `marker_json`."""
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


def window_record(row: MonitoringWindowRow) -> WindowRecord:
    """Return the window record of a row."""
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
        in_progress=marker(row.poll_marker),
        closed_at=row.closed_at,
    )


def window_values(record: WindowRecord) -> dict[str, Any]:
    """Return the column values of a window record."""
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
        "poll_marker": marker_json(record.in_progress),
        "closed_at": record.closed_at,
    }


def measurement_record(row: MeasurementRow) -> Measurement:
    """Return the measurement of a row."""
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


def alert_record(row: MonitoringAlertRow, measurement: Measurement) -> AlertRecord:
    """Return the alert record of a row with its current measurement."""
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


def alert_values(alert: AlertRecord) -> dict[str, Any]:
    """Return the column values of an alert (it needs its stored measurement's id)."""
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


def stored_condition(row: ConditionStateRow, lasts: dict[int, Measurement]) -> StoredCondition:
    """Return a condition's tracker state and silence; `lasts` maps measurement ids."""
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
        total_breaches=row.total_breaches,
        total_inconclusive=row.total_inconclusive,
        consecutive_errors=row.consecutive_errors,
        points=row.points,
    )
    return StoredCondition(state=state, silence=silence)

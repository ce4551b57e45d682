"""One transaction's evaluation of a window's measurements: store, observe, alert, hand off.

Alerts are episodes: a breach episode runs from the first breach (or the met condition, when
one breach is enough) to the recovery; a blind episode from "monitoring blind" to the first
conclusive result. Every event of an episode, and every later evaluation while it is open,
updates the same alert row and enqueues an "alert" outbox message naming the alert, so the
Discord side edits one message per place instead of posting a new one each poll.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.core.events import ConditionMet, ConditionRecovered, Publisher
from bot.core.ports import UnitOfWork
from bot.monitoring.domain import (
    BreachLimitReached,
    ConditionState,
    FirstBreach,
    Measurement,
    MonitoringBlind,
    MonitoringEvent,
    Recovered,
    SightRestored,
    observe,
)
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    StoredCondition,
    WatchedCondition,
    WindowRecord,
)
from bot.monitoring.service.config import ALERT_KIND, EVENT_NAMES

PUSHED_SOURCE = "alertmanager"

# Which episode an event opens or moves, and the status it leaves the episode in.
_TRANSITIONS: dict[type[MonitoringEvent], tuple[AlertKind, AlertStatus]] = {
    FirstBreach: (AlertKind.BREACH, AlertStatus.WARNING),
    BreachLimitReached: (AlertKind.BREACH, AlertStatus.FIRING),
    Recovered: (AlertKind.BREACH, AlertStatus.RECOVERED),
    MonitoringBlind: (AlertKind.BLIND, AlertStatus.BLIND),
    SightRestored: (AlertKind.BLIND, AlertStatus.RESTORED),
}


def adhoc_condition(name: str, severity: str, blind_after: int) -> WatchedCondition:
    """Return a condition known only from an Alertmanager alert (its firing is the breach)."""
    return WatchedCondition(
        name=name,
        kind="alertmanager",
        title=name.replace("_", " "),
        severity=severity,
        threshold=0.0,
        op=">",
        breaches=1,
        blind_after=blind_after,
        query=f"Alertmanager alert {name}",
    )


@dataclass
class Evaluation:
    """Evaluate measurements of one window inside the caller's unit of work."""

    uow: UnitOfWork
    repo: MonitoringRepository
    window: WindowRecord
    events: Publisher
    source: str
    now: datetime
    _open: dict[tuple[str, AlertKind], AlertRecord] = field(default_factory=dict, init=False)

    async def run(
        self, measurements: list[Measurement], extra: dict[str, WatchedCondition] | None = None
    ) -> list[MonitoringEvent]:
        """Store and observe every measurement; return the tracker events raised."""
        states = await self.repo.conditions(self.window.key)
        self._open = {
            (alert.condition, alert.kind): alert
            for alert in await self.repo.open_alerts(self.window.key)
        }
        raised: list[MonitoringEvent] = []
        for measurement in measurements:
            watched = self.window.condition(measurement.condition) or (extra or {}).get(
                measurement.condition
            )
            if watched is None:
                raise ValueError(
                    f"measurement of {measurement.condition!r}, which window "
                    f"#{self.window.key} does not watch"
                )
            stored = states.get(measurement.condition) or StoredCondition(
                ConditionState(measurement.condition)
            )
            states[measurement.condition], events = await self._one(watched, stored, measurement)
            raised.extend(events)
        return raised

    async def _one(
        self, watched: WatchedCondition, stored: StoredCondition, measurement: Measurement
    ) -> tuple[StoredCondition, list[MonitoringEvent]]:
        measurement_id = await self.repo.add_measurement(
            self.window.key, self.window.release_id, measurement, self.source
        )
        spec = watched.spec()
        if self.source == PUSHED_SOURCE:
            # Alertmanager already waited its own `for:` before firing: one push is enough.
            spec = replace(spec, breaches=1)
        state, events = observe(stored.state, measurement, spec)
        stored = replace(stored, state=state)
        await self.repo.put_condition(self.window.key, stored, measurement_id)
        touched: set[AlertKind] = set()
        for event in events:
            kind = await self._apply(watched, event, measurement_id)
            touched.add(kind)
        for kind in AlertKind:
            if kind not in touched:
                await self._refresh(watched.name, kind, measurement, measurement_id)
        return stored, events

    async def _apply(
        self, watched: WatchedCondition, event: MonitoringEvent, measurement_id: int
    ) -> AlertKind:
        kind, status = _TRANSITIONS[type(event)]
        alert = self._open.get((watched.name, kind))
        if alert is None and not status.open:
            return kind  # recovery of an episode that was never alerted (nothing to update)
        if alert is None:
            alert = self._new_alert(watched, kind, status, event, measurement_id)
            await self.repo.add_alert(alert)
            self._open[(watched.name, kind)] = alert
        else:
            alert.status, alert.last_event = status, event.kind
            alert.measurement, alert.measurement_id = event.measurement, measurement_id
            alert.updated_at, alert.evaluations = self.now, alert.evaluations + 1
            alert.source = self.source
            if not status.open:
                alert.ended_at = self.now
                del self._open[(watched.name, kind)]
            await self.repo.save_alert(alert)
        await self._enqueue(alert, EVENT_NAMES[event.kind], measurement_id)
        await self._hand_off(watched, event, alert)
        return kind

    def _new_alert(
        self,
        watched: WatchedCondition,
        kind: AlertKind,
        status: AlertStatus,
        event: MonitoringEvent,
        measurement_id: int,
    ) -> AlertRecord:
        return AlertRecord(
            window_id=self.window.key,
            release_id=self.window.release_id,
            service=self.window.service,
            condition=watched.name,
            title=watched.title,
            severity=watched.severity,
            kind=kind,
            status=status,
            opened_at=self.now,
            updated_at=self.now,
            last_event=event.kind,
            measurement=event.measurement,
            source=self.source,
            measurement_id=measurement_id,
        )

    async def _refresh(
        self, condition: str, kind: AlertKind, measurement: Measurement, measurement_id: int
    ) -> None:
        """Update an open episode with a measurement that raised nothing new."""
        alert = self._open.get((condition, kind))
        if alert is None:
            return
        if kind is AlertKind.BLIND and measurement.verdict.conclusive:
            return  # sight restored is an event of its own; never reached here
        alert.measurement, alert.measurement_id = measurement, measurement_id
        alert.updated_at, alert.evaluations = self.now, alert.evaluations + 1
        await self.repo.save_alert(alert)
        await self._enqueue(alert, "update", measurement_id)

    async def _enqueue(self, alert: AlertRecord, event: str, measurement_id: int) -> None:
        await self.uow.outbox.enqueue(
            ALERT_KIND,
            {"alert_id": alert.key, "event": event},
            f"monitor-alert:{alert.key}:{event}:{measurement_id}",
        )

    async def _hand_off(
        self, watched: WatchedCondition, event: MonitoringEvent, alert: AlertRecord
    ) -> None:
        source = PUSHED_SOURCE if self.source == PUSHED_SOURCE else "poll"
        if isinstance(event, BreachLimitReached):
            met = ConditionMet(
                release_id=self.window.release_id,
                window_id=self.window.key,
                service=self.window.service,
                condition=watched.name,
                title=watched.title,
                severity=watched.severity,
                measurement=event.measurement,
                source=source,
                alert_id=alert.key,
                consecutive=event.consecutive,
                unit=watched.unit,
                op=watched.op,
            )
            await self.events.publish(self.uow, met)
        elif isinstance(event, Recovered):
            recovered = ConditionRecovered(
                release_id=self.window.release_id,
                window_id=self.window.key,
                service=self.window.service,
                condition=watched.name,
                title=watched.title,
                severity=watched.severity,
                measurement=event.measurement,
                source=source,
                alert_id=alert.key,
                unit=watched.unit,
            )
            await self.events.publish(self.uow, recovered)

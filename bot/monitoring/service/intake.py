"""The push path: Alertmanager alerts evaluated at once against the open windows they match.

A firing alert is a BREACH measurement of its condition (source "alertmanager"), and one is
enough to meet the condition: Alertmanager has already waited out its own `for:` before
firing. A resolved alert is a PASS, which recovers the condition. An alert naming a
condition the window does not watch is tracked under that name all the same (its severity
from the alert's `severity` label: P0-P3 as given, other values through the configured
table, by default critical → P1, warning → P2, info → P3; else P2), so nothing pushed is dropped
silently: what is not evaluated is listed in the report with the reason.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from bot.core.clock import Clock
from bot.core.events import Publisher
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.roles import SEVERITY_LEVELS
from bot.monitoring.alertmanager import AlertmanagerAlert, AlertmanagerPayload, AlertSignal
from bot.monitoring.domain import Measurement, Verdict
from bot.monitoring.domain.records import WatchedCondition, WindowRecord
from bot.monitoring.service.config import MonitoringConfig, monitoring_repo
from bot.monitoring.service.evaluation import PUSHED_SOURCE, Evaluation, adhoc_condition
from bot.monitoring.service.polls import in_transaction
from bot.monitoring.service.views import IntakeReport

SEVERITIES = SEVERITY_LEVELS
DEFAULT_PUSHED_SEVERITY = "P2"

Pushed = tuple[AlertmanagerAlert, AlertSignal]


def measurement_of(
    alert: AlertmanagerAlert, signal: AlertSignal, watched: WatchedCondition, at: datetime
) -> Measurement:
    """Return the measurement a pushed alert stands for (BREACH when firing, PASS resolved)."""
    firing = signal.status == "firing"
    since = f"firing since {signal.starts_at.isoformat()}" if firing else "resolved"
    where = f" — {alert.generator_url}" if alert.generator_url else ""
    return Measurement(
        condition=watched.name,
        at=at,
        value=signal.value,
        verdict=Verdict.BREACH if firing else Verdict.PASS,
        threshold=watched.threshold,
        op=watched.op,
        query=f"Alertmanager alert {alert.labels.get('alertname', signal.condition)} "
        f"(fingerprint {signal.fingerprint})",
        detail=f"pushed by Alertmanager: {since}{where}",
    )


def pushed_severity(alert: AlertmanagerAlert, table: Mapping[str, str]) -> str:
    """Return the incident severity of an alert's `severity` label (P0-P3 kept, else mapped)."""
    raw = alert.labels.get("severity", "").strip()
    if raw.upper() in SEVERITIES:
        return raw.upper()
    mapped = {key.casefold(): value for key, value in table.items()}.get(raw.casefold())
    return mapped if mapped in SEVERITIES else DEFAULT_PUSHED_SEVERITY


async def evaluate_pushed(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    config: MonitoringConfig,
    events: Publisher,
    payload: AlertmanagerPayload,
) -> IntakeReport:
    """Evaluate every alert of `payload` against the open windows of its service."""
    ignored: list[str] = []
    by_window: dict[int, list[Pushed]] = defaultdict(list)
    async with uow_factory() as uow:
        repo = monitoring_repo(uow)
        for index, (alert, signal) in enumerate(zip(payload.alerts, payload.signals, strict=True)):
            if signal.service is None:
                ignored.append(f"alerts[{index}] ({signal.condition}): no `service` label")
                continue
            windows = await repo.open_windows(signal.service)
            if not windows:
                ignored.append(
                    f"alerts[{index}] ({signal.condition}): no open monitoring window "
                    f"for service {signal.service!r}"
                )
            for window in windows:
                by_window[window.key].append((alert, signal))
    evaluated: list[str] = []
    for window_id, pushed in by_window.items():
        evaluated.extend(
            await _evaluate_window(uow_factory, clock, config, events, window_id, pushed)
        )
    return IntakeReport(tuple(evaluated), tuple(ignored))


async def _evaluate_window(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    config: MonitoringConfig,
    events: Publisher,
    window_id: int,
    pushed: list[Pushed],
) -> list[str]:
    async def work(uow: UnitOfWork) -> list[str]:
        repo = monitoring_repo(uow)
        window = await repo.get_window(window_id)
        if window is None or not window.is_open:
            return []
        now = clock.now()
        extra: dict[str, WatchedCondition] = {}
        measurements = []
        for alert, signal in pushed:
            watched = _watched(window, alert, signal, extra, config)
            measurements.append(measurement_of(alert, signal, watched, now))
        await Evaluation(uow, repo, window, events, PUSHED_SOURCE, now).run(measurements, extra)
        # The revision bump makes a poll evaluating this window concurrently start over.
        await repo.save_window(window)
        return [
            f"release #{window.release_id} {signal.condition}: {signal.status}"
            for _, signal in pushed
        ]

    return await in_transaction(uow_factory, work)


def _watched(
    window: WindowRecord,
    alert: AlertmanagerAlert,
    signal: AlertSignal,
    extra: dict[str, WatchedCondition],
    config: MonitoringConfig,
) -> WatchedCondition:
    known = window.condition(signal.condition) or extra.get(signal.condition)
    if known is not None:
        return known
    severity = pushed_severity(alert, config.severity_labels)
    extra[signal.condition] = adhoc_condition(signal.condition, severity, config.blind_after)
    return extra[signal.condition]

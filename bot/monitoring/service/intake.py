"""The push path: Alertmanager alerts evaluated at once against the open windows they match.

Alertmanager sends a group's whole state on every notification (`groupKey`), each alert
named by its `fingerprint`; the bot keeps, per window and condition, the fingerprints that
fire (table `monitoring_active_alerts`), never the summary text:
- a firing alert whose fingerprint is new is a BREACH measurement (source "alertmanager"),
  and one is enough to meet the condition: Alertmanager has already waited out its own
  `for:` before firing. A new fingerprint while the condition is already met (api-1 joins
  api-0) is recorded, not counted as another breach;
- a firing alert already recorded (Alertmanager re-sends the group every
  `group_interval`/`repeat_interval`) is the same breach: its push is counted, nothing else;
- a resolved alert is forgotten; the condition recovers (a PASS) only when no alert of it
  still fires (api-0 firing, api-1 resolved keeps the condition met).

An alert naming a condition the window does not watch is tracked under that name all the
same (its severity from the alert's `severity` label: P0-P3 as given, other values through
the configured table, by default critical → P1, warning → P2, info → P3; else P2), so
nothing pushed is dropped silently: what is not evaluated is listed in the report with the
reason.

A large push is stored in bounded transactions (`INTAKE_BATCH` alerts each, per window), so
no transaction holds the write lock for long and readers and other pushes interleave. Each
batch is idempotent on the fingerprint: when one fails (the store stayed busy through
`BUSY_RETRIES`), the batches before it are kept, `StoreBusy` reaches the web handler (503 with
Retry-After), and Alertmanager's retry of the whole push records only what is still missing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import partial

from bot.core.clock import Clock
from bot.core.errors import StoreBusy
from bot.core.events import Publisher
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.roles import SEVERITY_LEVELS
from bot.monitoring.alertmanager import AlertmanagerAlert, AlertmanagerPayload, AlertSignal
from bot.monitoring.domain import Measurement, Verdict
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import WatchedCondition, WindowRecord
from bot.monitoring.service.config import MonitoringConfig, monitoring_repo
from bot.monitoring.service.evaluation import PUSHED_SOURCE, Evaluation, adhoc_condition
from bot.monitoring.service.polls import in_transaction
from bot.monitoring.service.views import IntakeReport

SEVERITIES = SEVERITY_LEVELS
DEFAULT_PUSHED_SEVERITY = "P2"

# Alerts per transaction: ~100 alerts is a few tens of ms of writing (bench/bench_intake.py).
INTAKE_BATCH = 100
# A batch the store is too busy for is tried again this often, after a short pause each.
BUSY_RETRIES = 3
BUSY_PAUSE = 0.05

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
    # Finding the windows only reads: it never waits for a writer, and each service is
    # looked up once per push, not once per alert.
    windows_of: dict[str, Sequence[WindowRecord]] = {}
    async with uow_factory(read_only=True) as uow:
        repo = monitoring_repo(uow)
        for index, (alert, signal) in enumerate(zip(payload.alerts, payload.signals, strict=True)):
            if signal.service is None:
                ignored.append(f"alerts[{index}] ({signal.condition}): no `service` label")
                continue
            if signal.service not in windows_of:
                windows_of[signal.service] = await repo.open_windows(signal.service)
            windows = windows_of[signal.service]
            if not windows:
                ignored.append(
                    f"alerts[{index}] ({signal.condition}): no open monitoring window "
                    f"for service {signal.service!r}"
                )
            for window in windows:
                by_window[window.key].append((alert, signal))
    evaluated: list[str] = []
    for window_id, pushed in by_window.items():
        for start in range(0, len(pushed), INTAKE_BATCH):
            batch = pushed[start : start + INTAKE_BATCH]
            evaluated.extend(
                await _with_busy_retries(
                    partial(
                        _evaluate_window,
                        uow_factory,
                        clock,
                        config,
                        events,
                        window_id,
                        batch,
                        payload.group_key,
                    )
                )
            )
    return IntakeReport(tuple(evaluated), tuple(ignored))


async def _with_busy_retries(attempt: Callable[[], Awaitable[list[str]]]) -> list[str]:
    """Run `attempt`; when the store is busy, pause briefly and try again, then give up."""
    for tries in range(BUSY_RETRIES):
        try:
            return await attempt()
        except StoreBusy:
            if tries == BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(BUSY_PAUSE * (tries + 1))
    raise AssertionError("unreachable")


async def _evaluate_window(
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    config: MonitoringConfig,
    events: Publisher,
    window_id: int,
    pushed: list[Pushed],
    group_key: str,
) -> list[str]:
    async def work(uow: UnitOfWork) -> list[str]:
        repo = monitoring_repo(uow)
        window = await repo.get_window(window_id)
        if window is None or not window.is_open:
            return []
        now = clock.now()
        extra: dict[str, WatchedCondition] = {}
        states = await repo.conditions(window.key)
        await repo.preload_active(window.key, [(s.condition, s.fingerprint) for _, s in pushed])
        measurements = []
        lines = []
        breached: set[str] = set()
        for alert, signal in pushed:
            watched = _watched(window, alert, signal, extra, config)
            stored = states.get(watched.name)
            met = watched.name in breached or (stored is not None and stored.state.met)
            counted, line = await _track(repo, window.key, watched.name, signal, group_key, met)
            if counted:
                (breached.add if signal.status == "firing" else breached.discard)(watched.name)
            lines.append(f"release #{window.release_id} {signal.condition}: {line}")
            if counted:
                measurements.append(measurement_of(alert, signal, watched, now))
        if measurements:
            await Evaluation(uow, repo, window, events, PUSHED_SOURCE, now).run(measurements, extra)
        # The revision bump makes a poll evaluating this window concurrently start over.
        await repo.save_window(window)
        return lines

    return await in_transaction(uow_factory, work)


async def _track(
    repo: MonitoringRepository,
    window_id: int,
    condition: str,
    signal: AlertSignal,
    group_key: str,
    met: bool,
) -> tuple[bool, str]:
    """Record the alert by fingerprint; return whether it is a measurement, and a report line.

    Within one push the alerts are taken in order, so a group that lists api-0 firing and
    api-1 resolved leaves api-0 recorded and the condition met.
    """
    if signal.status == "firing":
        new = await repo.note_firing(
            window_id,
            condition,
            signal.fingerprint,
            group_key=group_key,
            starts_at=signal.starts_at,
        )
        if not new:
            return False, f"firing (fingerprint {signal.fingerprint} re-sent: the same breach)"
        if met:
            return False, f"firing (fingerprint {signal.fingerprint} joins the met condition)"
        return True, "firing"
    still = await repo.note_resolved(window_id, condition, signal.fingerprint)
    if still:
        return False, (
            f"resolved (fingerprint {signal.fingerprint}; {still} alert(s) of the condition "
            "still firing)"
        )
    return True, "resolved"


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

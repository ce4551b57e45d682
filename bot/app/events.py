"""The event table: every subscription across features, in one place (cosmicpython's idea).

In the transaction: a feature publishes an event (`bot.core.events`) inside the unit of
work of the change that caused it; the handlers below run in order inside that same
transaction, so what they write commits with the change or not at all. Order matters:
auto-rollback schedules its timer before the incident opens, monitoring stops its window
before the incident notes the rollback (the order the features were wired in before).

After the commit: plain callbacks, told once the change is durable; they must not fail the
change (the unit of work and the release service log and swallow their errors).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.core.events import (
    AlertAcknowledged,
    AlertsStillFiring,
    ConditionMet,
    ConditionRecovered,
    Handler,
    MonitoringPassed,
    ReleaseSignalled,
    RolloutStarted,
    WindowEnded,
    WindowSuperseded,
    on_signal,
)
from bot.core.ports import UnitOfWorkFactory
from bot.evidence.wiring import EvidenceFeature
from bot.incidents.wiring import IncidentFeature
from bot.monitoring.service.config import monitoring_repo
from bot.monitoring.wiring import MonitoringFeature
from bot.releases.domain.release import Release
from bot.releases.service import HoldSource, ReleaseService
from bot.reports.domain.series import Series, SeriesReader
from bot.reports.wiring import ReportFeature
from bot.rollouts.wiring import RolloutFeature
from bot.runtime.background import Background


def event_handlers(
    monitoring: MonitoringFeature,
    incidents: IncidentFeature,
    rollouts: RolloutFeature,
    reports: ReportFeature,
    releases: ReleaseService | None = None,
    evidence: EvidenceFeature | None = None,
) -> dict[type, Sequence[Handler]]:
    """Return the in-transaction table: event type -> handlers, in the order they run."""
    ticks: list[Handler] = [] if releases is None else [releases.on_monitoring_passed]
    phase_opened = (
        [] if evidence is None else [on_signal("phase_entered", evidence.service.on_phase_entered)]
    )
    return {
        ReleaseSignalled: [
            *phase_opened,  # evidence: schedule the opened phase's GitHub checks (due now)
            on_signal("production_deployed", monitoring.service.open_window),
            on_signal("rolled_back", monitoring.service.stop_window),  # rollback done
            on_signal("aborted", monitoring.service.stop_window),
            on_signal("completed", monitoring.service.stop_window),
            on_signal("rolled_back", incidents.service.on_rolled_back),  # rollback done
            on_signal("aborted", incidents.service.on_release_finished),
            on_signal("completed", incidents.service.on_release_finished),
            # reports last: the figures read what the handlers above wrote into the timeline
            on_signal("production_deployed", reports.comms.announce),
            on_signal("phase_entered", reports.comms.on_phase_entered),
            on_signal("completed", reports.service.record),
            on_signal("rolled_back", reports.service.record),
            on_signal("aborted", reports.service.record),
            on_signal("completed", reports.comms.announce),
            on_signal("rolled_back", reports.comms.announce),
            on_signal("completed", reports.comms.on_release_ended),
            on_signal("rolled_back", reports.comms.on_release_ended),
            on_signal("aborted", reports.comms.on_release_ended),
        ],
        WindowEnded: [reports.comms.on_window_ended],
        ConditionMet: [
            rollouts.auto_rollback.on_condition_met,
            incidents.service.open_or_update,
        ],
        ConditionRecovered: [incidents.service.on_recovered],
        AlertAcknowledged: [incidents.service.on_alert_ack],
        RolloutStarted: [incidents.changes.on_rollout_started],  # change events
        WindowSuperseded: [incidents.service.on_superseded],  # a hotfix replaced the release
        MonitoringPassed: ticks,  # releases: tick the monitoring item, as the bot
    }


def release_hold_sources(monitoring: MonitoringFeature) -> list[HoldSource]:
    """Return who is asked, inside a sign-off's or an Advance's transaction, what holds the
    release open: the monitoring window (no monitoring sign-off, no completion before it ends).
    """
    return [monitoring.service.holds]


def after_commit_handlers(
    background: Background | None, rollouts: RolloutFeature, releases: ReleaseService | None = None
) -> list[Callable[[Any], None]]:
    """Return what every committed unit of work tells (it passes itself).

    The background wakes for new due timers and outbox messages; the rollout runners pick
    up operations the transaction requested; the release room shows items monitoring ticked.
    """
    woken: list[Callable[[Any], None]] = [] if background is None else [background.after_commit]
    rooms: list[Callable[[Any], None]] = [] if releases is None else [releases.after_commit]
    return [*woken, rollouts.rollbacks.after_commit, rollouts.deploys.after_commit, *rooms]


def still_firing_handlers(
    monitoring: MonitoringFeature,
) -> list[Callable[[AlertsStillFiring], Awaitable[object]]]:
    """Return who is told, after a deploy silence is expired, what Alertmanager still fires:
    monitoring evaluates it at once (no transaction of the rollout is open then).
    """
    return [monitoring.service.receive_still_firing]


def release_changed_handlers(
    room_changed: Callable[[Release], Awaitable[None]],
) -> list[Callable[[Release], Awaitable[None]]]:
    """Return who is told, after the commit, that a release changed: the release room."""
    return [room_changed]


def monitoring_series(uow: UnitOfWorkFactory) -> SeriesReader:
    """Return release id -> the measured series of its monitoring window, aligned on the
    production deploy (the reports feature charts them; it never reads monitoring's store).
    """

    async def read(release_id: int) -> list[Series]:
        async with uow() as unit:
            if getattr(unit, "monitoring", None) is None:
                return []
            repo = monitoring_repo(unit)
            window = await repo.window_for_release(release_id)
            if window is None:
                return []
            opened = window.window.opened_at
            found: list[Series] = []
            for condition in window.conditions:
                measured = await repo.measurements(window.key, condition.name)
                points = tuple(
                    ((m.at - opened).total_seconds(), m.value)
                    for m in measured
                    if m.value is not None
                )
                found.append(
                    Series(condition.title or condition.name, condition.unit, points,
                           condition.threshold)
                )  # fmt: skip
            return found

    return read

"""Post-deploy monitoring use-cases: open windows, poll on durable timers, alert, hand off.

A window opens inside the transaction that ticks the production-deploy item; polls run on
durable timers (see `monitoring_polls`); people pause, resume and extend windows, and
acknowledge or silence alerts (each checked against the access policy at the moment it
happens, and audited, denials included); Alertmanager pushes are evaluated at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import InvalidInput, InvalidTransition, NotAuthorized, UnknownTarget
from bot.core.events import (
    AlertAcknowledged,
    AlertsStillFiring,
    EventBus,
    Publisher,
    WindowSuperseded,
)
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.roles import ROLE_KEYS, ROLE_TITLES
from bot.monitoring.alertmanager import AlertmanagerPayload, parse_api_alerts
from bot.monitoring.domain import MonitoringWindow
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import (
    AlertRecord,
    Silence,
    StoredCondition,
    WindowRecord,
    WindowStatus,
)
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.config import (
    ALERT_KIND,
    CLOSE_TIMER,
    POLL_TIMER,
    RETRY_TIMER,
    TIMER_KINDS,
    WINDOW_KIND,
    MonitoringConfig,
    ProbeFactory,
    monitoring_repo,
)
from bot.monitoring.service.intake import evaluate_pushed
from bot.monitoring.service.polls import (
    PollRunner,
    close_window,
    in_transaction,
    schedule_next_poll,
)
from bot.monitoring.service.queries import MonitoringQueries
from bot.monitoring.service.views import IntakeReport
from bot.releases.domain.release import Hold, Release, ReleaseSignal, require_reason
from bot.runtime.timers import TimerHandler

log = logging.getLogger(__name__)

_PAST = {"pause": "paused", "resume": "resumed", "extend": "extended"}
_FINISHED = {"completed": "completed", "aborted": "aborted", "rolled_back": "rolled back"}
CLOSE_ACTION = "close_monitoring"


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


"""The permission that closes a window early (default: Tech Lead, Engineering Manager)."""


class TimerRegistry(Protocol):
    """Where timer handlers are registered (the timer service)."""

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Handle timers of `kind` with `handler`."""
        ...


@dataclass
class MonitoringService(MonitoringQueries):
    """Watch deployed releases and tell people (and the incident feature) what is seen."""

    uow: UnitOfWorkFactory
    clock: Clock
    policy: AccessPolicy
    config: MonitoringConfig
    probes: ProbeFactory
    metrics: MonitoringMetrics | None = None
    events: Publisher = field(default_factory=EventBus)

    def __post_init__(self) -> None:
        """Build the poll runner over the same store, clock, config, probes and bus."""
        self.runner = PollRunner(
            self.uow, self.clock, self.config, self.probes, self.events, self.metrics
        )

    # ----- wiring -------------------------------------------------------------------------

    def register_timers(self, timers: TimerRegistry) -> None:
        """Handle the poll, retry, lease and close timers (release signals: `bot.app.events`)."""
        for kind in TIMER_KINDS:
            timers.register(kind, self.runner.on_timer)

    # ----- release signals ----------------------------------------------------------------

    async def open_window(self, uow: UnitOfWork, release: Release, signal: ReleaseSignal) -> None:
        """Open the release's window and schedule its first poll (once per release)."""
        repo = monitoring_repo(uow)
        if release.id is None or await repo.window_for_release(release.id) is not None:
            return
        await self._supersede(uow, repo, release, signal.at)
        window = MonitoringWindow(opened_at=signal.at, stages=self.config.stages)
        record = WindowRecord(
            release.id, release.service, window, self.config.conditions_for(release.service)
        )
        await repo.add_window(record)
        await schedule_next_poll(uow, record, signal.at)
        await repo.save_window(record)
        names = ", ".join(c.name for c in record.conditions) or "none configured"
        await self._audit(
            uow, BOT_ACTOR, "monitor_open", record, signal.at, Source.SYSTEM, conditions=names
        )
        await uow.outbox.enqueue(
            WINDOW_KIND,
            {"window_id": record.key, "event": "opened"},
            f"monitor-window:{record.key}:opened",
        )

    async def _supersede(
        self, uow: UnitOfWork, repo: MonitoringRepository, release: Release, at: datetime
    ) -> None:
        """Close the open windows of earlier releases of the service: production runs `release`.

        A hotfix deployed during the previous release's 24 hours replaces what was watched;
        each earlier window stops with "superseded by v1.2.4" (audited, said in its thread)
        and `WindowSuperseded` hands its open incidents to the new release.
        """
        assert release.id is not None
        for earlier in await repo.open_windows(release.service):
            if earlier.release_id == release.id:
                continue
            try:
                old_name = (await uow.releases.get(earlier.release_id)).name
            except UnknownTarget:
                old_name = f"release #{earlier.release_id}"
            earlier.schedule_token += 1
            await close_window(
                uow,
                repo,
                earlier,
                at,
                WindowStatus.STOPPED,
                f"superseded by {release.version} (release #{release.id})",
                source=Source.SYSTEM,
                announce=f"superseded by {release.version}",
            )
            await repo.save_window(earlier)
            await self.events.publish(
                uow,
                WindowSuperseded(
                    release.service, earlier.release_id, old_name, release.id, release.name, at
                ),
            )

    async def stop_window(self, uow: UnitOfWork, release: Release, signal: ReleaseSignal) -> None:
        """Stop the release's open window: a finished release is never watched.

        Completed, aborted and rolled-back releases all stop here (a completed one normally
        has a closed window already: completion waits for it, see `holds`).
        """
        repo = monitoring_repo(uow)
        window = await repo.window_for_release(release.id) if release.id is not None else None
        if window is None or not window.is_open:
            return
        said = _FINISHED.get(signal.kind, signal.kind.replace("_", " "))
        await close_window(
            uow,
            repo,
            window,
            signal.at,
            WindowStatus.STOPPED,
            signal.kind,
            source=Source.SYSTEM,
            announce=f"the release was {said}",
        )
        await repo.save_window(window)

    async def holds(self, uow: UnitOfWork, release: Release) -> list[Hold]:
        """Return the open window as a hold: no monitoring sign-off, no completion before it ends.

        Asked by the release service inside the transaction of a sign-off or an Advance.
        """
        if release.id is None:
            return []
        window = await monitoring_repo(uow).window_for_release(release.id)
        if window is None or not window.is_open:
            return []
        allowed = self.policy.allowed_roles(CLOSE_ACTION)
        who = " or ".join(ROLE_TITLES[role] for role in ROLE_KEYS if role in allowed)
        gate = (
            f"monitoring window open until {_when(window.window.closes_at)} "
            f"(a {who} may close it early: /release monitor action:close reason:…)"
        )
        return [Hold(gate, frozenset(self.config.hold_signoffs), completion=True)]

    async def close_early(
        self, release_id: int, reason: str, actor: Actor, source: Source
    ) -> WindowRecord:
        """Close a release's open window before its end, with a reason (authorized, audited)."""
        target = f"monitoring window of release #{release_id}"
        await self._authorize(actor, CLOSE_ACTION, release_id, target, source)
        why = require_reason(reason, "closing the monitoring window early")

        async def work(uow: UnitOfWork) -> WindowRecord:
            repo = monitoring_repo(uow)
            window = await self._open_window_of(repo, release_id)
            now = self.clock.now()
            window.schedule_token += 1
            await close_window(
                uow,
                repo,
                window,
                now,
                WindowStatus.CLOSED,
                f"closed early: {why}",
                actor=actor,
                source=source,
                announce=f"closed early by {actor.name} "
                f"(planned until {_when(window.window.closes_at)}): {why}",
                events=self.events,
            )
            await self._audit(
                uow,
                actor,
                "monitor_close_early",
                window,
                now,
                source,
                reason=why,
                planned_until=window.window.closes_at.isoformat(),
            )
            await repo.save_window(window)
            return window

        return await in_transaction(self.uow, work)

    # ----- window controls ----------------------------------------------------------------

    async def pause(self, release_id: int, actor: Actor, source: Source) -> WindowRecord:
        """Pause a window: no polls until resumed (slots missed meanwhile are skipped)."""
        return await self._control(release_id, actor, source, "pause", None)

    async def resume(self, release_id: int, actor: Actor, source: Source) -> WindowRecord:
        """Resume a paused window at its next slot after now."""
        return await self._control(release_id, actor, source, "resume", None)

    async def extend(
        self, release_id: int, by: timedelta, actor: Actor, source: Source
    ) -> WindowRecord:
        """Move a window's end (and its last stage) later by `by`."""
        if by <= timedelta(0) or by > self.config.max_extension:
            raise InvalidInput(
                f"extend by must be positive and at most {self.config.max_extension}, got {by}"
            )
        return await self._control(release_id, actor, source, "extend", by)

    async def _control(
        self, release_id: int, actor: Actor, source: Source, verb: str, by: timedelta | None
    ) -> WindowRecord:
        target = f"monitoring window of release #{release_id}"
        await self._authorize(actor, "monitor", release_id, target, source)

        async def work(uow: UnitOfWork) -> WindowRecord:
            repo = monitoring_repo(uow)
            window = await self._open_window_of(repo, release_id)
            now = self.clock.now()
            try:
                await self._apply_control(uow, repo, window, verb, by, now)
            except ValueError as exc:
                raise InvalidTransition(str(exc)) from None
            detail = {"by": str(by)} if by is not None else {}
            await self._audit(uow, actor, f"monitor_{verb}", window, now, source, **detail)
            await uow.outbox.enqueue(
                WINDOW_KIND,
                {"window_id": window.key, "event": _PAST[verb], "actor": actor.name},
                f"monitor-window:{window.key}:{verb}:{window.schedule_token}",
            )
            await repo.save_window(window)
            return window

        return await in_transaction(self.uow, work)

    async def _apply_control(
        self,
        uow: UnitOfWork,
        repo: MonitoringRepository,
        window: WindowRecord,
        verb: str,
        by: timedelta | None,
        now: datetime,
    ) -> None:
        if verb == "pause":
            window.window = window.window.pause(now)
        elif verb == "resume":
            window.window = window.window.resume(now)
        else:
            assert by is not None
            window.window = window.window.extend(by)
        # A new token makes every timer scheduled before this change do nothing.
        window.schedule_token += 1
        await uow.timers.cancel(None, window.key, kinds=(POLL_TIMER, RETRY_TIMER, CLOSE_TIMER))
        if window.window.paused:
            window.next_due_at = None
            await uow.timers.schedule(
                CLOSE_TIMER, window.key, window.window.closes_at, token=window.schedule_token
            )
            return
        await schedule_next_poll(uow, window, now)
        if window.next_due_at is None:
            await close_window(
                uow, repo, window, now, WindowStatus.CLOSED, f"{verb} after end",
                events=self.events,
            )  # fmt: skip

    async def _open_window_of(self, repo: MonitoringRepository, release_id: int) -> WindowRecord:
        window = await repo.window_for_release(release_id)
        if window is None:
            raise UnknownTarget(
                f"release #{release_id} has no monitoring window yet "
                "(it opens when the production deployment is ticked)"
            )
        if not window.is_open:
            raise InvalidTransition(
                f"the monitoring window of release #{release_id} is {window.status.value}"
            )
        return window

    # ----- alert controls -----------------------------------------------------------------

    async def acknowledge(self, alert_id: int, actor: Actor, source: Source) -> AlertRecord:
        """Mark an alert acknowledged and publish AlertAcknowledged in the same transaction."""
        alert = await self._alert(alert_id)
        await self._authorize(actor, "ack", alert.release_id, f"alert #{alert_id}", source)

        async def work(uow: UnitOfWork) -> AlertRecord:
            repo = monitoring_repo(uow)
            current = await repo.get_alert(alert_id)
            assert current is not None  # alerts are never deleted
            if current.acknowledged:
                when = f"{current.acknowledged_at:%Y-%m-%d %H:%M} UTC"
                raise InvalidTransition(
                    f"alert #{alert_id} was already acknowledged by "
                    f"{current.acknowledged_by_name} at {when}"
                )
            now = self.clock.now()
            current.acknowledged_by_id, current.acknowledged_by_name = actor.id, actor.name
            current.acknowledged_at = now
            await repo.save_alert(current)
            await self._audit_alert(uow, actor, "alert_ack", current, now, source)
            await self.events.publish(
                uow, AlertAcknowledged(current.release_id, current.condition, actor)
            )
            await self._enqueue_alert(uow, current, "acknowledged")
            return current

        return await in_transaction(self.uow, work)

    async def silence(
        self, alert_id: int, duration: timedelta, reason: str, actor: Actor, source: Source
    ) -> Silence:
        """Mute the alerts of the alert's condition for `duration`, with a reason."""
        if duration <= timedelta(0) or duration > self.config.max_silence:
            raise InvalidInput(
                f"silence duration must be positive and at most {self.config.max_silence}, "
                f"got {duration}"
            )
        why = require_reason(reason, "a silence")
        alert = await self._alert(alert_id)
        await self._authorize(actor, "silence", alert.release_id, f"alert #{alert_id}", source)

        async def work(uow: UnitOfWork) -> Silence:
            repo = monitoring_repo(uow)
            now = self.clock.now()
            states = await repo.conditions(alert.window_id)
            stored = states[alert.condition]
            last_id = alert.measurement_id
            silence = Silence(now + duration, why, actor.id, actor.name)
            await repo.put_condition(
                alert.window_id, StoredCondition(stored.state, silence), last_id
            )
            await self._audit_alert(
                uow,
                actor,
                "alert_silence",
                alert,
                now,
                source,
                until=silence.until.isoformat(),
                reason=why,
            )
            await self._enqueue_alert(uow, alert, f"silenced:{now.isoformat()}")
            return silence

        return await in_transaction(self.uow, work)

    async def require_alert_permission(
        self, alert_id: int, actor: Actor, action: str, source: Source
    ) -> AlertRecord:
        """Return the alert if `actor` may take `action` on it; else audit and refuse."""
        alert = await self._alert(alert_id)
        await self._authorize(actor, action, alert.release_id, f"alert #{alert_id}", source)
        return alert

    async def _enqueue_alert(self, uow: UnitOfWork, alert: AlertRecord, event: str) -> None:
        name = event.split(":", 1)[0]
        await uow.outbox.enqueue(
            ALERT_KIND, {"alert_id": alert.key, "event": name}, f"monitor-alert:{alert.key}:{event}"
        )

    # ----- push path ----------------------------------------------------------------------

    async def receive_alertmanager(self, payload: AlertmanagerPayload) -> IntakeReport:
        """Evaluate each pushed alert against the open windows of its service, at once."""
        return await evaluate_pushed(self.uow, self.clock, self.config, self.events, payload)

    async def receive_still_firing(self, event: AlertsStillFiring) -> IntakeReport:
        """Evaluate what Alertmanager still fires once a deploy silence is expired.

        Known fingerprints are the same breach as before; new ones are breaches now, without
        waiting for Alertmanager's next notification of the group.
        """
        payload = parse_api_alerts(event.alerts, f"releasebot:after-silence:{event.silence_id}")
        report = await self.receive_alertmanager(payload)
        log.info(
            "after silence %s of %s: %d alert(s) still firing; %s",
            event.silence_id,
            event.service,
            len(payload.alerts),
            "; ".join([*report.evaluated, *report.ignored, *payload.rejected]) or "nothing to do",
        )
        return report

    # ----- helpers ------------------------------------------------------------------------

    async def _authorize(
        self, actor: Actor, action: str, release_id: int, target: str, source: Source
    ) -> None:
        if self.policy.may(actor, action):
            return
        denied = NotAuthorized(action, actor.name, self.policy.allowed_roles(action), target)
        async with self.uow() as uow:
            await uow.audit.append(
                AuditEvent.record(
                    actor,
                    "denied",
                    target,
                    self.clock.now(),
                    source,
                    release_id,
                    attempted=action,
                    reason=denied.message,
                )
            )
            await uow.commit()
        raise denied

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        window: WindowRecord,
        now: datetime,
        source: Source,
        **detail: str,
    ) -> None:
        target = f"monitoring window of release #{window.release_id}"
        await uow.audit.append(
            AuditEvent.record(actor, action, target, now, source, window.release_id, **detail)
        )

    async def _audit_alert(
        self,
        uow: UnitOfWork,
        actor: Actor,
        action: str,
        alert: AlertRecord,
        now: datetime,
        source: Source,
        **detail: str,
    ) -> None:
        target = f"alert #{alert.key} ({alert.condition})"
        await uow.audit.append(
            AuditEvent.record(
                actor,
                action,
                target,
                now,
                source,
                alert.release_id,
                condition=alert.condition,
                **detail,
            )
        )


__all__ = ["MonitoringService", "TimerRegistry"]

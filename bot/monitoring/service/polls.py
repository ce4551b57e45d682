"""Scheduled polls of monitoring windows: durable timers, probes outside transactions, leases.

A poll is three steps, and no database transaction is open while probes do network I/O:

1. The "monitor.poll" timer fires. In the timer's own transaction (the claim) the window gets
   a "poll in progress" marker (slot, attempt) and a "monitor.lease" timer due when the poll
   should long be over; that transaction commits before any probe starts.
2. The probes run concurrently, each under its own timeout.
3. A second transaction stores the measurements, observes them, alerts, hands off met
   conditions, clears the marker, cancels the lease timer and schedules the next poll.

If the process dies during step 2, nothing is pending but the lease timer; it fires at the
next start (overdue timers fire at once) and re-runs that slot's poll, once: a second lease
expiry for the same slot gives the slot up and schedules the next one. Polls missed while the
bot was down coalesce by construction: only one poll timer is ever pending, it fires once at
start-up, and the next poll is the next slot after now. An errored probe is retried after
`retry_after` ("monitor.retry", at most `blind_after` times per slot, never past the next poll).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypeVar

from bot.core.actors import BOT_ACTOR, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import ConcurrentUpdate, UnknownTarget
from bot.core.events import Publisher, WindowEnded
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.timers import TimerRecord
from bot.monitoring.domain import Measurement, Verdict, count_polls_between
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import PollInProgress, WindowRecord, WindowStatus
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.probes.base import run_poll
from bot.monitoring.service.baselines import BaselineFinder
from bot.monitoring.service.config import (
    CLOSE_TIMER,
    LEASE_TIMER,
    POLL_TIMER,
    RETRY_TIMER,
    TIMER_KINDS,
    WINDOW_KIND,
    MonitoringConfig,
    ProbeFactory,
    monitoring_repo,
)
from bot.monitoring.service.credits import credit_items
from bot.monitoring.service.evaluation import Evaluation
from bot.releases.domain.release import ReleaseStatus

log = logging.getLogger(__name__)

MAX_TX_RETRIES = 8
PROBE_GUARD_MARGIN = timedelta(seconds=1)
T = TypeVar("T")


async def in_transaction(
    uow_factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], Awaitable[T]]
) -> T:
    """Run `work` in a fresh unit of work and commit; retry when a window changed meanwhile."""
    for attempt in range(MAX_TX_RETRIES):
        async with uow_factory() as uow:
            try:
                result = await work(uow)
            except ConcurrentUpdate:
                log.debug("monitoring window changed meanwhile (attempt %d); retrying", attempt)
                continue
            await uow.commit()
            return result
    raise ConcurrentUpdate("the monitoring window is changing too fast; try again")


async def close_window(
    uow: UnitOfWork,
    repo: MonitoringRepository,
    window: WindowRecord,
    now: datetime,
    status: WindowStatus,
    reason: str,
    *,
    actor: Actor = BOT_ACTOR,
    source: Source = Source.TIMER,
    announce: str | None = None,
    events: Publisher | None = None,
) -> None:
    """End `window` (timers cancelled, audited, a closing message enqueued); caller saves it.

    With `events`, a window that ended (not one stopped with its release) publishes
    `WindowEnded` in the same transaction (the reports feature records the figures).

    `announce` is said with the closing message ("closed early by tom: ...", "superseded by
    v1.2.4"); the audit event records `reason` and who closed the window.
    """
    window.status, window.closed_at = status, now
    window.next_due_at, window.in_progress = None, None
    await uow.timers.cancel(None, window.key, kinds=TIMER_KINDS)
    await uow.audit.append(
        AuditEvent.record(
            actor,
            f"monitor_{status.value}",
            f"monitoring window of release #{window.release_id}",
            now,
            source,
            window.release_id,
            reason=reason,
            polls=str(window.polls_done),
        )
    )
    payload: dict[str, object] = {"window_id": window.key, "event": status.value}
    if announce:
        payload["note"] = announce
    await uow.outbox.enqueue(WINDOW_KIND, payload, f"monitor-window:{window.key}:{status.value}")
    if events is not None and status is not WindowStatus.STOPPED:
        await events.publish(uow, WindowEnded(window.release_id, window.key, now, status.value))


async def schedule_next_poll(uow: UnitOfWork, window: WindowRecord, now: datetime) -> None:
    """Replace any pending poll timer with one at the window's next slot after `now`."""
    await uow.timers.cancel(POLL_TIMER, window.key)
    window.next_due_at = window.window.next_due(now)
    if window.next_due_at is not None:
        await uow.timers.schedule(
            POLL_TIMER, window.key, window.next_due_at, token=window.schedule_token
        )


async def _release_ended(uow: UnitOfWork, release_id: int) -> str | None:
    """Return why the window's release is over (completed, aborted, rolled back, gone)."""
    try:
        release = await uow.releases.get(release_id)
    except UnknownTarget:
        return "release no longer exists"
    if release.status is not ReleaseStatus.ACTIVE:
        return f"release {release.status.value}"
    return None


def _same_run(marker: PollInProgress | None, run: PollInProgress) -> bool:
    return (
        marker is not None
        and marker.slot == run.slot
        and marker.attempt == run.attempt
        and marker.kind == run.kind
    )


@dataclass
class PollRunner:
    """Handle the monitoring timers: run polls and retries, recover crashed polls, close."""

    uow: UnitOfWorkFactory
    clock: Clock
    config: MonitoringConfig
    probes: ProbeFactory
    events: Publisher
    metrics: MonitoringMetrics | None = None

    async def on_timer(self, uow: UnitOfWork, timer: TimerRecord, now: datetime) -> None:
        """Handle one claimed monitoring timer (stale tokens do nothing)."""
        repo = monitoring_repo(uow)
        window = await repo.get_window(timer.ref_id)
        if window is None or not window.is_open or timer.token != window.schedule_token:
            log.info("stale %s timer %s for window %s ignored", timer.kind, timer.id, timer.ref_id)
            return
        if timer.kind == CLOSE_TIMER:
            await close_window(
                uow, repo, window, now, WindowStatus.CLOSED, "window ended", events=self.events
            )
            await repo.save_window(window)
            await credit_items(uow, repo, window, now, self.events, ended=True)
            return
        ended = await _release_ended(uow, window.release_id)
        if ended is not None:  # a window never outlives its release (even a missed signal)
            await close_window(uow, repo, window, now, WindowStatus.STOPPED, ended)
            await repo.save_window(window)
            return
        run = await self._plan(uow, repo, window, timer, now)
        if run is None:
            return
        window.in_progress = run
        await repo.save_window(window)
        await uow.timers.cancel(LEASE_TIMER, window.key)
        await uow.timers.schedule(
            LEASE_TIMER,
            window.key,
            run.lease_until,
            token=window.schedule_token,
            payload={"slot": run.slot.isoformat(), "attempt": run.attempt},
        )
        # The claim and the marker are durable before any network I/O; from here on no
        # transaction is open while the probes run (the caller's final commit is a no-op).
        await uow.commit()
        try:
            measurements = await self.measure(window, run)
            await self.finish(window.key, run, measurements)
        except Exception:  # the claim is committed: the lease timer re-runs this poll, once
            log.exception(
                "poll of window %s failed after its claim; re-run due at %s",
                window.key,
                run.lease_until,
            )

    async def _plan(
        self,
        uow: UnitOfWork,
        repo: MonitoringRepository,
        window: WindowRecord,
        timer: TimerRecord,
        now: datetime,
    ) -> PollInProgress | None:
        lease_until = now + self.config.lease
        if timer.kind == POLL_TIMER:
            return PollInProgress(timer.due_at, 1, "poll", lease_until)
        if timer.kind == RETRY_TIMER:
            conditions = tuple(str(name) for name in timer.payload.get("conditions", ()))
            retry = int(timer.payload.get("retry", 1))
            return PollInProgress(timer.due_at, 1, "retry", lease_until, conditions, retry)
        marker = window.in_progress
        if marker is None or (
            marker.slot.isoformat(),
            marker.attempt,
        ) != (timer.payload.get("slot"), timer.payload.get("attempt")):
            return None  # the poll this lease guarded finished after all
        if marker.attempt < self.config.max_poll_attempts:
            log.warning(
                "poll of window %s slot %s did not finish; re-running", window.key, marker.slot
            )
            return replace(marker, attempt=marker.attempt + 1, lease_until=lease_until)
        await self._abandon(uow, repo, window, marker, now)
        return None

    async def _abandon(
        self,
        uow: UnitOfWork,
        repo: MonitoringRepository,
        window: WindowRecord,
        marker: PollInProgress,
        now: datetime,
    ) -> None:
        log.error("giving up the %s of window %s at %s", marker.kind, window.key, marker.slot)
        window.in_progress = None
        if marker.kind == "poll":
            await schedule_next_poll(uow, window, now)
        await uow.audit.append(
            AuditEvent.record(
                BOT_ACTOR,
                "monitor_poll_abandoned",
                f"monitoring window of release #{window.release_id}",
                now,
                Source.TIMER,
                window.release_id,
                slot=marker.slot.isoformat(),
                attempts=str(marker.attempt),
            )
        )
        if window.next_due_at is None and window.window.is_closed(now):
            # The abandoned poll was the last one: nothing else would ever end the window.
            reason = f"window ended; last {marker.kind} abandoned after {marker.attempt} attempts"
            await close_window(
                uow, repo, window, now, WindowStatus.CLOSED, reason, events=self.events
            )
        await repo.save_window(window)

    async def measure(self, window: WindowRecord, run: PollInProgress) -> list[Measurement]:
        """Run the run's probes concurrently, each under the configured timeout."""
        offset = run.slot - window.window.opened_at
        wanted = [
            c
            for c in window.conditions
            if (not run.conditions or c.name in run.conditions) and c.measured_at(offset)
        ]
        probes = self.probes.probes(window.service, wanted)
        # The guard sits a little above the probes' own timeout, so a slow endpoint is judged
        # by its probe (a health check's BREACH) rather than cut off by the guard (ERROR).
        guard = self.config.probe_timeout + PROBE_GUARD_MARGIN
        return await run_poll(probes, self.clock.now(), guard, metrics=self.metrics)

    async def finish(
        self, window_id: int, run: PollInProgress, measurements: Sequence[Measurement]
    ) -> None:
        """Store and evaluate a run's measurements, then schedule what comes next."""

        async def work(uow: UnitOfWork) -> None:
            repo = monitoring_repo(uow)
            window = await repo.get_window(window_id)
            if window is None or not _same_run(window.in_progress, run):
                log.warning("results of a superseded poll of window %s dropped", window_id)
                return
            now = self.clock.now()
            judged = await BaselineFinder(uow, repo, window).judge_all(measurements)
            evaluation = Evaluation(uow, repo, window, self.events, run.kind, now)
            await evaluation.run(judged)
            window.in_progress = None
            await uow.timers.cancel(LEASE_TIMER, window.key)
            if window.is_open and run.kind == "poll":
                await self._after_poll(uow, repo, window, run, now)
                # The checklist's monitoring items whose part of the window passed clean.
                ended = window.status is WindowStatus.CLOSED
                await credit_items(uow, repo, window, now, self.events, ended=ended)
            if window.is_open:
                await self._schedule_retry(uow, window, run, measurements, now)
            await repo.save_window(window)

        await in_transaction(self.uow, work)

    async def _after_poll(
        self,
        uow: UnitOfWork,
        repo: MonitoringRepository,
        window: WindowRecord,
        run: PollInProgress,
        now: datetime,
    ) -> None:
        window.polls_done += 1
        window.last_polled_at = now
        missed = count_polls_between(window.window.opened_at, window.window.stages, run.slot, now)
        if missed:
            log.info("window %s: %d missed polls coalesced into this one", window.key, missed)
            window.polls_coalesced += missed
        await schedule_next_poll(uow, window, now)
        if window.next_due_at is None and window.window.is_closed(now):
            await close_window(
                uow, repo, window, now, WindowStatus.CLOSED, "window ended", events=self.events
            )

    async def _schedule_retry(
        self,
        uow: UnitOfWork,
        window: WindowRecord,
        run: PollInProgress,
        measurements: Sequence[Measurement],
        now: datetime,
    ) -> None:
        errored = [m.condition for m in measurements if m.verdict is Verdict.ERROR]
        if not errored or window.window.paused:
            return
        watched = [window.condition(name) for name in errored]
        limit = max((c.blind_after for c in watched if c is not None), default=1)
        retry = run.retry + 1 if run.kind == "retry" else 1
        due = now + self.config.retry_after
        if retry > limit or (window.next_due_at is not None and due >= window.next_due_at):
            return
        await uow.timers.cancel(RETRY_TIMER, window.key)
        await uow.timers.schedule(
            RETRY_TIMER,
            window.key,
            due,
            token=window.schedule_token,
            payload={"conditions": errored, "retry": retry},
        )

"""Tick the checklist's monitoring items from the window's own measurements.

An item annotated `monitors=error_rate@1h` is credited once the first hour of the window is
over and every scheduled poll in it measured error_rate as passing; `monitors=latency_p95`
(no span) once the whole window ran its course that way. The evidence (polls, times, the
worst value against the rule) travels in a `MonitoringPassed` event: the releases feature
ticks the item as the bot, in this transaction. A condition the window does not watch (not
configured) leaves the item for a person; so does any breach, error, missing value or
missed poll in the span, an early close, and anything a person already did to the item.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.checklist.annotations import parse_monitors
from bot.core.actors import BOT_ACTOR
from bot.core.errors import UnknownTarget
from bot.core.events import MonitoringPassed, Publisher
from bot.core.ports import UnitOfWork
from bot.core.units import format_measure, format_rule
from bot.monitoring.domain import Measurement, Verdict, poll_times
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import WatchedCondition, WindowRecord
from bot.releases.domain.release import ItemState

_LOW_IS_BAD = ("<", "<=")


def _span(at: datetime) -> str:
    return f"{at:%H:%M}"


def evidence_of(
    watched: WatchedCondition, measured: Sequence[Measurement], expected: int
) -> str | None:
    """Return the evidence line for `watched` if `measured` is clean, else None.

    Clean: at least `expected` measurements (one per scheduled poll), every one PASS.
    """
    if len(measured) < max(expected, 1) or any(m.verdict is not Verdict.PASS for m in measured):
        return None
    values = [m.value for m in measured if m.value is not None]
    if len(values) < len(measured):
        return None
    low = watched.op in _LOW_IS_BAD
    worst = min(values) if low else max(values)
    rule = format_rule(watched.op, watched.threshold, watched.unit)
    return (
        f"{watched.title}: {len(measured)} polls {_span(measured[0].at)}-{_span(measured[-1].at)} "
        f"UTC all passed, {'min' if low else 'max'} {format_measure(worst, watched.unit)} ({rule})"
    )


async def credit_items(
    uow: UnitOfWork,
    repo: MonitoringRepository,
    window: WindowRecord,
    now: datetime,
    events: Publisher,
    *,
    ended: bool,
) -> int:
    """Publish `MonitoringPassed` for each monitoring item whose span passed clean; count them.

    `ended`: the window ran its course (its last poll or its closing time), so items
    covering the whole window are judged too.
    """
    try:
        release = await uow.releases.get(window.release_id)
    except UnknownTarget:
        return 0
    if not release.is_active:
        return 0
    start = window.window.opened_at
    published = 0
    for item in release.template.items():
        if not item.monitors:
            continue
        progress = release.items.get(item.id)
        if progress is not None and (
            progress.state is not ItemState.OPEN or progress.actor_id != BOT_ACTOR.id
        ):
            continue  # a person ticked, waived or reopened it: theirs
        names, first = parse_monitors(item.monitors)
        watched = [window.condition(name) for name in names]
        if any(w is None for w in watched):
            continue  # a condition that is not configured: left for a person
        end = _end_of(window, start, first, now, ended)
        if end is None:
            continue
        scheduled = poll_times(start, window.window.stages)
        expected = sum(1 for at in scheduled if at <= end)
        # A poll runs a little after its slot: count what was measured before the next slot.
        cutoff = next((at for at in scheduled if at > end), None)
        lines: list[str] = []
        polls = 0
        for condition in watched:
            assert condition is not None
            measured = [
                m
                for m in await repo.measurements(window.key, condition.name)
                if cutoff is None or m.at < cutoff
            ]
            line = evidence_of(condition, measured, expected)
            if line is None:
                break
            lines.append(line)
            polls = max(polls, len(measured))
        else:
            await events.publish(
                uow,
                MonitoringPassed(
                    window.release_id, item.id, "; ".join(lines), polls, start, end, now
                ),
            )
            published += 1
    return published


def _end_of(
    window: WindowRecord, start: datetime, first: timedelta | None, now: datetime, ended: bool
) -> datetime | None:
    """Return the end of the span an item covers once it is over (None while it is not)."""
    if first is not None:
        end = start + first
        return end if now >= end else None
    if not ended:
        return None
    return window.closed_at or now

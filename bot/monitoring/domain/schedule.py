"""When a post-deploy monitoring window polls: stages, poll times, coalescing, pause and extend.

Times are offsets from the moment the window opened. A stage polls every `every` until its
`until` offset; the next stage starts where the previous one ended. There is no poll at
t=0 (the deploy has only just happened and rates over it mean nothing): the first poll is
at `every`, and every stage ends with a poll exactly at its `until`, even when `until` is
not a multiple of `every`. So the last poll of a window is exactly at its end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

_ZERO = timedelta(0)


@dataclass(frozen=True)
class Stage:
    """Poll every `every` until the offset `until` from the window's opening."""

    every: timedelta
    until: timedelta


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage(every=timedelta(minutes=5), until=timedelta(hours=1)),
    Stage(every=timedelta(minutes=30), until=timedelta(hours=24)),
)
"""The seed checklist: every 5 minutes for the first hour, then every 30 minutes to 24 h."""


def validate_stages(stages: Sequence[Stage]) -> tuple[Stage, ...]:
    """Return `stages` as a tuple, or raise ValueError naming the first bad stage."""
    if not stages:
        raise ValueError("monitoring stages: at least one stage is needed")
    previous_end = _ZERO
    for index, stage in enumerate(stages):
        if stage.every <= _ZERO:
            raise ValueError(f"monitoring stages[{index}].every must be positive: {stage.every}")
        if stage.until <= previous_end:
            raise ValueError(
                f"monitoring stages[{index}].until ({stage.until}) must be later than the "
                f"previous stage's end ({previous_end})"
            )
        previous_end = stage.until
    return tuple(stages)


def _require_aware(name: str, when: datetime) -> None:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when.isoformat()}")


def poll_times(start: datetime, stages: Sequence[Stage]) -> list[datetime]:
    """Return every scheduled poll time of a window opened at `start`, in order."""
    _require_aware("start", start)
    times: list[datetime] = []
    begin = _ZERO
    for stage in validate_stages(stages):
        offset = begin + stage.every
        while offset < stage.until:
            times.append(start + offset)
            offset += stage.every
        times.append(start + stage.until)
        begin = stage.until
    return times


def next_poll_after(start: datetime, stages: Sequence[Stage], after: datetime) -> datetime | None:
    """Return the first scheduled poll strictly after `after`, or None once the window is over."""
    _require_aware("start", start)
    _require_aware("after", after)
    offset = after - start
    begin = _ZERO
    for stage in validate_stages(stages):
        if offset < stage.until:
            if offset < begin:
                slot = begin + stage.every
            else:
                # Integer division of timedeltas is exact (microseconds), so no float drift.
                slot = begin + ((offset - begin) // stage.every + 1) * stage.every
            return start + min(slot, stage.until)
        begin = stage.until
    return None


def count_polls_between(
    start: datetime, stages: Sequence[Stage], after: datetime, until: datetime
) -> int:
    """Return how many scheduled polls fall in the half-open interval (`after`, `until`]."""
    count = 0
    slot = next_poll_after(start, stages, after)
    while slot is not None and slot <= until:
        count += 1
        slot = next_poll_after(start, stages, slot)
    return count


@dataclass(frozen=True)
class CatchUp:
    """What to do at start-up: run one poll now (if any were missed) and when to poll next."""

    run_now: bool
    missed: int
    next_at: datetime | None


@dataclass(frozen=True)
class MonitoringWindow:
    """A post-deploy monitoring window; methods return new windows, nothing mutates.

    Pausing does not move the schedule or the closing time: slots that fall while paused
    are skipped, not replayed (`extend` is the way to buy more time).
    """

    opened_at: datetime
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    paused_at: datetime | None = None
    resumed_at: datetime | None = None
    extended_by: timedelta = field(default=_ZERO)

    def __post_init__(self) -> None:
        """Reject naive times and malformed stages."""
        _require_aware("opened_at", self.opened_at)
        object.__setattr__(self, "stages", validate_stages(self.stages))
        if self.paused_at is not None:
            _require_aware("paused_at", self.paused_at)
        if self.resumed_at is not None:
            _require_aware("resumed_at", self.resumed_at)

    @property
    def closes_at(self) -> datetime:
        """Return when the window ends (its last poll is exactly then)."""
        return self.opened_at + self.stages[-1].until

    @property
    def paused(self) -> bool:
        """Return True while the window is paused."""
        return self.paused_at is not None

    def is_closed(self, now: datetime) -> bool:
        """Return True from `closes_at` on (the poll due at `closes_at` is the final one)."""
        return now >= self.closes_at

    def pause(self, now: datetime) -> MonitoringWindow:
        """Return this window paused at `now`."""
        _require_aware("now", now)
        if self.paused_at is not None:
            raise ValueError(f"window already paused since {self.paused_at.isoformat()}")
        if self.is_closed(now):
            raise ValueError(f"window closed at {self.closes_at.isoformat()}; cannot pause")
        return replace(self, paused_at=now)

    def resume(self, now: datetime) -> MonitoringWindow:
        """Return this window running again; slots missed while paused are not run."""
        _require_aware("now", now)
        if self.paused_at is None:
            raise ValueError("window is not paused; nothing to resume")
        if now < self.paused_at:
            raise ValueError(
                f"resume time {now.isoformat()} is before the pause at {self.paused_at.isoformat()}"
            )
        return replace(self, paused_at=None, resumed_at=now)

    def extend(self, by: timedelta) -> MonitoringWindow:
        """Return this window with its last stage (and so its closing time) later by `by`."""
        if by <= _ZERO:
            raise ValueError(f"extend needs a positive duration, got {by}")
        last = self.stages[-1]
        stages = (*self.stages[:-1], Stage(every=last.every, until=last.until + by))
        return replace(self, stages=stages, extended_by=self.extended_by + by)

    def next_due(self, after: datetime) -> datetime | None:
        """Return the next poll strictly after `after`, or None when paused or over."""
        if self.paused_at is not None:
            return None
        if self.resumed_at is not None and after < self.resumed_at:
            after = self.resumed_at
        return next_poll_after(self.opened_at, self.stages, after)

    def catch_up(self, last_polled: datetime | None, now: datetime) -> CatchUp:
        """Return the start-up plan: missed polls coalesce into ONE poll now, then the next slot."""
        _require_aware("now", now)
        if self.paused_at is not None:
            return CatchUp(run_now=False, missed=0, next_at=None)
        since = last_polled or self.opened_at
        if self.resumed_at is not None and since < self.resumed_at:
            since = self.resumed_at
        end = min(now, self.closes_at)
        missed = count_polls_between(self.opened_at, self.stages, since, end) if since < end else 0
        return CatchUp(run_now=missed > 0, missed=missed, next_at=self.next_due(now))

"""Baselines of relative conditions: the previous production release at the same offset.

The previous release is the newest earlier window of the same service whose release was not
rolled back or aborted (a release that had to be undone is no standard to meet). Its
measurement "at the same offset" is the conclusive one nearest the offset, within one poll
interval of the current schedule at that offset, so slightly shifted polls still match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from bot.core.errors import UnknownTarget
from bot.core.ports import UnitOfWork
from bot.monitoring.domain import Measurement, Stage
from bot.monitoring.domain.baseline import Baseline, judge
from bot.monitoring.domain.ports import MonitoringRepository
from bot.monitoring.domain.records import WatchedCondition, WindowRecord
from bot.releases.domain.release import ReleaseStatus

_NO_STANDARD = (ReleaseStatus.ROLLED_BACK, ReleaseStatus.ABORTED)


def poll_interval_at(stages: Sequence[Stage], offset: timedelta) -> timedelta:
    """Return the poll interval of the stage that `offset` falls in (the last one after)."""
    return next((stage.every for stage in stages if offset <= stage.until), stages[-1].every)


@dataclass
class BaselineFinder:
    """Find baselines for one window's measurements inside the caller's unit of work."""

    uow: UnitOfWork
    repo: MonitoringRepository
    window: WindowRecord
    _previous: tuple[WindowRecord, str] | None = field(default=None, init=False)
    _looked: bool = field(default=False, init=False)

    async def previous(self) -> tuple[WindowRecord, str] | None:
        """Return the previous release's window and version label, if there is one."""
        if self._looked:
            return self._previous
        self._looked = True
        opened = self.window.window.opened_at
        for candidate in await self.repo.windows_before(self.window.service, opened):
            if candidate.id == self.window.id:
                continue
            try:
                release = await self.uow.releases.get(candidate.release_id)
            except UnknownTarget:
                continue
            if release.status not in _NO_STANDARD:
                self._previous = (candidate, str(release.version))
                break
        return self._previous

    async def baseline(self, watched: WatchedCondition, offset: timedelta) -> Baseline | None:
        """Return what the previous release measured for `watched` at `offset`, if anything."""
        previous = await self.previous()
        if previous is None:
            return None
        window, label = previous
        tolerance = poll_interval_at(self.window.window.stages, offset)
        at = window.window.opened_at + offset
        found = await self.repo.measurement_near(window.key, watched.name, at, tolerance)
        if found is None or found.value is None:
            return None
        return Baseline(found.value, label, found.at - window.window.opened_at)

    async def judge_all(self, measurements: Sequence[Measurement]) -> list[Measurement]:
        """Return the measurements, relative conditions judged against their baselines."""
        judged = []
        for measurement in measurements:
            watched = self.window.condition(measurement.condition)
            rule = watched.relative_rule() if watched is not None else None
            if watched is None or rule is None:
                judged.append(measurement)
                continue
            offset = measurement.at - self.window.window.opened_at
            found = await self.baseline(watched, offset)
            judged.append(judge(measurement, rule, found, title=watched.title, unit=watched.unit))
        return judged


async def baseline_series(
    uow: UnitOfWork,
    repo: MonitoringRepository,
    window: WindowRecord,
    watched: WatchedCondition | None,
) -> tuple[tuple[Measurement, ...], str]:
    """Return the previous release's series of a relative condition on this window's clock."""
    if watched is None or not watched.baseline:
        return (), ""
    previous = await BaselineFinder(uow, repo, window).previous()
    if previous is None:
        return (), ""
    earlier, label = previous
    shift = window.window.opened_at - earlier.window.opened_at
    series = await repo.measurements(earlier.key, watched.name)
    return tuple(replace(m, at=m.at + shift) for m in series), label

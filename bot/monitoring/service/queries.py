"""Monitoring reads: windows and alerts as the chat side shows them, and where alerts live."""

from __future__ import annotations

from bot.core.clock import Clock
from bot.core.errors import InvalidInput, UnknownTarget
from bot.core.ports import MessageRef, UnitOfWorkFactory
from bot.monitoring.domain import summarize
from bot.monitoring.domain.records import AlertRecord, StoredCondition, WindowRecord
from bot.monitoring.service.baselines import baseline_series
from bot.monitoring.service.config import ALERT_MESSAGE_KIND, monitoring_repo
from bot.monitoring.service.views import AlertView, ConditionLine, WindowView


class MonitoringQueries:
    """Read-side use-cases of the monitoring service (each one short transaction)."""

    uow: UnitOfWorkFactory
    clock: Clock

    async def window_view(
        self, *, release_id: int | None = None, window_id: int | None = None
    ) -> WindowView:
        """Return a window (by release or by id) with its conditions, summary and alerts."""
        async with self.uow(read_only=True) as uow:
            repo = monitoring_repo(uow)
            if window_id is not None:
                window = await repo.get_window(window_id)
            elif release_id is not None:
                window = await repo.window_for_release(release_id)
            else:
                raise InvalidInput("window_view needs a release_id or a window_id")
            if window is None:
                which = f"release #{release_id}" if window_id is None else f"#{window_id}"
                raise UnknownTarget(f"there is no monitoring window for {which}")
            release = await uow.releases.get(window.release_id)
            states = await repo.conditions(window.key)
            measurements = await repo.measurements(window.key)
            alerts = await repo.alerts(window.key)
        watched = [c.name for c in window.conditions]
        pushed_only = sorted(set(states) - set(watched))
        lines = tuple(_line(window, name, states.get(name)) for name in watched + pushed_only)
        return WindowView(
            window, release.name, lines, summarize(measurements), tuple(alerts), self.clock.now()
        )

    async def alert_view(self, alert_id: int) -> AlertView:
        """Return an alert's current state, its condition's series and where it was posted."""
        async with self.uow() as uow:
            repo = monitoring_repo(uow)
            alert = await repo.get_alert(alert_id)
            if alert is None:
                raise UnknownTarget(f"there is no monitoring alert #{alert_id}")
            window = await repo.get_window(alert.window_id)
            assert window is not None  # foreign key guarantees it
            release = await uow.releases.get(alert.release_id)
            series = await repo.measurements(alert.window_id, alert.condition)
            stored = (await repo.conditions(alert.window_id)).get(alert.condition)
            refs = await uow.messages.for_release(alert.release_id)
            watched = window.condition(alert.condition)
            baseline, label = await baseline_series(uow, repo, window, watched)
        mine = tuple(
            r for r in refs if r.kind == ALERT_MESSAGE_KIND and r.key.startswith(f"{alert_id}:")
        )
        return AlertView(
            alert,
            release.name,
            tuple(series),
            window.condition(alert.condition),
            stored.silence if stored else None,
            mine,
            self.clock.now(),
            baseline,
            label,
        )

    async def record_alert_message(
        self, alert_id: int, place: str, channel_id: int, message_id: int
    ) -> None:
        """Remember where alert `alert_id` was posted in `place`, so later events edit it."""
        alert = await self._alert(alert_id)
        async with self.uow() as uow:
            ref = MessageRef(
                alert.release_id, ALERT_MESSAGE_KIND, f"{alert_id}:{place}", channel_id, message_id
            )
            await uow.messages.put(ref)
            await uow.commit()

    async def open_window_count(self) -> int:
        """Return how many windows are open (a cheap database round trip for /healthz)."""
        async with self.uow(read_only=True) as uow:
            return len(await monitoring_repo(uow).open_windows())

    async def measurement_count(self) -> int:
        """Return how many measurements are stored in all."""
        async with self.uow(read_only=True) as uow:
            return await monitoring_repo(uow).count_measurements()

    async def _alert(self, alert_id: int) -> AlertRecord:
        async with self.uow(read_only=True) as uow:
            alert = await monitoring_repo(uow).get_alert(alert_id)
        if alert is None:
            raise UnknownTarget(f"there is no monitoring alert #{alert_id}")
        return alert


def _line(window: WindowRecord, name: str, stored: StoredCondition | None) -> ConditionLine:
    watched = window.condition(name)
    return ConditionLine(name, watched.title if watched else name, stored, watched)

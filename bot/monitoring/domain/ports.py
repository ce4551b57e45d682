"""The repository port the monitoring use-cases need (the store implements it)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bot.monitoring.domain.records import AlertKind, AlertRecord, StoredCondition, WindowRecord
from bot.monitoring.domain.verdicts import Measurement


class MonitoringRepository(Protocol):
    """Windows, measurements, condition states and alerts, in one unit of work."""

    async def add_window(self, record: WindowRecord) -> int:
        """Insert a window and return its id (also set on `record`)."""
        ...

    async def get_window(self, window_id: int) -> WindowRecord | None:
        """Return window `window_id`, if it exists."""
        ...

    async def window_for_release(self, release_id: int) -> WindowRecord | None:
        """Return the window of release `release_id`, if one was opened."""
        ...

    async def open_windows(self, service: str | None = None) -> Sequence[WindowRecord]:
        """Return every open window (of `service`, when given), oldest first."""
        ...

    async def windows_before(
        self, service: str, before: datetime, limit: int = 5
    ) -> Sequence[WindowRecord]:
        """Return up to `limit` windows of `service` opened before `before`, newest first."""
        ...

    async def save_window(self, record: WindowRecord) -> None:
        """Store `record` unless someone saved it first (then raise ConcurrentUpdate)."""
        ...

    async def conditions(self, window_id: int) -> dict[str, StoredCondition]:
        """Return the stored tracker state of every condition measured in the window."""
        ...

    async def put_condition(
        self, window_id: int, stored: StoredCondition, last_measurement_id: int | None
    ) -> None:
        """Insert or replace one condition's state."""
        ...

    async def add_measurement(
        self, window_id: int, release_id: int, measurement: Measurement, source: str
    ) -> int:
        """Store one measurement and return its id."""
        ...

    async def measurements(
        self, window_id: int, condition: str | None = None
    ) -> Sequence[Measurement]:
        """Return the window's measurements (of `condition`, when given), oldest first."""
        ...

    async def measurement_near(
        self, window_id: int, condition: str, at: datetime, tolerance: timedelta
    ) -> Measurement | None:
        """Return the conclusive measurement of `condition` nearest `at` within `tolerance`."""
        ...

    async def count_measurements(self, window_id: int | None = None) -> int:
        """Return how many measurements are stored (in one window, when given)."""
        ...

    async def current_alert(
        self, window_id: int, condition: str, kind: AlertKind
    ) -> AlertRecord | None:
        """Return the open alert episode of `condition` and `kind`, if there is one."""
        ...

    async def open_alerts(self, window_id: int) -> Sequence[AlertRecord]:
        """Return the window's open alert episodes (at most one per condition and kind)."""
        ...

    async def add_alert(self, alert: AlertRecord) -> int:
        """Insert an alert and return its id (also set on `alert`)."""
        ...

    async def save_alert(self, alert: AlertRecord) -> None:
        """Store the alert's changed fields."""
        ...

    async def get_alert(self, alert_id: int) -> AlertRecord | None:
        """Return alert `alert_id`, if it exists."""
        ...

    async def alerts(self, window_id: int) -> Sequence[AlertRecord]:
        """Return every alert of the window, oldest first."""
        ...

    async def active_fingerprints(self, window_id: int, condition: str) -> dict[str, int]:
        """Return the fingerprints firing for `condition` in the window, with their push counts."""
        ...

    async def note_firing(
        self,
        window_id: int,
        condition: str,
        fingerprint: str,
        *,
        group_key: str,
        starts_at: datetime,
    ) -> bool:
        """Record one firing push of an alert; return True when the fingerprint is new."""
        ...

    async def preload_active(self, window_id: int, alerts: Iterable[tuple[str, str]]) -> None:
        """Read these (condition, fingerprint) alerts of the window at once (a batch's lookups)."""
        ...

    async def note_resolved(self, window_id: int, condition: str, fingerprint: str) -> int:
        """Forget a resolved alert; return how many alerts of `condition` still fire."""
        ...

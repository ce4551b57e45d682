"""The four DORA figures over a period, from recorded release metrics (docs/reports.md).

- Deployment frequency: production deploys (releases whose window opened) in the period,
  per day and per week.
- Lead time for changes: the median of release start -> production deploy over those releases.
- Change failure rate: failed / deployed, where a production release failed when it was
  rolled back or a P0/P1 incident opened inside its monitoring window.
- Time to restore: the median of incident opened -> resolved, over the incidents opened in
  the period and resolved (open ones are counted apart, never guessed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from bot.reports.domain.metrics import IncidentFigures, ReleaseMetrics, duration_text


@dataclass(frozen=True)
class DoraStats:
    """The DORA figures of one service (or all) over [since, until)."""

    service: str | None
    since: datetime
    until: datetime
    deployments: int
    failed: int
    lead_time_seconds: float | None
    restore_seconds: float | None
    incidents_resolved: int
    incidents_open: int
    failed_releases: tuple[int, ...]

    @property
    def days(self) -> float:
        """Return the period's length in days."""
        return (self.until - self.since).total_seconds() / 86400

    @property
    def per_day(self) -> float:
        """Return production deploys per day."""
        return self.deployments / self.days if self.days > 0 else 0.0

    @property
    def per_week(self) -> float:
        """Return production deploys per week."""
        return self.per_day * 7

    @property
    def change_failure_rate(self) -> float | None:
        """Return failed / deployed (None when nothing was deployed)."""
        return None if self.deployments == 0 else self.failed / self.deployments

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready data."""
        return {
            "service": self.service,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "deployments": self.deployments,
            "deployments_per_day": round(self.per_day, 4),
            "deployments_per_week": round(self.per_week, 4),
            "lead_time_seconds": self.lead_time_seconds,
            "change_failure_rate": self.change_failure_rate,
            "failed": self.failed,
            "failed_releases": list(self.failed_releases),
            "time_to_restore_seconds": self.restore_seconds,
            "incidents_resolved": self.incidents_resolved,
            "incidents_open": self.incidents_open,
        }

    def lines(self) -> list[str]:
        """Return the four figures as lines people read."""
        who = self.service or "all services"
        rate = self.change_failure_rate
        return [
            f"DORA for {who}, {self.since:%Y-%m-%d %H:%M} – {self.until:%Y-%m-%d %H:%M} UTC "
            f"({self.days:.1f} days)",
            f"Deployment frequency: {self.deployments} production deploys "
            f"({self.per_day:.2f}/day, {self.per_week:.2f}/week)",
            f"Lead time for changes (median, start → production): "
            f"{duration_text(self.lead_time_seconds)}",
            "Change failure rate: "
            + ("— (nothing deployed)" if rate is None else f"{rate:.1%}")
            + f" ({self.failed} of {self.deployments} failed"
            + (
                f": releases {', '.join(f'#{i}' for i in self.failed_releases)})"
                if self.failed_releases
                else ")"
            ),
            f"Time to restore (median, incident opened → resolved): "
            f"{duration_text(self.restore_seconds)} over {self.incidents_resolved} resolved"
            + (f", {self.incidents_open} still open" if self.incidents_open else ""),
        ]


def dora(
    releases: Sequence[ReleaseMetrics],
    since: datetime,
    until: datetime,
    service: str | None = None,
) -> DoraStats:
    """Return the DORA figures of `releases` (of `service`, if given) deployed in the period."""
    mine = [m for m in releases if service is None or m.service == service]
    deployed = [m for m in mine if m.deployed_at is not None and since <= m.deployed_at < until]
    failed = [m for m in deployed if m.failed]
    leads = [m.lead_time_seconds for m in deployed if m.lead_time_seconds is not None]
    incidents: list[IncidentFigures] = [
        i for m in mine for i in m.incidents if since <= i.opened_at < until
    ]
    restores = [i.seconds_to_resolve for i in incidents if i.seconds_to_resolve is not None]
    return DoraStats(
        service=service,
        since=since,
        until=until,
        deployments=len(deployed),
        failed=len(failed),
        lead_time_seconds=median(leads) if leads else None,
        restore_seconds=median(restores) if restores else None,
        incidents_resolved=len(restores),
        incidents_open=len(incidents) - len(restores),
        failed_releases=tuple(m.release_id for m in failed),
    )


DAILY_UP_TO = timedelta(days=14)  # periods this short get daily buckets, longer ones weekly


def bucket_size(since: datetime, until: datetime) -> timedelta:
    """Return the default bucket of a trend: a day when the period is at most 14 days, else
    a week."""
    return timedelta(days=1) if until - since <= DAILY_UP_TO else timedelta(weeks=1)


def buckets(since: datetime, until: datetime, size: timedelta) -> list[tuple[datetime, datetime]]:
    """Return [start, end) buckets of `size` covering [since, until), oldest first.

    They are counted back from `until`, so the newest bucket is whole and ends now; when the
    period is not a whole number of buckets the oldest one is shorter (clipped at `since`).
    """
    if size <= timedelta(0):
        raise ValueError("a bucket must be longer than zero")
    edges: list[tuple[datetime, datetime]] = []
    end = until
    while end > since:
        start = max(since, end - size)
        edges.append((start, end))
        end = start
    return edges[::-1]


def dora_over_time(
    releases: Sequence[ReleaseMetrics],
    since: datetime,
    until: datetime,
    service: str | None = None,
    size: timedelta | None = None,
) -> list[DoraStats]:
    """Return the DORA figures of each bucket of the period (see `buckets`), oldest first:
    `dora` over each bucket, so the definitions are the same as the period's figures."""
    step = size if size is not None else bucket_size(since, until)
    return [dora(releases, start, end, service) for start, end in buckets(since, until, step)]


def period(until: datetime, days: int) -> tuple[datetime, datetime]:
    """Return [until - days, until)."""
    return until - timedelta(days=days), until

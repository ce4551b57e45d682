"""DORA figures over a seeded history, printed by `releasebot stats`, equal hand-computed values.

The history is seeded on a real migrated SQLite file: eleven releases started through the
release service (so the `start` events are the real ones), then the rest of each timeline
appended to the audit log with known times, as the features write it (`monitor_open` at the
production deploy, `complete`/`rolled_back`/`abort`, `incident_open|resolve` with severity,
`monitor_closed` when the window ends). Nothing else is faked.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.core.actors import Source
from bot.core.audit import AuditEvent
from bot.core.clock import FakeClock
from bot.releases.service import ReleaseService
from bot.reports.service.use_cases import ReportService
from tests.support.actors import LEAD

DAY0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
T = TypeVar("T")


def event(
    release_id: int, action: str, at: datetime, target: str = "", **detail: str
) -> AuditEvent:
    """Return an audit event of the bot on release `release_id`."""
    return AuditEvent(at, "releasebot", "releasebot", action, target or f"#{release_id}",
                      Source.SYSTEM, release_id, detail)  # fmt: skip


async def seed(service: ReleaseService, clock: FakeClock) -> None:
    """Seed 10 production releases (2 rolled back, 1 with a P1 in its window) and 1 abort.

    Release n (1..10) starts on day n-1 at 09:00 and reaches production 20 + 10·n minutes
    later; its window closes 24 h after the deploy. Incidents: #2 a P2 (30 min to resolve),
    #5 a P1 inside its window (90 min), #7 a P1 inside its window and rolled back (60 min),
    #9 a P1 opened after its window closed (20 min). Releases 3 and 7 are rolled back.
    Release 11 is aborted before it reaches production.
    """
    events: list[AuditEvent] = []
    incidents = {2: ("P2", 30), 5: ("P1", 90), 7: ("P1", 60)}
    for n in range(1, 11):
        start = DAY0 + timedelta(days=n - 1)
        clock.set(start)
        await service.start(LEAD, service="gw", version=f"v1.{n}.0")
        deployed = start + timedelta(minutes=20 + 10 * n)
        events.append(event(n, "monitor_open", deployed))
        if n in (3, 7):
            events.append(event(n, "rolled_back", deployed + timedelta(hours=3)))
            events.append(event(n, "monitor_stopped", deployed + timedelta(hours=3)))
        else:
            events.append(event(n, "monitor_closed", deployed + timedelta(hours=24)))
            events.append(event(n, "complete", deployed + timedelta(hours=25)))
        if n in incidents:
            severity, minutes = incidents[n]
            opened = deployed + timedelta(hours=2)
            target = f"incident #{n}"
            events.append(event(n, "incident_open", opened, target, severity=severity))
            events.append(event(n, "incident_page", opened, target, severity=severity))
            resolved = opened + timedelta(minutes=minutes)
            events.append(event(n, "incident_resolve", resolved, target, severity=severity))
        if n == 9:  # a P1 after the window closed does not fail the release
            opened = deployed + timedelta(hours=24, minutes=30)
            events.append(event(n, "incident_open", opened, "incident #9", severity="P1"))
            resolved = opened + timedelta(minutes=20)
            events.append(event(n, "incident_resolve", resolved, "incident #9", severity="P1"))
    clock.set(DAY0 + timedelta(days=10))
    await service.start(LEAD, service="gw", version="v2.0.0")
    events.append(event(11, "abort", DAY0 + timedelta(days=10, hours=1), reason="changed plans"))
    async with service.uow() as uow:
        for one in events:
            await uow.audit.append(one)
        await uow.commit()


def stats(url: str, *extra: str) -> str:
    """Run `releasebot stats` over the 30 days before UNTIL and return what it printed."""
    out = io.StringIO()
    code = main(["stats", "--url", url, "--until", UNTIL.isoformat(), "--days", "30", *extra], out)
    assert code == 0, out.getvalue()
    return out.getvalue()


async def test_stats_prints_the_four_dora_figures_computed_by_hand(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine
) -> None:
    """Frequency 10 in 30 days, lead median 75 min, failure 3/10, restore median 45 min."""
    await seed(service, clock)
    url = engine.url.render_as_string(hide_password=False)

    # By hand: lead times 30, 40, ..., 120 min -> median (70 + 80) / 2 = 75 min.
    # Failed: #3 and #7 rolled back, #5 a P1 inside its window (#9's P1 came after) -> 3/10.
    # Restore: 30, 90, 60, 20 min -> median (30 + 60) / 2 = 45 min.
    figures = json.loads(await _in_thread(stats, url, "--format", "json"))
    assert figures["deployments"] == 10
    assert figures["deployments_per_day"] == round(10 / 30, 4)
    assert figures["deployments_per_week"] == round(10 / 30 * 7, 4)
    assert figures["lead_time_seconds"] == 75 * 60
    assert figures["change_failure_rate"] == 0.3
    assert figures["failed_releases"] == [3, 5, 7]
    assert figures["time_to_restore_seconds"] == 45 * 60
    assert figures["incidents_resolved"] == 4
    assert figures["incidents_open"] == 0

    text = await _in_thread(stats, url, "--service", "gw")
    assert "10 production deploys (0.33/day, 2.33/week)" in text
    assert "1 h 15 min" in text
    assert "30.0% (3 of 10 failed: releases #3, #5, #7)" in text
    assert "45 min 00 s over 4 resolved" in text


async def test_stats_refuses_a_bad_period_with_a_clear_message(engine: AsyncEngine) -> None:
    """A bad --until or --days names what is wrong; nothing is printed as a traceback."""
    url = engine.url.render_as_string(hide_password=False)
    for args, expected in (
        (["--until", "yesterday"], "--until 'yesterday' is not an ISO 8601 time"),
        (["--days", "0"], "--days must be a positive number of days"),
    ):
        out = io.StringIO()
        assert await _in_thread(main, ["stats", "--url", url, *args], out) == 1
        assert expected in out.getvalue()


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """Run the synchronous CLI (it runs its own event loop) in a worker thread."""
    return await asyncio.to_thread(func, *args)


async def test_the_report_compares_with_the_previous_production_release_of_the_service(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine
) -> None:
    """Release 11 never reached production, so release 12 is compared with release 10."""
    await seed(service, clock)
    clock.set(DAY0 + timedelta(days=12))
    await service.start(LEAD, service="gw", version="v2.0.1")
    reports = ReportService(service.uow, clock)
    assert (await reports.report(12)).previous_release_id == 10
    assert (await reports.report(5)).previous_release_id == 4
    assert (await reports.report(1)).previous_release_id is None
    five = await reports.report(5)
    assert five.metrics.failed and five.metrics.incidents[0].seconds_to_resolve == 90 * 60
    assert "Change failed (DORA): yes" in five.figure_lines()
    assert "incidents.P1,1" in five.csv().splitlines()
    assert five.markdown().startswith("# Release report: gw v1.5.0 (#5)")

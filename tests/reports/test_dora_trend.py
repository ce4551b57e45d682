"""The DORA chart over time: per-bucket figures on the seeded history equal hand-computed
values, the PNG is a real image, `releasebot stats --out DIR` writes it, and a bad period is
refused with a message naming it. Same seeded SQLite history as test_dora.py; nothing faked.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.cli import main
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput
from bot.releases.service import ReleaseService
from bot.reports.charts import dora_chart, render
from bot.reports.domain.dora import buckets
from bot.reports.period import parse_period
from bot.reports.service.use_cases import ReportService
from tests.reports.test_dora import DAY0, UNTIL, _in_thread, seed

PNG = b"\x89PNG\r\n\x1a\n"
MIN = 60


def _figures(bucket: dict[str, object]) -> tuple[object, ...]:
    return (
        bucket["since"], bucket["until"], bucket["deployments"], bucket["failed"],
        bucket["lead_time_seconds"], bucket["time_to_restore_seconds"],
    )  # fmt: skip


async def test_weekly_buckets_of_the_seeded_history_match_the_hand_computed_figures(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine
) -> None:
    """30 days before 1 Dec: weeks counted back from 1 Dec, the oldest clipped at 1 Nov 00:00.

    Release n is deployed on n Nov at 09:00 + (20 + 10n) min (seed in test_dora.py):
    - 1–3 Nov (2 days): #1, #2 -> 2 deploys, none failed, lead (30 + 40) / 2 = 35 min,
      restore: #2's P2 took 30 min.
    - 3–10 Nov: #3..#9 -> 7 deploys, #3, #5, #7 failed, lead median of 50..110 = 80 min,
      restore: #5 90 min, #7 60 min -> 75 min (#9's P1 opened on 10 Nov, next week).
    - 10–17 Nov: #10 -> 1 deploy, lead 120 min; restore: #9's P1 took 20 min.
    - 17–24 Nov and 24 Nov–1 Dec: nothing (no rate, no medians: None, never 0).
    """
    await seed(service, clock)
    stats, weeks = await ReportService(service.uow, clock).trend(
        UNTIL - timedelta(days=30), UNTIL, "gw"
    )
    got = [
        (b.since.isoformat()[:10], b.until.isoformat()[:10], b.deployments, b.failed,
         b.lead_time_seconds, b.restore_seconds, b.failed_releases)
        for b in weeks
    ]  # fmt: skip
    assert got == [
        ("2026-11-01", "2026-11-03", 2, 0, 35 * MIN, 30 * MIN, ()),
        ("2026-11-03", "2026-11-10", 7, 3, 80 * MIN, 75 * MIN, (3, 5, 7)),
        ("2026-11-10", "2026-11-17", 1, 0, 120 * MIN, 20 * MIN, ()),
        ("2026-11-17", "2026-11-24", 0, 0, None, None, ()),
        ("2026-11-24", "2026-12-01", 0, 0, None, None, ()),
    ]
    assert [b.change_failure_rate for b in weeks] == [0.0, 3 / 7, 0.0, None, None]
    # the buckets partition the period: their counts add up to the period's figures
    assert sum(b.deployments for b in weeks) == stats.deployments == 10
    assert sum(b.failed for b in weeks) == stats.failed == 3


async def test_a_period_of_up_to_14_days_gets_daily_buckets(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine
) -> None:
    """`--period 14d` up to 11 Nov: 14 daily buckets; release n deployed on n Nov is alone in
    its day with lead 20 + 10n min; 28–31 Oct are empty; and the JSON carries the buckets."""
    await seed(service, clock)
    url = engine.url.render_as_string(hide_password=False)
    until = DAY0.replace(hour=0) + timedelta(days=10)  # 11 Nov 00:00
    out = io.StringIO()
    code = await _in_thread(
        main,
        ["stats", "--url", url, "--until", until.isoformat(), "--period", "14d", "--format",
         "json"],
        out,
    )  # fmt: skip
    assert code == 0, out.getvalue()
    figures = json.loads(out.getvalue())
    days = figures["buckets"]
    assert len(days) == 14
    assert [d["deployments"] for d in days] == [0] * 4 + [1] * 10
    assert [d["lead_time_seconds"] for d in days[4:]] == [(20 + 10 * n) * MIN for n in range(1, 11)]
    assert [d["failed_releases"] for d in days[4:]] == [[], [], [3], [], [5], [], [7], [], [], []]
    assert _figures(days[4])[:2] == ("2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00")
    assert figures["deployments"] == 10 and "chart" not in figures


def test_buckets_are_counted_back_from_the_end_and_the_oldest_is_clipped() -> None:
    """Ten days in weeks: [since, until-7d) then a whole last week."""
    since = DAY0
    edges = buckets(since, since + timedelta(days=10), timedelta(weeks=1))
    assert edges == [
        (since, since + timedelta(days=3)),
        (since + timedelta(days=3), since + timedelta(days=10)),
    ]


async def test_stats_out_writes_the_chart_over_time_as_a_png(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    """`releasebot stats --out DIR` draws the chart (in the child process) and says where."""
    await seed(service, clock)
    url = engine.url.render_as_string(hide_password=False)
    out = io.StringIO()
    args = ["stats", "--url", url, "--until", UNTIL.isoformat(), "--service", "gw",
            "--period", "30d", "--out", str(tmp_path / "charts")]  # fmt: skip
    assert await _in_thread(main, args, out) == 0, out.getvalue()
    path = tmp_path / "charts" / "dora-gw-20261201.png"
    assert f"Chart over time: wrote {path}" in out.getvalue()
    assert "10 production deploys" in out.getvalue()
    data = path.read_bytes()
    assert data[:8] == PNG
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert 600 < image.width < 2000 and 400 < image.height < 1500, image.size


async def test_the_chart_job_draws_in_the_child_process(
    service: ReleaseService, clock: FakeClock, engine: AsyncEngine
) -> None:
    """The "dora" chart job through `render` gives the same kind of PNG as drawing directly."""
    await seed(service, clock)
    _, days = await ReportService(service.uow, clock).trend(DAY0, DAY0 + timedelta(days=12))
    (png,) = await render([("dora", "all services", tuple(days))])
    direct = dora_chart("all services", days)
    for data in (png, direct):
        with Image.open(io.BytesIO(data)) as image:
            assert image.format == "PNG" and image.width > 600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("30", "period '30' needs a unit: e.g. 30d"),
        ("soon", "period 'soon' is not a duration like"),
        ("12h", "period '12h' is shorter than 1 day"),
        ("600w", "period '600w' is longer than 3650 days"),
        ("-7d", "period '-7d' is not a duration like"),
    ],
)
def test_a_bad_period_is_refused_naming_it(text: str, message: str) -> None:
    """Each bad period names the text and what a good one looks like."""
    with pytest.raises(InvalidInput) as raised:
        parse_period(text)
    assert message in raised.value.message


def test_good_periods_parse() -> None:
    """7d, 30d, 12w and a mix."""
    assert [parse_period(t).days for t in ("7d", "30d", "12w", "2w3d", " 7D ")] == [
        7, 30, 84, 17, 7,
    ]  # fmt: skip


async def test_stats_refuses_a_bad_period_on_the_command_line(engine: AsyncEngine) -> None:
    """A bad --period (or --period with --days) exits 1 with the message, no traceback."""
    url = engine.url.render_as_string(hide_password=False)
    for args, expected in (
        (["--period", "fortnight"], "stats: --period: period 'fortnight' is not a duration"),
        (["--period", "7d", "--days", "7"], "either in days or as a duration"),
    ):
        out = io.StringIO()
        assert await _in_thread(main, ["stats", "--url", url, *args], out) == 1
        assert expected in out.getvalue() and "Traceback" not in out.getvalue()


async def test_stats_out_says_when_the_chart_cannot_be_drawn(
    service: ReleaseService,
    clock: FakeClock,
    engine: AsyncEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The child really fails (matplotlib refuses MPLBACKEND): the figures are printed, the
    failure is named, no file is written and the exit code is 1."""
    await seed(service, clock)
    monkeypatch.setenv("MPLBACKEND", "no-such-backend")
    url = engine.url.render_as_string(hide_password=False)
    out = io.StringIO()
    folder = tmp_path / "charts"
    args = ["stats", "--url", url, "--until", UNTIL.isoformat(), "--out", str(folder)]
    assert await _in_thread(main, args, out) == 1
    assert "10 production deploys" in out.getvalue()
    assert "stats: the chart could not be drawn: the chart process failed" in out.getvalue()
    assert not folder.exists()

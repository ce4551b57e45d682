"""The chart library costs nothing until a report is drawn (issue 14 measures start-up)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bot.reports.charts import ChartError, Series, phase_timeline, render, series_chart
from bot.reports.domain.metrics import PhaseSpan, ReleaseMetrics

PROBE = """
import asyncio, io, sys, contextlib
from datetime import UTC, datetime
from bot.cli import main
import bot.app, bot.reports.chat.cog
from bot.reports.charts import Series, render
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main(["--help"])
    except SystemExit:
        pass
series = Series("error rate", "%", ((0.0, 0.1), (300.0, 0.2)), 1.0)
pngs = asyncio.run(render([("series", "error rate", series, None)]))
assert len(pngs) == 1 and pngs[0][:4] == b"\\x89PNG", pngs[0][:8]
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "numpy"))
print(",".join(loaded) or "none")
"""


def test_help_building_the_bot_and_drawing_import_no_chart_library() -> None:
    """`releasebot --help`, every extension module and drawing a chart (in the child process
    `render` starts) leave matplotlib and numpy out of the bot's process."""
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "none", done.stdout


def test_the_charts_are_real_pngs_with_their_axes() -> None:
    """Draw the phase timeline and a series chart; both are PNG files of a readable size."""
    start = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    phases = tuple(
        PhaseSpan(key, start + timedelta(hours=i), start + timedelta(hours=i + 1))
        for i, key in enumerate(("pre-release", "release", "deployment", "post-release"))
    )
    metrics = ReleaseMetrics(
        1, "gw", "v1.2.3", "Ann", start, "completed", start + timedelta(hours=4),
        start + timedelta(hours=2, minutes=30), start + timedelta(hours=3, minutes=50), phases,
        (), 0, (), (),
    )  # fmt: skip
    series = Series("error rate", "%", ((0, 0.2), (300, 0.4), (600, 1.4)), 1.0)
    for png in (phase_timeline(metrics), series_chart("error rate", series, None)):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        width = int.from_bytes(png[16:20], "big")
        assert 400 < width < 2000


async def test_a_chart_that_cannot_be_drawn_is_a_chart_error() -> None:
    """The child process fails on a bad job: ChartError says so (the report goes without)."""
    with pytest.raises(ChartError, match="the chart process failed"):
        await render([("pie", "no such chart")])  # type: ignore[list-item]

"""Benchmark the chart library's cost; prints figures, asserts nothing.

Run: .venv/bin/python -m bench.bench_report_charts

Printed, each in a fresh interpreter: the time and resident memory (RSS) after importing
the bot (create_bot and every extension), then after the first chart (matplotlib with the
Agg backend imported lazily) and the time to draw a phase timeline and a 24 h series chart.
"""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import json, time, resource
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
t0 = time.perf_counter()
import bot.app, bot.reports.chat.cog
from datetime import UTC, datetime, timedelta
from bot.reports.charts import Series, phase_timeline, series_chart
from bot.reports.domain.metrics import PhaseSpan, ReleaseMetrics
t1 = time.perf_counter(); r1 = rss()
import matplotlib; matplotlib.use("Agg"); from matplotlib import pyplot
t2 = time.perf_counter(); r2 = rss()
start = datetime(2026, 1, 5, 9, tzinfo=UTC)
phases = tuple(PhaseSpan(k, start + timedelta(hours=i), start + timedelta(hours=i + 1))
               for i, k in enumerate(("pre-release", "release", "deployment", "post-release")))
m = ReleaseMetrics(1, "gw", "v1", "Ann", start, "completed", start + timedelta(hours=4),
                   start + timedelta(hours=2), start + timedelta(hours=3), phases, (), 0, (), ())
phase_timeline(m)
t3 = time.perf_counter()
points = tuple((i * 300.0, 0.5 + (i % 7) / 10) for i in range(288))
now = Series("error rate", "%", points, 1.0)
before = Series("error rate", "%", points, 1.0, "previous")
series_chart("error rate", now, before)
t4 = time.perf_counter(); r4 = rss()
import asyncio
from bot.reports.charts import render
r5 = rss(); t5 = time.perf_counter()
asyncio.run(render([("phases", m), ("series", "error rate", now, before)]))
t6 = time.perf_counter(); r6 = rss()
print(json.dumps({"render_in_child_s": t6 - t5, "parent_rss_growth_mb": r6 - r5,
                  "bot_import_s": t1 - t0, "bot_rss_mb": r1, "matplotlib_import_s": t2 - t1,
                  "rss_after_import_mb": r2, "phase_chart_s": t3 - t2, "series_chart_s": t4 - t3,
                  "rss_after_charts_mb": r4}))
"""


def main() -> None:
    """Run the probe three times and print each figure's median."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE], capture_output=True,
                                      text=True, check=True).stdout) for _ in range(3)]  # fmt: skip
    for key in runs[0]:
        values = sorted(run[key] for run in runs)
        unit = "MB" if key.endswith("_mb") else "s"
        print(
            f"{key:24s} median {values[1]:8.3f} {unit}  (min {values[0]:.3f}, max {values[2]:.3f})"
        )


if __name__ == "__main__":
    main()

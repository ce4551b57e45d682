"""PNG charts of the release report, drawn with matplotlib (Agg) in a child process.

The bot never imports matplotlib: `render` runs `python -m bot.reports.charts` with the
chart jobs on stdin and reads the PNGs back. Drawing is CPU work in C++ that holds the GIL;
in the bot's process it would starve the event loop (and every open database transaction
with it) for seconds, and matplotlib adds ~32 MB RSS (measured in docs/reports.md). The
drawing functions below are also used directly by the tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import os
import pickle
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.reports.domain.dora import DoraStats
from bot.reports.domain.metrics import ReleaseMetrics
from bot.reports.domain.series import Series

__all__ = [
    "ChartError", "Series", "chart_name", "chart_title", "dora_chart", "names", "phase_timeline",
    "render", "series_chart",
]  # fmt: skip

RENDER_TIMEOUT = 120.0
PROJECT_ROOT = str(Path(__file__).resolve().parents[2])  # where `bot` is importable from
PhaseJob = tuple[str, ReleaseMetrics]  # ("phases", metrics)
SeriesJob = tuple[str, str, Series, Series | None]  # ("series", title, current, previous)
DoraJob = tuple[str, str, tuple[DoraStats, ...]]  # ("dora", title, buckets oldest first)
ChartJob = PhaseJob | SeriesJob | DoraJob


class ChartError(Exception):
    """The charts could not be drawn (the report is posted without them)."""


def _figure(width: float, height: float) -> Any:
    """Return a new matplotlib Figure on the Agg canvas (no pyplot: no global state, so the
    charts can be drawn in a worker thread while the bot's event loop keeps running)."""
    figure_module: Any = importlib.import_module("matplotlib.figure")
    return figure_module.Figure(figsize=(width, height))


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def phase_timeline(metrics: ReleaseMetrics) -> bytes:
    """Return a PNG: one bar per phase on a UTC time axis, the deploy and incidents marked."""
    mdates: Any = importlib.import_module("matplotlib.dates")
    figure = _figure(9, 0.6 * max(3, len(metrics.phases)) + 1.2)
    axes = figure.subplots()
    end_default = metrics.closed_at or metrics.window_closed_at or metrics.started_at
    for row, phase in enumerate(metrics.phases):
        end = phase.ended_at or end_default
        start_num = mdates.date2num(phase.started_at)
        width = max(mdates.date2num(end) - start_num, 1e-4)
        axes.barh(row, width, left=start_num, height=0.5, color="#4c78a8")
    axes.set_yticks(range(len(metrics.phases)), [p.key for p in metrics.phases])
    axes.invert_yaxis()
    marks: list[tuple[datetime, str, str]] = []
    if metrics.deployed_at is not None:
        marks.append((metrics.deployed_at, "production deploy", "#2ca02c"))
    marks += [(i.opened_at, f"{i.incident} ({i.severity})", "#d62728") for i in metrics.incidents]
    for at, label, color in marks:
        axes.axvline(mdates.date2num(at), color=color, linestyle="--", linewidth=1, label=label)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M", tz=mdates.UTC))
    axes.set_xlabel("time (UTC)")
    axes.set_title(f"{metrics.service} {metrics.version}: phases (release #{metrics.release_id})")
    if marks:
        axes.legend(loc="lower right", fontsize="small")
    figure.autofmt_xdate()
    return _png(figure)


def series_chart(title: str, current: Series, previous: Series | None) -> bytes:
    """Return a PNG of a condition's series (and the previous release's) against its threshold."""
    figure = _figure(9, 3.6)
    axes = figure.subplots()
    for series, style in ((current, "-"), (previous, ":")):
        if series is None or not series.points:
            continue
        hours = [at / 3600 for at, _ in series.points]
        axes.plot(hours, [v for _, v in series.points], style, marker=".", label=series.label)
    if current.threshold is not None:
        axes.axhline(current.threshold, color="#d62728", linestyle="--", label="threshold")
    axes.set_xlabel("hours since the production deploy")
    axes.set_ylabel(f"{current.condition} ({current.unit})" if current.unit else current.condition)
    axes.set_title(title)
    axes.legend(loc="upper right", fontsize="small")
    axes.grid(alpha=0.3)
    return _png(figure)


def dora_chart(title: str, buckets: Sequence[DoraStats]) -> bytes:
    """Return a PNG of the DORA figures per bucket on a UTC date axis: production deploys as
    bars and the change failure rate (%) as a line on a second axis above; the median lead
    time and time to restore below. A bucket without deploys (or incidents) has no rate (or
    median): the line has a gap there rather than a made-up zero."""
    mdates: Any = importlib.import_module("matplotlib.dates")
    figure = _figure(9, 6.4)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    starts = [mdates.date2num(b.since) for b in buckets]
    widths = [mdates.date2num(b.until) - start for b, start in zip(buckets, starts, strict=True)]
    middles = [start + width / 2 for start, width in zip(starts, widths, strict=True)]
    nan = float("nan")
    deploys = top.bar(
        starts, [b.deployments for b in buckets], width=[w * 0.9 for w in widths], align="edge",
        color="#4c78a8", label="production deploys",
    )  # fmt: skip
    for bar, bucket in zip(deploys, buckets, strict=True):
        if bucket.failed:
            bar.set_hatch("//")
    top.set_ylabel("production deploys (count)")
    top.set_ylim(0, max([1] + [b.deployments for b in buckets]) * 1.35)  # room for the legend
    top.yaxis.get_major_locator().set_params(integer=True)
    rate_axes = top.twinx()
    rates = [nan if b.change_failure_rate is None else 100 * b.change_failure_rate for b in buckets]
    (rate_line,) = rate_axes.plot(
        middles, rates, color="#d62728", marker="o", label="change failure rate"
    )
    rate_axes.set_ylabel("change failure rate (%)")
    rate_axes.set_ylim(0, 105)
    top.legend(handles=[deploys, rate_line], loc="upper left", fontsize="small")
    top.set_title(title)
    top.grid(alpha=0.3, axis="y")

    seconds = [s for b in buckets for s in (b.lead_time_seconds, b.restore_seconds) if s]
    unit, size = ("hours", 3600.0) if seconds and max(seconds) >= 3 * 3600 else ("minutes", 60.0)
    for values, label, color in (
        ([b.lead_time_seconds for b in buckets], "lead time (median)", "#4c78a8"),
        ([b.restore_seconds for b in buckets], "time to restore (median)", "#ff7f0e"),
    ):
        points = [nan if v is None else v / size for v in values]
        bottom.plot(middles, points, color=color, marker="o", label=label)
    bottom.set_ylabel(f"median ({unit})")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper left", fontsize="small")
    bottom.grid(alpha=0.3)
    bottom.xaxis_date(tz=mdates.UTC)
    bottom.xaxis.set_major_formatter(mdates.DateFormatter("%d %b", tz=mdates.UTC))
    each = "day" if buckets and widths[-1] <= 1.0 + 1e-9 else "week"
    bottom.set_xlabel(f"date (UTC), one bar per {each}; hatched: the {each} had a failed change")
    figure.autofmt_xdate()
    return _png(figure)


def chart_title(stats: DoraStats) -> str:
    """Return the title of the chart over time."""
    return (
        f"DORA for {stats.service or 'all services'}, {stats.since:%Y-%m-%d} – "
        f"{stats.until:%Y-%m-%d} UTC"
    )


def chart_name(stats: DoraStats) -> str:
    """Return the file name of the chart over time, e.g. dora-gw-20261201.png."""
    who = re.sub(r"[^A-Za-z0-9_.-]+", "-", stats.service or "all").strip("-.") or "service"
    return f"dora-{who}-{stats.until:%Y%m%d}.png"


def names(charts: Sequence[tuple[str, bytes]]) -> tuple[str, ...]:
    """Return the file names of rendered charts."""
    return tuple(name for name, _ in charts)


def draw(job: ChartJob) -> bytes:
    """Draw one chart job."""
    if job[0] == "phases" and len(job) == 2:
        return phase_timeline(job[1])
    if job[0] == "series" and len(job) == 4:
        return series_chart(job[1], job[2], job[3])
    if job[0] == "dora" and len(job) == 3:
        return dora_chart(job[1], job[2])
    raise ChartError(f"unknown chart job {job[0]!r}")


async def render(jobs: Sequence[ChartJob]) -> list[bytes]:
    """Draw `jobs` in a child process; return their PNGs in order (ChartError if it fails)."""
    root = PROJECT_ROOT
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.reports.charts",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(
            child.communicate(pickle.dumps(list(jobs))), RENDER_TIMEOUT
        )
    except TimeoutError:
        child.kill()
        await child.wait()
        raise ChartError(f"drawing took longer than {RENDER_TIMEOUT:.0f} s") from None
    if child.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ChartError(f"the chart process failed ({child.returncode}): {tail[0]}")
    pngs = pickle.loads(out)  # our own child's answer (trusted)
    if not isinstance(pngs, list) or len(pngs) != len(jobs):
        raise ChartError("the chart process gave an unexpected answer")
    return [bytes(png) for png in pngs]


def _main() -> None:
    jobs = pickle.loads(sys.stdin.buffer.read())  # from our own parent (trusted)
    sys.stdout.buffer.write(pickle.dumps([draw(job) for job in jobs]))


if __name__ == "__main__":
    _main()

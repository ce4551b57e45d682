"""PNG charts of the release report, drawn with matplotlib (Agg), imported on first chart only.

matplotlib is imported lazily so `releasebot --help`, start-up and a bot that never posts a
report pay nothing for it (measured in docs/reports.md).
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.reports.domain.metrics import ReleaseMetrics
from bot.reports.domain.series import Series

__all__ = ["Series", "names", "phase_timeline", "series_chart"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(figure)
    return buffer.getvalue()


def phase_timeline(metrics: ReleaseMetrics) -> bytes:
    """Return a PNG: one bar per phase on a UTC time axis, the deploy and incidents marked."""
    plt = _pyplot()
    mdates: Any = importlib.import_module("matplotlib.dates")

    figure, axes = plt.subplots(figsize=(9, 0.6 * max(3, len(metrics.phases)) + 1.2))
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
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 3.6))
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


def names(charts: Sequence[tuple[str, bytes]]) -> tuple[str, ...]:
    """Return the file names of rendered charts."""
    return tuple(name for name, _ in charts)

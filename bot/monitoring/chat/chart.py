"""Render a monitoring series as a small PNG (Pillow only): line, dashed threshold, gaps.

Non-finite values (no data, NaN, ±Inf) are drawn as gaps: a point that cannot be placed on
the axis must not be drawn as if it were a number.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Pillow loads on the first chart: a bot nobody asks for one never pays it
    from PIL import ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
AXIS = (90, 90, 90)
GRID = (228, 228, 228)
TEXT = (30, 30, 30)
SERIES = (37, 99, 235)
BASELINE = (148, 163, 184)
THRESHOLD_RED = (220, 38, 38)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 80, 24, 48, 44
DASH_ON, DASH_OFF = 8, 5
_TIME_STEPS = [timedelta(minutes=m) for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Point = tuple[datetime, float | None]


def nice_step(span: float, ticks: int = 5) -> float:
    """Return a 1-2-5 step that cuts `span` into about `ticks` pieces."""
    raw = span / ticks
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


@dataclass(frozen=True)
class ChartLayout:
    """Where things go: the plot box and the mapping from (time, value) to pixels."""

    width: int
    height: int
    start: datetime
    end: datetime
    y_min: float
    y_max: float
    y_step: float

    @property
    def plot_box(self) -> tuple[int, int, int, int]:
        """Return the plot area as (left, top, right, bottom) pixels."""
        return MARGIN_LEFT, MARGIN_TOP, self.width - MARGIN_RIGHT, self.height - MARGIN_BOTTOM

    def x_of(self, when: datetime) -> int:
        """Return the pixel column of time `when`."""
        left, _, right, _ = self.plot_box
        share = (when - self.start) / (self.end - self.start)
        return round(left + share * (right - left))

    def y_of(self, value: float) -> int:
        """Return the pixel row of `value`."""
        _, top, _, bottom = self.plot_box
        share = (value - self.y_min) / (self.y_max - self.y_min)
        return round(bottom - share * (bottom - top))

    def y_ticks(self) -> list[float]:
        """Return the values that get a grid line and a label."""
        count = round((self.y_max - self.y_min) / self.y_step)
        return [self.y_min + index * self.y_step for index in range(count + 1)]

    def x_ticks(self) -> list[datetime]:
        """Return aligned times (whole minutes/hours) that get a grid line and a label."""
        span = self.end - self.start
        step = next((s for s in _TIME_STEPS if span / s <= 6), _TIME_STEPS[-1])
        first = _EPOCH + math.ceil((self.start - _EPOCH) / step) * step
        ticks = []
        while first <= self.end:
            ticks.append(first)
            first += step
        return ticks


def chart_layout(
    points: Sequence[Point],
    threshold: float,
    width: int = 800,
    height: int = 400,
    extra: Sequence[Point] = (),
) -> ChartLayout:
    """Return the layout for `points` and `threshold` (the threshold is always in view).

    `extra` (a baseline series) widens the value range but not the time range: the chart is
    about this release, the baseline is drawn only where it overlaps.
    """
    if not points:
        raise ValueError("render_chart needs at least one point")
    if not math.isfinite(threshold):
        raise ValueError(f"chart threshold must be a finite number, got {threshold}")
    if width < 200 or height < 120:
        raise ValueError(f"chart size {width}x{height} is too small (min 200x120)")
    for when, _ in points:
        if when.tzinfo is None:
            raise ValueError(f"chart point time must be timezone-aware, got {when.isoformat()}")
    times = [when for when, _ in points]
    start, end = min(times), max(times)
    if start == end:
        start, end = start - timedelta(minutes=1), end + timedelta(minutes=1)
    values = [v for _, v in [*points, *extra] if v is not None and math.isfinite(v)]
    values.append(threshold)
    low, high = min(values), max(values)
    if low == high:
        pad = abs(high) / 2 or 1.0
        low, high = (max(low - pad, 0.0) if low >= 0 else low - pad), high + pad
    if low >= 0 and low <= high / 2:
        low = 0.0  # ratios and latencies read better from zero
    high += (high - low) * 0.1
    step = nice_step(high - low)
    y_min, y_max = math.floor(low / step) * step, math.ceil(high / step) * step
    return ChartLayout(width, height, start, end, y_min, y_max, step)


def format_tick(value: float, unit: str) -> str:
    """Return an axis label such as "0.05", "250 ms" or "5%"."""
    text = f"{value:.6g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" or unit.startswith(" ") else f"{text} {unit}"


def _series_runs(layout: ChartLayout, points: Sequence[Point]) -> list[list[tuple[int, int]]]:
    runs: list[list[tuple[int, int]]] = [[]]
    for when, value in sorted(points, key=lambda point: point[0]):
        if value is None or not math.isfinite(value):
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((layout.x_of(when), layout.y_of(value)))
    return [run for run in runs if run]


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _draw_axes(draw: ImageDraw.ImageDraw, layout: ChartLayout, unit: str) -> None:
    font = _font(12)
    left, top, right, bottom = layout.plot_box
    for value in layout.y_ticks():
        y = layout.y_of(value)
        draw.line([(left, y), (right, y)], fill=GRID)
        draw.text((left - 6, y), format_tick(value, unit), fill=TEXT, font=font, anchor="rm")
    for when in layout.x_ticks():
        x = layout.x_of(when)
        draw.line([(x, top), (x, bottom)], fill=GRID)
        draw.text((x, bottom + 6), when.astimezone(UTC).strftime("%H:%M"), TEXT, font, "mt")
    draw.rectangle([left, top, right, bottom], outline=AXIS)
    day = layout.start.astimezone(UTC).strftime("%Y-%m-%d")
    draw.text((right, bottom + 24), f"{day} (UTC)", fill=AXIS, font=font, anchor="rt")


def _draw_threshold(
    draw: ImageDraw.ImageDraw, layout: ChartLayout, threshold: float, unit: str
) -> None:
    left, top, right, _ = layout.plot_box
    y = layout.y_of(threshold)
    for x in range(left + 1, right, DASH_ON + DASH_OFF):
        draw.rectangle([x, y - 1, min(x + DASH_ON - 1, right - 1), y + 1], fill=THRESHOLD_RED)
    font = _font(12)
    label = f"threshold {format_tick(threshold, unit)}"
    draw.text((right, top - 8), label, fill=THRESHOLD_RED, font=font, anchor="rb")


def _draw_baseline(
    draw: ImageDraw.ImageDraw, layout: ChartLayout, points: Sequence[Point], label: str
) -> None:
    """Draw the previous release's series in grey under this release's, with its name."""
    runs = _series_runs(layout, points)
    for run in runs:
        if len(run) > 1:
            draw.line(run, fill=BASELINE, width=2)
        for x, y in run:
            draw.rectangle([x - 2, y - 2, x + 2, y + 2], fill=BASELINE)
    if runs and label:
        left, top, _, _ = layout.plot_box
        font = _font(12)
        draw.text((left, top - 8), f"baseline {label}", fill=BASELINE, font=font, anchor="lb")


def render_chart(
    points: Sequence[Point],
    threshold: float,
    title: str,
    unit: str,
    *,
    width: int = 800,
    height: int = 400,
    baseline: Sequence[Point] = (),
    baseline_label: str = "",
) -> bytes:
    """Return a PNG of the series with its threshold (and baseline); same input, same bytes."""
    start = min((when for when, _ in points), default=None)
    end = max((when for when, _ in points), default=None)
    shown = [
        (w, v) for w, v in baseline if start is not None and end is not None and start <= w <= end
    ]
    layout = chart_layout(points, threshold, width, height, extra=shown)
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN_LEFT, 12), title, fill=TEXT, font=_font(16))
    _draw_axes(draw, layout, unit)
    _draw_baseline(draw, layout, shown, baseline_label)
    runs = _series_runs(layout, points)
    for run in runs:
        if len(run) > 1:
            draw.line(run, fill=SERIES, width=2, joint="curve")
        for x, y in run:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=SERIES)
    if not runs:
        left, top, right, bottom = layout.plot_box
        font = _font(14)
        draw.text(((left + right) / 2, top + (bottom - top) / 4), "no data", AXIS, font, "mm")
    _draw_threshold(draw, layout, threshold, unit)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()

"""render_chart: a valid, small, deterministic PNG with a red dashed threshold where expected."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from bot.monitoring.chat.chart import SERIES, THRESHOLD_RED, chart_layout, nice_step, render_chart

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
POINTS: list[tuple[datetime, float | None]] = [
    (START + timedelta(minutes=5 * i), value)
    for i, value in enumerate([0.002, 0.004, 0.003, None, None, 0.05, 0.06, 0.055], start=1)
]


def open_png(data: bytes) -> Image.Image:
    """Return the decoded PNG."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_chart_is_a_small_png_of_the_stated_size() -> None:
    """Return PNG bytes of the requested size, under 100 KB."""
    data = render_chart(POINTS, 0.01, "checkout error ratio", "", width=640, height=320)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) < 100_000
    image = open_png(data)
    assert (image.format, image.size) == ("PNG", (640, 320))


def test_chart_is_deterministic() -> None:
    """Return the same bytes for the same input."""
    assert render_chart(POINTS, 0.01, "t", "") == render_chart(POINTS, 0.01, "t", "")


def test_threshold_line_is_red_and_dashed_at_its_value() -> None:
    """Draw the threshold in red at the row of its value, dashed (red and non-red runs)."""
    data = render_chart(POINTS, 0.01, "checkout error ratio", "")
    image = open_png(data).convert("RGB")
    layout = chart_layout(POINTS, 0.01)
    left, _, right, _ = layout.plot_box
    y = layout.y_of(0.01)
    row = [image.getpixel((x, y)) for x in range(left + 1, right)]
    red = sum(pixel == THRESHOLD_RED for pixel in row)
    assert 0.5 < red / len(row) < 0.75  # 8 px on, 5 off
    assert image.getpixel((left + 1 + 8 + 2, y)) != THRESHOLD_RED  # inside a gap
    assert all(image.getpixel((x, y - 10)) != THRESHOLD_RED for x in range(left + 1, right))


def test_series_has_a_gap_where_values_are_missing() -> None:
    """Leave no series pixels between points around a run of None values."""
    image = open_png(render_chart(POINTS, 0.01, "t", "")).convert("RGB")
    layout = chart_layout(POINTS, 0.01)
    _, top, _, bottom = layout.plot_box
    inside_gap = layout.x_of(START + timedelta(minutes=22, seconds=30))
    column = [image.getpixel((inside_gap, y)) for y in range(top, bottom)]
    assert SERIES not in column
    drawn = layout.x_of(START + timedelta(minutes=32, seconds=30))
    assert SERIES in [image.getpixel((drawn, y)) for y in range(top, bottom)]


def test_all_missing_still_renders_threshold() -> None:
    """Render a no-data chart with the threshold visible."""
    points: list[tuple[datetime, float | None]] = [(START, None)]
    image = open_png(render_chart(points, 0.5, "blind", "s")).convert("RGB")
    layout = chart_layout(points, 0.5)
    assert image.getpixel((layout.plot_box[0] + 2, layout.y_of(0.5))) == THRESHOLD_RED


@pytest.mark.parametrize(
    ("points", "threshold", "message"),
    [
        ([], 1.0, "at least one point"),
        ([(START, 1.0)], float("nan"), "finite"),
        ([(datetime(2026, 1, 5), 1.0)], 1.0, "timezone-aware"),  # noqa: DTZ001
    ],
)
def test_bad_input_is_rejected(
    points: list[tuple[datetime, float | None]], threshold: float, message: str
) -> None:
    """Reject no points, a NaN threshold and naive times."""
    with pytest.raises(ValueError, match=message):
        render_chart(points, threshold, "t", "")


@pytest.mark.parametrize(("span", "step"), [(1.0, 0.2), (0.06, 0.02), (300.0, 100.0), (7.0, 2.0)])
def test_nice_step(span: float, step: float) -> None:
    """Pick 1-2-5 steps giving about five ticks."""
    assert nice_step(span) == pytest.approx(step)

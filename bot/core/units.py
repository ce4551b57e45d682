"""How measured numbers read to people: a ratio as a percentage, seconds as milliseconds.

One formatter for every feature (the alert, the chart, the window, the incident, the page):
monitoring measures, incidents page, and both say "5.1 % (breach if > 1 %)".
"""

from __future__ import annotations

import math

PUSHED_FIRING = "firing (from Alertmanager)"
"""What a condition pushed by Alertmanager says when it has no value or no threshold of its own
(an alert only Alertmanager knows: its firing is the breach, so no "breach if > 0")."""


def format_value(value: float | None) -> str:
    """Return a short human form of a measured value ("no data" for None/NaN)."""
    if value is None or math.isnan(value):
        return "no data"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.4g}"


def format_measure(value: float | None, unit: str = "") -> str:
    """Return a value as people read it: a ratio as "5.0 %", seconds as "730 ms"."""
    if value is None or math.isnan(value) or math.isinf(value) or not unit:
        return format_value(value)
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "seconds":
        return f"{value * 1000:.0f} ms"
    return format_value(value)


def format_limit(value: float, unit: str = "") -> str:
    """Return a threshold as people read it: 0.01 as a ratio is "1 %", 0.5 s is "500 ms"."""
    if math.isnan(value) or math.isinf(value) or not unit:
        return format_value(value)
    if unit == "ratio":
        return f"{value * 100:g} %"
    if unit == "seconds":
        return f"{value * 1000:g} ms"
    return format_value(value)


def format_rule(op: str, threshold: float | None, unit: str = "") -> str:
    """Return the breach rule as people read it, e.g. "breach if > 1 %"."""
    if threshold is None:
        return ""
    return f"breach if {op} {format_limit(threshold, unit)}"

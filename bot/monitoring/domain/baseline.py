"""Relative conditions: judge a value against the previous release at the same offset.

A rule is `max_increase` and/or `max_decrease`, each either relative ("10%") or an absolute
delta in the condition's unit ("50ms", "0.5pp" for a ratio, or a plain number). A "%" is
always relative to the baseline; percentage points of a ratio are written "pp", so "0.5%"
never means two different things. The judged measurement keeps the plain verdict path: its
threshold is the limit the baseline implies, its detail names both values and the rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from bot.core.deltas import Delta
from bot.core.units import format_measure
from bot.monitoring.domain.verdicts import Measurement, Verdict, check_operator

PREVIOUS_RELEASE = "previous_release"
BASELINES = (PREVIOUS_RELEASE,)
__all__ = ["BASELINES", "PREVIOUS_RELEASE", "Baseline", "Delta", "RelativeRule", "judge"]


@dataclass(frozen=True)
class RelativeRule:
    """The allowed movement from the baseline (at least one direction is set)."""

    max_increase: Delta | None = None
    max_decrease: Delta | None = None

    @classmethod
    def parse(cls, increase: str | None, decrease: str | None, unit: str) -> RelativeRule:
        """Return the rule from its configured texts (ValueError names the bad one)."""
        if increase is None and decrease is None:
            raise ValueError("a relative condition needs max_increase or max_decrease")
        return cls(
            None if increase is None else Delta.parse(increase, unit),
            None if decrease is None else Delta.parse(decrease, unit),
        )


@dataclass(frozen=True)
class Baseline:
    """What the previous release measured at the same offset from its deploy."""

    value: float
    label: str
    offset: timedelta


def offset_text(offset: timedelta) -> str:
    """Return an offset from the deploy as "+35 min" or "+2 h 30 min"."""
    minutes = max(0, round(offset.total_seconds() / 60))
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"+{rest} min"
    return f"+{hours} h {rest} min" if rest else f"+{hours} h"


def _change(value: float, base: float, delta: Delta, unit: str) -> str:
    if delta.relative:
        if base == 0:
            return "+∞ %" if value > 0 else ("-∞ %" if value < 0 else "+0 %")
        return f"{(value - base) / abs(base) * 100:+.0f} %"
    moved = value - base
    return f"{'+' if moved >= 0 else '-'}{format_measure(abs(moved), unit)}"


def judge(
    measurement: Measurement,
    rule: RelativeRule,
    baseline: Baseline | None,
    *,
    title: str,
    unit: str = "",
) -> Measurement:
    """Return `measurement` judged against `baseline`, or as measured (absolute) without one."""
    value = measurement.value
    if not measurement.verdict.conclusive or value is None or math.isnan(value):
        return measurement
    if baseline is None:
        note = "no previous release measured at this offset: absolute threshold applies"
        detail = f"{measurement.detail} — {note}" if measurement.detail else note
        return Measurement(**{**measurement.__dict__, "detail": detail})
    checks = [(d, +1, ">") for d in [rule.max_increase] if d is not None]
    checks += [(d, -1, "<") for d in [rule.max_decrease] if d is not None]
    chosen = checks[0]
    for check in checks:
        delta, direction, op = check
        limit = delta.limit(baseline.value, direction)
        if (value > limit) if op == ">" else (value < limit):
            chosen = check
            break
    delta, direction, op = chosen
    limit = delta.limit(baseline.value, direction)
    breached = (value > limit) if op == ">" else (value < limit)
    allowed = delta.text(direction, unit)
    compare = op if breached else ("≤" if op == ">" else "≥")
    detail = (
        f"{title} {format_measure(value, unit)} vs {format_measure(baseline.value, unit)} "
        f"for {baseline.label} at {offset_text(baseline.offset)}: "
        f"{_change(value, baseline.value, delta, unit)} {compare} {allowed}"
    )
    return Measurement(
        measurement.condition,
        measurement.at,
        value,
        Verdict.BREACH if breached else Verdict.PASS,
        limit,
        check_operator(op),
        measurement.query,
        detail,
    )

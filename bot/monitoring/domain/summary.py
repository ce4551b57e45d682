"""The closing summary of a monitoring window: per condition, what was seen and the worst of it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from bot.monitoring.domain.verdicts import Measurement, Verdict, worst


@dataclass(frozen=True)
class ConditionSummary:
    """What one condition did over a window."""

    condition: str
    count: int
    breaches: int
    blind: int
    worst: Verdict
    min_value: float | None
    max_value: float | None
    last_value: float | None
    last: Measurement


@dataclass(frozen=True)
class WindowSummary:
    """Per-condition summaries, in the order conditions were first measured."""

    conditions: tuple[ConditionSummary, ...]

    @property
    def worst(self) -> Verdict:
        """Return the worst verdict of all conditions (INCONCLUSIVE when nothing was measured)."""
        return worst([summary.worst for summary in self.conditions])

    @property
    def healthy(self) -> bool:
        """Return True only when something was measured and every condition always passed."""
        return bool(self.conditions) and self.worst is Verdict.PASS

    def for_condition(self, name: str) -> ConditionSummary:
        """Return the summary of condition `name`, or raise KeyError naming it."""
        for summary in self.conditions:
            if summary.condition == name:
                return summary
        raise KeyError(f"no measurements of condition {name!r} in this window")


def _summarize_one(name: str, measurements: list[Measurement]) -> ConditionSummary:
    values = [m.value for m in measurements if m.value is not None and not math.isnan(m.value)]
    # Sorting is stable, so measurements taken at the same instant keep their input order.
    last = sorted(measurements, key=lambda m: m.at)[-1]
    return ConditionSummary(
        condition=name,
        count=len(measurements),
        breaches=sum(m.verdict is Verdict.BREACH for m in measurements),
        blind=sum(not m.verdict.conclusive for m in measurements),
        worst=worst([m.verdict for m in measurements]),
        min_value=min(values) if values else None,
        max_value=max(values) if values else None,
        last_value=last.value,
        last=last,
    )


def summarize(measurements: Iterable[Measurement]) -> WindowSummary:
    """Return the per-condition summary of a window's measurements."""
    grouped: dict[str, list[Measurement]] = {}
    for measurement in measurements:
        grouped.setdefault(measurement.condition, []).append(measurement)
    return WindowSummary(tuple(_summarize_one(name, ms) for name, ms in grouped.items()))

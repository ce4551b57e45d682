"""A monitoring series of one condition, aligned on the production deploy (for the charts)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    """One measured series of a condition: (seconds since the deploy, value), its threshold."""

    condition: str
    unit: str
    points: tuple[tuple[float, float], ...]
    threshold: float | None
    label: str = "this release"

    def labelled(self, label: str) -> Series:
        """Return the same series under another legend label."""
        return Series(self.condition, self.unit, self.points, self.threshold, label)


SeriesReader = Callable[[int], Awaitable[Sequence[Series]]]
"""release id -> the measured series of its monitoring window (given by the composition root)."""

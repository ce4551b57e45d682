"""How far a measured value may move from a baseline: "10%", "50ms", "0.5pp" or a number.

In the kernel because the settings validate these texts and the monitoring domain uses them.
A "%" is always relative to the baseline; percentage points of a ratio are written "pp".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.core.units import format_measure

_DELTA = re.compile(r"\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<suffix>%|pp|ms|s)?\s*")
_SCALE = {"ms": ("seconds", 0.001), "s": ("seconds", 1.0), "pp": ("ratio", 0.01)}


@dataclass(frozen=True)
class Delta:
    """How far a value may move from its baseline: a share of it, or an amount."""

    amount: float
    relative: bool

    @classmethod
    def parse(cls, text: str, unit: str = "") -> Delta:
        """Return the delta written `text` ("10%", "50ms", "0.5pp", "0.2"); ValueError if bad."""
        match = _DELTA.fullmatch(text)
        if match is None:
            raise ValueError(
                f'expected a share like "10%" or an amount like "50ms", "0.5pp", "3", got {text!r}'
            )
        amount, suffix = float(match["amount"]), match["suffix"]
        if suffix == "%":
            return cls(amount / 100, relative=True)
        if suffix is None:
            return cls(amount, relative=False)
        wanted, scale = _SCALE[suffix]
        if unit != wanted:
            raise ValueError(f'"{suffix}" is only for a condition with unit = "{wanted}"')
        return cls(amount * scale, relative=False)

    def limit(self, baseline: float, direction: int) -> float:
        """Return the furthest value allowed from `baseline` (+1 upwards, -1 downwards)."""
        step = abs(baseline) * self.amount if self.relative else self.amount
        return baseline + direction * step

    def text(self, direction: int, unit: str) -> str:
        """Return the allowance as people read it: "+10 %" or "+50 ms"."""
        sign = "+" if direction > 0 else "-"
        if self.relative:
            return f"{sign}{self.amount * 100:g} %"
        return f"{sign}{format_measure(self.amount, unit)}"

"""What one measurement of one condition says: the value, the threshold and the verdict."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, cast, get_args

from bot.core.units import format_value

Operator = Literal[">", ">=", "<", "<=", "==", "!="]
"""How a value is compared with the threshold; the comparison being true is the breach."""

OPERATORS: tuple[Operator, ...] = get_args(Operator)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

DEFAULT_RETRY_AFTER = timedelta(seconds=10)
"""After an errored measurement, try again this soon (Argo Rollouts does the same)."""


class Verdict(StrEnum):
    """The outcome of one measurement."""

    PASS = "pass"
    BREACH = "breach"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"

    @property
    def severity(self) -> int:
        """Return the rank used for "worst wins": PASS < INCONCLUSIVE < ERROR < BREACH."""
        return _SEVERITY[self]

    @property
    def conclusive(self) -> bool:
        """Return True for PASS and BREACH: the measurement actually saw the system."""
        return self in (Verdict.PASS, Verdict.BREACH)


_SEVERITY = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.ERROR: 2, Verdict.BREACH: 3}


def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
    """Return the worst verdict; no verdicts at all is INCONCLUSIVE, never PASS."""
    if not verdicts:
        return Verdict.INCONCLUSIVE
    return max(verdicts, key=lambda verdict: verdict.severity)


def check_operator(op: str) -> Operator:
    """Return `op` as an Operator, or raise ValueError listing the accepted ones."""
    if op not in _COMPARE:
        raise ValueError(f"unknown comparison operator {op!r}; use one of {', '.join(OPERATORS)}")
    return cast(Operator, op)


def check_threshold(threshold: float) -> float:
    """Return `threshold` as a float, or raise ValueError when it is NaN."""
    value = float(threshold)
    if math.isnan(value):
        raise ValueError("threshold must be a number, got NaN")
    return value


def classify(value: float | None, threshold: float, op: str) -> Verdict:
    """Return BREACH when `value op threshold` holds, PASS otherwise, INCONCLUSIVE for no value.

    None and NaN mean "no data" (NaN is what 0/0 gives when a service has no traffic).
    Infinities are compared like any other number.
    """
    compare = _COMPARE[check_operator(op)]
    limit = check_threshold(threshold)
    if value is None or math.isnan(value):
        return Verdict.INCONCLUSIVE
    return Verdict.BREACH if compare(value, limit) else Verdict.PASS


@dataclass(frozen=True)
class Measurement:
    """One measurement of one condition, with everything a message needs to show."""

    condition: str
    at: datetime
    value: float | None
    verdict: Verdict
    threshold: float
    op: Operator
    query: str
    detail: str = ""
    error: str | None = None

    def __post_init__(self) -> None:
        """Reject naive times, unknown operators and an ERROR without its reason."""
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError(f"measurement time must be timezone-aware, got {self.at.isoformat()}")
        check_operator(self.op)
        if self.verdict is Verdict.ERROR and not self.error:
            raise ValueError(f"ERROR measurement of {self.condition!r} needs an error reason")

    @classmethod
    def of(
        cls,
        condition: str,
        at: datetime,
        value: float | None,
        *,
        threshold: float,
        op: str,
        query: str,
        detail: str = "",
    ) -> Measurement:
        """Return a measurement of `value`, classified against the threshold."""
        verdict = classify(value, threshold, op)
        return cls(condition, at, value, verdict, threshold, check_operator(op), query, detail)

    @classmethod
    def failed(
        cls,
        condition: str,
        at: datetime,
        error: str,
        *,
        threshold: float,
        op: str,
        query: str,
        detail: str = "",
    ) -> Measurement:
        """Return an ERROR measurement: the probe could not measure, for `error`."""
        return cls(
            condition, at, None, Verdict.ERROR, threshold, check_operator(op), query, detail, error
        )

    def describe(self) -> str:
        """Return one line with the verdict, the value, the threshold and the query."""
        line = (
            f"{self.condition}: {self.verdict.value.upper()} — value {format_value(self.value)} "
            f"(breach if {self.op} {format_value(self.threshold)}) at {self.at.isoformat()} "
            f"— query: {self.query}"
        )
        if self.error:
            line += f" — error: {self.error}"
        elif self.detail:
            line += f" — {self.detail}"
        return line


def retry_due(
    measurement: Measurement, now: datetime, retry_after: timedelta = DEFAULT_RETRY_AFTER
) -> datetime | None:
    """Return when to retry after an ERROR measurement (`now + retry_after`), else None."""
    if measurement.verdict is Verdict.ERROR:
        return now + retry_after
    return None

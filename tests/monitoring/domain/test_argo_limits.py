"""Argo Rollouts' analysis limits in the tracker, as tables of verdict sequences."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.monitoring.domain import (
    BreachLimitReached,
    ConditionSpec,
    ConditionState,
    Measurement,
    MonitoringBlind,
    Verdict,
    observe,
)
from bot.monitoring.domain.records import WatchedCondition

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
P, B, N, E = Verdict.PASS, Verdict.BREACH, Verdict.INCONCLUSIVE, Verdict.ERROR
_VALUES = {P: 0.001, B: 0.05, N: None}


def _measure(index: int, verdict: Verdict) -> Measurement:
    at = T0 + timedelta(minutes=5 * index)
    if verdict is E:
        return Measurement.failed("c", at, "timeout", threshold=0.01, op=">", query="q")
    return Measurement.of("c", at, _VALUES[verdict], threshold=0.01, op=">", query="q")


def _run(spec: ConditionSpec, verdicts: list[Verdict]) -> tuple[list[int], list[int]]:
    """Return the indexes at which the condition was met and went blind."""
    state, met, blind = ConditionState("c"), [], []
    for index, verdict in enumerate(verdicts):
        state, events = observe(state, _measure(index, verdict), spec)
        met += [index for e in events if isinstance(e, BreachLimitReached)]
        blind += [index for e in events if isinstance(e, MonitoringBlind)]
    return met, blind


@pytest.mark.parametrize(
    ("failure_limit", "verdicts", "met_at"),
    [
        (0, [P, B], [1]),  # Argo's default: the first failure fails the metric
        (1, [B, P, B], [2]),  # total, not consecutive: a pass in between forgives nothing
        (2, [B, P, B, P, B], [4]),
        (2, [B, B, P, P], []),  # two failures do not exceed a limit of two
        (1, [B, B, P, B], [1, 3]),  # after a recovery the next breach fires again
    ],
)
def test_failure_limit_counts_breaches_in_total(failure_limit, verdicts, met_at):
    """The condition is met when breaches in the window exceed failure_limit."""
    met, _ = _run(ConditionSpec("c", failure_limit=failure_limit), verdicts)
    assert met == met_at


@pytest.mark.parametrize(
    ("breaches", "verdicts", "met_at"),
    [(2, [B, P, B], []), (2, [B, B], [1]), (1, [P, B], [1])],
)
def test_without_failure_limit_breaches_stay_consecutive(breaches, verdicts, met_at):
    """Today's `breaches` keeps its meaning: that many breaches in a row."""
    met, _ = _run(ConditionSpec("c", breaches=breaches), verdicts)
    assert met == met_at


@pytest.mark.parametrize(
    ("inconclusive_limit", "verdicts", "blind_at"),
    [
        (0, [P, N], [1]),
        (1, [N, P, N], [2]),  # total inconclusive results, a pass in between counts no less
        (2, [N, P, N, P], []),
    ],
)
def test_inconclusive_limit_counts_inconclusive_in_total(inconclusive_limit, verdicts, blind_at):
    """Blind when inconclusive results in the window exceed inconclusive_limit."""
    spec = ConditionSpec("c", blind_after=99, inconclusive_limit=inconclusive_limit)
    assert _run(spec, verdicts)[1] == blind_at


@pytest.mark.parametrize(
    ("limit", "verdicts", "blind_at"),
    [
        (4, [E, E, E, E], []),  # Argo's default 4: four errors in a row are tolerated
        (4, [E, E, E, E, E], [4]),
        (1, [E, P, E, P, E], []),  # consecutive: a pass resets the count
        (1, [E, N, E], []),  # an inconclusive result breaks an error run too
        (0, [P, E], [1]),
    ],
)
def test_consecutive_error_limit_counts_errors_in_a_row(limit, verdicts, blind_at):
    """Blind when errors in a row exceed consecutive_error_limit."""
    spec = ConditionSpec("c", blind_after=99, consecutive_error_limit=limit)
    assert _run(spec, verdicts)[1] == blind_at


def test_points_count_conclusive_results_only():
    """`points` counts passes and breaches, never blind results (low confidence uses it)."""
    state = ConditionState("c")
    for index, verdict in enumerate([P, N, E, B, P]):
        state, _ = observe(state, _measure(index, verdict), ConditionSpec("c"))
    assert state.points == 3
    assert state.total_breaches == 1
    assert state.total_inconclusive == 1


def test_negative_limits_are_refused():
    """A negative limit is a programming error, named with its key."""
    with pytest.raises(ValueError, match="failure_limit must be >= 0"):
        ConditionSpec("c", failure_limit=-1)


@pytest.mark.parametrize(
    ("delay", "offset", "measured"),
    [(None, timedelta(minutes=5), True), (timedelta(minutes=10), timedelta(minutes=5), False),
     (timedelta(minutes=10), timedelta(minutes=10), True)],
)  # fmt: skip
def test_initial_delay_skips_polls_before_it(delay, offset, measured):
    """A condition is not measured before its initial delay after the deploy."""
    watched = WatchedCondition("c", "prometheus", "C", "P1", 0.01, ">", initial_delay=delay)
    assert watched.measured_at(offset) is measured


def test_watched_condition_keeps_the_argo_settings_through_json():
    """The window's snapshot stores every new setting; an old snapshot reads as before."""
    watched = WatchedCondition(
        "c", "prometheus", "C", "P1", 0.01, ">", failure_limit=1, inconclusive_limit=2,
        consecutive_error_limit=3, initial_delay=timedelta(minutes=10), min_points=5,
        baseline="previous_release", max_increase="10%", unit="seconds",
    )  # fmt: skip
    assert WatchedCondition.from_json(watched.to_json()) == watched
    old = {k: v for k, v in watched.to_json().items() if k not in ("failure_limit", "min_points")}
    restored = WatchedCondition.from_json({**old, "baseline": "", "max_increase": None})
    assert (restored.failure_limit, restored.min_points, restored.baseline) == (None, 3, "")

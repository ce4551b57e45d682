"""Verdicts, per-condition breach/blind tracking, retry timing and the closing summary."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.monitoring.domain import (
    BreachLimitReached,
    ConditionSpec,
    ConditionState,
    FirstBreach,
    Measurement,
    MonitoringBlind,
    MonitoringEvent,
    Verdict,
    classify,
    observe,
    retry_due,
    summarize,
    worst,
)

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
QUERY = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
SPEC = ConditionSpec("error_rate", breaches=2, blind_after=3)

P, B, N, E = Verdict.PASS, Verdict.BREACH, Verdict.INCONCLUSIVE, Verdict.ERROR
VALUE_FOR = {P: 0.002, B: 0.05, N: None, E: None}


def measure(verdict: Verdict, minute: int = 0, condition: str = "error_rate") -> Measurement:
    """Return a measurement of the given verdict, with a value that produces it."""
    at = START + timedelta(minutes=minute)
    if verdict is E:
        return Measurement.failed(condition, at, "HTTP 503", threshold=0.01, op=">", query=QUERY)
    return Measurement.of(condition, at, VALUE_FOR[verdict], threshold=0.01, op=">", query=QUERY)


def run(verdicts: list[Verdict], spec: ConditionSpec = SPEC) -> tuple[ConditionState, list[str]]:
    """Feed the verdicts through observe() and return the final state and event kinds."""
    state = ConditionState(spec.name)
    kinds: list[str] = []
    for minute, verdict in enumerate(verdicts):
        state, events = observe(state, measure(verdict, minute * 5), spec)
        kinds.extend(event.kind for event in events)
    return state, kinds


@pytest.mark.parametrize(
    ("value", "threshold", "op", "expected"),
    [
        (0.05, 0.01, ">", B),
        (0.01, 0.01, ">", P),
        (0.01, 0.01, ">=", B),
        (0.5, 1.0, "<", B),
        (1.0, 1.0, "<", P),
        (1.0, 1.0, "<=", B),
        (0.0, 0.0, "==", B),
        (1.0, 0.0, "!=", B),
        (None, 0.01, ">", N),
        (math.nan, 0.01, ">", N),
        (math.inf, 0.01, ">", B),
        (math.inf, 0.01, "<", P),
        (-math.inf, 0.0, "<", B),
    ],
)
def test_classify_table(value: float | None, threshold: float, op: str, expected: Verdict) -> None:
    """Classify values: comparison true is a breach; None/NaN inconclusive; Inf compared."""
    assert classify(value, threshold, op) is expected


def test_classify_rejects_bad_operator_and_nan_threshold() -> None:
    """Name the bad operator and refuse a NaN threshold."""
    with pytest.raises(ValueError, match=r"unknown comparison operator '=>'"):
        classify(1.0, 0.5, "=>")
    with pytest.raises(ValueError, match="threshold must be a number"):
        classify(1.0, math.nan, ">")


def test_error_measurement_needs_a_reason() -> None:
    """Refuse an ERROR measurement without the reason it failed."""
    with pytest.raises(ValueError, match="needs an error reason"):
        Measurement("x", START, None, Verdict.ERROR, 1.0, ">", "q")


@pytest.mark.parametrize(
    ("verdicts", "expected_kinds", "met"),
    [
        ([B, B], ["first_breach", "condition_met"], True),
        ([B, P, B], ["first_breach", "recovered", "first_breach"], False),
        ([B, B, B, B], ["first_breach", "condition_met"], True),
        ([B, B, P], ["first_breach", "condition_met", "recovered"], False),
        (
            [B, B, P, B, B],
            ["first_breach", "condition_met", "recovered", "first_breach", "condition_met"],
            True,
        ),
        ([B, N, B], ["first_breach", "condition_met"], True),
        ([B, E, B], ["first_breach", "condition_met"], True),
        ([P, P, P], [], False),
    ],
)
def test_breach_counting(verdicts: list[Verdict], expected_kinds: list[str], met: bool) -> None:
    """Need 2 consecutive breaches; a pass resets; blind results neither count nor reset."""
    state, kinds = run(verdicts)
    assert kinds == expected_kinds
    assert state.met is met


def test_single_breach_spec_is_met_at_once_without_warning() -> None:
    """With breaches=1, raise BreachLimitReached at the first breach and no FirstBreach."""
    _, kinds = run([B], ConditionSpec("error_rate", breaches=1))
    assert kinds == ["condition_met"]


@pytest.mark.parametrize(
    ("verdicts", "expected_kinds", "blind"),
    [
        ([N, N], [], False),
        ([N, N, N], ["monitoring_blind"], True),
        ([E, N, E, E, N], ["monitoring_blind"], True),
        ([N, N, N, P], ["monitoring_blind", "sight_restored"], False),
        ([N, N, N, B], ["monitoring_blind", "sight_restored", "first_breach"], False),
        ([N, N, P, N, N], [], False),
    ],
)
def test_blind_after_n_and_sight_restored(
    verdicts: list[Verdict], expected_kinds: list[str], blind: bool
) -> None:
    """Go blind after 3 inconclusive/errored results in a row, once; a conclusive one restores."""
    state, kinds = run(verdicts)
    assert kinds == expected_kinds
    assert state.blind is blind


def test_errors_never_pass_and_never_recover() -> None:
    """Keep a met condition met through errors: no Recovered without an actual PASS."""
    state, kinds = run([B, B, E, E, E, E])
    assert state.met is True
    assert "recovered" not in kinds
    assert kinds == ["first_breach", "condition_met", "monitoring_blind"]


def test_events_carry_value_threshold_query_and_time() -> None:
    """Carry the measurement on every event, so a message can show value, threshold and query."""
    state = ConditionState("error_rate")
    state, first = observe(state, measure(B, 5), SPEC)
    state, second = observe(state, measure(B, 10), SPEC)
    event = second[0]
    assert isinstance(first[0], FirstBreach)
    assert first[0].needed == 2
    assert isinstance(event, BreachLimitReached)
    assert event.consecutive == 2
    assert (event.value, event.threshold, event.query) == (0.05, 0.01, QUERY)
    assert event.at == START + timedelta(minutes=10)
    text = event.describe()
    assert "0.05" in text
    assert "> 0.01" in text
    assert QUERY in text


def test_blind_event_shows_the_error() -> None:
    """Show the probe's error in the blind event's text."""
    state = ConditionState("error_rate")
    events: list[MonitoringEvent] = []
    for minute in range(3):
        state, events = observe(state, measure(E, minute), SPEC)
    assert isinstance(events[0], MonitoringBlind)
    assert events[0].consecutive == 3
    assert "HTTP 503" in events[0].describe()
    assert "no data" in events[0].headline()


def test_observe_rejects_mismatched_condition() -> None:
    """Refuse a measurement of another condition, naming both."""
    with pytest.raises(ValueError, match="condition mismatch"):
        observe(ConditionState("error_rate"), measure(P, condition="latency_p95"), SPEC)


@pytest.mark.parametrize(("breaches", "blind_after"), [(0, 1), (1, 0)])
def test_spec_rejects_counts_below_one(breaches: int, blind_after: int) -> None:
    """Refuse a spec that needs zero results."""
    with pytest.raises(ValueError, match="must be >= 1"):
        ConditionSpec("x", breaches=breaches, blind_after=blind_after)


def test_retry_due_only_after_error() -> None:
    """Retry 10 s after an ERROR, not after any other verdict."""
    now = START + timedelta(minutes=5)
    assert retry_due(measure(E), now) == now + timedelta(seconds=10)
    assert retry_due(measure(E), now, timedelta(seconds=3)) == now + timedelta(seconds=3)
    for verdict in (P, B, N):
        assert retry_due(measure(verdict), now) is None


def test_worst_order_and_empty_is_not_pass() -> None:
    """Order PASS < INCONCLUSIVE < ERROR < BREACH; nothing measured is INCONCLUSIVE."""
    assert worst([P, N]) is N
    assert worst([N, E, P]) is E
    assert worst([E, B]) is B
    assert worst([]) is N


def test_summarize_per_condition() -> None:
    """Summarize count, breaches, blind, worst and min/max/last value per condition."""
    latency = Measurement.of("latency_p95", START, 0.31, threshold=0.5, op=">", query="p95")
    summary = summarize([measure(P, 5), measure(B, 10), latency, measure(N, 15), measure(E, 20)])
    errors = summary.for_condition("error_rate")
    assert (errors.count, errors.breaches, errors.blind) == (4, 1, 2)
    assert errors.worst is B
    assert (errors.min_value, errors.max_value, errors.last_value) == (0.002, 0.05, None)
    assert errors.last.verdict is E
    assert summary.for_condition("latency_p95").worst is P
    assert summary.worst is B
    assert not summary.healthy
    with pytest.raises(KeyError, match="cpu"):
        summary.for_condition("cpu")


def test_summary_of_only_errors_or_nothing_is_not_healthy() -> None:
    """Never call a window healthy when every measurement errored or none was taken."""
    assert summarize([measure(E, 5), measure(E, 10)]).worst is E
    assert not summarize([measure(E, 5)]).healthy
    assert not summarize([]).healthy
    assert summarize([measure(P, 5)]).healthy


verdict_lists = st.lists(st.sampled_from([P, B, N, E]), max_size=40)


@given(verdicts=verdict_lists, breaches=st.integers(1, 4), blind_after=st.integers(1, 4))
def test_tracker_invariants(verdicts: list[Verdict], breaches: int, blind_after: int) -> None:
    """Met only after `breaches` BREACHes since the last PASS; blind results never recover."""
    spec = ConditionSpec("error_rate", breaches=breaches, blind_after=blind_after)
    state = ConditionState("error_rate")
    breaches_since_pass = 0
    for minute, verdict in enumerate(verdicts):
        state, events = observe(state, measure(verdict, minute), spec)
        breaches_since_pass = 0 if verdict is P else breaches_since_pass + (verdict is B)
        kinds = [event.kind for event in events]
        if "condition_met" in kinds:
            assert breaches_since_pass == breaches
        if not verdict.conclusive:
            assert "recovered" not in kinds
            assert "sight_restored" not in kinds
        assert kinds.count("monitoring_blind") <= 1
        assert state.met == (breaches_since_pass >= breaches)
        assert all(event.measurement.verdict is verdict for event in events)
    assert isinstance(state.last, Measurement) or not verdicts

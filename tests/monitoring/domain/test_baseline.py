"""Relative rules against a baseline: parsing the allowed movement and judging one value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.monitoring.domain import Measurement, Verdict
from bot.monitoring.domain.baseline import Baseline, Delta, RelativeRule, judge, offset_text

AT = datetime(2026, 1, 5, 9, 35, tzinfo=UTC)
PREVIOUS = Baseline(0.350, "v1.3.2", timedelta(minutes=35))


def _p95(value: float | None) -> Measurement:
    return Measurement.of("latency_p95", AT, value, threshold=0.5, op=">", query="q")


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("10%", "seconds", Delta(0.10, relative=True)),
        ("20 %", "", Delta(0.20, relative=True)),
        ("50ms", "seconds", Delta(0.05, relative=False)),
        ("1s", "seconds", Delta(1.0, relative=False)),
        ("0.5pp", "ratio", Delta(0.005, relative=False)),
        ("3", "", Delta(3.0, relative=False)),
    ],
)
def test_delta_texts(text, unit, expected):
    """A "%" is relative; ms/s/pp and plain numbers are amounts in the condition's unit."""
    parsed = Delta.parse(text, unit)
    assert parsed.relative is expected.relative
    assert parsed.amount == pytest.approx(expected.amount)


@pytest.mark.parametrize(
    ("text", "unit", "message"),
    [("ten percent", "", "expected a share"), ("50ms", "ratio", '"ms" is only for'),
     ("-5%", "", "expected a share"), ("0.5pp", "seconds", '"pp" is only for')],
)  # fmt: skip
def test_bad_delta_texts_say_what_is_expected(text, unit, message):
    """A malformed or mis-united delta is refused with a message naming the problem."""
    with pytest.raises(ValueError, match=message):
        Delta.parse(text, unit)


@pytest.mark.parametrize(
    ("value", "verdict", "detail"),
    [
        (0.412, Verdict.BREACH, "P95 412 ms vs 350 ms for v1.3.2 at +35 min: +18 % > +10 %"),
        (0.3675, Verdict.PASS, "P95 368 ms vs 350 ms for v1.3.2 at +35 min: +5 % ≤ +10 %"),
        (0.300, Verdict.PASS, "P95 300 ms vs 350 ms for v1.3.2 at +35 min: -14 % ≤ +10 %"),
    ],
)
def test_max_increase_judges_against_the_baseline(value, verdict, detail):
    """The verdict follows the baseline's limit (385 ms), not the absolute 500 ms."""
    rule = RelativeRule.parse("10%", None, "seconds")
    judged = judge(_p95(value), rule, PREVIOUS, title="P95", unit="seconds")
    assert (judged.verdict, judged.detail) == (verdict, detail)
    assert judged.threshold == pytest.approx(0.385)
    assert judged.op == ">"


def test_max_decrease_for_a_business_metric():
    """Orders per minute may not drop below 80 % of the previous release's."""
    rule = RelativeRule.parse(None, "20%", "")
    before = Baseline(200.0, "v2.0.0", timedelta(hours=2))
    orders = Measurement.of("orders", AT, 150.0, threshold=10.0, op="<", query="q")
    judged = judge(orders, rule, before, title="Orders/min", unit="")
    assert judged.verdict is Verdict.BREACH
    assert judged.detail == "Orders/min 150 vs 200 for v2.0.0 at +2 h: -25 % < -20 %"
    fine = judge(orders.__class__.of("orders", AT, 170.0, threshold=10.0, op="<", query="q"),
                 rule, before, title="Orders/min")  # fmt: skip
    assert fine.verdict is Verdict.PASS


def test_both_directions_report_the_one_that_breached():
    """With max_increase and max_decrease, a drop breaches on the decrease side."""
    rule = RelativeRule.parse("50ms", "50ms", "seconds")
    judged = judge(_p95(0.250), rule, PREVIOUS, title="P95", unit="seconds")
    assert judged.verdict is Verdict.BREACH
    assert (judged.op, judged.threshold) == ("<", pytest.approx(0.300))
    assert judged.detail.endswith("-100 ms < -50 ms")


def test_without_a_baseline_the_absolute_verdict_stands():
    """No previous release: the measurement keeps its absolute verdict, saying so."""
    rule = RelativeRule.parse("10%", None, "seconds")
    judged = judge(_p95(0.412), rule, None, title="P95", unit="seconds")
    assert judged.verdict is Verdict.PASS and judged.threshold == 0.5
    assert "absolute threshold applies" in judged.detail


def test_no_data_is_not_judged():
    """An inconclusive measurement stays inconclusive: no baseline makes data out of nothing."""
    rule = RelativeRule.parse("10%", None, "seconds")
    judged = judge(_p95(None), rule, PREVIOUS, title="P95", unit="seconds")
    assert judged.verdict is Verdict.INCONCLUSIVE


def test_a_rule_needs_a_direction():
    """A relative rule without max_increase or max_decrease is refused."""
    with pytest.raises(ValueError, match="max_increase or max_decrease"):
        RelativeRule.parse(None, None, "")


@pytest.mark.parametrize(
    ("offset", "text"),
    [(timedelta(minutes=35), "+35 min"), (timedelta(hours=2), "+2 h"),
     (timedelta(hours=2, minutes=30), "+2 h 30 min")],
)  # fmt: skip
def test_offsets_read_in_minutes_and_hours(offset, text):
    """Offsets from the deploy read as people say them."""
    assert offset_text(offset) == text

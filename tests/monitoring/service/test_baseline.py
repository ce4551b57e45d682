"""Relative conditions at the service level: the previous release's stored measurements are
the baseline at the same offset (SQLite with migrations, durable timers; probes scripted)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.actors import Source
from bot.monitoring.domain.records import WatchedCondition
from tests.monitoring.service.harness import build_bench, default_config, minutes
from tests.support.actors import LEAD, NOW

LATENCY = WatchedCondition(
    name="latency_p95",
    kind="prometheus",
    title="P95 latency",
    severity="P1",
    threshold=0.5,
    op=">",
    breaches=1,
    blind_after=3,
    query="histogram_quantile(0.95, ...)",
    unit="seconds",
    baseline="previous_release",
    max_increase="10%",
)


@pytest.fixture
def bench(engine, clock):
    """Return a bench watching only the relative P95 latency condition."""
    return build_bench(engine, clock, config=default_config(conditions_for=lambda s: (LATENCY,)))


async def _previous_release_then_new(bench, new_value: float) -> int:
    """Run v1.3.2 at 350 ms to +35 min, deploy v1.3.3, run it at 350 ms then `new_value`."""
    bench.script.values["latency_p95"] = 0.350
    await bench.deploy(version="v1.3.2")
    await bench.run_until(NOW + minutes(35))
    second = NOW + minutes(35) + timedelta(seconds=30)
    bench.clock.set(second)
    release_id = await bench.deploy(version="v1.3.3")
    await bench.run_until(second + minutes(30))
    bench.script.values["latency_p95"] = new_value
    await bench.run_until(second + minutes(35))
    return release_id


async def _alert_views(bench, release_id):
    window = await bench.monitoring.window_view(release_id=release_id)
    return [await bench.monitoring.alert_view(a.key) for a in window.alerts]


async def test_18_percent_slower_at_the_same_offset_breaches_and_names_both_values(bench):
    """412 ms against v1.3.2's 350 ms at +35 min breaches max_increase=10 %, under 500 ms."""
    release_id = await _previous_release_then_new(bench, 0.412)
    (met,) = bench.met
    assert met.release_id == release_id
    (view,) = await _alert_views(bench, release_id)
    detail = view.alert.measurement.detail
    assert detail == "P95 latency 412 ms vs 350 ms for v1.3.2 at +35 min: +18 % > +10 %"
    assert view.alert.measurement.threshold == pytest.approx(0.385)
    assert view.baseline_label == "v1.3.2"
    assert [m.value for m in view.baseline][-1] == pytest.approx(0.350)


async def test_5_percent_slower_does_not_breach(bench):
    """368 ms against 350 ms is +5 %: within max_increase=10 %, no alert, no hand-off."""
    release_id = await _previous_release_then_new(bench, 0.3675)
    assert bench.met == []
    assert await _alert_views(bench, release_id) == []
    async with bench.monitoring.uow() as uow:
        window = await uow.monitoring.window_for_release(release_id)
        last = (await uow.monitoring.measurements(window.key, "latency_p95"))[-1]
    assert last.detail == "P95 latency 368 ms vs 350 ms for v1.3.2 at +35 min: +5 % ≤ +10 %"


async def test_without_a_previous_release_the_absolute_threshold_applies(bench):
    """The first release is judged by threshold 0.5 s: 412 ms passes, 600 ms breaches."""
    bench.script.values["latency_p95"] = 0.412
    release_id = await bench.deploy(version="v1.0.0")
    await bench.run_until(NOW + minutes(10))
    assert bench.met == []
    bench.script.values["latency_p95"] = 0.600
    await bench.run_until(NOW + minutes(15))
    (met,) = bench.met
    assert met.measurement.threshold == 0.5
    assert "absolute threshold applies" in met.measurement.detail
    (view,) = await _alert_views(bench, release_id)
    assert view.baseline == ()


async def test_an_aborted_release_is_no_baseline(bench):
    """A release that had to be aborted is skipped: the absolute fallback judges the next one."""
    bench.script.values["latency_p95"] = 0.200
    first = await bench.deploy(version="v1.3.2")
    await bench.run_until(NOW + minutes(35))
    await bench.releases.abort(first, "broken build", LEAD, Source.BUTTON)
    bench.script.values["latency_p95"] = 0.300
    second = await bench.deploy(version="v1.3.3")
    await bench.run_until(bench.clock.now() + minutes(5))
    async with bench.monitoring.uow() as uow:
        window = await uow.monitoring.window_for_release(second)
        (only,) = await uow.monitoring.measurements(window.key, "latency_p95")
    assert only.verdict.value == "pass"  # +50 % over v1.3.2's 200 ms, but v1.3.2 was aborted
    assert "absolute threshold applies" in only.detail

"""PrometheusProbe and the tracker against a real Prometheus scraping a controlled exporter."""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.core.clock import FakeClock, SystemClock
from bot.monitoring.chat.chart import render_chart
from bot.monitoring.domain import (
    BreachLimitReached,
    ConditionSpec,
    ConditionState,
    Measurement,
    MonitoringBlind,
    MonitoringEvent,
    Verdict,
    observe,
)
from bot.monitoring.probes.base import run_poll
from bot.monitoring.probes.prometheus import PrometheusProbe
from bot.monitoring.probes.transport import probe_client
from tests.monitoring.probes.prometheus_server import PrometheusServer

pytestmark = pytest.mark.prometheus

ERROR_RATIO = (
    'sum(rate(http_requests_total{{service="$service",code=~"5.."}}[{w}]))'
    ' / sum(rate(http_requests_total{{service="$service"}}[{w}]))'
)
SPEC = ConditionSpec("error_rate", breaches=2, blind_after=3)


def error_ratio(window: str = "15s") -> str:
    """Return the error-ratio PromQL with a `$service` placeholder and a short rate window."""
    return ERROR_RATIO.format(w=window)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Yield one shared AsyncClient, closed after the test."""
    async with httpx.AsyncClient() as shared:
        yield shared


def ratio_probe(
    client: httpx.AsyncClient, server: PrometheusServer, service: str, window: str = "15s"
) -> PrometheusProbe:
    """Return an error-ratio probe for `service` (breach above 1%)."""
    return PrometheusProbe(
        client,
        server.base_url,
        error_ratio(window),
        0.01,
        ">",
        timedelta(seconds=5),
        condition="error_rate",
        service=service,
    )


def track(
    measurements: list[Measurement], spec: ConditionSpec = SPEC
) -> tuple[ConditionState, list[MonitoringEvent]]:
    """Feed measurements through the tracker; return the final state and all events."""
    state = ConditionState(spec.name)
    events: list[MonitoringEvent] = []
    for measurement in measurements:
        state, new = observe(state, measurement, spec)
        events.extend(new)
    return state, events


def has_value(result: list[Any]) -> bool:
    """Return True when an instant-query result holds a non-NaN sample."""
    return bool(result) and not math.isnan(float(result[0]["value"][1]))


async def test_five_percent_errors_breach_twice_and_meet_the_condition(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Measure ~5% errors as BREACH; two polls meet the condition; chart the measurements."""
    clock = FakeClock()
    probe = ratio_probe(client, prometheus, "checkout")
    measurements = []
    for _ in range(2):
        (measurement,) = await run_poll([probe], clock.now())
        measurements.append(measurement)
        clock.advance(timedelta(minutes=5))
    assert [m.verdict for m in measurements] == [Verdict.BREACH, Verdict.BREACH]
    for m in measurements:
        assert m.value == pytest.approx(0.05, abs=0.005)
        assert 'service="checkout"' in m.query
    state, events = track(measurements)
    assert state.met
    met = events[-1]
    assert isinstance(met, BreachLimitReached)
    assert met.value == measurements[1].value
    assert 'service="checkout"' in met.describe()
    png = render_chart([(m.at, m.value) for m in measurements], 0.01, "checkout 5xx ratio", "")
    image = Image.open(io.BytesIO(png))
    assert (image.format, image.size) == ("PNG", (800, 400))


async def test_half_percent_errors_pass(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Measure ~0.5% errors as PASS, with the value shown."""
    m = await ratio_probe(client, prometheus, "catalog").measure(FakeClock().now())
    assert m.verdict is Verdict.PASS
    assert m.value == pytest.approx(0.005, abs=0.001)


async def test_evaluation_time_from_the_injected_clock(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Evaluate at the clock's time when told to: now has data, a year ago has none."""
    now = SystemClock().now()
    probe = PrometheusProbe(
        client,
        prometheus.base_url,
        error_ratio(),
        0.01,
        ">",
        condition="error_rate",
        service="catalog",
        send_time=True,
    )
    assert (await probe.measure(now)).verdict is Verdict.PASS
    stale = await probe.measure(now - timedelta(days=365))
    assert stale.verdict is Verdict.INCONCLUSIVE
    assert "no data" in stale.detail


async def test_traffic_stopping_is_inconclusive_and_goes_blind_never_pass(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Turn no traffic (0/0 = NaN) into INCONCLUSIVE; blind after 3 polls; never PASS."""
    prometheus.app.stop_traffic("search")
    query = error_ratio("5s").replace("$service", "search")
    prometheus.wait_for(query, lambda result: bool(result) and not has_value(result))
    clock = FakeClock()
    probe = ratio_probe(client, prometheus, "search", "5s")
    measurements = []
    for _ in range(SPEC.blind_after):
        measurements.append(await probe.measure(clock.now()))
        clock.advance(timedelta(minutes=5))
    assert {m.verdict for m in measurements} == {Verdict.INCONCLUSIVE}
    state, events = track(measurements)
    assert state.blind
    assert [type(e) for e in events] == [MonitoringBlind]
    assert "no data" in events[0].describe()


async def test_vanished_series_is_inconclusive_no_data(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Report an empty vector after the service's series disappear as INCONCLUSIVE."""
    prometheus.app.remove_series("payments")
    query = error_ratio("5s").replace("$service", "payments")
    prometheus.wait_for(query, lambda result: not result)
    m = await ratio_probe(client, prometheus, "payments", "5s").measure(FakeClock().now())
    assert m.verdict is Verdict.INCONCLUSIVE
    assert m.value is None
    assert "empty vector" in m.detail


async def test_stopped_exporter_is_inconclusive_and_blind(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Go blind, never PASS, when the exporter itself is down."""
    prometheus.canary.shutdown()
    prometheus.wait_for('up{job="canary"} == 0', bool)
    query = error_ratio("5s").replace("$service", "canary")
    prometheus.wait_for(query, lambda result: not result)
    clock = FakeClock()
    probe = ratio_probe(client, prometheus, "canary", "5s")
    measurements = []
    for _ in range(SPEC.blind_after):
        measurements.append(await probe.measure(clock.now()))
        clock.advance(timedelta(minutes=5))
    assert Verdict.PASS not in {m.verdict for m in measurements}
    state, events = track(measurements)
    assert state.blind
    assert isinstance(events[-1], MonitoringBlind)


async def test_query_syntax_error_is_error_with_prometheus_message(
    prometheus: PrometheusServer, client: httpx.AsyncClient
) -> None:
    """Report a PromQL syntax error as ERROR carrying Prometheus's own message."""
    broken = PrometheusProbe(
        client,
        prometheus.base_url,
        "sum(rate(http_requests_total[15s]",
        0.01,
        ">",
        condition="error_rate",
    )
    m = await broken.measure(FakeClock().now())
    assert m.verdict is Verdict.ERROR
    assert m.error is not None
    assert "bad_data" in m.error
    assert "parse error" in m.error


async def test_breach_through_the_aiohttp_transport(prometheus: PrometheusServer) -> None:
    """Measure the same breach through the aiohttp-backed client the wiring should use."""
    async with probe_client() as client:
        m = await ratio_probe(client, prometheus, "checkout").measure(FakeClock().now())
    assert m.verdict is Verdict.BREACH
    assert m.value == pytest.approx(0.05, abs=0.005)

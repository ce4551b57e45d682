"""The demo's metrics sandbox, queried by the bot's real Prometheus probe over HTTP."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.monitoring.domain import Verdict
from bot.monitoring.probes.prometheus import PrometheusProbe
from bot.sandbox.metrics import MetricsSandbox, ScriptedMetric

START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
RATIO = 'sum(rate(http_requests_total{service="$service",code=~"5.."}[5m])) / sum(rate(x[5m]))'


class Clock:
    """A settable clock for queries sent without `time`."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def _rising() -> ScriptedMetric:
    return ScriptedMetric(
        [
            (timedelta(0), 0.002),
            (timedelta(minutes=10), 0.05),
            (timedelta(minutes=30), math.nan),
        ],
        labels={"service": "nexis-gateway"},
    )


@pytest.fixture
async def sandbox():
    clock = Clock()
    box = MetricsSandbox(clock, start=START)
    box.script('code=~"5.."', _rising())
    async with box:
        yield box, clock


async def test_probe_reads_the_scripted_ratio_rising_past_one_percent(sandbox):
    """The real probe sees 0.2 % (pass), then 5 % (breach), then NaN (no data) over time."""
    box, _ = sandbox
    async with httpx.AsyncClient() as client:
        probe = PrometheusProbe(
            client, box.base_url, RATIO, 0.01, ">", condition="error_rate",
            service="nexis-gateway", send_time=True,
        )  # fmt: skip
        early = await probe.measure(START + timedelta(minutes=5))
        late = await probe.measure(START + timedelta(minutes=12))
        blind = await probe.measure(START + timedelta(minutes=31))
    assert (early.value, early.verdict) == (0.002, Verdict.PASS)
    assert (late.value, late.verdict) == (0.05, Verdict.BREACH)
    assert blind.verdict is Verdict.INCONCLUSIVE
    assert [e.at for e in box.evaluations] == [
        START + timedelta(minutes=5),
        START + timedelta(minutes=12),
        START + timedelta(minutes=31),
    ]
    assert 'service="nexis-gateway"' in box.evaluations[0].query


async def test_without_time_the_sandbox_clock_decides(sandbox):
    """A query without `time` is evaluated at the sandbox's clock (the demo's virtual time)."""
    box, clock = sandbox
    clock.now = START + timedelta(minutes=11)
    async with httpx.AsyncClient(base_url=box.base_url) as client:
        body = (await client.get("/api/v1/query", params={"query": RATIO})).json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "vector"
    [series] = body["data"]["result"]
    assert series["metric"] == {"service": "nexis-gateway"}
    assert series["value"][1] == "0.05"


async def test_unknown_query_is_an_empty_vector_and_bad_input_is_400(sandbox):
    """Unscripted series have no data; an empty query or bad time is Prometheus' bad_data."""
    box, _ = sandbox
    async with httpx.AsyncClient(base_url=box.base_url) as client:
        unknown = await client.post("/api/v1/query", data={"query": "up"})
        empty = await client.get("/api/v1/query", params={"query": " "})
        bad_time = await client.get("/api/v1/query", params={"query": "up", "time": "nan"})
        huge_time = await client.get("/api/v1/query", params={"query": "up", "time": "1e300"})
    assert unknown.json()["data"]["result"] == []
    for response in (empty, bad_time, huge_time):
        assert response.status_code == 400
        assert response.json()["errorType"] == "bad_data"


def test_steps_must_increase():
    """A script whose offsets go backwards is refused when it is written."""
    with pytest.raises(ValueError, match="strictly increasing"):
        ScriptedMetric([(timedelta(minutes=5), 1.0), (timedelta(minutes=1), 2.0)])
    with pytest.raises(ValueError, match="at least one step"):
        ScriptedMetric([])
    assert ScriptedMetric([(timedelta(minutes=1), 1.0)]).value_at(timedelta(0)) is None

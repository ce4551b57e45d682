"""PrometheusProbe against a scripted loopback server: parsing, errors, $service, time param."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.monitoring.domain import Verdict
from bot.monitoring.probes.prometheus import PrometheusProbe, promql_string_escape, render_query
from tests.monitoring.probes.prometheus_server import free_port
from tests.monitoring.probes.servers import Reply, ScriptedServer

NOW = datetime(2026, 1, 5, 9, 5, tzinfo=UTC)
PATH = "/api/v1/query"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """Yield one shared AsyncClient, closed after the test."""
    async with httpx.AsyncClient() as shared:
        yield shared


def probe(
    client: httpx.AsyncClient,
    server: ScriptedServer,
    op: str = ">",
    *,
    query: str = "error_ratio",
    timeout: timedelta = timedelta(seconds=2),
    service: str | None = None,
    send_time: bool = False,
) -> PrometheusProbe:
    """Return an error-ratio probe pointed at the scripted server."""
    return PrometheusProbe(
        client,
        server.base_url,
        query,
        0.01,
        op,
        timeout,
        condition="error_rate",
        service=service,
        send_time=send_time,
    )


def series(value: str, **labels: str) -> dict[str, object]:
    """Return one vector sample."""
    return {"metric": labels, "value": [1767603900.0, value]}


async def test_single_series_breach_shows_value(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Classify a one-series vector and keep value, threshold and query."""
    scripted_server.prometheus_success(PATH, "vector", [series("0.052")])
    m = await probe(client, scripted_server).measure(NOW)
    assert (m.verdict, m.value, m.threshold, m.query, m.at) == (
        Verdict.BREACH,
        0.052,
        0.01,
        "error_ratio",
        NOW,
    )


async def test_scalar_result(client: httpx.AsyncClient, scripted_server: ScriptedServer) -> None:
    """Read a scalar result."""
    scripted_server.prometheus_success(PATH, "scalar", [1767603900.0, "0.004"])
    m = await probe(client, scripted_server).measure(NOW)
    assert (m.verdict, m.value) == (Verdict.PASS, 0.004)


async def test_empty_vector_is_inconclusive_no_data(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Report an empty vector as INCONCLUSIVE "no data", never PASS or ERROR."""
    scripted_server.prometheus_success(PATH, "vector", [])
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.INCONCLUSIVE
    assert m.value is None
    assert "no data" in m.detail


async def test_nan_is_inconclusive(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Report NaN (0/0, no traffic) as INCONCLUSIVE."""
    scripted_server.prometheus_success(PATH, "vector", [series("NaN")])
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.INCONCLUSIVE
    assert m.value is not None
    assert math.isnan(m.value)
    assert "NaN" in m.detail


async def test_plus_inf_is_compared(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Compare +Inf like a number: above any threshold."""
    scripted_server.prometheus_success(PATH, "vector", [series("+Inf")])
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.BREACH
    assert m.value == math.inf


@pytest.mark.parametrize(("op", "expected", "which"), [(">", 0.09, "max"), ("<", 0.001, "min")])
async def test_several_series_use_the_worst_and_say_so(
    client: httpx.AsyncClient,
    scripted_server: ScriptedServer,
    op: str,
    expected: float,
    which: str,
) -> None:
    """Take the max for ">" and the min for "<", naming the series count and the labels."""
    result = [series("0.001", pod="a"), series("0.09", pod="b"), series("NaN", pod="c")]
    scripted_server.prometheus_success(PATH, "vector", result)
    m = await probe(client, scripted_server, op=op).measure(NOW)
    assert m.value == expected
    assert f"3 series; using the {which}" in m.detail
    assert 'pod="' in m.detail


async def test_prometheus_error_status_is_error_with_its_message(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Turn `status: error` into ERROR carrying Prometheus's errorType and message."""
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: boom"}
    scripted_server.reply(PATH, Reply(status=400, body=body))
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.ERROR
    assert m.error is not None
    assert "bad_data" in m.error
    assert "parse error: boom" in m.error
    assert "HTTP 400" in m.error


async def test_non_json_http_error_is_error(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Turn a proxy's HTML 503 into ERROR with the status and a snippet."""
    scripted_server.reply(PATH, Reply(status=503, text="<html>upstream down</html>"))
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.ERROR
    assert m.error is not None
    assert "HTTP 503" in m.error
    assert "upstream down" in m.error


@pytest.mark.parametrize(
    ("result_type", "result", "reason"),
    [
        ("matrix", [], "range vector"),
        ("string", [0, "x"], "unsupported result type 'string'"),
        ("vector", [{"metric": {}, "value": [1, 2]}], "malformed vector"),
    ],
)
async def test_unusable_results_are_errors(
    client: httpx.AsyncClient,
    scripted_server: ScriptedServer,
    result_type: str,
    result: object,
    reason: str,
) -> None:
    """Refuse matrix, string and malformed results with a reason."""
    scripted_server.prometheus_success(PATH, result_type, result)
    m = await probe(client, scripted_server).measure(NOW)
    assert m.verdict is Verdict.ERROR
    assert reason in (m.error or "")


async def test_timeout_is_error_naming_the_limit(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Turn a query that outlives the probe's timeout into ERROR "timed out after 0.2s"."""
    scripted_server.reply(PATH, Reply(hang=True))
    m = await probe(client, scripted_server, timeout=timedelta(seconds=0.2)).measure(NOW)
    assert m.verdict is Verdict.ERROR
    assert m.error == "timed out after 0.2s"


async def test_unreachable_prometheus_is_error(client: httpx.AsyncClient) -> None:
    """Turn a refused connection to Prometheus into ERROR (blind), not a breach."""
    dead = PrometheusProbe(client, f"http://127.0.0.1:{free_port()}", "up", 1, "<", condition="up")
    m = await dead.measure(NOW)
    assert m.verdict is Verdict.ERROR
    assert "ConnectError" in (m.error or "")


async def test_service_substitution_and_params(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Substitute an escaped $service and send no `time` unless told to."""
    scripted_server.prometheus_success(PATH, "vector", [series("0")])
    query = 'sum(rate(http_requests_total{service="$service"}[5m]))'
    await probe(client, scripted_server, query=query, service='a"b').measure(NOW)
    await probe(client, scripted_server, query=query, service="web", send_time=True).measure(NOW)
    (_, first), (_, second) = scripted_server.requests
    assert first["query"] == 'sum(rate(http_requests_total{service="a\\"b"}[5m]))'
    assert "time" not in first
    assert first["timeout"] == "2s"
    assert second["time"] == f"{NOW.timestamp():.3f}"


def test_render_query_rules() -> None:
    """Escape backslashes and quotes; refuse $service without a service."""
    assert promql_string_escape('x\\"') == 'x\\\\\\"'
    assert render_query("up", None) == "up"
    with pytest.raises(ValueError, match=r"uses \$service but no service"):
        render_query('up{service="$service"}', None)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "localhost:9090"}, "must be an http"),
        ({"query": "  "}, "query is empty"),
        ({"op": "=>"}, "unknown comparison operator"),
        ({"timeout": timedelta(0)}, "timeout must be positive"),
    ],
)
async def test_bad_configuration_is_rejected(
    client: httpx.AsyncClient, kwargs: dict[str, object], message: str
) -> None:
    """Reject a bad URL, empty query, unknown operator and zero timeout at construction."""
    args: dict[str, object] = {
        "client": client,
        "base_url": "http://127.0.0.1:9090",
        "query": "up",
        "threshold": 1.0,
        "op": "<",
        "timeout": timedelta(seconds=1),
        "condition": "up",
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        PrometheusProbe(**args)  # type: ignore[arg-type]

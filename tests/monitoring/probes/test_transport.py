"""Probes behave the same through httpx's default transport and the aiohttp-backed one."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.monitoring.domain import Verdict
from bot.monitoring.probes.base import run_poll
from bot.monitoring.probes.http import HttpProbe
from bot.monitoring.probes.prometheus import PrometheusProbe
from bot.monitoring.probes.transport import AiohttpTransport, probe_client
from tests.monitoring.probes.prometheus_server import free_port
from tests.monitoring.probes.servers import Reply, ScriptedServer

NOW = datetime(2026, 1, 5, 9, 5, tzinfo=UTC)


@pytest.fixture(params=["httpx-default", "aiohttp-transport"])
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """Yield a client of each kind the probes may be given."""
    shared = httpx.AsyncClient() if request.param == "httpx-default" else probe_client()
    async with shared:
        yield shared


async def test_prometheus_round_trip(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Send the query params and read the value back through either transport."""
    scripted_server.prometheus_success(
        "/api/v1/query", "vector", [{"metric": {}, "value": [0, "0.03"]}]
    )
    probe = PrometheusProbe(
        client,
        scripted_server.base_url,
        'up{service="$service"}',
        0.01,
        ">",
        condition="error_rate",
        service="web",
    )
    m = await probe.measure(NOW)
    assert (m.verdict, m.value) == (Verdict.BREACH, 0.03)
    assert scripted_server.requests[-1][1]["query"] == 'up{service="web"}'


async def test_timeouts_and_refusals_map_to_the_same_verdicts(
    client: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    """Turn a slow answer into a timeout and a refused port into a breach, either way."""
    scripted_server.reply("/api/v1/query", Reply(hang=True))
    scripted_server.reply("/health", Reply(hang=True))
    slow_query = PrometheusProbe(
        client, scripted_server.base_url, "up", 1, "<", timedelta(seconds=0.2), condition="up"
    )
    slow_health = HttpProbe(
        client, scripted_server.url("/health"), timeout=timedelta(seconds=0.2), name="slow"
    )
    refused = HttpProbe(client, f"http://127.0.0.1:{free_port()}/health", name="refused")
    query, health, gone = await run_poll(
        [slow_query, slow_health, refused], NOW, per_probe_timeout=timedelta(seconds=5)
    )
    assert (query.verdict, query.error) == (Verdict.ERROR, "timed out after 0.2s")
    assert (health.verdict, health.detail) == (
        Verdict.BREACH,
        "unavailable: no answer within 0.2s",
    )
    assert gone.verdict is Verdict.BREACH
    assert "unreachable (ConnectError" in gone.detail


async def test_aiohttp_transport_passes_encoded_bodies_and_posts() -> None:
    """Let httpx decode gzip bodies, and send request bodies and headers unchanged."""
    seen: list[tuple[str, bytes, str | None]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append((request.method, await request.read(), request.headers.get("X-Probe")))
        return web.Response(
            body=gzip.compress(b'{"ok": true}'),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_route("*", "/echo", handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with probe_client() as client:
            url = f"http://127.0.0.1:{server.port}/echo"
            response = await client.post(url, content=b"payload", headers={"X-Probe": "1"})
            assert response.json() == {"ok": True}
            assert (await client.get(url)).status_code == 200
    finally:
        await server.close()
    assert seen == [("POST", b"payload", "1"), ("GET", b"", None)]


def test_transport_rejects_a_zero_limit() -> None:
    """Refuse a connection limit below one."""
    with pytest.raises(ValueError, match="connection limit must be >= 1"):
        AiohttpTransport(0)

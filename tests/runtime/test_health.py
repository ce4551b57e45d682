"""`/healthz` is liveness (loop heartbeats), `/readyz` is readiness (checks and faults)."""

from __future__ import annotations

import asyncio

import httpx

from bot.config import Secrets, default_settings
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.web import WebServer, make_web_app
from bot.runtime.health import Health, gateway_connected


class Windows:
    """The monitoring service's part the web server reads (no database needed here)."""

    async def open_window_count(self) -> int:
        """Return no open windows."""
        return 0

    async def receive_alertmanager(self, payload: object) -> object:
        """Not used here."""
        raise NotImplementedError


class Client:
    """A discord.py client's connection state, as the gateway check reads it."""

    def __init__(self, ready: bool, closed: bool = False) -> None:
        self.ready, self.closed = ready, closed
        self.ws: object | None = None

    def is_ready(self) -> bool:
        """Return whether READY was received."""
        return self.ready

    def is_closed(self) -> bool:
        """Return whether the client was closed."""
        return self.closed


async def test_health_endpoints_report_stalls_faults_and_failed_checks():
    """A stale loop fails /healthz; a fault or a failing check fails /readyz, then recovers."""
    health = Health()
    gateway = Client(ready=False)
    health.checks["gateway"] = gateway_connected(gateway)
    server = WebServer(
        make_web_app(Windows(), MonitoringMetrics(), default_settings(), Secrets(), health),  # type: ignore[arg-type]
        "127.0.0.1",
        0,
    )
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            health.watch("scheduler", 0.2)
            live = await http.get(f"{server.url}/healthz")
            assert live.status_code == 200 and live.json()["loops"]["scheduler"] == "ok"
            await asyncio.sleep(0.3)  # the loop stops beating
            stalled = await http.get(f"{server.url}/healthz")
            assert stalled.status_code == 503
            assert stalled.json()["loops"]["scheduler"].startswith("stalled")
            health.beat("scheduler")
            assert (await http.get(f"{server.url}/healthz")).status_code == 200

            not_ready = await http.get(f"{server.url}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json()["gateway"] == "not connected yet"
            gateway.ready = True
            disconnected = await http.get(f"{server.url}/readyz")
            assert disconnected.json()["gateway"] == "gateway disconnected"
            gateway.ws = type("Socket", (), {"open": True})()
            health.fault("pages", "1 past their retry budget")
            faulted = await http.get(f"{server.url}/readyz")
            assert faulted.status_code == 503 and faulted.json()["pages"].startswith("1 past")
            health.ok("pages")
            ready = await http.get(f"{server.url}/readyz")
            assert ready.status_code == 200 and ready.json()["gateway"] == "ok"
    finally:
        await server.stop()

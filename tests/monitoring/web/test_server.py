"""The web server on a real loopback port: Alertmanager push path, /healthz, /metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app.uow import SqlUnitOfWorkFactory
from bot.config import Secrets, default_settings
from bot.core.actors import AccessPolicy
from bot.monitoring.alertmanager import SIGNATURE_HEADER
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.use_cases import MonitoringService
from bot.monitoring.web import WebServer, make_web_app
from bot.store.db import make_engine, make_session_factory
from tests.monitoring.service.harness import (
    Bench,
    Script,
    ScriptedProbes,
    build_bench,
    default_config,
    minutes,
)
from tests.support.actors import NOW

TOKEN = "s3cret-token"
HMAC_SECRET = "hmac-key"


def alert(status: str = "firing", service: str = "gw", name: str = "error_rate") -> dict[str, Any]:
    """Return one Alertmanager v4 alert."""
    return {
        "status": status,
        "labels": {"alertname": "HighErrorRate", "releasebot_condition": name, "service": service},
        "annotations": {"value": "0.052"},
        "startsAt": "2026-03-02T10:01:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph",
        "fingerprint": "abc123",
    }


def body(*alerts: dict[str, Any], status: str = "firing") -> bytes:
    """Return a version-4 webhook body."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": '{}:{alertname="HighErrorRate"}',
            "status": status,
            "receiver": "releasebot",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.example",
            "alerts": list(alerts),
        }
    ).encode()


@dataclass
class Site:
    """A bench with its web server running on loopback."""

    bench: Bench
    server: WebServer
    client: httpx.AsyncClient
    metrics: MonitoringMetrics

    async def push(self, content: bytes, **headers: str) -> httpx.Response:
        """POST `content` to /alertmanager."""
        return await self.client.post(
            f"{self.server.url}/alertmanager", content=content, headers=headers
        )


async def _site(bench: Bench, secrets: Secrets) -> AsyncIterator[Site]:
    metrics = MonitoringMetrics()
    app = make_web_app(bench.monitoring, metrics, default_settings(), secrets)
    server = WebServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            yield Site(bench, server, client, metrics)
    finally:
        await server.stop()


@pytest.fixture
async def site(engine, clock) -> AsyncIterator[Site]:
    """Serve a bench whose webhook takes a bearer token and an HMAC signature."""
    secrets = Secrets(
        alertmanager_token=SecretStr(TOKEN), alertmanager_hmac_secret=SecretStr(HMAC_SECRET)
    )
    async for running in _site(build_bench(engine, clock), secrets):
        yield running


def bearer(token: str = TOKEN) -> dict[str, str]:
    """Return the Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def test_server_binds_a_random_loopback_port(site: Site):
    """Expose the port it bound when asked for port 0."""
    assert site.server.port and site.server.port > 0
    assert site.server.url.startswith("http://127.0.0.1:")


async def test_valid_push_is_evaluated_at_once_and_alerts(site: Site):
    """Meet the condition from one authenticated firing alert, without waiting for a poll."""
    release_id = await site.bench.deploy()
    response = await site.push(body(alert()), **bearer())
    assert response.status_code == 200
    assert response.json()["evaluated"] == [f"release #{release_id} error_rate: firing"]
    assert site.bench.script.calls == []  # no poll ran: the push alone decided
    (met,) = site.bench.met
    assert (met.source, met.value, met.condition, met.at) == (
        "alertmanager",
        0.052,
        "error_rate",
        NOW,
    )
    await site.bench.pump()
    assert [p["event"] for p in site.bench.alerts.got] == ["met"]
    assert await site.bench.measurement_rows() == 1


async def test_resolved_push_marks_recovery(site: Site):
    """Recover the condition when Alertmanager says the alert resolved."""
    await site.bench.deploy()
    assert (await site.push(body(alert()), **bearer())).status_code == 200
    resolved = body(alert("resolved"), status="resolved")
    assert (await site.push(resolved, **bearer())).status_code == 200
    assert [e.condition for e in site.bench.recovered] == ["error_rate"]


async def test_hmac_signed_push_is_accepted(site: Site):
    """Accept a body signed with the HMAC secret."""
    await site.bench.deploy()
    content = body(alert())
    digest = hmac.new(HMAC_SECRET.encode(), content, hashlib.sha256).hexdigest()
    response = await site.push(content, **{SIGNATURE_HEADER: f"sha256={digest}"})
    assert response.status_code == 200
    assert len(site.bench.met) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (bearer("wrong"), "bearer token does not match"),
        ({}, "missing credentials"),
        ({SIGNATURE_HEADER: "sha256=" + "0" * 64}, "does not match the body"),
    ],
)
async def test_unauthenticated_push_gets_401_and_stores_nothing(site: Site, headers, reason):
    """Refuse a wrong or missing credential with 401 and the reason; nothing is stored."""
    await site.bench.deploy()
    response = await site.push(body(alert()), **headers)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert await site.bench.measurement_rows() == 0
    assert site.bench.met == []


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "body is not UTF-8 JSON"),
        (b'{"version": "3", "alerts": []}', "version"),
        (body({"status": "firing"}), "alerts[0].startsAt: missing"),
    ],
)
async def test_malformed_push_gets_400_and_stores_nothing(site: Site, content, reason):
    """Refuse a malformed body with 400 naming what is wrong; nothing is stored."""
    await site.bench.deploy()
    response = await site.push(content, **bearer())
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert await site.bench.measurement_rows() == 0


async def test_push_without_configured_secrets_is_refused(engine, clock):
    """Refuse every push (401) when neither a token nor an HMAC secret is configured."""
    async for running in _site(build_bench(engine, clock), Secrets()):
        await running.bench.deploy()
        response = await running.push(body(alert()), **bearer())
        assert response.status_code == 401
        assert "not configured" in response.json()["error"]
        assert await running.bench.measurement_rows() == 0


async def test_push_for_a_service_without_a_window_is_reported_ignored(site: Site):
    """List an alert whose service has no open window as ignored, with the reason."""
    await site.bench.deploy(service="gw")
    response = await site.push(body(alert(service="api"), alert(service="")), **bearer())
    assert response.status_code == 200
    ignored = response.json()["ignored"]
    assert "no open monitoring window for service 'api'" in ignored[0]
    assert "no `service` label" in ignored[1]
    assert await site.bench.measurement_rows() == 0


async def test_healthz_reports_the_database(site: Site):
    """Answer 200 with the open-window count from the database."""
    await site.bench.deploy()
    response = await site.client.get(f"{site.server.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "open_windows": 1}


async def test_healthz_is_503_when_the_database_fails(tmp_path: Path, clock):
    """Answer 503 with the reason when the database cannot be read."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")  # never migrated
    try:
        uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
        service = MonitoringService(
            uow, clock, AccessPolicy(), default_config(), ScriptedProbes(Script())
        )
        app = make_web_app(
            service,
            MonitoringMetrics(),
            default_settings(),
            Secrets(alertmanager_token=SecretStr(TOKEN)),
        )
        server = WebServer(app, "127.0.0.1", 0)
        await server.start()
        try:
            async with httpx.AsyncClient() as client:
                response = await client.get(f"{server.url}/healthz")
        finally:
            await server.stop()
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert "no such table" in response.json()["database"]


async def test_metrics_count_polls_verdicts_and_alerts(engine, clock):
    """Serve the Prometheus text format with polls, verdicts and probe latency counted."""
    metrics = MonitoringMetrics()
    bench = build_bench(engine, clock, metrics=metrics)
    await bench.deploy()
    await bench.run_until(NOW + minutes(10))
    metrics.record_alert("met")
    metrics.observe_interaction("alert-ack", 0.2)
    app = make_web_app(bench.monitoring, metrics, default_settings(), Secrets())
    server = WebServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"{server.url}/metrics")
    finally:
        await server.stop()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "releasebot_polls_total 2.0" in text
    assert 'releasebot_verdicts_total{condition="error_rate",verdict="pass"} 2.0' in text
    assert 'releasebot_probe_latency_seconds_count{condition="availability"} 2.0' in text
    assert 'releasebot_alerts_sent_total{kind="met"} 1.0' in text
    assert 'releasebot_interaction_latency_seconds_count{kind="alert-ack"} 1.0' in text

"""PagerDuty v3 webhooks in, against the real aiohttp server on loopback and the real store.

PagerDuty itself cannot run here: its deliveries are faked by signing bodies shaped like its
v3 webhook documentation (event.event_type, event.agent, event.data.incident_key) with the
subscription secret and POSTing them over loopback HTTP, as PagerDuty would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.app.bootstrap import create_bot
from bot.config import Secrets
from bot.core.actors import Source
from bot.incidents.domain.model import IncidentStatus
from bot.incidents.paging.pagerduty import dedup_key
from bot.incidents.paging.pagerduty_webhook import PATH, PagerDutyWebhook, parse_event, sign
from bot.incidents.service.pagerduty_sync import PagerDutySync
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.web import WebServer, make_web_app
from tests.incidents.service.harness import PRIMARY, TECH, World, make_settings, met, start_release
from tests.support.world import make_settings as bot_settings

SECRET = "pd-subscription-secret"
MIN = timedelta(minutes=1)


class NoWindows:
    """The monitoring part the web server reads; monitoring is not under test here."""

    async def open_window_count(self) -> int:
        """Return no open windows."""
        return 0

    async def receive_alertmanager(self, payload: object) -> object:
        """Not used here."""
        raise NotImplementedError


def pd_body(event_type: str, incident_key: str | None, **data: Any) -> bytes:
    """Return a v3 webhook body as PagerDuty sends it (one event object)."""
    incident: dict[str, Any] = {"id": "Q0RIJJZL24RC6W", "type": "incident", "status": "x"}
    if incident_key is not None:
        incident["incident_key"] = incident_key
    return json.dumps(
        {
            "event": {
                "id": "01DEN7QOQXDUMQOCQVHXV6GBD9",
                "event_type": event_type,
                "resource_type": "incident",
                "occurred_at": "2026-03-02T10:05:00Z",
                "agent": {"id": "PLH1HKV", "summary": "Tenex Engineer", "type": "user_reference"},
                "data": {**incident, **data},
            }
        }
    ).encode()


@pytest.fixture
async def world(engine, clock) -> World:
    """Return the incident world (on-call 100, Tech Lead 300 at +15 min)."""
    return World(engine, clock, make_settings())


@pytest.fixture
async def server(world: World) -> AsyncIterator[WebServer]:
    """Run the bot's web app on loopback with the PagerDuty route mounted as the app does."""
    settings = make_settings()
    app = make_web_app(NoWindows(), MonitoringMetrics(), settings, Secrets())  # type: ignore[arg-type]
    web = WebServer(app, "127.0.0.1", 0)
    web.add_post(PATH, PagerDutyWebhook(SECRET, PagerDutySync(world.incidents).apply).handle)
    await web.start()
    try:
        yield web
    finally:
        await web.stop()


async def deliver(server: WebServer, body: bytes, signature: str | None) -> httpx.Response:
    """POST one webhook delivery to the running server."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    async with httpx.AsyncClient() as client:
        return await client.post(server.url + PATH, content=body, headers=headers)


async def open_incident(world: World, service) -> tuple[int, str]:
    """Open an incident (paging the on-call) and return its id and PagerDuty dedup key."""
    release_id = await start_release(service)
    async with world.uow() as uow:
        incident = await world.incidents.open_or_update(uow, met(release_id, world.clock.now()))
        await uow.commit()
    await world.pump()
    assert incident.id is not None and world.pages_to(PRIMARY)
    return incident.id, dedup_key(release_id, incident.id)


async def test_signed_acknowledged_stops_the_escalation(world, server, service):
    """Ack in PagerDuty at +5 min: incident acked, audited as pagerduty, no Tech Lead at +15."""
    incident_id, key = await open_incident(world, service)
    world.clock.advance(5 * MIN)
    body = pd_body("incident.acknowledged", key)
    response = await deliver(server, body, sign("old-secret", body) + "," + sign(SECRET, body))
    assert response.status_code == 200 and response.json()["status"] == "applied"
    incident, timeline = await world.incidents.status(incident_id)
    assert incident.status is IncidentStatus.ACKNOWLEDGED and incident.acked_by == "pagerduty"
    [ack] = [e for e in timeline if e.action == "incident_ack"]
    assert (ack.source, ack.actor_name) == (Source.PAGERDUTY, "PagerDuty (Tenex Engineer)")
    world.clock.advance(11 * MIN)
    await world.pump()
    assert world.pages_to(TECH) == []


async def test_bad_signature_is_401_and_changes_nothing(world, server, service):
    """Refuse a wrong or missing signature (401); the Tech Lead is still paged at +15."""
    incident_id, key = await open_incident(world, service)
    body = pd_body("incident.acknowledged", key)
    wrong = await deliver(server, body, sign("not-the-secret", body))
    missing = await deliver(server, body, None)
    tampered = await deliver(server, body.replace(b"Tenex", b"Mallory"), sign(SECRET, body))
    assert [r.status_code for r in (wrong, missing, tampered)] == [401, 401, 401]
    incident, timeline = await world.incidents.status(incident_id)
    assert incident.status is IncidentStatus.TRIGGERED
    assert not [e for e in timeline if e.source == Source.PAGERDUTY]
    world.clock.advance(15 * MIN)
    await world.pump()
    assert [p["step"] for p in world.pages_to(TECH)] == [1]


async def test_signed_resolved_resolves_with_pagerduty_as_the_source(world, server, service):
    """Resolve in PagerDuty: the incident is resolved here, noting who resolved it there."""
    incident_id, key = await open_incident(world, service)
    body = pd_body("incident.resolved", key)
    response = await deliver(server, body, sign(SECRET, body))
    assert response.json() == {"status": "applied", "detail": f"incident #{incident_id} resolved"}
    incident, timeline = await world.incidents.status(incident_id)
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolution_note == "resolved in PagerDuty by Tenex Engineer"
    assert [e.source for e in timeline if e.action == "incident_resolve"] == [Source.PAGERDUTY]
    again = await deliver(server, body, sign(SECRET, body))  # PagerDuty retries: no change
    assert again.status_code == 200 and again.json()["status"] == "ignored"


@pytest.mark.parametrize(
    ("body", "status", "outcome"),
    [
        (pd_body("incident.annotated", "releasebot-1-1"), 200, "ignored"),
        (pd_body("incident.acknowledged", "someone-elses-key"), 200, "ignored"),
        (pd_body("incident.acknowledged", None), 200, "ignored"),
        (pd_body("incident.acknowledged", "releasebot-1-999"), 200, "ignored"),
        (b"{not json", 400, "rejected"),
        (b'{"event": {"data": {}}}', 400, "rejected"),
        (b"[]", 400, "rejected"),
    ],
)
async def test_unknown_types_and_incidents_are_ignored_and_malformed_is_400(
    world,
    server,
    service,
    body,
    status,
    outcome,
):
    """Answer 200 "ignored" for what we do not act on, 400 for a body that is not a webhook."""
    incident_id, _ = await open_incident(world, service)
    response = await deliver(server, body, sign(SECRET, body))
    assert (response.status_code, response.json()["status"]) == (status, outcome)
    assert (await world.incidents.get(incident_id)).status is IncidentStatus.TRIGGERED


async def test_no_secret_configured_refuses_every_delivery(world, service):
    """Never run open: without RELEASEBOT_PAGERDUTY_WEBHOOK_SECRET every delivery is 401."""
    app = make_web_app(NoWindows(), MonitoringMetrics(), make_settings(), Secrets())  # type: ignore[arg-type]
    web = WebServer(app, "127.0.0.1", 0)
    web.add_post(PATH, PagerDutyWebhook(None, PagerDutySync(world.incidents).apply).handle)
    await web.start()
    try:
        body = pd_body("incident.acknowledged", "releasebot-1-1")
        response = await deliver(web, body, sign("", body))
    finally:
        await web.stop()
    assert response.status_code == 401 and "no PagerDuty webhook secret" in response.text


def test_parse_event_reads_the_documented_v3_fields():
    """Read event_type, the agent and data.incident_key; map our dedup key to the incident."""
    event = parse_event(pd_body("incident.acknowledged", "releasebot-7-42"))
    assert (event.event_type, event.agent_name, event.pd_incident) == (
        "incident.acknowledged", "Tenex Engineer", "Q0RIJJZL24RC6W")  # fmt: skip
    assert event.incident_id == 42
    assert parse_event(pd_body("incident.resolved", "releasebot-none-5")).incident_id == 5


def test_create_bot_mounts_the_route_on_the_web_server(tmp_path):
    """Serve POST /webhooks/pagerduty on the same web server as /alertmanager."""
    bot = create_bot(bot_settings(tmp_path / "releasebot.db"))
    web = bot.handle(WebServer)
    routes = {(r.method, r.resource.canonical) for r in web._app.router.routes() if r.resource}
    assert {("POST", PATH), ("POST", "/alertmanager")} <= routes

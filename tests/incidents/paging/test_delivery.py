"""Incident pages through PagerDuty and the webhook: real outbox, real adapters, loopback HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from bot.core.actors import Source
from bot.incidents.paging.pagerduty import PagerDutyClient
from bot.incidents.paging.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, WebhookClient, verify
from bot.releases.service import ReleaseService
from tests.incidents.service.harness import PRIMARY, TECH_LEAD, World, make_settings, met
from tests.support.loopback import Answer, LoopbackReceiver
from tests.support.store import engine, service

__all__ = ["engine", "service"]

ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
SECRET = "whsec-test"


def paging_world(
    engine: object, clock: object, receiver: LoopbackReceiver, http: httpx.AsyncClient
) -> World:
    """Return a world whose first step also pages PagerDuty and the webhook (loopback)."""
    settings = make_settings(
        {
            "oncall": {"primary": "omar"},
            "paging": {
                "pagerduty": {"enabled": True, "url": receiver.url("/v2/enqueue")},
                "webhook": {"enabled": True, "url": receiver.url("/hook")},
            },
            "escalation": {
                "steps": [
                    {"target": "oncall", "after": "0m", "pagerduty": True, "webhook": True},
                    {"target": "tech_lead", "after": "15m"},
                ]
            },
        },
        RELEASEBOT_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        RELEASEBOT_WEBHOOK_SECRET=SECRET,
    )
    world = World(engine, clock, settings)
    routing = settings.secrets.pagerduty_routing_key
    secret = settings.secrets.webhook_secret
    assert routing is not None and secret is not None
    pagerduty = PagerDutyClient(http, routing.get_secret_value(), settings.paging.pagerduty.url)
    world.background.add_sender("pagerduty", pagerduty)
    assert settings.paging.webhook.url is not None
    world.background.add_sender(
        "webhook", WebhookClient(http, settings.paging.webhook.url, secret.get_secret_value())
    )
    return world


async def _open(world: World, service: ReleaseService) -> tuple[int, int]:
    release = await service.start(TECH_LEAD, service="gw", version="v1.2.3")
    assert release.id is not None
    async with world.uow() as uow:
        incident = await world.incidents.open_or_update(uow, met(release.id, world.clock.now()))
        await uow.commit()
    assert incident.id is not None
    return release.id, incident.id


@pytest.fixture
def world(engine, clock, receiver, http) -> World:
    """Return the paging world."""
    return paging_world(engine, clock, receiver, http)


async def test_page_reaches_pagerduty_and_webhook_with_correct_fields(world, service, receiver):
    """Send a PagerDuty trigger and a signed webhook with the incident's fields and dedup_key."""
    release_id, incident_id = await _open(world, service)
    await world.pump()
    [pd] = receiver.at("/v2/enqueue")
    event = pd.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == f"releasebot-{release_id}-{incident_id}"
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["source"] == "gw"
    assert event["payload"]["summary"].startswith("[P1] Error rate 0.034")
    assert event["payload"]["custom_details"]["release_version"] == "v1.2.3"
    [hook] = receiver.at("/hook")
    assert verify(SECRET, hook.body, hook.headers[SIGNATURE_HEADER])
    assert hook.headers[IDEMPOTENCY_HEADER].startswith(f"incident:{incident_id}:")
    body = hook.json()
    assert body["event"] == "incident.triggered"
    assert body["incident"]["id"] == incident_id and body["incident"]["severity"] == "P1"
    assert body["release"]["name"] == "gw v1.2.3"
    assert body["step"]["recipients"] == [PRIMARY]
    assert [s["target"] for s in body["step"]["schedule"]] == ["oncall", "tech_lead"]


async def test_ack_and_resolve_follow_the_same_dedup_key(world, service, receiver):
    """Acknowledge and resolve the PagerDuty incident under the trigger's dedup_key."""
    _, incident_id = await _open(world, service)
    await world.pump()
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.BUTTON)
    await world.incidents.resolve(incident_id, TECH_LEAD, "config reverted", Source.MODAL)
    await world.pump()
    events = [r.json() for r in receiver.at("/v2/enqueue")]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert len({e["dedup_key"] for e in events}) == 1
    hooks = [r.json()["event"] for r in receiver.at("/hook")]
    assert hooks == ["incident.triggered", "incident.acknowledged", "incident.resolved"]


async def test_a_500_is_retried_and_the_page_delivered_exactly_once(world, service, receiver):
    """Retry PagerDuty and the webhook after a 500; each page arrives once, with one key."""
    receiver.script("/v2/enqueue", Answer(500, "upstream down"))
    receiver.script("/hook", Answer(503, "busy"))
    await _open(world, service)
    await world.pump()
    assert len(receiver.at("/v2/enqueue")) == 1 and len(receiver.at("/hook")) == 1
    world.clock.advance(timedelta(seconds=5))  # past the first backoff (at most 2 s)
    await world.pump()
    world.clock.advance(timedelta(minutes=10))
    await world.pump()
    pd = receiver.at("/v2/enqueue")
    hooks = receiver.at("/hook")
    assert len(pd) == 2 and len(hooks) == 2
    assert pd[0].body == pd[1].body
    assert hooks[0].headers[IDEMPOTENCY_HEADER] == hooks[1].headers[IDEMPOTENCY_HEADER]
    rows = await world.outbox.messages(kind="pagerduty")
    assert [(m.status, m.attempts) for m, _ in rows] == [("delivered", 2)]


async def test_an_ack_waits_for_its_trigger_still_being_retried(world, service, receiver):
    """Never send PagerDuty the acknowledge before the trigger that is waiting for a retry."""
    receiver.script("/v2/enqueue", Answer(500, "upstream down"))
    _, incident_id = await _open(world, service)
    await world.pump()
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.BUTTON)
    await world.pump()
    assert [r.json()["event_action"] for r in receiver.at("/v2/enqueue")] == ["trigger"]
    world.clock.advance(timedelta(seconds=5))
    await world.pump()
    await world.pump()
    actions = [r.json()["event_action"] for r in receiver.at("/v2/enqueue")]
    assert actions == ["trigger", "trigger", "acknowledge"]

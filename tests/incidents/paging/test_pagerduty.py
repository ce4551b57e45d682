"""PagerDuty Events API v2 client against a real loopback HTTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.core.roles import Severity
from bot.incidents.domain.escalation import SEED_POLICY
from bot.incidents.domain.lifecycle import Incident, open_incident
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE
from bot.incidents.paging.pagerduty import PagerDutyClient, dedup_key, status_event, trigger_event
from bot.runtime.outbox import DeliveryFailed
from tests.support.loopback import Answer, LoopbackReceiver

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"


def stored_incident(severity: Severity = Severity.P1, title: str = "Error rate 3%") -> Incident:
    """Return an opened incident as the store would hand it back (id 42, release 7)."""
    incident, _ = open_incident(
        7, "error_rate", severity, title, 0.031, T0, SEED_POLICY, DEFAULT_SLA_TABLE,
        "probe", "releasebot", Roster(primary="100"),
    )  # fmt: skip
    return replace(incident, id=42)


def client_for(http: httpx.AsyncClient, receiver: LoopbackReceiver) -> PagerDutyClient:
    """Return a PagerDuty client pointed at the loopback receiver."""
    return PagerDutyClient(http, ROUTING_KEY, receiver.url("/v2/enqueue"))


async def test_trigger_sends_the_documented_fields(
    http: httpx.AsyncClient, receiver: LoopbackReceiver
) -> None:
    """Send routing key, dedup_key, severity, summary, timestamp and custom details."""
    receiver.script(
        "/v2/enqueue",
        Answer(202, {"status": "success", "message": "Event processed",
                     "dedup_key": "releasebot-7-42"}),
    )  # fmt: skip
    key = await client_for(http, receiver).trigger(
        stored_incident(),
        source="nexis-gateway",
        release_version="v1.4.0",
        threshold=0.01,
        query="sum(rate(http_errors[5m]))",
        links=[("https://grafana.example/d/1", "Dashboard")],
    )
    assert key == "releasebot-7-42"
    [request] = receiver.received
    assert request.headers["Content-Type"] == "application/json"
    event = request.json()
    assert event["routing_key"] == ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == "releasebot-7-42"
    assert event["links"] == [{"href": "https://grafana.example/d/1", "text": "Dashboard"}]
    payload = event["payload"]
    assert payload["summary"] == "[P1] Error rate 3% in v1.4.0"
    assert payload["severity"] == "error"
    assert payload["source"] == "nexis-gateway"
    assert payload["timestamp"] == "2026-01-05T09:00:00+00:00"
    assert (payload["component"], payload["group"]) == ("error_rate", "release-v1.4.0")
    assert payload["custom_details"] == {
        "incident_id": 42,
        "condition": "error_rate",
        "value": 0.031,
        "threshold": 0.01,
        "query": "sum(rate(http_errors[5m]))",
        "release_version": "v1.4.0",
        "trigger_count": 1,
    }


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.P0, "critical"),
        (Severity.P1, "error"),
        (Severity.P2, "warning"),
        (Severity.P3, "info"),
    ],
)
def test_severity_mapping(severity: Severity, expected: str) -> None:
    """Map P0..P3 to PagerDuty's critical/error/warning/info."""
    event = trigger_event(stored_incident(severity), source="svc")
    assert event["payload"]["severity"] == expected


def test_summary_is_clipped_to_1024_chars() -> None:
    """Clip a long title so the summary stays within PagerDuty's 1024 characters."""
    event = trigger_event(stored_incident(title="x" * 5000), source="svc")
    summary = event["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")


def test_dedup_key_rules() -> None:
    """Build releasebot-<release>-<incident>; refuse an unstored incident."""
    assert dedup_key(7, 42) == "releasebot-7-42"
    assert dedup_key(None, 42) == "releasebot-none-42"
    with pytest.raises(ValueError, match="needs a stored incident"):
        dedup_key(7, None)


async def test_acknowledge_and_resolve_use_the_same_dedup_key(
    http: httpx.AsyncClient, receiver: LoopbackReceiver
) -> None:
    """Send acknowledge then resolve events carrying the trigger's dedup_key."""
    pd = client_for(http, receiver)
    await pd.acknowledge(stored_incident())
    await pd.resolve(stored_incident())
    sent = [(r.json()["event_action"], r.json()["dedup_key"]) for r in receiver.received]
    assert sent == [("acknowledge", "releasebot-7-42"), ("resolve", "releasebot-7-42")]
    with pytest.raises(ValueError, match="acknowledge or resolve"):
        status_event("trigger", stored_incident())


async def test_400_is_not_retryable_and_shows_pagerduty_errors(
    http: httpx.AsyncClient, receiver: LoopbackReceiver
) -> None:
    """Raise a non-retryable DeliveryFailed carrying PagerDuty's error body on 400."""
    receiver.script(
        "/v2/enqueue",
        Answer(400, {"status": "invalid event", "message": "Event object is invalid",
                     "errors": ["'routing_key' is invalid"]}),
    )  # fmt: skip
    with pytest.raises(DeliveryFailed) as failed:
        await client_for(http, receiver).trigger(stored_incident(), source="svc")
    assert failed.value.retryable is False
    assert "HTTP 400" in failed.value.reason
    assert "'routing_key' is invalid" in failed.value.reason


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_429_and_5xx_are_retryable(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, status: int
) -> None:
    """Raise a retryable DeliveryFailed on throttling and server errors."""
    receiver.script("/v2/enqueue", Answer(status, "busy", {"Retry-After": "7"}))
    with pytest.raises(DeliveryFailed) as failed:
        await client_for(http, receiver).trigger(stored_incident(), source="svc")
    assert failed.value.retryable is True
    assert failed.value.retry_after == timedelta(seconds=7)
    assert f"HTTP {status}" in failed.value.reason


async def test_connection_refused_is_retryable(http: httpx.AsyncClient) -> None:
    """Treat a refused connection as retryable."""
    receiver = LoopbackReceiver()
    await receiver.start()
    url = receiver.url("/v2/enqueue")
    await receiver.stop()  # nothing listens on that port any more
    with pytest.raises(DeliveryFailed) as failed:
        await PagerDutyClient(http, ROUTING_KEY, url).trigger(stored_incident(), source="svc")
    assert failed.value.retryable is True
    assert "ConnectError" in failed.value.reason


def test_routing_key_is_required_and_never_shown(http: httpx.AsyncClient) -> None:
    """Refuse an empty routing key; keep the key out of repr()."""
    with pytest.raises(ValueError, match="routing_key must not be empty"):
        PagerDutyClient(http, " ")
    assert ROUTING_KEY not in repr(PagerDutyClient(http, ROUTING_KEY))

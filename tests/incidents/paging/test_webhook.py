"""Generic webhook client against a real loopback HTTP server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest

from bot.core.roles import Severity
from bot.incidents.domain.escalation import SEED_POLICY
from bot.incidents.domain.lifecycle import Page, open_incident
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE
from bot.incidents.paging.webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    WebhookClient,
    sign,
    verify,
    webhook_body,
)
from bot.runtime.outbox import DeliveryFailed
from tests.support.loopback import Answer, LoopbackReceiver

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
INCIDENT, EFFECTS = open_incident(
    7, "error_rate", Severity.P0, "Checkout errors", 0.12, T0, SEED_POLICY, DEFAULT_SLA_TABLE,
    "probe", "releasebot", Roster(primary="100"),
)  # fmt: skip
STORED = replace(INCIDENT, id=42)
FIRST_PAGE = next(e for e in EFFECTS if isinstance(e, Page))


def body() -> dict[str, object]:
    """Return the webhook body for the first page of the stored incident."""
    return webhook_body(
        "incident.triggered", STORED, sent_at=T0, release={"version": "v1.4.0"}, step=FIRST_PAGE
    )


async def test_signed_post_carries_key_and_valid_signature(
    http: httpx.AsyncClient, receiver: LoopbackReceiver
) -> None:
    """Send the Idempotency-Key and an HMAC-SHA256 signature the receiver can verify."""
    hook = WebhookClient(http, receiver.url("/hook"), secret="s3cret")
    detail = await hook.post(body(), "incident-42-page-0")
    assert detail == "HTTP 202"
    [request] = receiver.received
    assert request.headers[IDEMPOTENCY_HEADER] == "incident-42-page-0"
    assert request.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert verify("s3cret", request.body, request.headers[SIGNATURE_HEADER])
    assert not verify("other", request.body, request.headers[SIGNATURE_HEADER])
    sent = request.json()
    assert sent["idempotency_key"] == "incident-42-page-0"  # signed, so not replaceable
    assert sent["event"] == "incident.triggered"
    assert sent["incident"]["id"] == 42
    assert sent["incident"]["severity"] == "P0"
    assert sent["incident"]["response_due"] == "2026-01-05T09:15:00+00:00"
    assert sent["release"] == {"version": "v1.4.0"}
    assert sent["step"]["target"] == "oncall"
    assert sent["step"]["recipients"] == ["100"]
    assert sent["step"]["schedule"][1] == {"target": "tech_lead", "at": "2026-01-05T09:15:00+00:00"}


async def test_unsigned_post_has_no_signature(
    http: httpx.AsyncClient, receiver: LoopbackReceiver
) -> None:
    """Leave the signature header out when no secret is configured."""
    await WebhookClient(http, receiver.url("/hook")).post(body(), "k1")
    assert SIGNATURE_HEADER not in receiver.received[0].headers


def test_tampered_body_fails_verification() -> None:
    """Reject a body changed after signing."""
    raw = b'{"event":"incident.triggered"}'
    assert not verify("s3cret", raw.replace(b"triggered", b"resolved"), sign("s3cret", raw))


@pytest.mark.parametrize(("status", "retryable"), [(404, False), (422, False), (503, True)])
async def test_error_mapping(
    http: httpx.AsyncClient, receiver: LoopbackReceiver, status: int, retryable: bool
) -> None:
    """Map 4xx to a permanent failure and 5xx to a retryable one, with the body shown."""
    receiver.script("/hook", Answer(status, "receiver says no"))
    with pytest.raises(DeliveryFailed) as failed:
        await WebhookClient(http, receiver.url("/hook")).post(body(), "k1")
    assert failed.value.retryable is retryable
    assert "receiver says no" in failed.value.reason


def test_bad_configuration_is_rejected(http: httpx.AsyncClient) -> None:
    """Refuse a non-HTTP url, an empty secret and an unknown event name."""
    with pytest.raises(ValueError, match="must start with http"):
        WebhookClient(http, "ftp://example")
    with pytest.raises(ValueError, match="secret must not be empty"):
        WebhookClient(http, "https://example", secret="")
    with pytest.raises(ValueError, match=r"unknown webhook event 'incident\.exploded'"):
        webhook_body("incident.exploded", STORED, sent_at=T0)

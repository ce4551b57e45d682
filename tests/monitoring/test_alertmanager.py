"""Alertmanager webhook: v4 parsing with field-naming rejections, and bearer/HMAC auth."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.monitoring.alertmanager import (
    WebhookRejected,
    authenticate,
    normalize_condition,
    parse_alertmanager_webhook,
    parse_annotation_value,
)

TOKEN = "s3cret-token"
SECRET = "hmac-secret"


def alert(**overrides: Any) -> dict[str, Any]:
    """Return one firing alert as Alertmanager sends it."""
    body: dict[str, Any] = {
        "status": "firing",
        "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "page"},
        "annotations": {"summary": "5xx above 1%", "value": "0.052"},
        "startsAt": "2026-01-05T09:04:12.345678901Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=...",
        "fingerprint": "c2a1f0e4b5d6a7f8",
    }
    body.update(overrides)
    return body


def webhook(**overrides: Any) -> dict[str, Any]:
    """Return a version-4 webhook body."""
    body: dict[str, Any] = {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "releasebot",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "service": "checkout"},
        "commonAnnotations": {"summary": "5xx above 1%"},
        "externalURL": "http://alertmanager.example",
        "alerts": [alert()],
    }
    body.update(overrides)
    return body


def encode(body: object) -> bytes:
    """Return `body` as JSON bytes."""
    return json.dumps(body).encode()


def test_valid_v4_body_maps_to_signals() -> None:
    """Parse a valid body and map its alert to service, condition, status, value, fingerprint."""
    resolved = alert(
        status="resolved",
        labels={"releasebot_condition": "p95 latency", "service": "web"},
        annotations={"value": "12.5%"},
        endsAt="2026-01-05T09:30:00+01:00",
        fingerprint="ff",
    )
    payload = parse_alertmanager_webhook(encode(webhook(alerts=[alert(), resolved])))
    assert payload.group_key == '{}:{alertname="HighErrorRate"}'
    assert payload.receiver == "releasebot"
    first, second = payload.signals
    assert first.service == "checkout"
    assert first.condition == "high_error_rate"
    assert first.status == "firing"
    assert first.value == 0.052
    assert first.fingerprint == "c2a1f0e4b5d6a7f8"
    assert first.starts_at == datetime(2026, 1, 5, 9, 4, 12, 345678, tzinfo=UTC)
    assert payload.alerts[0].ends_at is None
    assert (second.condition, second.status, second.value) == ("p95_latency", "resolved", 0.125)
    assert payload.alerts[1].ends_at == datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not UTF-8 JSON"),
        (b"\xff\xfe", "body is not UTF-8 JSON"),
        (encode([1, 2]), "expected a JSON object, got list"),
        (encode(webhook(version="3")), "version: expected \"4\", got '3'"),
        (encode({k: v for k, v in webhook().items() if k != "version"}), "version: missing"),
        (encode({k: v for k, v in webhook().items() if k != "alerts"}), "alerts: missing"),
        (encode(webhook(alerts={})), "alerts: expected a list, got dict"),
        (encode(webhook(status="pending")), 'status: expected "firing" or "resolved"'),
        (encode(webhook(groupKey=5)), "groupKey: expected a string, got int"),
        (encode(webhook(alerts=["x"])), "alerts[0]: expected an object, got str"),
        (encode(webhook(alerts=[alert(fingerprint="")])), "alerts[0].fingerprint: empty"),
        (encode(webhook(alerts=[alert(startsAt="yesterday")])), "alerts[0].startsAt: not an RFC"),
        (encode(webhook(alerts=[alert(labels={"a": 1})])), "alerts[0].labels.a: expected a str"),
        (
            encode(webhook(alerts=[alert(labels={"service": "x"})])),
            "alerts[0].labels: needs a non-empty releasebot_condition or alertname",
        ),
    ],
)
def test_bad_bodies_are_rejected_naming_the_field(body: bytes, reason: str) -> None:
    """Reject malformed bodies with 400 and a reason naming the bad field."""
    with pytest.raises(WebhookRejected) as caught:
        parse_alertmanager_webhook(body)
    assert caught.value.status == 400
    assert reason in caught.value.reason


def test_oversized_body_is_413() -> None:
    """Refuse a body over the size limit before parsing it."""
    with pytest.raises(WebhookRejected) as caught:
        parse_alertmanager_webhook(b"{" + b" " * 100 + b"}", max_bytes=50)
    assert caught.value.status == 413


def sign(body: bytes, secret: str = SECRET) -> str:
    """Return the X-Releasebot-Signature value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


BODY = encode(webhook())


@pytest.mark.parametrize(
    ("headers", "token", "secret", "reason"),
    [
        ({"Authorization": f"Bearer {TOKEN}"}, TOKEN, None, None),
        ({"authorization": f"bearer {TOKEN}"}, TOKEN, None, None),
        ({"Authorization": "Bearer wrong"}, TOKEN, None, "bearer token does not match"),
        ({"Authorization": TOKEN}, TOKEN, None, "malformed Authorization header"),
        ({}, TOKEN, None, "missing credentials: expected Authorization: Bearer <token>"),
        ({"X-Releasebot-Signature": sign(BODY)}, None, SECRET, None),
        (
            {"x-releasebot-signature": sign(BODY).upper().replace("SHA256", "sha256")},
            None,
            SECRET,
            None,
        ),
        ({"X-Releasebot-Signature": sign(BODY, "other")}, None, SECRET, "does not match the body"),
        ({"X-Releasebot-Signature": sign(BODY + b" ")}, None, SECRET, "does not match the body"),
        ({"X-Releasebot-Signature": "md5=abc"}, None, SECRET, "malformed X-Releasebot-Signature"),
        ({"X-Releasebot-Signature": sign(BODY)}, TOKEN, SECRET, None),
        (
            {"Authorization": "Bearer wrong", "X-Releasebot-Signature": sign(BODY)},
            TOKEN,
            SECRET,
            "bearer token does not match",
        ),
        ({"Authorization": f"Bearer {TOKEN}"}, None, None, "webhook authentication not configured"),
    ],
)
def test_authentication_table(
    headers: dict[str, str], token: str | None, secret: str | None, reason: str | None
) -> None:
    """Accept a good bearer or HMAC; reject bad, malformed, missing or unconfigured with 401."""
    if reason is None:
        authenticate(headers, BODY, bearer_token=token, hmac_secret=secret)
        return
    with pytest.raises(WebhookRejected) as caught:
        authenticate(headers, BODY, bearer_token=token, hmac_secret=secret)
    assert caught.value.status == 401
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("HighErrorRate", "high_error_rate"),
        ("P95LatencyHigh", "p95_latency_high"),
        ("HTTPErrors", "http_errors"),
        ("error-rate 5xx", "error_rate_5xx"),
        ("already_snake", "already_snake"),
    ],
)
def test_condition_names_are_normalized(raw: str, normalized: str) -> None:
    """Normalize alert names to snake_case condition names."""
    assert normalize_condition(raw) == normalized


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.05", 0.05), (" 5% ", 0.05), ("1e-3", 0.001), ("high", None), (None, None), ("NaN", None)],
)
def test_annotation_values(text: str | None, value: float | None) -> None:
    """Read plain and percent numbers; anything else is no value."""
    assert parse_annotation_value(text) == value

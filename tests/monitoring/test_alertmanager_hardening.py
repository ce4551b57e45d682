"""Issue 12 reproducers against the webhook parser: each a 4xx with a reason, never a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.monitoring.alertmanager import (
    WebhookRejected,
    authenticate,
    authenticate_headers,
    normalize_condition,
    parse_alertmanager_webhook,
)
from tests.monitoring.test_alertmanager import alert, encode, webhook


def _refusal(body: bytes, **limits: int) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        parse_alertmanager_webhook(body, **limits)
    return caught.value


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"version": "4", "alerts": ' + b"[" * 990 + b"]" * 990 + b"}", "JSON"),
        (b'{"version": "4", "alerts": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper"),
        (b'{"version": "4", "alerts": [' + b"9" * 4_400 + b"]}", "not usable JSON"),
        (
            encode(webhook(alerts=[alert(startsAt="9999-12-31T23:59:59-05:00")])),
            "out of range",
        ),
        (
            json.dumps(
                webhook(alerts=[alert(labels={"alertname": "\ud800", "service": "x"})])
            ).encode(),
            "lone surrogate",
        ),
        (
            json.dumps(webhook(alerts=[alert(fingerprint="\ud800")])).encode(),
            "lone surrogate",
        ),
    ],
)
def test_hostile_bodies_are_400_with_a_reason(body: bytes, reason: str) -> None:
    """Deep nesting, huge integers, out-of-range times and lone surrogates are plain 400s."""
    refused = _refusal(body)
    assert refused.status == 400
    assert reason in refused.reason


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Über", "über"),
        ("错误率过高", "错误率过高"),
        ("HighErrorRate", "high_error_rate"),
        ("Fehler-Rate Über", "fehler_rate_über"),
    ],
)
def test_unicode_alertnames_keep_their_letters(raw: str, normalized: str) -> None:
    """Letters of every script stay in the condition name (no stripping of non-ASCII)."""
    assert normalize_condition(raw) == normalized


def test_emoji_alertname_maps_to_a_stable_name() -> None:
    """A name with no letters maps to the same digest name every time, different per name."""
    first = normalize_condition("🔥🔥")
    assert first.startswith("alert_")
    assert normalize_condition("🔥🔥") == first
    assert normalize_condition("🚨") != first


def test_one_unusable_alert_does_not_drop_the_others() -> None:
    """A group with a Chinese alertname, an emoji and a broken alert keeps the usable ones."""
    body = encode(
        webhook(
            alerts=[
                alert(labels={"alertname": "错误率过高", "service": "gw"}),
                alert(labels={"alertname": "🔥", "service": "gw"}, fingerprint="e1"),
                alert(startsAt="yesterday", fingerprint="bad"),
            ]
        )
    )
    payload = parse_alertmanager_webhook(body)
    assert payload.signals[0].condition == "错误率过高"
    assert len(payload.signals) == 2
    assert len(payload.rejected) == 1
    assert "alerts[2].startsAt" in payload.rejected[0]


def test_too_many_alerts_is_413_with_the_numbers() -> None:
    """More alerts than the limit is refused as a whole (413), naming both numbers."""
    body = encode(webhook(alerts=[alert(fingerprint=f"f{i}") for i in range(11)]))
    refused = _refusal(body, max_alerts=10)
    assert refused.status == 413
    assert "11 alerts" in refused.reason and "limit is 10" in refused.reason


def test_too_many_conditions_is_422_with_the_numbers() -> None:
    """3,000 distinct alertnames in one push are refused (422) before any row is made."""
    alerts: list[dict[str, Any]] = [
        alert(labels={"alertname": f"Cond{i}", "service": "gw"}, fingerprint=f"f{i}")
        for i in range(3_000)
    ]
    refused = _refusal(encode(webhook(alerts=alerts)), max_alerts=5_000)
    assert refused.status == 422
    assert "3000 distinct conditions" in refused.reason and "limit is 50" in refused.reason


def test_non_utf8_authorization_is_401_not_a_crash() -> None:
    """Bytes aiohttp decoded with surrogateescape compare as bytes: a 401, not an error."""
    header = b"Bearer \xff\xfe".decode("utf-8", "surrogateescape")
    with pytest.raises(WebhookRejected) as caught:
        authenticate_headers({"Authorization": header}, bearer_token="tok", hmac_secret=None)
    assert caught.value.status == 401


def test_headers_alone_refuse_a_missing_credential() -> None:
    """Without any credential header the refusal needs no body."""
    with pytest.raises(WebhookRejected) as caught:
        authenticate_headers({}, bearer_token="tok", hmac_secret="key")
    assert "missing credentials" in caught.value.reason
    authenticate_headers({"Authorization": "Bearer tok"}, bearer_token="tok", hmac_secret=None)
    authenticate({"Authorization": "Bearer tok"}, b"{}", bearer_token="tok", hmac_secret=None)

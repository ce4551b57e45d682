"""Generic webhook: POST incident events as JSON, signed with HMAC-SHA256 when a secret is set.

Receivers verify `X-Releasebot-Signature-256: sha256=<hex>` over the raw body and drop
repeats by the `Idempotency-Key` header (a retry carries the same key). Delivery is
at-least-once, so the key is also inside the signed body (`idempotency_key`): a receiver
that only keeps bodies can still drop a repeat, and the key cannot be swapped unsigned.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from bot.core.events import RolloutStarted
from bot.incidents.domain.lifecycle import Incident, Page, Repage
from bot.incidents.paging.http import post
from bot.runtime.outbox import OutboxMessage

SIGNATURE_HEADER = "X-Releasebot-Signature-256"
IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENTS = ("incident.triggered", "incident.escalated", "incident.acknowledged",
          "incident.retriggered", "incident.resolved")  # fmt: skip


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def incident_summary(incident: Incident) -> dict[str, Any]:
    """Return the incident fields a webhook receiver needs, JSON-ready."""
    return {
        "id": incident.id,
        "release_id": incident.release_id,
        "condition": incident.condition,
        "severity": incident.severity.value,
        "title": incident.title,
        "status": incident.status.value,
        "opened_at": _when(incident.opened_at),
        "trigger_count": incident.trigger_count,
        "latest_value": incident.latest_value,
        "acked_by": incident.acked_by,
        "resolved_by": incident.resolved_by,
        "resolved_at": _when(incident.resolved_at),
        "response_due": _when(incident.response_due),
        "resolution_due": _when(incident.resolution_due),
    }


def webhook_body(
    event: str,
    incident: Incident,
    *,
    sent_at: datetime,
    release: Mapping[str, Any] | None = None,
    step: Page | Repage | None = None,
) -> dict[str, Any]:
    """Return the JSON body for `event` ("incident.triggered", ...) about `incident`."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}: expected one of {', '.join(EVENTS)}")
    step_info: dict[str, Any] | None = None
    if isinstance(step, Page):
        step_info = {"index": step.step_index, "target": step.target,
                     "recipients": list(step.recipients)}  # fmt: skip
    elif isinstance(step, Repage):
        step_info = {"index": 0, "target": f"user:{step.acknowledger}",
                     "recipients": [step.acknowledger]}  # fmt: skip
    if step_info is not None and step is not None:
        step_info["schedule"] = [
            {"target": t, "at": when.isoformat()} for t, when in step.deadline_of_each_step
        ]
    return {
        "event": event,
        "sent_at": sent_at.isoformat(),
        "incident": incident_summary(incident),
        "release": dict(release) if release else None,
        "step": step_info,
    }


def change_body(event: RolloutStarted, *, sent_at: datetime) -> dict[str, Any]:
    """Return the webhook body of a production deploy or rollback ("change.deploy", ...)."""
    return {
        "event": f"change.{event.kind}",
        "sent_at": sent_at.isoformat(),
        "change": {
            "kind": event.kind,
            "summary": event.summary,
            "at": event.at.isoformat(),
            "operation_id": event.operation_id,
            "service": event.service,
            "environment": event.environment,
            "target": event.target,
            "requested_by": event.requested_by,
            "links": [{"href": href, "text": text} for href, text in event.links],
        },
        "release": {"id": event.release_id, "name": event.release_name},
    }


def sign(secret: str, body: bytes) -> str:
    """Return the signature header value for `body`: "sha256=<hex HMAC-SHA256>"."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """Return True if `header` is the right signature of `body` (constant-time compare)."""
    return hmac.compare_digest(sign(secret, body), header)


class WebhookClient:
    """POST webhook bodies; also a `Sender` for outbox messages of kind "webhook"."""

    def __init__(self, client: httpx.AsyncClient, url: str, secret: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {url!r}")
        if secret is not None and not secret:
            raise ValueError("webhook secret must not be empty (use None for unsigned)")
        self._client = client
        self._url = url
        self._secret = secret

    def __repr__(self) -> str:
        signed = "signed" if self._secret else "unsigned"
        return f"WebhookClient(url={self._url!r}, {signed})"

    async def post(self, body: Mapping[str, Any], idempotency_key: str) -> str | None:
        """POST `body` once; return the receiver's status line, or raise DeliveryFailed."""
        if not idempotency_key:
            raise ValueError("webhook idempotency_key must not be empty")
        # Serialize once: the signature must cover exactly the bytes that are sent.
        signed = {k: v for k, v in body.items() if not k.startswith("_")}
        signed["idempotency_key"] = idempotency_key
        raw = json.dumps(signed, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: idempotency_key}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, raw)
        response = await post(self._client, self._url, raw, headers, "webhook")
        return f"HTTP {response.status_code}"

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver an outbox message whose payload is a webhook body."""
        return await self.post(msg.payload, msg.idempotency_key)

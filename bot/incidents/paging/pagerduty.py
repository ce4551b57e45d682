"""PagerDuty Events API v2: trigger, acknowledge and resolve an incident by dedup_key.

Event bodies are built without the routing key and stored in the outbox as they are; the
client adds the key at send time so the secret never lands in the database. PagerDuty's
`dedup_key` is the idempotency key on this channel: a trigger sent twice (delivery is
at-least-once) is merged into the same PagerDuty incident, and a repeated acknowledge or
resolve changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from bot.core.events import RolloutStarted
from bot.core.roles import Severity
from bot.incidents.domain.lifecycle import Incident
from bot.incidents.paging.http import post
from bot.runtime.outbox import DeliveryFailed, OutboxMessage

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {
    Severity.P0: "critical",
    Severity.P1: "error",
    Severity.P2: "warning",
    Severity.P3: "info",
}
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024
ACTIONS = ("trigger", "acknowledge", "resolve")


def dedup_key(release_id: int | None, incident_id: int | None) -> str:
    """Return the key PagerDuty merges events on: releasebot-<release_id>-<incident_id>."""
    if incident_id is None:
        raise ValueError("PagerDuty dedup_key needs a stored incident (id is None)")
    release = "none" if release_id is None else str(release_id)
    key = f"releasebot-{release}-{incident_id}"
    if len(key) > MAX_DEDUP_KEY:
        raise ValueError(f"PagerDuty dedup_key is {len(key)} chars, the limit is {MAX_DEDUP_KEY}")
    return key


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trigger_event(
    incident: Incident,
    *,
    source: str,
    release_version: str | None = None,
    threshold: float | str | None = None,
    query: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Return a trigger event body (no routing key) for `incident`."""
    version = f" in {release_version}" if release_version else ""
    summary = f"[{incident.severity.value}] {incident.title}{version}"
    details: dict[str, Any] = {
        "incident_id": incident.id,
        "condition": incident.condition,
        "value": incident.latest_value,
        "threshold": threshold,
        "query": query,
        "release_version": release_version,
        "trigger_count": incident.trigger_count,
    }
    return {
        "event_action": "trigger",
        "dedup_key": dedup_key(incident.release_id, incident.id),
        "payload": {
            "summary": _clip(summary, MAX_SUMMARY),
            "source": source,
            "severity": SEVERITY[incident.severity],
            "timestamp": incident.opened_at.isoformat(),
            "component": incident.condition,
            "group": f"release-{release_version}" if release_version else "releasebot",
            "class": incident.condition,
            "custom_details": {k: v for k, v in details.items() if v is not None},
        },
        "links": [{"href": href, "text": text} for href, text in links],
    }


def status_event(action: str, incident: Incident) -> dict[str, Any]:
    """Return an acknowledge/resolve event body (no routing key) for `incident`."""
    if action not in ("acknowledge", "resolve"):
        raise ValueError(f"PagerDuty status action must be acknowledge or resolve, got {action!r}")
    return {"event_action": action, "dedup_key": dedup_key(incident.release_id, incident.id)}


def change_event(event: RolloutStarted, source: str | None = None) -> dict[str, Any]:
    """Return an Events API v2 change event body (no routing key) for a deploy or rollback."""
    return {
        "payload": {
            "summary": _clip(f"[releasebot] {event.release_name}: {event.summary}", MAX_SUMMARY),
            "source": source or event.service,
            "timestamp": event.at.isoformat(),
            "custom_details": {
                "kind": event.kind,
                "release_id": event.release_id,
                "release": event.release_name,
                "service": event.service,
                "environment": event.environment,
                "target": event.target,
                "requested_by": event.requested_by,
                "operation_id": event.operation_id,
            },
        },
        "links": [{"href": href, "text": text} for href, text in event.links],
    }


class PagerDutyChangeClient:
    """Send Events API v2 change events: a `Sender` for outbox messages "pagerduty.change"."""

    def __init__(self, client: httpx.AsyncClient, routing_key: str, url: str) -> None:
        if not routing_key or not routing_key.strip():
            raise ValueError("PagerDuty routing_key must not be empty")
        self._client = client
        self._routing_key = routing_key
        self._url = url

    def __repr__(self) -> str:
        return f"PagerDutyChangeClient(url={self._url!r}, routing_key=***)"

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver a change event body, adding the routing key."""
        body = json.dumps({**msg.payload, "routing_key": self._routing_key}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": msg.idempotency_key}
        response = await post(self._client, self._url, body, headers, "PagerDuty change events")
        return f"HTTP {response.status_code}"


class PagerDutyClient:
    """Send Events API v2 events; also a `Sender` for outbox messages of kind "pagerduty"."""

    def __init__(self, client: httpx.AsyncClient, routing_key: str, url: str = EVENTS_URL) -> None:
        if not routing_key or not routing_key.strip():
            raise ValueError("PagerDuty routing_key must not be empty")
        self._client = client
        self._routing_key = routing_key
        self._url = url

    def __repr__(self) -> str:
        return f"PagerDutyClient(url={self._url!r}, routing_key=***)"

    async def send_event(self, event: Mapping[str, Any], idempotency_key: str | None = None) -> str:
        """Send one event body, adding the routing key; return PagerDuty's dedup_key."""
        action = event.get("event_action")
        if action not in ACTIONS:
            raise DeliveryFailed(False, f"PagerDuty: unknown event_action {action!r}")
        # Keys starting with "_" are ours (e.g. who to fall back to), never PagerDuty's.
        public = {k: v for k, v in event.items() if not k.startswith("_")}
        body = json.dumps({**public, "routing_key": self._routing_key}).encode()
        headers = {"Content-Type": "application/json"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key  # ours; PagerDuty merges by dedup_key
        response = await post(self._client, self._url, body, headers, "PagerDuty")
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        key = answer.get("dedup_key") if isinstance(answer, dict) else None
        return str(key or event.get("dedup_key", ""))

    async def trigger(self, incident: Incident, *, source: str, **context: Any) -> str:
        """Trigger (or re-trigger, deduplicated) `incident`; return the dedup_key."""
        return await self.send_event(trigger_event(incident, source=source, **context))

    async def acknowledge(self, incident: Incident) -> str:
        """Acknowledge `incident` in PagerDuty."""
        return await self.send_event(status_event("acknowledge", incident))

    async def resolve(self, incident: Incident) -> str:
        """Resolve `incident` in PagerDuty."""
        return await self.send_event(status_event("resolve", incident))

    async def send(self, msg: OutboxMessage) -> str | None:
        """Deliver an outbox message whose payload is an event body."""
        return await self.send_event(msg.payload, msg.idempotency_key)

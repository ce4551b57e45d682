"""PagerDuty v3 webhooks in: an ack or resolve done in PagerDuty reaches the incident here.

PagerDuty signs the raw body: `X-PagerDuty-Signature: v1=<hex HMAC-SHA256>`, several
comma-separated `v1=` values while a secret is rotated; one match is enough. The body is
`{"event": {"event_type", "agent": {"id", "summary"}, "data": {"id", "incident_key", ...}}}`.
Our incident is found through `data.incident_key`, which for an Events API v2 trigger is
the `dedup_key` the bot sent (`releasebot-<release>-<incident>`).

Answers: 401 bad or missing signature (nothing read further); 400 malformed JSON; 200 for
everything authentic, including event types and incidents we do not know (PagerDuty
retries non-2xx answers, and a retry would not make them known).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-PagerDuty-Signature"
PATH = "/webhooks/pagerduty"
HANDLED = ("incident.acknowledged", "incident.resolved")
MAX_BODY_BYTES = 256 * 1024
_KEY = re.compile(r"releasebot-(?:none|\d+)-(\d+)")


@dataclass(frozen=True, slots=True)
class PagerDutyEvent:
    """One authentic v3 webhook event, reduced to what the bot acts on."""

    event_type: str
    event_id: str
    pd_incident: str
    incident_key: str | None
    agent_id: str
    agent_name: str

    @property
    def incident_id(self) -> int | None:
        """Return our incident id from the dedup key the bot sent, or None if not ours."""
        match = _KEY.fullmatch(self.incident_key or "")
        return int(match[1]) if match else None


class MalformedEvent(ValueError):
    """The body is not a PagerDuty v3 webhook; the message names what is wrong."""


def sign(secret: str, body: bytes) -> str:
    """Return one signature value for `body`: "v1=<hex HMAC-SHA256>"."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """Return True if one of the header's `v1=` values signs `body` (constant time)."""
    if not header:
        return False
    expected = sign(secret, body)
    offered = [part.strip() for part in header.split(",") if part.strip().startswith("v1=")]
    # Compare every value, not up to the first match: the time does not say which matched.
    return sum(hmac.compare_digest(expected, value) for value in offered) > 0


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def parse_event(body: bytes) -> PagerDutyEvent:
    """Return the event of a v3 webhook body; raise MalformedEvent naming the problem."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEvent(f"body is not JSON: {error}") from None
    event = document.get("event") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        raise MalformedEvent('body has no "event" object')
    event_type = _text(event, "event_type")
    if not event_type:
        raise MalformedEvent('"event.event_type" is missing')
    data, agent = _object(event, "data"), _object(event, "agent")
    return PagerDutyEvent(
        event_type=event_type,
        event_id=_text(event, "id"),
        pd_incident=_text(data, "id"),
        incident_key=_text(data, "incident_key") or None,
        agent_id=_text(agent, "id"),
        agent_name=_text(agent, "summary"),
    )


# Returns (outcome, detail): ("applied" or "ignored", what happened).
Apply = Callable[[PagerDutyEvent], Awaitable[tuple[str, str]]]


class PagerDutyWebhook:
    """The aiohttp handler: verify, parse, then hand acks and resolves to `apply`."""

    def __init__(self, secret: str | None, apply: Apply) -> None:
        # No secret configured: every delivery is refused (an open endpoint never a default).
        self._secret = secret or None
        self._apply = apply

    def __repr__(self) -> str:
        return "PagerDutyWebhook(secret=***)"

    async def handle(self, request: web.Request) -> web.Response:
        """Answer one delivery (see the module docstring for the status codes)."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(413, "rejected", f"body is larger than {MAX_BODY_BYTES} bytes")
        if self._secret is None:
            return _answer(401, "rejected", "no PagerDuty webhook secret is configured")
        if not verify(self._secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("PagerDuty webhook refused: bad or missing %s", SIGNATURE_HEADER)
            return _answer(401, "rejected", f"bad or missing {SIGNATURE_HEADER}")
        try:
            event = parse_event(body)
        except MalformedEvent as error:
            return _answer(400, "rejected", str(error))
        if event.event_type not in HANDLED:
            return _answer(200, "ignored", f"event type {event.event_type} is not acted on")
        outcome, detail = await self._apply(event)
        return _answer(200, outcome, detail)


def _answer(status: int, outcome: str, detail: str) -> web.Response:
    return web.json_response({"status": outcome, "detail": detail}, status=status)

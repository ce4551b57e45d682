"""One POST with the error mapping every paging adapter shares."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import httpx

from bot.runtime.outbox import DeliveryFailed

_BODY_PREVIEW = 500


def _retry_after(response: httpx.Response) -> timedelta | None:
    raw = response.headers.get("Retry-After", "")
    # Only the delta-seconds form; an HTTP-date falls back to our own backoff.
    return timedelta(seconds=int(raw)) if raw.strip().isdigit() else None


async def post(
    client: httpx.AsyncClient, url: str, body: bytes, headers: Mapping[str, str], what: str
) -> httpx.Response:
    """POST `body`; return a 2xx response or raise DeliveryFailed (429/5xx/network retryable)."""
    try:
        response = await client.post(url, content=body, headers=dict(headers))
    except httpx.TimeoutException as exc:
        raise DeliveryFailed(True, f"{what}: timed out ({type(exc).__name__})") from exc
    except httpx.TransportError as exc:
        raise DeliveryFailed(True, f"{what}: {type(exc).__name__}: {exc}") from exc
    if response.is_success:
        return response
    text = response.text[:_BODY_PREVIEW]
    reason = f"{what}: HTTP {response.status_code}: {text}"
    retryable = response.status_code in (408, 429) or response.status_code >= 500
    raise DeliveryFailed(
        retryable,
        reason,
        _retry_after(response) if retryable else None,
        throttled=response.status_code == 429,
    )

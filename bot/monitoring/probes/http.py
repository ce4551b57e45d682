"""HTTP health-check probe: 1.0 when the endpoint answers as expected, 0.0 when it does not.

A refused connection or a timeout is a BREACH, not blindness: for a health check the
endpoint not answering *is* the failure the release checklist names ("core functionality
unavailable"). Only a check that cannot even be attempted (a malformed URL) is ERROR.
The probe's own `timeout` should be shorter than the poll's per-probe guard, so a slow
endpoint is judged here (BREACH) rather than cut off by the guard (ERROR).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx

from bot.monitoring.domain import Measurement
from bot.monitoring.probes.base import ProbeBase, format_seconds, probe_failed

DEFAULT_HTTP_TIMEOUT = timedelta(seconds=5)
HEALTHY = 1.0
UNHEALTHY = 0.0


class HttpProbe(ProbeBase):
    """Check that a URL answers with the expected status (and body, when a pattern is given)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        expect_status: int = 200,
        body_match: str | re.Pattern[str] | None = None,
        timeout: timedelta = DEFAULT_HTTP_TIMEOUT,
        *,
        condition: str = "health_check",
        name: str | None = None,
    ) -> None:
        """Validate the URL, status and pattern up front so a bad config fails at set-up."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"HttpProbe url must be an http(s) URL, got {url!r}")
        if not 100 <= expect_status <= 599:
            raise ValueError(f"HttpProbe expect_status must be an HTTP status, got {expect_status}")
        if timeout <= timedelta(0):
            raise ValueError(f"HttpProbe timeout must be positive, got {timeout}")
        try:
            self._pattern = re.compile(body_match) if isinstance(body_match, str) else body_match
        except re.error as exc:
            raise ValueError(f"HttpProbe body_match is not a valid regex: {exc}") from exc
        check = f"GET {url} expect {expect_status}"
        if self._pattern is not None:
            check += f" and body ~ /{self._pattern.pattern}/"
        # 1.0 is healthy; anything below it breaches.
        super().__init__(
            name=name or f"http:{condition}",
            condition=condition,
            threshold=HEALTHY,
            op="<",
            query=check,
        )
        self._client = client
        self._url = url
        self._expect = expect_status
        self._timeout = timeout

    async def measure(self, now: datetime) -> Measurement:
        """Return 1.0 (pass) when healthy, 0.0 (breach) with the reason when not."""
        try:
            response = await self._client.get(self._url, timeout=self._timeout.total_seconds())
        except httpx.TimeoutException:
            return self._unhealthy(now, f"no answer within {format_seconds(self._timeout)}")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            return probe_failed(self, now, f"cannot check {self._url}: {exc}")
        except httpx.TransportError as exc:
            return self._unhealthy(now, f"unreachable ({type(exc).__name__}: {exc})")
        if response.status_code != self._expect:
            return self._unhealthy(now, f"HTTP {response.status_code}, expected {self._expect}")
        if self._pattern is not None and not self._pattern.search(response.text):
            return self._unhealthy(now, f"body does not match /{self._pattern.pattern}/")
        return self._result(HEALTHY, now, f"HTTP {response.status_code}")

    def _unhealthy(self, now: datetime, reason: str) -> Measurement:
        return self._result(UNHEALTHY, now, f"unavailable: {reason}")

    def _result(self, value: float, now: datetime, detail: str) -> Measurement:
        return Measurement.of(
            self._condition,
            now,
            value,
            threshold=HEALTHY,
            op="<",
            query=self.query,
            detail=detail,
        )

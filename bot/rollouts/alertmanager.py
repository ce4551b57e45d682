"""Deploy-time silences through Alertmanager's API v2 (httpx; the API is three calls).

No kept Python client for Alertmanager's v2 API exists (the packages under that name are
unrelated or unmaintained generated code), and the calls used are small: create a silence
(POST /api/v2/silences), expire it (DELETE /api/v2/silence/{id}), and list what still fires
(GET /api/v2/alerts). Every failure is an `AlertmanagerUnavailable` naming the call and the
answer, so a rollout can go on and say why its alerts were not silenced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

TIMEOUT = httpx.Timeout(5.0)


class AlertmanagerUnavailable(Exception):
    """An Alertmanager API call failed (unreachable, refused, or an unexpected answer)."""


@dataclass(frozen=True)
class SilenceRequest:
    """One silence: equality matchers, its time range, who asked and why."""

    matchers: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def body(self) -> dict[str, Any]:
        """Return the API v2 `postableSilence` body."""
        return {
            "matchers": [
                {"name": name, "value": value, "isRegex": False, "isEqual": True}
                for name, value in sorted(self.matchers.items())
            ],
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
            "createdBy": self.created_by,
            "comment": self.comment,
        }


def _filter(matchers: Mapping[str, str]) -> list[str]:
    return [f'{name}="{value}"' for name, value in sorted(matchers.items())]


class AlertmanagerSilences:
    """Create and expire silences and list firing alerts on one Alertmanager."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Alertmanager url must start with http:// or https://, got {url!r}")
        self._client = client
        self._url = url.rstrip("/")

    def __repr__(self) -> str:
        return f"AlertmanagerSilences(url={self._url!r})"

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(
                method, f"{self._url}{path}", timeout=TIMEOUT, **kwargs
            )
        except httpx.HTTPError as exc:
            raise AlertmanagerUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise AlertmanagerUnavailable(
                f"{method} {path}: HTTP {response.status_code} {response.text[:200]}"
            )
        return response

    async def create(self, silence: SilenceRequest) -> str:
        """Create `silence`; return its id."""
        response = await self._call("POST", "/api/v2/silences", json=silence.body())
        try:
            silence_id = response.json()["silenceID"]
        except (ValueError, KeyError, TypeError):
            raise AlertmanagerUnavailable(
                f"POST /api/v2/silences: no silenceID in {response.text[:200]!r}"
            ) from None
        return str(silence_id)

    async def expire(self, silence_id: str) -> None:
        """Expire silence `silence_id` (an already expired one is fine)."""
        try:
            await self._call("DELETE", f"/api/v2/silence/{silence_id}")
        except AlertmanagerUnavailable as exc:
            if "already expired" not in str(exc):
                raise

    async def firing(self, matchers: Mapping[str, str]) -> Sequence[Mapping[str, Any]]:
        """Return the active, unsilenced, uninhibited alerts matching `matchers`."""
        params: list[tuple[str, str | bool]] = [
            ("active", "true"),
            ("silenced", "false"),
            ("inhibited", "false"),
            *(("filter", item) for item in _filter(matchers)),
        ]
        response = await self._call("GET", "/api/v2/alerts", params=params)
        try:
            found = response.json()
        except ValueError:
            raise AlertmanagerUnavailable("GET /api/v2/alerts: the answer is not JSON") from None
        if not isinstance(found, list):
            raise AlertmanagerUnavailable("GET /api/v2/alerts: expected a list of alerts")
        return [alert for alert in found if isinstance(alert, dict)]

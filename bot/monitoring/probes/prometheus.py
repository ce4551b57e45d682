"""Prometheus instant-query probe: one PromQL query, one number, one verdict.

Several series: the probe takes the worst one for the comparison (the highest for `>`,
`>=`, `==`, `!=`; the lowest for `<`, `<=`) and says so in the detail, because a healthy
average hiding one bad pod is exactly what a release watch must not miss.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from bot.monitoring.domain import Measurement
from bot.monitoring.probes.base import ProbeBase, format_seconds, probe_failed

DEFAULT_QUERY_TIMEOUT = timedelta(seconds=30)
SERVICE_PLACEHOLDER = "$service"


def promql_string_escape(text: str) -> str:
    """Return `text` safe inside a double-quoted PromQL string literal."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_query(query: str, service: str | None) -> str:
    """Return `query` with `$service` replaced by the escaped service name."""
    if SERVICE_PLACEHOLDER not in query:
        return query
    if not service:
        raise ValueError(f"query uses {SERVICE_PLACEHOLDER} but no service was given: {query}")
    return query.replace(SERVICE_PLACEHOLDER, promql_string_escape(service))


def check_base_url(base_url: str) -> str:
    """Return `base_url` without a trailing slash, or raise ValueError when it is not http(s)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"Prometheus base_url must be an http(s) URL, got {base_url!r}")
    return base_url.rstrip("/")


class PrometheusProbe(ProbeBase):
    """Measure one condition with a Prometheus instant query."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        query: str,
        threshold: float,
        op: str,
        timeout: timedelta = DEFAULT_QUERY_TIMEOUT,
        *,
        condition: str,
        service: str | None = None,
        send_time: bool = False,
        name: str | None = None,
    ) -> None:
        """Prepare the query; `send_time` pins evaluation to the poll's `now` (else server now)."""
        if not condition:
            raise ValueError("PrometheusProbe needs a condition name")
        if not query.strip():
            raise ValueError(f"PrometheusProbe {condition!r}: query is empty")
        if timeout <= timedelta(0):
            raise ValueError(f"PrometheusProbe {condition!r}: timeout must be positive")
        super().__init__(
            name=name or f"prometheus:{condition}",
            condition=condition,
            threshold=threshold,
            op=op,
            query=render_query(query, service),
        )
        self._client = client
        self._endpoint = check_base_url(base_url) + "/api/v1/query"
        self._timeout = timeout
        self._send_time = send_time

    async def measure(self, now: datetime) -> Measurement:
        """Run the query and return its measurement; failures become ERROR with the reason."""
        params = {"query": self._query, "timeout": format_seconds(self._timeout)}
        if self._send_time:
            params["time"] = f"{now.timestamp():.3f}"
        try:
            response = await self._client.get(
                self._endpoint, params=params, timeout=self._timeout.total_seconds()
            )
        except httpx.TimeoutException:
            return probe_failed(self, now, f"timed out after {format_seconds(self._timeout)}")
        except httpx.HTTPError as exc:
            return probe_failed(self, now, f"{type(exc).__name__}: {exc or 'request failed'}")
        return self._interpret(response, now)

    def _interpret(self, response: httpx.Response, now: datetime) -> Measurement:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            snippet = response.text[:200].strip()
            return probe_failed(
                self, now, f"HTTP {response.status_code}, not Prometheus JSON: {snippet!r}"
            )
        if not isinstance(body, dict):
            return probe_failed(self, now, f"HTTP {response.status_code}: unexpected body {body!r}")
        if body.get("status") != "success":
            kind = body.get("errorType", "error")
            message = body.get("error", "no error message")
            return probe_failed(
                self, now, f"Prometheus {kind} (HTTP {response.status_code}): {message}"
            )
        data = body.get("data")
        if not isinstance(data, dict):
            return probe_failed(self, now, "Prometheus response has no data object")
        return self._from_result(data.get("resultType"), data.get("result"), now)

    def _from_result(self, result_type: Any, result: Any, now: datetime) -> Measurement:
        try:
            if result_type == "scalar":
                return self._value(_sample_value(result), now, "scalar result")
            if result_type == "vector":
                return self._from_vector(result, now)
        except (TypeError, ValueError, IndexError, KeyError) as exc:
            return probe_failed(self, now, f"malformed {result_type} result: {exc}")
        if result_type == "matrix":
            return probe_failed(
                self,
                now,
                "range vector result; use an instant query (e.g. wrap it in rate())",
            )
        return probe_failed(self, now, f"unsupported result type {result_type!r}")

    def _from_vector(self, result: Any, now: datetime) -> Measurement:
        if not isinstance(result, list):
            raise TypeError("vector result is not a list")
        if not result:
            return self._value(None, now, "no data: the query returned an empty vector")
        values = [(_sample_value(series["value"]), series.get("metric", {})) for series in result]
        numbers = [(value, labels) for value, labels in values if not math.isnan(value)]
        if not numbers:
            return self._value(math.nan, now, f"no data: all {len(values)} series are NaN")
        if len(values) == 1:
            return self._value(numbers[0][0], now, "")
        lowest_is_worst = self._op in ("<", "<=")
        pick = min if lowest_is_worst else max
        value, labels = pick(numbers, key=lambda pair: pair[0])
        which = "min" if lowest_is_worst else "max"
        detail = f"{len(values)} series; using the {which} ({_labels_text(labels)})"
        return self._value(value, now, detail)

    def _value(self, value: float | None, now: datetime, detail: str) -> Measurement:
        if value is not None and math.isnan(value) and not detail:
            detail = "no data: the query returned NaN (0/0: no traffic?)"
        return Measurement.of(
            self._condition,
            now,
            value,
            threshold=self._threshold,
            op=self._op,
            query=self._query,
            detail=detail,
        )


def _sample_value(sample: Any) -> float:
    # Prometheus sends [unix_time, "string value"]; "NaN", "+Inf" and "-Inf" parse as floats.
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str):
        raise ValueError(f'expected [time, "value"], got {sample!r}')
    return float(sample[1])


def _labels_text(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return "{}"
    return "{" + ", ".join(f'{key}="{value}"' for key, value in sorted(labels.items())) + "}"

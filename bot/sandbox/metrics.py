"""A metrics endpoint on loopback that speaks Prometheus' instant-query API, with scripted values.

The offline demo points the bot's real Prometheus probe (httpx over HTTP) at it, so a poll goes
through exactly the code that talks to a real Prometheus in production: `GET` or `POST
/api/v1/query` with `query`, optional `time` and `timeout`, answered in Prometheus' own JSON
shapes (`{"status": "success", "data": {"resultType": "vector", "result": [...]}}`, errors as
`{"status": "error", "errorType": "bad_data", "error": ...}` with HTTP 400).

It is not a PromQL engine: each scripted metric is chosen by a fragment of the query text
(the demo's error-ratio query contains `code=~"5.."`), and its value is a step function of the
evaluation time's offset from `start`. A query no script matches gets an empty vector, which is
what Prometheus answers for a series that does not exist ("no data").
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.sandbox.site import LoopbackSite


@dataclass(frozen=True)
class ScriptedMetric:
    """A value over time: each step holds from its offset until the next (None: no data)."""

    steps: Sequence[tuple[timedelta, float | None]]
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        offsets = [offset for offset, _ in self.steps]
        if not offsets:
            raise ValueError("a scripted metric needs at least one step")
        if offsets != sorted(offsets) or len(set(offsets)) != len(offsets):
            raise ValueError(f"step offsets must be strictly increasing, got {offsets}")

    def value_at(self, offset: timedelta) -> float | None:
        """Return the value at `offset` from the start (None before the first step)."""
        index = bisect_right([step for step, _ in self.steps], offset) - 1
        return None if index < 0 else self.steps[index][1]


@dataclass(frozen=True)
class Evaluation:
    """One query the sandbox answered: when it was evaluated, the text, and the value sent."""

    at: datetime
    query: str
    value: float | None


class MetricsSandbox:
    """Serve scripted metrics on a loopback port in Prometheus' instant-query shapes."""

    def __init__(self, clock: Callable[[], datetime], *, start: datetime | None = None) -> None:
        """Use `clock` for queries without `time`; offsets count from `start` (default: now)."""
        self._clock = clock
        self.start_at = start or clock()
        self._scripts: list[tuple[str, ScriptedMetric]] = []
        self.evaluations: list[Evaluation] = []
        self._site: LoopbackSite | None = None
        self.base_url = ""

    def script(self, fragment: str, metric: ScriptedMetric) -> None:
        """Answer every query containing `fragment` from `metric` (first match wins)."""
        if not fragment:
            raise ValueError("a script needs a non-empty query fragment")
        self._scripts.append((fragment, metric))

    def value(self, query: str, at: datetime) -> float | None:
        """Return the scripted value of `query` at `at` (None: no script, or no data yet)."""
        for fragment, metric in self._scripts:
            if fragment in query:
                return metric.value_at(at - self.start_at)
        return None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host:port` (0: any free port) and return the base URL."""
        app = web.Application()
        app.router.add_route("GET", "/api/v1/query", self._query)
        app.router.add_route("POST", "/api/v1/query", self._query)
        self._site = LoopbackSite(app)
        self.base_url = await self._site.start(host, port)
        return self.base_url

    async def close(self) -> None:
        """Stop listening."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def __aenter__(self) -> MetricsSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _query(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        query = params.get("query", "").strip()
        if not query:
            return _error("bad_data", 'invalid parameter "query": empty query')
        try:
            at = self._evaluation_time(params.get("time"))
        except ValueError as exc:
            return _error("bad_data", f'invalid parameter "time": {exc}')
        value = self.value(query, at)
        self.evaluations.append(Evaluation(at, query, value))
        result = [] if value is None else [_sample(self._labels(query), at, value)]
        return web.json_response(
            {"status": "success", "data": {"resultType": "vector", "result": result}}
        )

    def _labels(self, query: str) -> dict[str, str]:
        for fragment, metric in self._scripts:
            if fragment in query:
                return dict(metric.labels)
        return {}

    def _evaluation_time(self, raw: str | None) -> datetime:
        if raw is None or raw == "":
            return self._clock()
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise ValueError(f"cannot parse {raw!r} to a valid timestamp")
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"cannot parse {raw!r} to a valid timestamp") from exc


def _sample(labels: dict[str, str], at: datetime, value: float) -> dict[str, object]:
    return {"metric": labels, "value": [round(at.timestamp(), 3), _format(value)]}


def _format(value: float) -> str:
    # Prometheus writes special floats as these strings.
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _error(kind: str, message: str) -> web.Response:
    return web.json_response({"status": "error", "errorType": kind, "error": message}, status=400)


__all__ = ["Evaluation", "MetricsSandbox", "ScriptedMetric"]

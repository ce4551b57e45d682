"""The probe port and one concurrent poll of many probes.

Each probe runs in its own task under its own `asyncio.timeout`, so a hanging probe delays
no other one; when the guard fires the result is ERROR "timed out after Ns" (the poll cannot
tell what the probe was doing, so it is blindness, not a verdict about the service).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bot.monitoring.domain import (
    Measurement,
    Operator,
    check_operator,
    check_threshold,
)

if TYPE_CHECKING:
    from bot.monitoring.metrics import MonitoringMetrics

DEFAULT_PROBE_TIMEOUT = timedelta(seconds=10)


class Probe(Protocol):
    """Something that measures one condition of a deployed service."""

    @property
    def name(self) -> str:
        """Return a name unique among the probes of one poll."""
        ...

    @property
    def condition(self) -> str:
        """Return the condition this probe measures."""
        ...

    @property
    def threshold(self) -> float:
        """Return the threshold a value is compared with."""
        ...

    @property
    def op(self) -> Operator:
        """Return the comparison that, when true, is a breach."""
        ...

    @property
    def query(self) -> str:
        """Return what is measured (a PromQL query, a URL check), for messages."""
        ...

    async def measure(self, now: datetime) -> Measurement:
        """Return one measurement taken at `now` (never raise for a failed measurement)."""
        ...


class ProbeBase:
    """The identity every probe reports with each measurement: name, condition and rule."""

    def __init__(self, *, name: str, condition: str, threshold: float, op: str, query: str) -> None:
        """Validate and keep the probe's identity."""
        if not condition:
            raise ValueError(f"{type(self).__name__} needs a condition name")
        self._name = name
        self._condition = condition
        self._threshold = check_threshold(threshold)
        self._op = check_operator(op)
        self._query = query

    @property
    def name(self) -> str:
        """Return the probe's name."""
        return self._name

    @property
    def condition(self) -> str:
        """Return the condition measured."""
        return self._condition

    @property
    def threshold(self) -> float:
        """Return the threshold a value is compared with."""
        return self._threshold

    @property
    def op(self) -> Operator:
        """Return the comparison that, when true, is a breach."""
        return self._op

    @property
    def query(self) -> str:
        """Return what is measured (a PromQL query, a URL check), for messages."""
        return self._query


def format_seconds(duration: timedelta) -> str:
    """Return a duration as "10s" or "0.25s" for messages."""
    seconds = duration.total_seconds()
    return f"{seconds:g}s"


def probe_failed(probe: Probe, now: datetime, reason: str) -> Measurement:
    """Return the ERROR measurement for `probe` failing with `reason`."""
    return Measurement.failed(
        probe.condition, now, reason, threshold=probe.threshold, op=probe.op, query=probe.query
    )


async def _guarded(
    probe: Probe, now: datetime, limit: timedelta, metrics: MonitoringMetrics | None
) -> Measurement:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit.total_seconds()):
            measurement = await probe.measure(now)
    except TimeoutError:
        measurement = probe_failed(probe, now, f"timed out after {format_seconds(limit)}")
    except Exception as exc:  # a buggy probe must not sink the other probes of the poll
        measurement = probe_failed(probe, now, f"probe raised {type(exc).__name__}: {exc}")
    if metrics is not None:
        metrics.record_measurement(measurement, time.perf_counter() - started)
    return measurement


async def run_poll(
    probes: Sequence[Probe],
    now: datetime,
    per_probe_timeout: timedelta = DEFAULT_PROBE_TIMEOUT,
    *,
    metrics: MonitoringMetrics | None = None,
) -> list[Measurement]:
    """Run every probe concurrently and return their measurements in the probes' order."""
    if per_probe_timeout <= timedelta(0):
        raise ValueError(f"per_probe_timeout must be positive, got {per_probe_timeout}")
    names = [probe.name for probe in probes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"probe names must be unique in a poll; repeated: {', '.join(duplicates)}")
    if metrics is not None:
        metrics.record_poll()
    return list(
        await asyncio.gather(*(_guarded(p, now, per_probe_timeout, metrics) for p in probes))
    )


class KubernetesAvailabilityProbe(ProbeBase):
    """Measure available/desired replicas through any async reader (the k8s adapter gives one)."""

    def __init__(
        self,
        status_reader: Callable[[], Awaitable[float]],
        *,
        condition: str = "availability",
        threshold: float = 1.0,
        op: str = "<",
        description: str = "available/desired replicas",
        name: str | None = None,
    ) -> None:
        """Breach by default when fewer replicas are available than desired."""
        super().__init__(
            name=name or f"k8s:{condition}",
            condition=condition,
            threshold=threshold,
            op=op,
            query=description,
        )
        self._read = status_reader

    async def measure(self, now: datetime) -> Measurement:
        """Return the availability ratio as a measurement; a failed read is ERROR."""
        try:
            ratio = await self._read()
        except Exception as exc:  # the reader's failure is the measurement's error, not ours
            return probe_failed(self, now, f"reading rollout status failed: {exc!r}")
        if isinstance(ratio, bool) or not isinstance(ratio, int | float):
            return probe_failed(self, now, f"status reader returned {ratio!r}, not a number")
        return Measurement.of(
            self._condition,
            now,
            float(ratio),
            threshold=self._threshold,
            op=self._op,
            query=self._query,
        )

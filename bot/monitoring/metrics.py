"""The bot's own Prometheus metrics, in a registry of its own (never the process-global one).

A private registry keeps tests independent (each builds its own) and keeps library
collectors out of what `/metrics` serves unless the wiring adds them on purpose.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from bot.monitoring.domain import Measurement

NAMESPACE = "releasebot"
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class MonitoringMetrics:
    """Counters and histograms for polls, probes, alerts and chat interactions."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register every metric in `registry` (a fresh one by default)."""
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.polls = Counter(
            "polls", "Monitoring polls run.", namespace=NAMESPACE, registry=self.registry
        )
        self.probe_latency = Histogram(
            "probe_latency_seconds",
            "Time one probe took to measure, by condition.",
            ["condition"],
            namespace=NAMESPACE,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.verdicts = Counter(
            "verdicts",
            "Measurements by condition and verdict.",
            ["condition", "verdict"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.alerts_sent = Counter(
            "alerts_sent",
            "Alerts sent to people, by kind.",
            ["kind"],
            namespace=NAMESPACE,
            registry=self.registry,
        )
        self.interaction_latency = Histogram(
            "interaction_latency_seconds",
            "Time from a chat interaction to its acknowledgement, by kind.",
            ["kind"],
            namespace=NAMESPACE,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def record_poll(self) -> None:
        """Count one poll."""
        self.polls.inc()

    def record_measurement(self, measurement: Measurement, latency_seconds: float) -> None:
        """Count a measurement's verdict and observe how long its probe took."""
        self.verdicts.labels(measurement.condition, measurement.verdict.value).inc()
        self.probe_latency.labels(measurement.condition).observe(latency_seconds)

    def record_alert(self, kind: str) -> None:
        """Count one alert of `kind` sent."""
        self.alerts_sent.labels(kind).inc()

    def observe_interaction(self, kind: str, seconds: float) -> None:
        """Observe one interaction's latency."""
        self.interaction_latency.labels(kind).observe(seconds)

    def exposition(self) -> bytes:
        """Return the registry in the Prometheus text format, for a `/metrics` endpoint."""
        return generate_latest(self.registry)

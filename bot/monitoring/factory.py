"""Probes built from the settings: each watched condition of a service becomes one probe.

A condition that cannot be measured as configured (no Prometheus URL for the service, no
Kubernetes client, no production Deployment) still gets a probe: one that reports ERROR
with the reason, so the window goes "monitoring blind" instead of silently watching less.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import httpx

from bot.config import ConditionSettings, ServiceSettings, Settings
from bot.monitoring.domain import Measurement, Operator, Stage, check_operator
from bot.monitoring.domain.records import WatchedCondition
from bot.monitoring.probes.base import KubernetesAvailabilityProbe, Probe
from bot.monitoring.probes.http import HttpProbe
from bot.monitoring.probes.prometheus import PrometheusProbe
from bot.monitoring.service.config import MonitoringConfig

AvailabilityReader = Callable[[str, str], Awaitable[float]]
"""Read available/desired replicas of (namespace, deployment); the k8s wiring provides one."""

KUBERNETES_QUERY = "available/desired replicas of {target}"


def watched_condition(
    name: str, condition: ConditionSettings, blind_after: int
) -> WatchedCondition:
    """Return the snapshot of one configured condition."""
    threshold, op = condition.breach_rule()
    if condition.kind == "prometheus":
        query = condition.query or ""
    elif condition.kind == "http":
        query = f"GET {condition.url} expect {condition.expect_status}"
    else:
        query = "available/desired replicas"
    return WatchedCondition(
        name=name,
        kind=condition.kind,
        title=condition.title,
        severity=condition.severity,
        threshold=threshold,
        op=check_operator(op),
        breaches=condition.consecutive_breaches(),
        blind_after=blind_after,
        query=query,
        url=condition.url,
        expect_status=condition.expect_status,
        body_match=condition.body_match,
        timeout=condition.timeout,
        unit=condition.unit,
        baseline=condition.baseline or "",
        max_increase=condition.max_increase,
        max_decrease=condition.max_decrease,
        failure_limit=condition.failure_limit,
        inconclusive_limit=condition.inconclusive_limit,
        consecutive_error_limit=condition.consecutive_error_limit,
        initial_delay=condition.initial_delay,
        min_points=condition.min_points,
    )


def watched_conditions(settings: Settings, service: str) -> tuple[WatchedCondition, ...]:
    """Return the enabled conditions of `service` (global ones for an unconfigured service)."""
    try:
        conditions = settings.conditions_for(service)
    except KeyError:
        conditions = settings.monitoring.active_conditions()
    blind_after = settings.monitoring.blind_after
    return tuple(watched_condition(n, c, blind_after) for n, c in conditions.items())


class UnavailableProbe:
    """A probe for a condition that cannot be measured as configured: always ERROR, saying why."""

    def __init__(self, condition: WatchedCondition, reason: str) -> None:
        """Keep the condition and the reason."""
        self._condition = condition
        self.reason = reason

    @property
    def name(self) -> str:
        """Return the probe's name."""
        return f"unavailable:{self._condition.name}"

    @property
    def condition(self) -> str:
        """Return the condition's name."""
        return self._condition.name

    @property
    def threshold(self) -> float:
        """Return the condition's threshold."""
        return self._condition.threshold

    @property
    def op(self) -> Operator:
        """Return the condition's breach comparison."""
        return self._condition.op

    @property
    def query(self) -> str:
        """Return what would have been measured."""
        return self._condition.query or self._condition.kind

    async def measure(self, now: datetime) -> Measurement:
        """Return an ERROR measurement naming what is missing."""
        return Measurement.failed(
            self.condition, now, self.reason, threshold=self.threshold, op=self.op, query=self.query
        )


class ConfiguredProbes:
    """Build one poll's probes from the settings, sharing one HTTP client."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient,
        availability: AvailabilityReader | None = None,
    ) -> None:
        """Keep the settings, the client and the optional Kubernetes reader."""
        self._settings = settings
        self._client = client
        self._availability = availability
        self._timeout = settings.monitoring.probe_timeout

    def probes(self, service: str, conditions: Sequence[WatchedCondition]) -> list[Probe]:
        """Return one probe per condition, in order."""
        try:
            target: ServiceSettings | None = self._settings.service(service)
        except KeyError:
            target = None
        return [self._probe(service, target, condition) for condition in conditions]

    def _probe(
        self, service: str, target: ServiceSettings | None, condition: WatchedCondition
    ) -> Probe:
        timeout = min(condition.timeout or self._timeout, self._timeout)
        if condition.kind == "prometheus":
            if target is None or target.prometheus_url is None:
                return UnavailableProbe(condition, f"service {service!r} has no prometheus_url")
            return PrometheusProbe(
                self._client,
                target.prometheus_url,
                condition.query,
                condition.threshold,
                condition.op,
                timeout,
                condition=condition.name,
                service=service,
            )
        if condition.kind == "http":
            if condition.url is None:
                return UnavailableProbe(condition, "http condition without a url")
            return HttpProbe(
                self._client,
                condition.url,
                condition.expect_status,
                condition.body_match,
                timeout,
                condition=condition.name,
            )
        if condition.kind == "kubernetes":
            return self._kubernetes(service, target, condition)
        return UnavailableProbe(condition, f"conditions of kind {condition.kind!r} are pushed only")

    def _kubernetes(
        self, service: str, target: ServiceSettings | None, condition: WatchedCondition
    ) -> Probe:
        production = target.kubernetes.production if target is not None else None
        if production is None:
            return UnavailableProbe(condition, f"service {service!r} has no production Deployment")
        if self._availability is None:
            return UnavailableProbe(condition, "no Kubernetes client configured")
        reader = self._availability
        namespace, deployment = production.namespace, production.deployment

        async def read() -> float:
            return await reader(namespace, deployment)

        return KubernetesAvailabilityProbe(
            read,
            condition=condition.name,
            threshold=condition.threshold,
            op=condition.op,
            description=KUBERNETES_QUERY.format(target=f"{namespace}/{deployment}"),
        )


def monitoring_config(settings: Settings) -> MonitoringConfig:
    """Return the monitoring service's config from the settings (conditions per service)."""
    section = settings.monitoring

    def conditions_for(service: str) -> tuple[WatchedCondition, ...]:
        return watched_conditions(settings, service)

    return MonitoringConfig(
        conditions_for=conditions_for,
        stages=tuple(Stage(stage.every, stage.until) for stage in section.stages),
        retry_after=section.retry_after_error,
        probe_timeout=section.probe_timeout,
        blind_after=section.blind_after,
        severity_labels=dict(section.severity_labels),
        hold_signoffs=tuple(section.signoffs),
    )

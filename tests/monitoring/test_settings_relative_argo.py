"""The [monitoring] settings for relative conditions, resource kinds and Argo's vocabulary,
loaded the way the bot loads them (problems name the key path)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.config import ConfigError, build_settings
from bot.monitoring.factory import watched_conditions
from tests.support.world import SERVICE


def _settings(monitoring: dict[str, Any], service: dict[str, Any] | None = None) -> Any:
    return build_settings(
        {"services": [{**SERVICE, **(service or {})}], "monitoring": monitoring}, env={}
    )


def _problems(monitoring: dict[str, Any], service: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _settings(monitoring, service)
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_interval_and_count_mean_one_stage():
    """Argo's interval/count become `count` polls `interval` apart."""
    settings = _settings({"interval": "10m", "count": 6})
    (stage,) = settings.monitoring.stages
    assert (stage.every, stage.until) == (timedelta(minutes=10), timedelta(hours=1))


@pytest.mark.parametrize(
    ("monitoring", "expected"),
    [
        ({"interval": "5m", "count": 3, "stages": [{"every": "5m", "until": "1h"}]},
         "monitoring.interval: give either stages or interval and count, not both"),
        ({"interval": "5m"}, "monitoring.count: required with interval (a window must end)"),
        ({"count": 3}, "monitoring.interval: required with count"),
        ({"conditions": {"error_rate": {"breaches": 2, "failure_limit": 1}}},
         "monitoring.conditions.error_rate.failure_limit: give either breaches"),
        ({"conditions": {"latency_p95": {"baseline": "previous_release"}}},
         "monitoring.conditions.latency_p95.baseline: needs max_increase or max_decrease"),
        ({"conditions": {"latency_p95": {"max_increase": "10%"}}},
         'monitoring.conditions.latency_p95.max_increase: only used with baseline'),
        ({"conditions": {"latency_p95": {"baseline": "previous_release", "max_increase": "5pp"}}},
         'monitoring.conditions.latency_p95.max_increase: "pp" is only for'),
        ({"conditions": {"availability": {"baseline": "previous_release",
                                          "max_decrease": "10%"}}},
         'monitoring.conditions.availability.baseline: only used when kind is "prometheus"'),
    ],
)  # fmt: skip
def test_misuse_is_a_problem_naming_the_key(monitoring, expected):
    """Each mistake is reported with its key path and what to do instead."""
    assert any(p.startswith(expected) for p in _problems(monitoring)), _problems(monitoring)


def test_failure_limit_replaces_a_built_in_breaches():
    """Setting failure_limit on a built-in condition is not a conflict with its default."""
    settings = _settings({"conditions": {"error_rate": {"failure_limit": 1}}})
    (error_rate,) = [
        c for c in watched_conditions(settings, "nexis-gateway") if c.name == "error_rate"
    ]
    assert (error_rate.failure_limit, error_rate.spec().failure_limit) == (1, 1)


def test_a_service_override_may_switch_to_failure_limit():
    """A per-service table with failure_limit replaces the inherited breaches, too."""
    settings = _settings({}, {"conditions": {"latency_p95": {"failure_limit": 2,
                                                             "initial_delay": "10m"}}})  # fmt: skip
    watched = {c.name: c for c in watched_conditions(settings, "nexis-gateway")}
    assert watched["latency_p95"].failure_limit == 2
    assert watched["latency_p95"].initial_delay == timedelta(minutes=10)


def test_cpu_and_memory_are_built_in_but_off():
    """CPU and memory against the limits exist, disabled until the team has the series."""
    settings = _settings({})
    conditions = settings.monitoring.conditions
    assert not conditions["cpu"].enabled and not conditions["memory"].enabled
    assert "kube_pod_container_resource_limits" in (conditions["cpu"].query or "")
    enabled = _settings({"conditions": {"cpu": {"enabled": True}}})
    assert "cpu" in enabled.monitoring.active_conditions()


def test_business_metric_template_loads():
    """The documented orders-per-minute template is a valid relative condition."""
    settings = _settings({"conditions": {"orders_per_minute": {
        "kind": "prometheus", "title": "Orders per minute", "severity": "P1",
        "query": 'sum(rate(orders_total{service="$service"}[5m])) * 60',
        "threshold": 1, "op": "<", "breaches": 2,
        "baseline": "previous_release", "max_decrease": "20%"}}})  # fmt: skip
    watched = {c.name: c for c in watched_conditions(settings, "nexis-gateway")}
    rule = watched["orders_per_minute"].relative_rule()
    assert rule is not None and rule.max_decrease is not None
    assert rule.max_decrease.amount == pytest.approx(0.2)

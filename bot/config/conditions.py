"""Post-deploy monitoring settings: poll schedule and the conditions that mean "roll back"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from bot.config.base import NonEmptyStr, SectionModel, Severity, fail
from bot.config.durations import PositiveDuration, format_duration
from bot.config.problems import ConfigProblem
from bot.config.salvage import safe_problems
from bot.core.deltas import Delta

ConditionKind = Literal["prometheus", "http", "kubernetes"]
ComparisonOp = Literal[">", "<", ">=", "<="]

_CONDITION_NAME = re.compile(r"[a-z][a-z0-9_-]*")


def _condition_name(value: str) -> str:
    """Accept condition names such as "error_rate"."""
    if not _CONDITION_NAME.fullmatch(value):
        raise fail('expected lowercase letters, digits, "_" and "-", starting with a letter')
    return value


ConditionName = Annotated[str, AfterValidator(_condition_name)]


def _regex(value: str) -> str:
    """Accept only regular expressions that compile."""
    try:
        re.compile(value)
    except (re.error, OverflowError) as exc:
        raise fail(f"invalid regular expression: {exc}") from None
    except RecursionError:
        raise fail("invalid regular expression: nested too deeply") from None
    return value


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ConditionSettings(SectionModel):
    """Define one health condition: what to measure and when the value is a breach.

    A breach is `value <op> threshold`, e.g. error rate `> 0.01`, availability `< 1.0`.
    """

    kind: ConditionKind
    title: NonEmptyStr
    severity: Severity
    breaches: int | None = Field(default=None, ge=1)
    query: NonEmptyStr | None = None
    url: NonEmptyStr | None = None
    expect_status: int = Field(default=200, ge=100, le=599)
    body_match: Annotated[str, AfterValidator(_regex)] | None = None
    threshold: FiniteFloat | None = None
    op: ComparisonOp = ">"
    timeout: PositiveDuration | None = None
    enabled: bool = True
    # How people read the value: a ratio as a percentage, seconds as ms ("" shows it as is).
    unit: Literal["", "ratio", "seconds"] = ""
    # Relative to the previous release at the same offset; `threshold` is the fallback.
    baseline: Literal["previous_release"] | None = None
    max_increase: NonEmptyStr | None = None
    max_decrease: NonEmptyStr | None = None
    # Argo Rollouts' analysis settings (docs/monitoring.md maps them to today's keys).
    failure_limit: int | None = Field(default=None, ge=0)
    inconclusive_limit: int | None = Field(default=None, ge=0)
    consecutive_error_limit: int | None = Field(default=None, ge=0)
    initial_delay: PositiveDuration | None = None
    min_points: int = Field(default=3, ge=1)

    def breach_rule(self) -> tuple[float, ComparisonOp]:
        """Return (threshold, op); an HTTP check without a threshold breaches when it fails."""
        if self.threshold is None:
            return 1.0, "<"
        return self.threshold, self.op

    def problems(self) -> list[ConfigProblem]:
        """Reject conditions that lack what their kind needs to measure anything."""
        found: list[ConfigProblem] = []
        if self.kind == "prometheus" and self.query is None:
            found.append(ConfigProblem("query", 'required when kind is "prometheus"'))
        if self.kind == "http" and self.url is None:
            found.append(ConfigProblem("url", 'required when kind is "http"'))
        if self.kind in ("prometheus", "kubernetes") and self.threshold is None:
            found.append(ConfigProblem("threshold", f'required when kind is "{self.kind}"'))
        if self.kind != "http" and self.url is not None:
            found.append(ConfigProblem("url", 'only used when kind is "http"'))
        if self.kind != "prometheus" and self.query is not None:
            found.append(ConfigProblem("query", 'only used when kind is "prometheus"'))
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            found.append(ConfigProblem("url", "expected an http:// or https:// URL"))
        return found + self._count_problems() + self._baseline_problems()

    def consecutive_breaches(self) -> int:
        """Return `breaches`; with failure_limit (total count) it is unused, so 1."""
        return self.breaches if self.breaches is not None else 1

    def _count_problems(self) -> list[ConfigProblem]:
        if self.breaches is not None and self.failure_limit is not None:
            return [
                ConfigProblem(
                    "failure_limit",
                    "give either breaches (breaches in a row) or failure_limit (Argo: breaches "
                    "in total beyond the limit), not both",
                )
            ]
        if self.breaches is None and self.failure_limit is None:
            return [ConfigProblem("breaches", "required (or failure_limit)")]
        return []

    def _baseline_problems(self) -> list[ConfigProblem]:
        found: list[ConfigProblem] = []
        for key in ("max_increase", "max_decrease"):
            text = getattr(self, key)
            if text is None:
                continue
            if self.baseline is None:
                found.append(ConfigProblem(key, 'only used with baseline = "previous_release"'))
                continue
            try:
                Delta.parse(text, self.unit)
            except ValueError as exc:
                found.append(ConfigProblem(key, str(exc)))
        if self.baseline is not None and self.max_increase is None and self.max_decrease is None:
            found.append(ConfigProblem("baseline", "needs max_increase or max_decrease"))
        if self.baseline is not None and self.kind != "prometheus":
            found.append(ConfigProblem("baseline", 'only used when kind is "prometheus"'))
        return found


class ConditionOverride(SectionModel):
    """Change some fields of a global condition for one service (or add a new one)."""

    kind: ConditionKind | None = None
    title: NonEmptyStr | None = None
    severity: Severity | None = None
    breaches: int | None = Field(default=None, ge=1)
    query: NonEmptyStr | None = None
    url: NonEmptyStr | None = None
    expect_status: int | None = Field(default=None, ge=100, le=599)
    body_match: Annotated[str, AfterValidator(_regex)] | None = None
    threshold: FiniteFloat | None = None
    op: ComparisonOp | None = None
    timeout: PositiveDuration | None = None
    enabled: bool | None = None
    unit: Literal["", "ratio", "seconds"] | None = None
    baseline: Literal["previous_release"] | None = None
    max_increase: NonEmptyStr | None = None
    max_decrease: NonEmptyStr | None = None
    failure_limit: int | None = Field(default=None, ge=0)
    inconclusive_limit: int | None = Field(default=None, ge=0)
    consecutive_error_limit: int | None = Field(default=None, ge=0)
    initial_delay: PositiveDuration | None = None
    min_points: int | None = Field(default=None, ge=1)

    def over(self, base: ConditionSettings | None) -> dict[str, Any]:
        """Return the fields of `base` with this override's explicitly set fields on top."""
        merged = base.model_dump(exclude_unset=False) if base is not None else {}
        return without_replaced_count(merged, self.model_dump(include=self.model_fields_set))


def without_replaced_count(base: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `given` on top; a given failure_limit replaces an inherited breaches.

    Only keys written in the same table conflict ("both given" is a config error); a built-in
    condition's default `breaches` gives way to the Argo-style count the user wrote.
    """
    merged = dict(base)
    if "failure_limit" in given and "breaches" not in given:
        merged.pop("breaches", None)
    merged.update(given)
    return merged


ERROR_RATE_QUERY = (
    'sum(rate(http_requests_total{service="$service",code=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{service="$service"}[5m]))'
)
LATENCY_P95_QUERY = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{service="$service"}[5m])))'
)
# Resource use against the container limits, per container (the worst one counts: a single
# container at its memory limit is OOM-killed however idle its neighbours are). Pods are
# matched by the Deployment's naming, "<service>-<hash>-<id>".
_CONTAINERS = 'pod=~"$service-.*",container!="",container!="POD"'
CPU_QUERY = (
    f"max(rate(container_cpu_usage_seconds_total{{{_CONTAINERS}}}[5m])"
    " / on(namespace, pod, container) "
    f'kube_pod_container_resource_limits{{{_CONTAINERS},resource="cpu"}})'
)
MEMORY_QUERY = (
    f"max(container_memory_working_set_bytes{{{_CONTAINERS}}}"
    " / on(namespace, pod, container) "
    f'kube_pod_container_resource_limits{{{_CONTAINERS},resource="memory"}})'
)
DEFAULT_CONDITIONS: dict[str, dict[str, Any]] = {
    "error_rate": {
        "kind": "prometheus",
        "query": ERROR_RATE_QUERY,
        "threshold": 0.01,
        "op": ">",
        "breaches": 2,
        "severity": "P1",
        "title": "Error rate",
        "unit": "ratio",
    },
    "latency_p95": {
        "kind": "prometheus",
        "query": LATENCY_P95_QUERY,
        "threshold": 0.5,
        "op": ">",
        "breaches": 2,
        "severity": "P1",
        "title": "P95 latency",
        "unit": "seconds",
    },
    "availability": {
        "kind": "kubernetes",
        "threshold": 1.0,
        "op": "<",
        "breaches": 1,
        "severity": "P0",
        "title": "Core functionality",
    },
    # Off by default: they need cAdvisor and kube-state-metrics in the service's Prometheus,
    # and without them every release would go "monitoring blind" on two conditions.
    "cpu": {
        "kind": "prometheus",
        "query": CPU_QUERY,
        "threshold": 0.9,
        "op": ">",
        "breaches": 3,
        "severity": "P2",
        "title": "CPU vs limit",
        "unit": "ratio",
        "enabled": False,
    },
    "memory": {
        "kind": "prometheus",
        "query": MEMORY_QUERY,
        "threshold": 0.9,
        "op": ">",
        "breaches": 2,
        "severity": "P1",
        "title": "Memory vs limit",
        "unit": "ratio",
        "enabled": False,
    },
}


class StageSettings(SectionModel):
    """Poll every `every` until `until` after the deploy."""

    every: PositiveDuration
    until: PositiveDuration


def _default_stages() -> list[StageSettings]:
    """Return the seed's schedule: every 5m for the first hour, then every 30m until 24h."""
    return [
        StageSettings(every=timedelta(minutes=5), until=timedelta(hours=1)),
        StageSettings(every=timedelta(minutes=30), until=timedelta(hours=24)),
    ]


def _default_conditions() -> dict[str, ConditionSettings]:
    """Return the seed's rollback conditions: error rate, P95 latency, availability."""
    return {name: ConditionSettings.model_validate(raw) for name, raw in DEFAULT_CONDITIONS.items()}


DEFAULT_SEVERITY_LABELS: dict[str, Severity] = {"critical": "P1", "warning": "P2", "info": "P3"}
"""Alertmanager `severity` label values and the incident severity they mean (P0-P3 kept)."""


class MonitoringSettings(SectionModel):
    """Describe the post-deploy watch: schedule, blindness, timeouts and conditions."""

    stages: list[StageSettings] = Field(default_factory=_default_stages, min_length=1)
    # Argo Rollouts' schedule: `count` polls `interval` apart (replaces `stages`).
    interval: PositiveDuration | None = None
    count: int | None = Field(default=None, ge=1)
    blind_after: int = Field(default=3, ge=1)
    severity_labels: dict[NonEmptyStr, Severity] = Field(
        default_factory=lambda: dict(DEFAULT_SEVERITY_LABELS)
    )
    retry_after_error: PositiveDuration = timedelta(seconds=10)
    probe_timeout: PositiveDuration = timedelta(seconds=10)
    conditions: dict[ConditionName, ConditionSettings] = Field(default_factory=_default_conditions)
    # The sign-offs that wait for the window to close (with the final Advance).
    signoffs: list[str] = Field(default_factory=lambda: ["monitoring-complete"])

    @model_validator(mode="before")
    @classmethod
    def _merge_conditions_over_defaults(cls, data: Any) -> Any:
        """Keep the built-in conditions unless disabled; a table changes only what it sets."""
        if not isinstance(data, dict) or not isinstance(data.get("conditions"), dict):
            return data
        given: dict[str, Any] = data["conditions"]
        merged: dict[str, Any] = {name: dict(raw) for name, raw in DEFAULT_CONDITIONS.items()}
        for name, raw in given.items():
            base = DEFAULT_CONDITIONS.get(name)
            if base is not None and isinstance(raw, dict):
                merged[name] = without_replaced_count(base, raw)
            else:
                merged[name] = raw
        return {**data, "conditions": merged}

    @model_validator(mode="after")
    def _argo_schedule(self) -> MonitoringSettings:
        """Turn `interval` and `count` into the one stage they mean (problems() names misuse)."""
        if (
            self.interval is not None
            and self.count is not None
            and "stages" not in self.model_fields_set
        ):
            stage = StageSettings(every=self.interval, until=self.interval * self.count)
            # Frozen model: the derived default is set once, while validating.
            object.__setattr__(self, "stages", [stage])
        return self

    def _schedule_problems(self) -> list[ConfigProblem]:
        if self.interval is None and self.count is None:
            return []
        if "stages" in self.model_fields_set:
            key = "interval" if self.interval is not None else "count"
            return [ConfigProblem(key, "give either stages or interval and count, not both")]
        if self.interval is None:
            return [ConfigProblem("interval", "required with count")]
        if self.count is None:
            return [ConfigProblem("count", "required with interval (a window must end)")]
        return []

    def active_conditions(self) -> dict[str, ConditionSettings]:
        """Return the enabled global conditions by name."""
        return {name: cond for name, cond in self.conditions.items() if cond.enabled}

    def problems(self) -> list[ConfigProblem]:
        """Reject overlapping stages, polls longer than their stage and incomplete conditions."""
        found = self._schedule_problems()
        start = timedelta(0)
        for index, stage in enumerate(self.stages):
            if stage.until <= start:
                found.append(
                    ConfigProblem(
                        f"stages[{index}].until",
                        f"must be later than stages[{index - 1}].until ({format_duration(start)})",
                    )
                )
            elif stage.every > stage.until - start:
                found.append(
                    ConfigProblem(
                        f"stages[{index}].every",
                        "must not be longer than the stage it belongs to "
                        f"({format_duration(stage.until - start)}, "
                        f"from {format_duration(start)} to {format_duration(stage.until)})",
                    )
                )
            start = max(start, stage.until)
        for name, condition in self.conditions.items():
            found.extend(
                ConfigProblem(f"conditions.{name}.{problem.path}", problem.message)
                for problem in safe_problems(condition.problems)
            )
        return found

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
    breaches: int = Field(ge=1)
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

    def over(self, base: ConditionSettings | None) -> dict[str, Any]:
        """Return the fields of `base` with this override's explicitly set fields on top."""
        merged = base.model_dump(exclude_unset=False) if base is not None else {}
        merged.update(self.model_dump(include=self.model_fields_set))
        return merged


ERROR_RATE_QUERY = (
    'sum(rate(http_requests_total{service="$service",code=~"5.."}[5m]))'
    ' / sum(rate(http_requests_total{service="$service"}[5m]))'
)
LATENCY_P95_QUERY = (
    "histogram_quantile(0.95, sum by (le) "
    '(rate(http_request_duration_seconds_bucket{service="$service"}[5m])))'
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
            merged[name] = {**base, **raw} if base is not None and isinstance(raw, dict) else raw
        return {**data, "conditions": merged}

    def active_conditions(self) -> dict[str, ConditionSettings]:
        """Return the enabled global conditions by name."""
        return {name: cond for name, cond in self.conditions.items() if cond.enabled}

    def problems(self) -> list[ConfigProblem]:
        """Reject overlapping stages, polls longer than their stage and incomplete conditions."""
        found: list[ConfigProblem] = []
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

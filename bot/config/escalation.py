"""Incident settings: escalation path, severity SLAs and how pages leave the bot."""

from __future__ import annotations

import re
from datetime import UTC, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, field_validator, model_validator

from bot.config.base import NonEmptyStr, SectionModel, fail
from bot.config.durations import Duration, PositiveDuration, SlaDuration, format_duration
from bot.config.problems import ConfigProblem
from bot.config.salvage import safe_problems
from bot.core.roles import ROLE_KEYS, SEVERITY_LEVELS


def _escalation_target(value: str) -> str:
    """Accept "oncall", a role key, or "user:<name-or-id>"."""
    if value in ROLE_KEYS:
        return value
    if value.startswith("user:") and value.removeprefix("user:").strip():
        return value
    raise fail(
        f'unknown escalation target "{value}" (expected "oncall", a role key such as '
        '"tech_lead", or "user:<discord name or id>")'
    )


class EscalationStepSettings(SectionModel):
    """Page one target if nobody has acknowledged `after` the first page."""

    target: Annotated[str, AfterValidator(_escalation_target)]
    after: Duration
    pagerduty: bool = False
    webhook: bool = False


def _default_steps() -> list[EscalationStepSettings]:
    """Return the seed's path as deadlines from the page: on-call 0m, Tech Lead 15m, EM 30m."""
    return [
        EscalationStepSettings(target="oncall", after=timedelta(0)),
        EscalationStepSettings(target="tech_lead", after=timedelta(minutes=15)),
        EscalationStepSettings(target="eng_manager", after=timedelta(minutes=30)),
    ]


class EscalationSettings(SectionModel):
    """Describe who is paged, in order, until someone acknowledges."""

    steps: list[EscalationStepSettings] = Field(default_factory=_default_steps, min_length=1)
    ack_timeout: PositiveDuration = timedelta(minutes=30)
    reminder_before: Duration = timedelta(minutes=5)
    repeat: int = Field(default=0, ge=0, le=5, strict=True)
    """Start the path over after its last step this many times while nobody acks (0..5)."""

    def problems(self) -> list[ConfigProblem]:
        """Reject a late first step and steps whose deadlines go back in time."""
        found: list[ConfigProblem] = []
        if self.steps and self.steps[0].after != timedelta(0):
            # Deadlines count from the page itself, so the first step is the page.
            found.append(
                ConfigProblem(
                    "steps[0].after",
                    f'the first step pages at once: expected "0m", got '
                    f"{format_duration(self.steps[0].after)}",
                )
            )
        for index in range(1, len(self.steps)):
            previous = self.steps[index - 1].after
            if self.steps[index].after < previous:
                found.append(
                    ConfigProblem(
                        f"steps[{index}].after",
                        f"must not be earlier than steps[{index - 1}].after "
                        f"({format_duration(previous)})",
                    )
                )
        return found


_TIMEZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*", re.ASCII)


def _is_timezone(name: str) -> bool:
    """Return whether `name` is an IANA timezone this machine knows (never raises).

    zoneinfo reads a file named after the key, so "Europe" (a folder), a 300-character name
    or a stray file in the tz database would raise OSError or ValueError, not "not found".
    """
    if len(name) > 64 or not _TIMEZONE_NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _notify_target(value: str) -> str:
    """Accept a role key or "everyone"."""
    if value != "everyone" and value not in ROLE_KEYS:
        raise fail(f'unknown notify target "{value}" (expected "everyone" or a role key)')
    return value


class SeverityPolicy(SectionModel):
    """Give one severity's response and resolution deadlines and whom to notify."""

    response: SlaDuration
    resolution: SlaDuration
    notify: list[Annotated[str, AfterValidator(_notify_target)]]
    update_every: Duration = timedelta(0)
    """Remind the owner to post a status update after this long without one ("0m": never)."""

    def problems(self) -> list[ConfigProblem]:
        """Reject a resolution deadline shorter than the response deadline."""
        if (
            self.response.span is not None
            and self.resolution.span is not None
            and self.resolution.span < self.response.span
        ):
            return [
                ConfigProblem("resolution", f"must not be shorter than response ({self.response})")
            ]
        return []


_DEFAULT_SEVERITIES: dict[str, dict[str, Any]] = {
    "P0": {
        "response": "15m",
        "resolution": "4h",
        "notify": ["everyone", "stakeholders"],
        "update_every": "30m",
    },
    "P1": {
        "response": "1h",
        "resolution": "24h",
        "notify": ["tech_lead", "stakeholders"],
        "update_every": "2h",
    },
    "P2": {"response": "4h", "resolution": "3d", "notify": ["dev_team"]},
    "P3": {"response": "1bd", "resolution": "next-release", "notify": ["dev_team"]},
}


def _default_policy(level: str) -> Any:
    """Return a field default building the seed's policy for `level`."""
    return Field(default_factory=lambda: SeverityPolicy.model_validate(_DEFAULT_SEVERITIES[level]))


class SeveritySettings(SectionModel):
    """Give the SLA of each severity, P0 (worst) to P3, from the seed's table."""

    P0: SeverityPolicy = _default_policy("P0")
    P1: SeverityPolicy = _default_policy("P1")
    P2: SeverityPolicy = _default_policy("P2")
    P3: SeverityPolicy = _default_policy("P3")
    timezone: NonEmptyStr = "UTC"

    @model_validator(mode="before")
    @classmethod
    def _merge_over_defaults(cls, data: Any) -> Any:
        """Let a table set only the fields it changes (e.g. just P1's response)."""
        if not isinstance(data, dict):
            return data
        merged = dict(data)
        for level in SEVERITY_LEVELS:
            if isinstance(data.get(level), dict):
                merged[level] = {**_DEFAULT_SEVERITIES[level], **data[level]}
        return merged

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        """Accept IANA timezone names such as "Europe/Berlin"."""
        if value != "UTC" and not _is_timezone(value):
            shown = value if len(value) <= 60 else value[:59] + "…"
            raise fail(f'unknown timezone "{shown}" (expected a name like "Europe/Berlin")')
        return value

    @property
    def tzinfo(self) -> tzinfo:
        """Return the timezone in which business days are counted."""
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def policy(self, severity: str) -> SeverityPolicy:
        """Return the policy for "P0".."P3"; raise KeyError otherwise."""
        if severity not in SEVERITY_LEVELS:
            raise KeyError(f"unknown severity {severity!r}")
        policy: SeverityPolicy = getattr(self, severity)
        return policy

    def problems(self) -> list[ConfigProblem]:
        """Collect each level's problems under its own key."""
        return [
            ConfigProblem(f"{level}.{problem.path}", problem.message)
            for level in SEVERITY_LEVELS
            for problem in safe_problems(self.policy(level).problems)
        ]


class PagerDutySettings(SectionModel):
    """Configure PagerDuty Events v2 (the routing key comes from the environment)."""

    url: NonEmptyStr = "https://events.pagerduty.com/v2/enqueue"
    enabled: bool = False
    change_url: NonEmptyStr | None = None
    """Events API v2 change events; unset: `url` with /enqueue → /change/enqueue."""
    change_events: bool = True
    """Send every production deploy and rollback as a change event (when enabled)."""

    @property
    def change_events_url(self) -> str:
        """Return where change events are posted."""
        if self.change_url is not None:
            return self.change_url
        base = self.url.rstrip("/")
        if base.endswith("/enqueue"):
            return base[: -len("/enqueue")] + "/change/enqueue"
        return base + "/change/enqueue"


class WebhookSettings(SectionModel):
    """Configure a generic JSON webhook for pages (signed with RELEASEBOT_WEBHOOK_SECRET)."""

    url: NonEmptyStr | None = None
    enabled: bool = False
    change_events: bool = True
    """Also post every production deploy and rollback ("change.deploy", "change.rollback")."""


class OutboxSettings(SectionModel):
    """Tune how undelivered pages are retried, leased and drained at shutdown."""

    max_attempts: int = Field(default=8, ge=1)
    base_backoff: PositiveDuration = timedelta(seconds=2)
    max_backoff: PositiveDuration = timedelta(minutes=5)
    slow_retry: PositiveDuration = timedelta(minutes=1)
    lease: PositiveDuration = timedelta(seconds=15)
    shutdown_grace: PositiveDuration = timedelta(seconds=20)


class PagingSettings(SectionModel):
    """Say where pages go besides Discord DMs."""

    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)

    def problems(self) -> list[ConfigProblem]:
        """Reject an enabled webhook with nowhere to post and backoffs in the wrong order."""
        found: list[ConfigProblem] = []
        if self.webhook.enabled and self.webhook.url is None:
            found.append(ConfigProblem("webhook.url", "required when webhook.enabled is true"))
        for name, url in (("pagerduty.url", self.pagerduty.url), ("webhook.url", self.webhook.url)):
            if url is not None and not url.startswith(("https://", "http://")):
                found.append(ConfigProblem(name, "expected an http:// or https:// URL"))
        if self.outbox.shutdown_grace >= timedelta(seconds=30):
            found.append(
                ConfigProblem(
                    "outbox.shutdown_grace",
                    "must be shorter than Kubernetes' 30s termination grace period",
                )
            )
        if self.outbox.max_backoff < self.outbox.base_backoff:
            found.append(
                ConfigProblem(
                    "outbox.max_backoff",
                    "must not be shorter than outbox.base_backoff "
                    f"({format_duration(self.outbox.base_backoff)})",
                )
            )
        return found

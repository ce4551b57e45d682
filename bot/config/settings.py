"""The whole configuration: every section, the secrets, and the checks that span sections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, SecretStr, ValidationError, model_validator

from bot.config.base import SectionModel, fail
from bot.config.conditions import ConditionSettings, MonitoringSettings
from bot.config.deploy import KubernetesSettings, ServiceSettings
from bot.config.escalation import EscalationSettings, PagingSettings, SeveritySettings
from bot.config.github import GitHubSettings
from bot.config.problems import ConfigError, ConfigProblem, join_path, problems_from_validation
from bot.config.reports import ReportSettings
from bot.config.runtime import ChecklistSettings, DatabaseSettings, LeaderSettings, WebSettings
from bot.config.salvage import safe_problems
from bot.config.secrets import SECRET_ENV, Secrets
from bot.config.team import DiscordSettings, OncallSettings, PermissionSettings, RoleSettings


class Settings(SectionModel):
    """Hold the validated configuration; built once by `load_settings` and passed down."""

    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    leader: LeaderSettings = Field(default_factory=LeaderSettings)
    checklist: ChecklistSettings = Field(default_factory=ChecklistSettings)
    roles: RoleSettings = Field(default_factory=RoleSettings)
    permissions: PermissionSettings = Field(default_factory=PermissionSettings)
    oncall: OncallSettings = Field(default_factory=OncallSettings)
    escalation: EscalationSettings = Field(default_factory=EscalationSettings)
    severities: SeveritySettings = Field(default_factory=SeveritySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    services: list[ServiceSettings] = Field(default_factory=list)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    paging: PagingSettings = Field(default_factory=PagingSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    secrets: Secrets = Field(default_factory=Secrets)

    @classmethod
    def defaults(cls) -> Settings:
        """Return the built-in defaults (no services, no secrets), as used by the demo."""
        return cls()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        """Refuse settings that break a rule spanning fields or sections."""
        problems = [*section_problems(self), *cross_problems(self)]
        if problems:
            raise fail("; ".join(str(problem) for problem in problems))
        return self

    def service(self, name: str) -> ServiceSettings:
        """Return the service called `name`; raise KeyError naming the known ones otherwise."""
        for service in self.services:
            if service.name == name:
                return service
        known = ", ".join(service.name for service in self.services) or "none configured"
        raise KeyError(f"unknown service {name!r} (known: {known})")

    def conditions_for(self, service_name: str) -> dict[str, ConditionSettings]:
        """Return the enabled conditions for a service: global ones with its overrides on top."""
        merged: dict[str, ConditionSettings] = {}
        for name, result in merge_conditions(self, self.service(service_name)).items():
            if isinstance(result, ConditionSettings) and result.enabled:
                merged[name] = result
        return merged

    @property
    def database_url(self) -> str:
        """Return the database URL: RELEASEBOT_DATABASE_URL when set, else database.url."""
        if self.secrets.database_url is not None:
            return self.secrets.database_url.get_secret_value().strip()
        return self.database.url

    def require_discord_token(self) -> SecretStr:
        """Return the Discord token; raise ConfigError naming the variable when it is missing."""
        if self.secrets.discord_token is None:
            variable = SECRET_ENV["discord_token"]
            raise ConfigError(
                [ConfigProblem(variable, f"not set (or set {variable}_FILE to a file holding it)")]
            )
        return self.secrets.discord_token


def section_problems(settings: Settings) -> list[ConfigProblem]:
    """Return every section's own rule violations, with full key paths."""
    found: list[ConfigProblem] = []
    for name in Settings.model_fields:
        value = getattr(settings, name)
        sections = value if isinstance(value, list) else [value]
        for index, section in enumerate(sections):
            if not isinstance(section, SectionModel):
                continue
            prefix = join_path(name, index) if isinstance(value, list) else name
            found.extend(
                ConfigProblem(f"{prefix}.{problem.path}", problem.message)
                for problem in safe_problems(section.problems)
            )
    return found


def merge_conditions(
    settings: Settings, service: ServiceSettings
) -> dict[str, ConditionSettings | ValidationError]:
    """Return each of the service's conditions after its overrides, or why it is invalid."""
    merged: dict[str, ConditionSettings | ValidationError] = dict(settings.monitoring.conditions)
    for name, override in service.conditions.items():
        try:
            merged[name] = ConditionSettings.model_validate(
                override.over(settings.monitoring.conditions.get(name))
            )
        except ValidationError as exc:
            merged[name] = exc
    return merged


def cross_problems(settings: Settings, valid: set[str] | None = None) -> list[ConfigProblem]:
    """Return rule violations that involve more than one section.

    With `valid` (the sections that passed validation), skip checks that read a section
    that failed: a check against a stand-in default would only mislead.
    """
    checks = (
        ({"services", "monitoring"}, _service_problems),
        ({"paging", "escalation"}, _paging_problems),
        ({"kubernetes", "monitoring", "services"}, _auto_rollback_problems),
        ({"leader", "database"}, _leader_problems),
    )
    found: list[ConfigProblem] = []
    for needs, check in checks:
        if valid is None or needs <= valid:
            found.extend(check(settings))
    return found


def _service_problems(settings: Settings) -> Iterator[ConfigProblem]:
    """Check unique names and that each service's conditions can actually be measured."""
    first_index: dict[str, int] = {}
    for index, service in enumerate(settings.services):
        where = ("services", index)
        if service.name in first_index:
            yield ConfigProblem(
                join_path(*where, "name"),
                f'duplicate service name "{service.name}" '
                f"(also services[{first_index[service.name]}].name)",
            )
        first_index.setdefault(service.name, index)
        active: dict[str, ConditionSettings] = {}
        for name, result in merge_conditions(settings, service).items():
            prefix = (*where, "conditions", name)
            if isinstance(result, ValidationError):
                yield from problems_from_validation(result, Settings, prefix)
                continue
            if name in service.conditions:
                yield from (
                    ConfigProblem(join_path(*prefix, problem.path), problem.message)
                    for problem in result.problems()
                )
            if result.enabled:
                active[name] = result
        yield from _measurability(service, active, where)


def _measurability(
    service: ServiceSettings, active: dict[str, ConditionSettings], where: tuple[str, int]
) -> Iterator[ConfigProblem]:
    """Require what the service's conditions need: a Prometheus URL, a production Deployment."""
    needs = (
        ("prometheus", service.prometheus_url, ("prometheus_url",), "query Prometheus"),
        (
            "kubernetes",
            service.kubernetes.production,
            ("kubernetes", "production"),
            "read the production Deployment",
        ),
    )
    for kind, present, key, verb in needs:
        names = [name for name, condition in active.items() if condition.kind == kind]
        if present is None and names:
            plural = "s" if len(names) > 1 else ""
            yield ConfigProblem(
                join_path(*where, *key),
                f"required by condition{plural} {', '.join(names)} (to {verb}); "
                "or switch them off with [services.conditions.<name>] enabled = false",
            )


def _paging_problems(settings: Settings) -> Iterator[ConfigProblem]:
    """Check that every paging channel a step uses is switched on and has its key."""
    paging = settings.paging
    if paging.pagerduty.enabled and settings.secrets.pagerduty_routing_key is None:
        variable = SECRET_ENV["pagerduty_routing_key"]
        yield ConfigProblem(
            "paging.pagerduty.enabled", f"true, but {variable} (or {variable}_FILE) is not set"
        )
    for index, step in enumerate(settings.escalation.steps):
        if step.pagerduty and not paging.pagerduty.enabled:
            yield ConfigProblem(
                f"escalation.steps[{index}].pagerduty",
                "true, but paging.pagerduty.enabled is false",
            )
        if step.webhook and not paging.webhook.enabled:
            yield ConfigProblem(
                f"escalation.steps[{index}].webhook", "true, but paging.webhook.enabled is false"
            )


def _leader_problems(settings: Settings) -> Iterator[ConfigProblem]:
    """Leader election needs a shared PostgreSQL database (SQLite is one replica, one file)."""
    if settings.leader.enabled and not settings.database_url.startswith("postgresql"):
        yield ConfigProblem(
            "leader.enabled",
            "true, but the database is not PostgreSQL: standbys need a shared PostgreSQL "
            "(set database.url or RELEASEBOT_DATABASE_URL to postgresql+asyncpg://...)",
        )


def _auto_rollback_problems(settings: Settings) -> Iterator[ConfigProblem]:
    """Check that auto-rollback names conditions that exist somewhere."""
    known = set(settings.monitoring.conditions)
    for service in settings.services:
        known.update(service.conditions)
    for index, name in enumerate(settings.kubernetes.auto_rollback.conditions):
        if name not in known:
            yield ConfigProblem(
                f"kubernetes.auto_rollback.conditions[{index}]",
                f'unknown condition "{name}" (expected one of {", ".join(sorted(known))})',
            )


def settings_fields() -> dict[str, Any]:
    """Return the annotation of each section that comes from the TOML file (not secrets)."""
    return {
        name: field.annotation for name, field in Settings.model_fields.items() if name != "secrets"
    }

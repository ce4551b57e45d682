"""Releasebot configuration: TOML settings, secrets from the environment, check-config.

Nothing is read at import time: call `load_settings(path)` once at start-up (or
`Settings.defaults()` for the demo and tests) and pass the result down.
"""

from __future__ import annotations

from bot.config.conditions import (
    ConditionOverride,
    ConditionSettings,
    MonitoringSettings,
    StageSettings,
)
from bot.config.deploy import (
    AutoRollbackSettings,
    KubernetesSettings,
    KubernetesTarget,
    ServiceKubernetes,
    ServiceSettings,
)
from bot.config.durations import SlaDuration, format_duration, parse_duration
from bot.config.escalation import (
    EscalationSettings,
    EscalationStepSettings,
    OutboxSettings,
    PagerDutySettings,
    PagingSettings,
    SeverityPolicy,
    SeveritySettings,
    WebhookSettings,
)
from bot.config.loading import build_settings, check_config, load_settings, summarize
from bot.config.problems import ConfigError, ConfigProblem
from bot.config.runtime import ChecklistSettings, DatabaseSettings, WebSettings
from bot.config.secrets import SECRET_ENV, Secrets
from bot.config.settings import Settings
from bot.config.team import DiscordSettings, OncallSettings, PermissionSettings, RoleSettings
from bot.core.roles import ROLE_KEYS, SEVERITY_LEVELS


def default_settings() -> Settings:
    """Return the built-in defaults with no file and no secrets."""
    return Settings.defaults()


__all__ = [
    "ROLE_KEYS",
    "SECRET_ENV",
    "SEVERITY_LEVELS",
    "AutoRollbackSettings",
    "ChecklistSettings",
    "ConditionOverride",
    "ConditionSettings",
    "ConfigError",
    "ConfigProblem",
    "DatabaseSettings",
    "DiscordSettings",
    "EscalationSettings",
    "EscalationStepSettings",
    "KubernetesSettings",
    "KubernetesTarget",
    "MonitoringSettings",
    "OncallSettings",
    "OutboxSettings",
    "PagerDutySettings",
    "PagingSettings",
    "PermissionSettings",
    "RoleSettings",
    "Secrets",
    "ServiceKubernetes",
    "ServiceSettings",
    "Settings",
    "SeverityPolicy",
    "SeveritySettings",
    "SlaDuration",
    "StageSettings",
    "WebSettings",
    "WebhookSettings",
    "build_settings",
    "check_config",
    "default_settings",
    "format_duration",
    "load_settings",
    "parse_duration",
    "summarize",
]

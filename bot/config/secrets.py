"""Secrets: read from environment variables (or files they name), never from the TOML file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

from bot.config.problems import ConfigError, ConfigProblem, join_path

SECRET_ENV: dict[str, str] = {
    "discord_token": "RELEASEBOT_DISCORD_TOKEN",
    "alertmanager_token": "RELEASEBOT_ALERTMANAGER_TOKEN",
    "alertmanager_hmac_secret": "RELEASEBOT_ALERTMANAGER_HMAC_SECRET",
    "pagerduty_routing_key": "RELEASEBOT_PAGERDUTY_ROUTING_KEY",
    "webhook_secret": "RELEASEBOT_WEBHOOK_SECRET",
    "pagerduty_webhook_secret": "RELEASEBOT_PAGERDUTY_WEBHOOK_SECRET",
    # The whole database URL (it holds the password): overrides database.url in the TOML.
    "database_url": "RELEASEBOT_DATABASE_URL",
    "github_token": "RELEASEBOT_GITHUB_TOKEN",
    "github_app_private_key": "RELEASEBOT_GITHUB_APP_PRIVATE_KEY",
    "smtp_username": "RELEASEBOT_SMTP_USERNAME",
    "smtp_password": "RELEASEBOT_SMTP_PASSWORD",
}


class Secrets(BaseModel):
    """Hold the bot's credentials; each prints as '**********' wherever it is shown."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    discord_token: SecretStr | None = None
    alertmanager_token: SecretStr | None = None
    alertmanager_hmac_secret: SecretStr | None = None
    pagerduty_routing_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    pagerduty_webhook_secret: SecretStr | None = None
    database_url: SecretStr | None = None
    github_token: SecretStr | None = None
    github_app_private_key: SecretStr | None = None
    smtp_username: SecretStr | None = None
    smtp_password: SecretStr | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Secrets:
        """Return the secrets found in `env`; raise ConfigError if a `_FILE` cannot be read."""
        secrets, problems = read_secrets(env)
        if problems:
            raise ConfigError(problems)
        return secrets

    def values(self) -> list[str]:
        """Return the secret values that are set (for redaction; never log them)."""
        found = (getattr(self, name) for name in SECRET_ENV)
        values = [value.get_secret_value() for value in found if value is not None]
        if self.database_url is not None:
            password = url_password(self.database_url.get_secret_value())
            if password:
                values.append(password)
        return values

    def names_set(self) -> list[str]:
        """Return the names of the secrets that have a value (never the values)."""
        return [name for name in SECRET_ENV if getattr(self, name) is not None]


def url_password(url: str) -> str | None:
    """Return the password inside a database URL (`scheme://user:password@host/db`), if any."""
    match = _URL_PASSWORD.match(url.strip())
    return match["password"] if match and match["password"] else None


_URL_PASSWORD = re.compile(r"[^:/]+://[^:@/]*:(?P<password>[^@/]*)@")


def read_secrets(env: Mapping[str, str]) -> tuple[Secrets, list[ConfigProblem]]:
    """Return the secrets from `NAME` or `NAME_FILE` variables and any problems reading them."""
    values: dict[str, SecretStr] = {}
    problems: list[ConfigProblem] = []
    for field, variable in SECRET_ENV.items():
        direct = env.get(variable, "").strip()
        file_name = env.get(f"{variable}_FILE", "").strip()
        if direct and file_name:
            problems.append(
                ConfigProblem(variable, f"set either {variable} or {variable}_FILE, not both")
            )
        elif direct:
            values[field] = SecretStr(direct)
        elif file_name:
            content, problem = _read_secret_file(f"{variable}_FILE", Path(file_name))
            if problem is not None:
                problems.append(problem)
            elif content is not None:
                values[field] = SecretStr(content)
    return Secrets(**values), problems


def _read_secret_file(variable: str, path: Path) -> tuple[str | None, ConfigProblem | None]:
    """Return a secret file's stripped content, or the problem that stopped us reading it."""
    try:
        content = path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the name
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, ConfigProblem(variable, f"cannot read {path}: {reason}")
    if not content:
        return None, ConfigProblem(variable, f"{path} is empty")
    return content, None


_SECRET_WORDS = frozenset({"token", "tokens", "secret", "secrets", "password", "passwd"})
_WORD_SPLIT = re.compile(r"[_\-.\s]+")


def is_secret_key(key: str) -> bool:
    """Return True for keys that look like credentials ("token", "hmac_secret", "routing_key")."""
    lowered = key.lower()
    words = set(_WORD_SPLIT.split(lowered))
    return bool(words & _SECRET_WORDS) or lowered.endswith(("routing_key", "api_key", "apikey"))


def strip_secret_keys(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[ConfigProblem]]:
    """Return `raw` without credential-looking keys, and one problem for each key removed."""
    problems: list[ConfigProblem] = []
    cleaned = _strip(raw, (), problems)
    assert isinstance(cleaned, dict)
    return cleaned, problems


def _strip(node: Any, path: tuple[str | int, ...], problems: list[ConfigProblem]) -> Any:
    """Walk tables and arrays, dropping and reporting secret-looking keys."""
    if isinstance(node, Mapping):
        kept: dict[str, Any] = {}
        for key, value in node.items():
            here = (*path, key)
            # Tables are named things (a condition called "token_expiry"), never credentials.
            if is_secret_key(key) and not isinstance(value, Mapping):
                problems.append(ConfigProblem(join_path(*here), _secret_message(here)))
            else:
                kept[key] = _strip(value, here, problems)
        return kept
    if isinstance(node, list):
        return [_strip(item, (*path, index), problems) for index, item in enumerate(node)]
    return node


def _secret_message(path: tuple[str | int, ...]) -> str:
    """Tell the user which environment variable should carry this secret instead."""
    words = " ".join(str(part).lower() for part in path)
    variable = _guess_variable(words)
    where = (
        f"set {variable} (or {variable}_FILE naming a file that holds it)"
        if variable
        else "use one of the variables " + ", ".join(SECRET_ENV.values())
    )
    return f"secrets must not be in the config file; {where} instead"


def _guess_variable(words: str) -> str | None:
    """Return the secret variable that a key path most likely meant, if any."""
    parts = set(words.split())
    if "database" in parts:
        return SECRET_ENV["database_url"]
    if "discord" in words:
        return SECRET_ENV["discord_token"]
    if "pagerduty" in words or "routing" in words:
        return SECRET_ENV["pagerduty_routing_key"]
    if "github" in words:
        return SECRET_ENV["github_token"]
    if "webhook" in words:
        return SECRET_ENV["webhook_secret"]
    if "alertmanager" in words or "web" in parts:
        if "hmac" in words or "secret" in words:
            return SECRET_ENV["alertmanager_hmac_secret"]
        return SECRET_ENV["alertmanager_token"]
    return None

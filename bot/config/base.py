"""Shared building blocks for the settings sections: base model, names, paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

from bot.config.problems import ConfigProblem
from bot.core.roles import ROLE_KEYS, SeverityLevel

Severity = SeverityLevel


class SectionModel(BaseModel):
    """Base for every settings table: frozen, strict types, unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    key_noun: ClassVar[str] = "key"

    def problems(self) -> list[ConfigProblem]:
        """Return rule violations that span several fields, with paths relative to this table."""
        return []


def fail(message: str) -> PydanticCustomError:
    """Return a validation error whose message is shown to the user as written."""
    return PydanticCustomError("releasebot", message)


def _name_or_id(value: object) -> str:
    """Accept a Discord name (string) or numeric id (integer) and return it as text."""
    if isinstance(value, bool):
        raise fail("expected a Discord name (string) or numeric id")
    if isinstance(value, int):
        if value < 0:
            raise fail("a Discord id must not be negative")
        return str(value)
    if isinstance(value, str):
        if not value.strip():
            raise fail("must not be empty")
        return value.strip()
    raise fail("expected a Discord name (string) or numeric id")


DiscordRef = Annotated[str, BeforeValidator(_name_or_id)]
"""A Discord role, channel or user: its name, or its numeric id."""


def _role_key(value: str) -> str:
    """Accept only the known role keys."""
    if value not in ROLE_KEYS:
        raise fail(f'unknown role key "{value}" (expected one of {", ".join(ROLE_KEYS)})')
    return value


RoleKey = Annotated[str, AfterValidator(_role_key)]


def _non_empty(value: str) -> str:
    """Reject blank strings."""
    if not value.strip():
        raise fail("must not be empty")
    return value


NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]


def _to_path(value: object) -> Path:
    """Accept a non-empty path string."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise fail("expected a path (a non-empty string)")
    return Path(value.strip()).expanduser()


def resolve_path(path: Path, info: ValidationInfo, *, is_file_to_create: bool = False) -> Path:
    """Resolve a relative path against the config file's folder or the working directory.

    The config file's folder wins when the path (or, for a file still to be created, its
    folder) exists there; otherwise the path is taken relative to the working directory.
    Without a loading context (programmatic settings) the path is left as given.
    """
    context = info.context if isinstance(info.context, dict) else {}
    config_dir, cwd = context.get("config_dir"), context.get("cwd")
    if path.is_absolute() or not isinstance(cwd, Path):
        return path
    if isinstance(config_dir, Path):
        beside = config_dir / path
        probe = beside.parent if is_file_to_create else beside
        if probe.exists():
            return beside.resolve()
    return (cwd / path).resolve()


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """Resolve a config path (see resolve_path)."""
    return resolve_path(value, info)


ConfigPath = Annotated[Path, BeforeValidator(_to_path), AfterValidator(_resolve)]
"""A file or folder path; relative ones are resolved when the file is loaded."""

_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_K8S_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_K8S_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def _service_name(value: str) -> str:
    """Accept lowercase service names such as "nexis-gateway"."""
    if not _SERVICE_NAME.fullmatch(value):
        raise fail('expected lowercase letters, digits and "-", starting with a letter or digit')
    return value


def _k8s_namespace(value: str) -> str:
    """Accept a Kubernetes namespace name (an RFC 1123 label)."""
    if len(value) > 63 or not _K8S_LABEL.fullmatch(value):
        raise fail('expected a Kubernetes name: lowercase letters, digits and "-", at most 63')
    return value


def _k8s_name(value: str) -> str:
    """Accept a Kubernetes object name (an RFC 1123 subdomain)."""
    if len(value) > 253 or not _K8S_SUBDOMAIN.fullmatch(value):
        raise fail('expected a Kubernetes name: lowercase letters, digits, "-" and "."')
    return value


ServiceName = Annotated[str, AfterValidator(_service_name)]
K8sNamespace = Annotated[str, AfterValidator(_k8s_namespace)]
K8sName = Annotated[str, AfterValidator(_k8s_name)]

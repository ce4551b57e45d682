"""Shared building blocks for the settings sections: base model, names, paths."""

from __future__ import annotations

import os
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


# Linux refuses longer file names (ENAMETOOLONG) and longer paths; say so before it does.
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4_096


def path_text_problem(text: str) -> str | None:
    """Return why `text` cannot name a file on this system, or None when it can."""
    if "\x00" in text:
        return "must not contain a NUL character"
    try:
        encoded = os.fsencode(text)
    except UnicodeError:
        return "must be valid Unicode (no lone surrogate characters)"
    if len(encoded) > PATH_MAX_BYTES:
        return f"is {len(encoded):,} bytes long; expected at most {PATH_MAX_BYTES:,}"
    longest = max((len(part) for part in encoded.split(b"/")), default=0)
    if longest > NAME_MAX_BYTES:
        return (
            f"has a file or folder name of {longest:,} bytes; "
            f"expected at most {NAME_MAX_BYTES} bytes per name"
        )
    return None


def _to_path(value: object) -> Path:
    """Accept a non-empty path string that can name a file here."""
    if isinstance(value, Path):
        return value
    if not isinstance(value, str) or not value.strip():
        raise fail("expected a path (a non-empty string)")
    text = value.strip()
    problem = path_text_problem(text)
    if problem is not None:
        raise fail(f"expected a usable path: it {problem}")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "~name/..." for a user this machine does not know
        raise fail(f"cannot expand {text.split('/')[0]!r}: no such user's home folder") from None


def exists(path: Path) -> bool:
    """Return whether `path` exists, treating paths the OS refuses to look at as absent."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def is_file(path: Path) -> bool:
    """Return whether `path` is a file, treating paths the OS refuses to look at as absent."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


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
        if exists(probe):
            return _resolved(beside)
    return _resolved(cwd / path)


def _resolved(path: Path) -> Path:
    """Return `path` made absolute and free of symlinks, as far as the OS allows."""
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # e.g. a symlink loop
        return path.absolute()


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

"""Read a TOML config file into Settings, reporting every problem at once; check-config."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.config.durations import format_duration
from bot.config.problems import ConfigError, ConfigProblem, problems_from_validation
from bot.config.secrets import read_secrets, strip_secret_keys
from bot.config.settings import Settings, cross_problems, section_problems, settings_fields

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def load_settings(path: str | Path, *, env: Mapping[str, str] | None = None) -> Settings:
    """Return the settings in the TOML file at `path`, with secrets from `env` (or os.environ).

    Relative paths inside the file are looked up in the file's folder first; when nothing
    exists there they are taken relative to the working directory. Raise ConfigError with
    every problem found.
    """
    file = Path(path)
    raw = read_toml(file)
    return build_settings(raw, env=env, config_dir=file.resolve().parent)


def read_toml(file: Path) -> dict[str, Any]:
    """Return the parsed TOML document; raise ConfigError for a missing or malformed file."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(file), f"cannot read: {exc.strerror or exc}")]
        ) from None
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(str(file), f"not UTF-8 text ({exc.reason})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, str(exc))]) from None


def _syntax_problem(file: Path, message: str) -> ConfigProblem:
    """Turn tomllib's message into a problem at file:line:column."""
    match = _TOML_POSITION.search(message)
    if match is None:
        return ConfigProblem(str(file), f"invalid TOML: {message}")
    line, column = int(match[1]), int(match[2])
    text = message[: match.start()]
    return ConfigProblem(
        f"{file}:{line}:{column}",
        f"invalid TOML at line {line}, column {column}: {text}",
        line=line,
        column=column,
    )


def build_settings(
    raw: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    config_dir: Path | None = None,
) -> Settings:
    """Return Settings from an already-parsed TOML mapping; raise ConfigError with all problems.

    Each section is validated on its own so that a mistake in one does not hide mistakes
    in the others.
    """
    cleaned, problems = strip_secret_keys(raw)
    secrets, secret_problems = read_secrets(os.environ if env is None else env)
    problems.extend(secret_problems)
    context = {"config_dir": config_dir, "cwd": Path.cwd()}
    fields = settings_fields()
    sections: dict[str, Any] = {}
    for name, value in cleaned.items():
        if name not in fields:
            problems.append(ConfigProblem(name, _unknown_section(name, list(fields))))
            continue
        try:
            sections[name] = TypeAdapter(fields[name]).validate_python(value, context=context)
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, Settings, (name,)))
    for name, annotation in fields.items():
        if name not in cleaned and name not in sections:
            sections[name] = _default_section(annotation, context)
    # Sections that failed are absent here, so they fall back to defaults and add no noise.
    partial = Settings.model_construct(**sections, secrets=secrets)
    problems.extend(section_problems(partial))
    problems.extend(cross_problems(partial, valid=set(sections)))
    if problems:
        raise ConfigError(problems)
    return Settings(**sections, secrets=secrets)


def _default_section(annotation: Any, context: dict[str, Any]) -> Any:
    """Return a section's default, validated so its paths are resolved like given ones."""
    empty: Any = {} if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return TypeAdapter(annotation).validate_python(empty, context=context)


def _unknown_section(name: str, known: list[str]) -> str:
    """Return the message for a top-level table the bot does not know."""
    hint = ""
    if close := difflib.get_close_matches(name, known, n=1):
        hint = f'; did you mean "{close[0]}"?'
    return f"unknown section (expected one of {', '.join(known)}{hint})"


def check_config(path: str | Path, out: TextIO, env: Mapping[str, str] | None = None) -> int:
    """Validate the config file at `path`, print "OK: ..." or each problem; return 0 or 1."""
    try:
        settings = load_settings(path, env=env)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=out)
        return 1
    missing = _missing_files(settings)
    if missing:
        for problem in missing:
            print(problem, file=out)
        return 1
    print(f"OK: {path}: {summarize(settings)}", file=out)
    return 0


def _missing_files(settings: Settings) -> list[ConfigProblem]:
    """Return problems for files the bot reads at start-up but cannot find."""
    checklist = settings.checklist.path
    if not checklist.is_file():
        return [ConfigProblem("checklist.path", f"file not found: {checklist}")]
    return []


def summarize(settings: Settings) -> str:
    """Return a one-line summary of what the settings configure (never secret values)."""
    names = ", ".join(service.name for service in settings.services)
    count = len(settings.services)
    services = f"{count} service{'s' if count != 1 else ''}" + (f" ({names})" if names else "")
    roles = len(type(settings.roles).model_fields)
    steps = " -> ".join(
        f"{step.target}@{format_duration(step.after)}" for step in settings.escalation.steps
    )
    conditions = len(settings.monitoring.active_conditions())
    secrets = ", ".join(settings.secrets.names_set()) or "none"
    return (
        f"{services}, {roles} roles, {len(settings.escalation.steps)} escalation steps "
        f"({steps}), {conditions} monitoring conditions; secrets set: {secrets}"
    )

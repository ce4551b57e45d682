"""Read a TOML config file into Settings, reporting every problem at once; check-config."""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, TypeAdapter, ValidationError

from bot.config.base import is_file
from bot.config.durations import format_duration
from bot.config.problems import ConfigError, ConfigProblem, problems_from_validation
from bot.config.runtime import async_url_problem
from bot.config.salvage import MISSING, salvage
from bot.config.secrets import SECRET_ENV, read_secrets, strip_secret_keys
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
    if secrets.database_url is not None:
        problem = async_url_problem(secrets.database_url.get_secret_value())
        if problem is not None:
            problems.append(ConfigProblem(SECRET_ENV["database_url"], problem))
    context = {"config_dir": config_dir, "cwd": Path.cwd()}
    fields = settings_fields()
    sections: dict[str, Any] = {}
    stand_ins: dict[str, Any] = {}
    for name, value in cleaned.items():
        if name not in fields:
            problems.append(ConfigProblem(name, _unknown_section(name, list(fields))))
            continue
        try:
            sections[name] = _section_adapter(name).validate_python(value, context=context)
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, Settings, (name,)))
            salvaged = salvage(fields[name], value, context)
            if salvaged is not MISSING:
                stand_ins[name] = salvaged
    for name, annotation in fields.items():
        if name not in cleaned and name not in sections:
            sections[name] = _default_section(name, annotation, context)
    valid = frozenset(sections)
    # A failed section is checked from its salvaged parts (what validated), so its own
    # cross-field rules still run; cross-section rules only read sections that passed.
    checked = Settings.model_construct(**{**sections, **stand_ins}, secrets=secrets)
    problems.extend(section_problems(checked))
    problems.extend(cross_problems(checked, valid=set(valid)))
    problems = _unique(problems)
    if problems:
        partial = Settings.model_construct(**sections, secrets=secrets)
        raise ConfigError(problems, partial=partial, valid=valid)
    return Settings(**sections, secrets=secrets)


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Return `problems` without repeats, in order."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for problem in problems:
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            kept.append(problem)
    return kept


@cache
def _section_adapter(name: str) -> TypeAdapter[Any]:
    """Return the (cached) validator of one top-level section."""
    return TypeAdapter(settings_fields()[name])


def _default_section(name: str, annotation: Any, context: dict[str, Any]) -> Any:
    """Return a section's default, validated so its paths are resolved like given ones."""
    empty: Any = {} if isinstance(annotation, type) and issubclass(annotation, BaseModel) else []
    return _section_adapter(name).validate_python(empty, context=context)


def _unknown_section(name: str, known: list[str]) -> str:
    """Return the message for a top-level table the bot does not know."""
    hint = ""
    if close := difflib.get_close_matches(name, known, n=1):
        hint = f'; did you mean "{close[0]}"?'
    return f"unknown section (expected one of {', '.join(known)}{hint})"


StartCheck = Callable[[Settings, frozenset[str]], Iterable[ConfigProblem]]
"""A check-config check beyond the settings themselves (the CLI adds the template's):
given the settings and the names of the sections that validated, return problems and
warnings (`ConfigProblem(..., warning=True)`)."""


def check_config(
    path: str | Path,
    out: TextIO,
    env: Mapping[str, str] | None = None,
    *,
    checks: Sequence[StartCheck] = (),
) -> int:
    """Validate the config file at `path`, print "OK: ..." or each problem; return 0 or 1.

    Everything a start would trip over is reported in one run: every settings problem, the
    files the bot reads at start-up, and whatever `checks` find (the checklist template).
    Warnings are printed, before the OK line, only when there are no problems.
    """
    settings: Settings | None
    try:
        settings = load_settings(path, env=env)
        problems: list[ConfigProblem] = []
        valid = frozenset(settings_fields())
    except ConfigError as error:
        problems, settings, valid = list(error.problems), error.partial, error.valid
    warnings: list[ConfigProblem] = []
    if settings is not None:
        found = [*_missing_files(settings, valid), *_warnings(settings, valid)]
        for check in checks:
            found.extend(check(settings, valid))
        problems += [problem for problem in found if not problem.warning]
        warnings += [problem for problem in found if problem.warning]
    if problems:
        for problem in problems:
            print(problem, file=out)
        return 1
    assert settings is not None
    for warning in warnings:
        print(f"warning: {warning}", file=out)
    print(f"OK: {path}: {summarize(settings)}", file=out)
    return 0


def _missing_files(settings: Settings, valid: frozenset[str]) -> list[ConfigProblem]:
    """Return problems for files the bot reads at start-up but cannot find."""
    found = []
    if "checklist" in valid and not is_file(settings.checklist.path):
        found.append(ConfigProblem("checklist.path", f"file not found: {settings.checklist.path}"))
    kubeconfig = settings.kubernetes.kubeconfig if "kubernetes" in valid else None
    if kubeconfig is not None and not is_file(kubeconfig):
        found.append(ConfigProblem("kubernetes.kubeconfig", f"file not found: {kubeconfig}"))
    return found


def _warnings(settings: Settings, valid: frozenset[str]) -> list[ConfigProblem]:
    """Return what is allowed but will not do what a team running releases wants."""
    if "services" in valid and not settings.services:
        message = (
            "no service configured, so /release start has nothing to release "
            "(add a [[services]] table)"
        )
        return [ConfigProblem("services", message, warning=True)]
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
    guild = settings.discord.guild_id
    home = f"home guild {guild}" if guild else "no discord.guild_id (releasebot run needs it)"
    return (
        f"{services}, {roles} roles, {len(settings.escalation.steps)} escalation steps "
        f"({steps}), {conditions} monitoring conditions; {home}; secrets set: {secrets}"
    )

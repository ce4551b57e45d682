"""Where the bot keeps its state and template, and the small web server it runs."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from bot.config.base import (
    ConfigPath,
    NonEmptyStr,
    SectionModel,
    fail,
    path_text_problem,
    resolve_path,
)
from bot.config.secrets import SECRET_ENV, url_password

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/releasebot.db"
_URL_SCHEME = re.compile(r"(?P<dialect>[a-z][a-z0-9]*)(?:\+(?P<driver>[a-z0-9_]+))?://(?P<rest>.*)")
# SQLAlchemy's async engine refuses blocking drivers at start-up; catch that here instead.
_ASYNC_DRIVERS = {
    "sqlite": {"aiosqlite"},
    "postgresql": {"asyncpg", "psycopg", "psycopg_async"},
}
_URL_HINT = 'expected an async SQLAlchemy URL like "sqlite+aiosqlite:///data/releasebot.db"'


class DatabaseSettings(SectionModel):
    """Say which database holds releases, incidents and timers."""

    url: str = Field(default=DEFAULT_DATABASE_URL, validate_default=True)

    @field_validator("url")
    @classmethod
    def _async_url(cls, value: str, info: ValidationInfo) -> str:
        """Accept async SQLAlchemy URLs and anchor a relative SQLite file path."""
        match = _URL_SCHEME.fullmatch(value.strip())
        if match is None:
            raise fail(f'{_URL_HINT} or "postgresql+asyncpg://user@host/db"')
        if url_password(value):
            variable = SECRET_ENV["database_url"]
            raise fail(
                "a password must not be in the config file: set "
                f"{variable} (or {variable}_FILE naming a file that holds it) to the whole "
                "URL instead, and leave database.url without the password"
            )
        problem = async_url_problem(value)
        if problem is not None:
            raise fail(problem)
        dialect, driver, rest = match["dialect"], match["driver"], match["rest"]
        if dialect != "sqlite":
            return value.strip()
        return f"{dialect}+{driver}://{_resolve_sqlite_path(rest, info)}"


def async_url_problem(value: str) -> str | None:
    """Return what is wrong with `value` as an async SQLAlchemy database URL (None: fine)."""
    match = _URL_SCHEME.fullmatch(value.strip())
    if match is None:
        return f'{_URL_HINT} or "postgresql+asyncpg://user@host/db"'
    dialect, driver = match["dialect"], match["driver"]
    known = _ASYNC_DRIVERS.get(dialect)
    if driver is None or (known is not None and driver not in known):
        choices = " or ".join(f'"{dialect}+{name}"' for name in sorted(known or {"<driver>"}))
        return f"needs an async driver: use {choices} ({_URL_HINT})"
    return None


def _resolve_sqlite_path(rest: str, info: ValidationInfo) -> str:
    """Return the part after "://" with a relative database file made absolute."""
    # "sqlite:///rel.db" leaves "/rel.db"; "sqlite:////abs.db" leaves "//abs.db".
    location, _, query = rest.partition("?")
    if not location.startswith("/") or location.startswith("//"):
        return rest
    file_part = location[1:]
    if file_part in ("", ":memory:") or file_part.startswith("file:"):
        return rest
    problem = path_text_problem(file_part)
    if problem is not None:
        raise fail(f"expected a usable path for the SQLite file: it {problem}")
    resolved = resolve_path(Path(file_part), info, is_file_to_create=True)
    if not resolved.is_absolute():
        return rest
    return f"/{resolved}" + (f"?{query}" if query else "")


class ChecklistSettings(SectionModel):
    """Point at the Markdown release checklist template and bound its size.

    A release posts the whole checklist to Discord, so the limits keep a template startable:
    2,000 characters a message, 4,096 an embed, 25 options a select menu. The defaults are
    `bot.checklist.limits`; the upper bounds are what the Discord renderer can still post.
    """

    path: ConfigPath = Field(default=Path("config/checklists/release.md"), validate_default=True)
    max_bytes: int = Field(default=65_536, ge=1_024, le=1_048_576)
    max_checkboxes: int = Field(default=300, ge=1, le=1_000)
    max_items_per_phase: int = Field(default=100, ge=1, le=250)
    max_item_length: int = Field(default=500, ge=20, le=1_500)


class WebSettings(SectionModel):
    """Configure the HTTP server for /healthz, /metrics and the Alertmanager webhook."""

    host: NonEmptyStr = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    enabled: bool = True
    max_alerts_per_push: int = Field(default=1_000, ge=1, le=100_000)
    max_conditions_per_push: int = Field(default=50, ge=1, le=10_000)
    read_timeout_seconds: float = Field(default=10.0, gt=0, le=300)


class LeaderSettings(SectionModel):
    """Run several replicas on one PostgreSQL: one leads, the others stand by (docs/database.md).

    Off by default (SQLite is one replica). With `enabled`, a replica leads only while it
    holds a PostgreSQL advisory lock; standbys try every `poll_seconds`; a leader that stops
    heartbeating (paused, partitioned) loses the lock after `lost_after_seconds`.
    """

    enabled: bool = False
    poll_seconds: float = Field(default=2.0, gt=0, le=60)
    lost_after_seconds: float = Field(default=10.0, ge=2, le=300)

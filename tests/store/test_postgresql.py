"""PostgreSQL for real: the CLI against a fresh server, the schema's PostgreSQL forms, secrets.

Runs against the session's real PostgreSQL server (`tests.support.postgres`, Debian's
package); nothing is faked. The "driver missing" case runs the CLI in a child Python where
importing asyncpg fails, exactly as on an install without the postgres extra.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Index, text

from bot.app.schema import metadata
from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.store import migrate
from bot.store.db import DatabaseDriverMissing, make_engine
from bot.store.tables import UtcDateTime

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ONLY = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
async def fresh_url(postgres_server) -> AsyncIterator[str]:
    """Yield the URL of a new, empty database on the test server."""
    name = await postgres_server.create_database(template=None)
    yield postgres_server.url(name)
    await postgres_server.drop_database(name)


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_db_upgrade_then_current_names_the_head(fresh_url: str):
    """`releasebot db upgrade --url postgresql+asyncpg://...` migrates a fresh server to head."""
    assert _cli("db", "current", "--url", fresh_url) == (0, "database at revision base (empty)\n")
    code, text_out = _cli("db", "upgrade", "--url", fresh_url)
    head = migrate.head()
    assert head is not None
    assert (code, text_out) == (0, f"database at revision {head}\n")
    assert _cli("db", "current", "--url", fresh_url) == (0, f"database at revision {head}\n")
    assert _cli("db", "downgrade", "--url", fresh_url) == (0, "database at revision base (empty)\n")


def test_db_url_from_the_environment(fresh_url: str, tmp_path: Path):
    """`db upgrade` without --url takes RELEASEBOT_DATABASE_URL_FILE (the password's home)."""
    secret = tmp_path / "database-url"
    secret.write_text(fresh_url + "\n", encoding="utf-8")
    env = {**os.environ, "RELEASEBOT_DATABASE_URL_FILE": str(secret)}
    env.pop("RELEASEBOT_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade", "--config", str(tmp_path / "none.toml")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    # --config names a missing file: the CLI must say so rather than silently use the env URL.
    assert done.returncode == 1
    assert "none.toml" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"database at revision {migrate.head()}"


def test_missing_driver_is_one_line(tmp_path: Path):
    """Without asyncpg, `db current --url postgresql+asyncpg://...` says what to install."""
    script = (
        "import sys; sys.modules['asyncpg'] = None\n"  # import asyncpg -> ModuleNotFoundError
        "from bot.cli import main\n"
        "sys.exit(main(['db', 'current', '--url', 'postgresql+asyncpg://bot@127.0.0.1:1/x']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "asyncpg driver" in lines[0]
    assert "postgres extra" in lines[0]
    assert "Traceback" not in done.stderr


def test_make_engine_names_the_missing_driver(monkeypatch: pytest.MonkeyPatch):
    """make_engine raises DatabaseDriverMissing (not ModuleNotFoundError) for a missing driver."""
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(DatabaseDriverMissing, match="asyncpg"):
        make_engine("postgresql+asyncpg://bot@127.0.0.1:1/x")


def test_unreachable_database_is_one_line():
    """A server that is not there is one line naming the problem, exit 1."""
    code = subprocess.run(
        [sys.executable, "-m", "bot", "db", "current", "--url",
         "postgresql+asyncpg://bot@127.0.0.1:1/x"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert code.returncode == 1
    assert len(code.stderr.strip().splitlines()) == 1, code.stderr
    assert "cannot use the database" in code.stderr


def test_check_config_refuses_a_password_in_the_toml(tmp_path: Path):
    """A password inside database.url is refused, naming RELEASEBOT_DATABASE_URL instead."""
    config = tmp_path / "releasebot.toml"
    config.write_text(
        '[database]\nurl = "postgresql+asyncpg://bot:hunter2@db.internal/releasebot"\n',
        encoding="utf-8",
    )
    code, out = _cli("check-config", str(config))
    assert code == 1
    assert "database.url" in out
    assert "RELEASEBOT_DATABASE_URL" in out
    assert "hunter2" not in out
    with pytest.raises(ConfigError) as caught:
        load_settings(config, env={})
    assert "hunter2" not in str(caught.value)


def test_database_url_from_env_overrides_the_toml(tmp_path: Path):
    """RELEASEBOT_DATABASE_URL wins over database.url; its password is redacted, never shown."""
    config = tmp_path / "releasebot.toml"
    config.write_text('[database]\nurl = "postgresql+asyncpg://bot@db/releasebot"\n', "utf-8")
    url = "postgresql+asyncpg://bot:s3cret-pw@db.internal:5432/releasebot"
    settings = load_settings(config, env={"RELEASEBOT_DATABASE_URL": url})
    assert settings.database_url == url
    assert "s3cret-pw" in settings.secrets.values()
    assert "s3cret-pw" not in repr(settings)
    assert load_settings(config, env={}).database_url == "postgresql+asyncpg://bot@db/releasebot"
    with pytest.raises(ConfigError, match="RELEASEBOT_DATABASE_URL: needs an async driver"):
        load_settings(config, env={"RELEASEBOT_DATABASE_URL": "postgresql://bot:pw@db/x"})


@POSTGRES_ONLY
async def test_partial_unique_indexes_keep_their_where_clause(engine):
    """Every partial unique index of the models exists on PostgreSQL with its WHERE clause."""
    partial = [
        index
        for table in metadata.sorted_tables
        for index in table.indexes
        if isinstance(index, Index) and index.dialect_options["postgresql"]["where"] is not None
    ]
    assert len(partial) >= 3  # active releases, open incidents, in-flight rollouts
    async with engine.connect() as conn:
        rows = dict((await conn.execute(text("SELECT indexname, indexdef FROM pg_indexes"))).all())
    for index in partial:
        assert index.name in rows, index.name
        assert "UNIQUE" in rows[index.name] and " WHERE " in rows[index.name], rows[index.name]


@POSTGRES_ONLY
async def test_timestamps_have_time_zones_and_json_is_json(engine):
    """Aware-datetime columns are `timestamptz` and JSON columns `json` on PostgreSQL."""
    expected = {
        (table.name, column.name): (
            "timestamp with time zone" if isinstance(column.type, UtcDateTime) else "json"
        )
        for table in metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, UtcDateTime) or column.type.__class__.__name__ == "JSON"
    }
    async with engine.connect() as conn:
        found = {
            (table, column): kind
            for table, column, kind in await conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = 'public'"
                )
            )
        }
    assert len(expected) > 20
    assert {key: found.get(key) for key in expected} == expected


@POSTGRES_ONLY
async def test_write_transactions_take_the_one_write_lock(engine):
    """Every PostgreSQL transaction holds the write lock (BEGIN IMMEDIATE's equivalent)."""
    async with engine.begin() as conn:
        held = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks "
                "WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            )
        )
    assert held == 1

"""The app factory: no side effects until start, migrations at start, clean close, wiring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import simcord

from bot.app import EXTENSIONS, Database, create_bot
from bot.chat.client import discover_extensions
from bot.checklist import TemplateError
from bot.monitoring.service.use_cases import MonitoringService
from bot.monitoring.web import WebServer
from bot.monitoring.wiring import LazyProbes
from bot.releases.chat.bot import ReleaseBot
from bot.store import migrate
from tests.support.world import ROOM_EXTENSIONS, make_settings

if TYPE_CHECKING:
    from bot.core.clock import FakeClock


async def test_create_bot_touches_nothing_until_the_bot_starts(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Create no database file at build time; upgrade it to the newest migration at start."""
    db = tmp_path / "state" / "releasebot.db"
    bot = create_bot(make_settings(db), clock=clock, extensions=ROOM_EXTENSIONS)
    assert isinstance(bot, ReleaseBot)
    assert not db.parent.exists()

    async with simcord.run(bot):
        assert db.exists()
        database = bot.handle(Database)
        assert isinstance(database, Database) and database.engine is not None
        heads = migrate.alembic_config(str(database.engine.url))
        from alembic.script import ScriptDirectory

        assert (
            await migrate.current(database.engine)
            == ScriptDirectory.from_config(heads).get_current_head()
        )
        pool = database.engine.pool
        await bot.close()
        assert database.engine.pool is not pool  # disposed: a fresh pool replaces it
        await bot.close()  # closing twice is harmless


async def test_a_broken_checklist_template_stops_the_bot_at_start(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Refuse to start with a checklist that does not parse, naming the file."""
    broken = tmp_path / "checklist.md"
    broken.write_text("# Release\n\n- [ ] an item before any phase\n", encoding="utf-8")
    settings = make_settings(tmp_path / "db.sqlite", checklist={"path": str(broken)})
    bot = create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS)

    with pytest.raises(TemplateError) as raised:
        async with simcord.run(bot):
            pass
    assert str(broken) in str(raised.value)
    await bot.close()


async def test_commands_sync_to_the_configured_guild(tmp_path: Path, clock: FakeClock) -> None:
    """Sync the /release commands to discord.guild_id only (global ones cleared), serve them there.

    (Issue 12 changed this contract: the global tree is now synced empty, so commands left
    from an earlier global sync disappear from every other server.)
    """
    guild_id = 1234567890123456789
    settings = make_settings(tmp_path / "db.sqlite", discord={"guild_id": guild_id})
    bot = create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS)
    async with simcord.run(bot) as env:
        puts = [r.path for r in env.http_requests if r.method == "PUT"]
        assert puts == [
            f"/applications/{env.bot.application_id}/guilds/{guild_id}/commands",
            f"/applications/{env.bot.application_id}/commands",
        ]
        guild = env.create_guild("Nexis", id=guild_id)
        channel = guild.create_text_channel("releases")
        lead = guild.add_member(env.create_user("ann"), roles=[guild.create_role("Release Lead")])
        assert "release start" in lead.available_commands(channel)
        result = await lead.slash(channel, "release list")
        assert result.ephemeral
        await bot.close()


def test_an_unknown_keyword_is_an_error_naming_it(tmp_path: Path) -> None:
    """Refuse a misspelt or unknown override instead of keeping it silently."""
    with pytest.raises(TypeError, match="not_a_real_option"):
        create_bot(make_settings(tmp_path / "db.sqlite"), not_a_real_option=1)  # type: ignore[call-arg]


async def test_the_http_client_is_what_the_probes_use(tmp_path: Path) -> None:
    """Hand the given HTTP client to the monitoring probes; load no extension when told so."""
    async with httpx.AsyncClient() as client:
        bot = create_bot(make_settings(tmp_path / "db.sqlite"), extensions=[], http_client=client)
        probes = bot.handle(MonitoringService).probes
        assert isinstance(probes, LazyProbes)
        assert probes._client is client
        assert bot.extension_names == []


def test_extensions_are_the_public_modules_with_a_setup_coroutine(tmp_path: Path) -> None:
    """Discover `feature` (async setup), skip `_private` and modules without setup."""
    package = tmp_path / "fakechat"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "feature.py").write_text("async def setup(bot):\n    pass\n", encoding="utf-8")
    (package / "_private.py").write_text("async def setup(bot):\n    pass\n", encoding="utf-8")
    (package / "render.py").write_text("def setup(bot):\n    pass\n", encoding="utf-8")
    (package / "helpers.py").write_text("X = 1\n", encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        assert discover_extensions("fakechat") == ["fakechat.feature"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("fakechat")]:
            del sys.modules[name]


def test_the_release_room_extensions_are_discovered() -> None:
    """Find the /release commands and the sign-off reactions among the listed extensions.

    The load order is explicit (`bot.app.EXTENSIONS`); every feature's chat extension is in it.
    """
    assert set(ROOM_EXTENSIONS) <= set(EXTENSIONS)
    features = ("releases", "monitoring", "incidents", "rollouts", "evidence", "reports")
    found = [name for feature in features for name in discover_extensions(f"bot.{feature}.chat")]
    assert sorted(found) == sorted(EXTENSIONS)


async def test_a_fake_clock_with_start_web_starts_the_web_server(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Start the web server with the bot when asked, whatever clock drives the bot."""
    settings = make_settings(tmp_path / "db.sqlite", web={"host": "127.0.0.1", "port": 0})
    bot = create_bot(settings, clock=clock, extensions=[], start_web=True)
    async with simcord.run(bot):
        server = bot.handle(WebServer)
        assert server.port  # bound to a free loopback port
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
        await bot.close()
    quiet = create_bot(settings, clock=clock, extensions=[])
    async with simcord.run(quiet):
        assert quiet.handle(WebServer).port is None  # a fake clock alone starts nothing
        await quiet.close()

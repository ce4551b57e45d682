"""Build the bot: settings, database, checklist template and services wired into one client."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import discord
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat.client import ReleaseBot, discover_extensions
from bot.chat.room_config import RoomConfig
from bot.config import PermissionSettings, Settings
from bot.domain.actors import AccessPolicy
from bot.domain.clock import Clock, SystemClock
from bot.domain.ports import UnitOfWork, UnitOfWorkFactory
from bot.services.releases import ReleaseService, TemplateSource
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from bot.store.uow import SqlUnitOfWorkFactory

PROJECT_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["Database", "ReleaseBot", "TemplateFile", "create_bot"]


class Database:
    """The store behind the bot: created and upgraded when the bot starts, disposed at close.

    Until `start()` nothing touches the disk, so building a bot has no side effects.
    """

    def __init__(self, url: str, clock: Clock, engine: AsyncEngine | None = None) -> None:
        self.url = url
        self.clock = clock
        self.engine = engine
        self._units: SqlUnitOfWorkFactory | None = None

    async def start(self) -> None:
        """Create the engine if needed and upgrade the schema to the newest migration."""
        if self.engine is None:
            self.engine = make_engine(self.url)
        await migrate.upgrade(self.engine)
        self._units = SqlUnitOfWorkFactory(make_session_factory(self.engine), self.clock)

    async def close(self) -> None:
        """Dispose the engine's connections."""
        if self.engine is not None:
            await self.engine.dispose()

    def __call__(self) -> UnitOfWork:
        """Return a new unit of work (the bot must have started)."""
        if self._units is None:
            raise RuntimeError("the database is not started yet: the bot starts it in setup_hook")
        # SqlUnitOfWork satisfies the port at run time; mypy rejects it because its
        # repositories are declared as concrete classes (a store-side typing gap).
        return cast(UnitOfWork, self._units())


class TemplateFile:
    """The checklist template, read from its file on first use and then kept."""

    def __init__(self, path: Path, source: TemplateSource | None = None) -> None:
        self.path = path
        self._source = source

    def resolved_path(self) -> Path:
        """Return the template path; a relative one missing here is looked up in the project."""
        if self.path.is_absolute() or self.path.exists():
            return self.path
        beside_project = PROJECT_ROOT / self.path
        return beside_project if beside_project.exists() else self.path

    def __call__(self) -> TemplateSource:
        """Return the parsed template (TemplateError names every problem in the file)."""
        if self._source is None:
            self._source = TemplateSource.from_path(self.resolved_path())
        return self._source

    async def check(self) -> None:
        """Load the template now, so a broken one stops the bot at start-up."""
        self()


def access_policy(permissions: PermissionSettings) -> AccessPolicy:
    """Return the access policy the configured permissions describe."""
    return AccessPolicy(
        {action: frozenset(permissions.roles_for(action)) for action in permissions.actions()}
    )


def create_bot(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    engine: AsyncEngine | None = None,
    uow_factory: UnitOfWorkFactory | None = None,
    template_source: TemplateSource | None = None,
    http_client: object | None = None,
    intents: discord.Intents | None = None,
    extensions: Sequence[str] | None = None,
    **collaborators: object,
) -> ReleaseBot:
    """Return a ready-to-start releasebot client built from `settings`.

    Nothing happens until the bot starts (``async with bot: await bot.start(token)``, or
    ``simcord.run(bot)`` offline): ``setup_hook`` then upgrades the database to the newest
    migration, loads the checklist template, registers the persistent controls, loads every
    chat extension and syncs the slash commands (to ``settings.discord.guild_id`` when set,
    else globally). ``await bot.close()`` stops pending message edits and disposes the
    database engine.

    Overrides, all optional: ``clock`` (default: the system clock), ``database_url``
    (default: ``settings.database.url``), ``engine`` (an AsyncEngine to use instead of
    creating one), ``uow_factory`` (use this unit of work instead of the SQL store; no
    migrations then), ``template_source`` (a parsed template instead of
    ``settings.checklist.path``), ``http_client``, ``intents``, ``extensions`` (module
    names to load; default: every extension in ``bot.chat``). Any other keyword is kept in
    ``bot.collaborators`` for extensions of later features (scheduler, Kubernetes client,
    monitoring probes)::

        bot = create_bot(load_settings("config/releasebot.toml"))
        async with bot:
            await bot.start(settings.require_discord_token().get_secret_value())
    """
    clock = clock or SystemClock()
    database: Database | None = None
    if uow_factory is None:
        database = Database(database_url or settings.database.url, clock, engine)
        uow_factory = database
    template = TemplateFile(settings.checklist.path, template_source)
    config = RoomConfig.from_settings(settings)
    releases = ReleaseService(
        uow=uow_factory,
        clock=clock,
        policy=access_policy(settings.permissions),
        template=template,
        services=config.services,
    )
    if http_client is not None:
        collaborators["http_client"] = http_client
    return ReleaseBot(
        releases=releases,
        config=config,
        clock=clock,
        extensions=list(extensions) if extensions is not None else discover_extensions(),
        on_start=[database.start, template.check] if database else [template.check],
        on_close=[database.close] if database else [],
        intents=intents,
        collaborators={"settings": settings, "database": database, **collaborators},
    )

"""The Discord client: loads the chat extensions, syncs commands, owns the release room.

Resources come in through the constructor (`bot.app.create_bot` wires them) and are
released by `close()`; the client reaches for no globals and does nothing until started.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Mapping, Sequence

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import FailureReporter
from bot.chat.room_config import RoomConfig
from bot.core.clock import Clock
from bot.releases.chat.room import ReleaseRoom
from bot.releases.service import ReleaseService

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]


def discover_extensions(package: str = "bot.chat") -> list[str]:
    """Return the modules of `package` that are chat extensions, in name order.

    An extension is a public module (its name does not start with "_") defining
    `async def setup(bot)`. Later features add theirs as `bot/chat/<feature>.py` (monitoring
    alerts, incidents, kubernetes) and are picked up without touching this list.
    """
    module = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(module.__path__, prefix=f"{package}."):
        if info.ispkg or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        setup = getattr(importlib.import_module(info.name), "setup", None)
        if inspect.iscoroutinefunction(setup):
            found.append(info.name)
    return sorted(found)


def default_intents() -> discord.Intents:
    """Return the intents the bot needs: guilds, messages, reactions, and members.

    Members (privileged: switch on "Server Members Intent" in the developer portal) lets the
    bot resolve who holds the Tech Lead or Engineering Manager role so it can DM them when
    an incident escalates; without it pages fall back to role mentions in the channel.
    """
    intents = discord.Intents.default()
    intents.message_content = False
    intents.members = True
    intents.presences = False
    return intents


class ReleaseCommandTree(app_commands.CommandTree[discord.Client]):
    """The command tree whose error handler is the central failure reporter."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """Tell the person what went wrong (privately) and log the bugs."""
        reporter = getattr(interaction.client, "reporter", None)
        if isinstance(reporter, FailureReporter):
            await reporter.report(interaction, error)
        else:
            await super().on_error(interaction, error)


class ReleaseBot(commands.Bot):
    """The releasebot Discord client."""

    def __init__(
        self,
        *,
        releases: ReleaseService,
        config: RoomConfig,
        clock: Clock,
        extensions: Sequence[str],
        on_start: Sequence[Hook] = (),
        on_close: Sequence[Hook] = (),
        intents: discord.Intents | None = None,
        collaborators: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or default_intents(),
            help_command=None,
            tree_cls=ReleaseCommandTree,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.releases = releases
        self.config = config
        self.clock = clock
        self.reporter = FailureReporter(config)
        self.room = ReleaseRoom(self, releases, config)
        self.collaborators: dict[str, object] = dict(collaborators or {})
        self.extension_names = list(extensions)
        self.on_start = list(on_start)
        self.on_close = list(on_close)
        # Run once every extension is loaded, before the commands sync: features whose
        # extensions load before bot.releases.chat.commands add their /release subcommands here.
        self.after_extensions: list[Hook] = []
        self._closed = False

    async def setup_hook(self) -> None:
        """Start what the bot needs (database upgrade first), load extensions, sync commands."""
        for hook in self.on_start:
            await hook()
        from bot.releases.chat.controls import (
            DYNAMIC_ITEMS,  # imported late: controls import this module
        )

        self.add_dynamic_items(*DYNAMIC_ITEMS)
        for name in self.extension_names:
            await self.load_extension(name)
        for hook in self.after_extensions:
            await hook()
        self.releases.listeners.append(self.room.changed)
        await self.sync_commands()

    async def sync_commands(self) -> None:
        """Sync the app commands: to the configured guild (instantly) or globally."""
        if self.config.guild_id is not None:
            guild = discord.Object(id=self.config.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info(
            "synced %d app commands (%s)",
            len(synced),
            f"guild {self.config.guild_id}" if self.config.guild_id else "global",
        )

    async def close(self) -> None:
        """Stop pending edits, disconnect, then release what `on_close` hooks own (once)."""
        if self._closed:
            return
        self._closed = True
        await self.room.close()
        try:
            await super().close()
        finally:
            for hook in reversed(self.on_close):
                try:
                    await hook()
                except Exception:
                    log.exception("a close hook failed")

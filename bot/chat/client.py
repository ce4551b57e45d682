"""The Discord client kernel: loads the chat extensions in order, syncs commands, holds handles.

Resources come in through the constructor (`bot.app.create_bot` wires them) and are
released by `close()`; the client reaches for no globals, imports no feature and does
nothing until started. Features reach what the composition root built for them through
`handle(<type>)`: typed, and a missing handle is an error naming the type.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import FailureReporter
from bot.chat.room_config import RoomConfig
from bot.core.clock import Clock

log = logging.getLogger(__name__)

Hook = Callable[[], Awaitable[None]]
T = TypeVar("T")


def discover_extensions(package: str = "bot.chat") -> list[str]:
    """Return the modules of `package` that are chat extensions, in name order.

    An extension is a public module (its name does not start with "_") defining
    `async def setup(bot)`. The bot loads the explicit list `bot.app.EXTENSIONS`; this
    finds the extensions of a feature's `chat` package (a test checks the list is whole).
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
    """Return the intents the bot needs: guilds, reactions, and members.

    Members (privileged: switch on "Server Members Intent" in the developer portal) lets the
    bot resolve who holds the Tech Lead or Engineering Manager role so it can DM them when
    an incident escalates; without it pages fall back to role mentions in the channel.
    Message events are not needed (every feature works from interactions, reactions and
    the messages it stored): without them Discord does not send, and the bot does not
    parse, a MESSAGE_UPDATE for each edit of a room message or a MESSAGE_CREATE for every
    message anyone posts in the server.
    """
    intents = discord.Intents.default()
    intents.message_content = False
    intents.guild_messages = False
    intents.dm_messages = False
    intents.members = True
    intents.presences = False
    return intents


GUARDED_EVENTS = ("INTERACTION_CREATE", "MESSAGE_REACTION_ADD", "MESSAGE_REACTION_REMOVE")
FOREIGN_GUILD_TEXT = "⛔ This bot serves only its home server; nothing was done here."


class _GuildGate:
    """A gateway parser wrapper that passes events of the home guild (and DMs) only."""

    def __init__(
        self, event: str, parser: Callable[[Any], None], home: int, client: discord.Client
    ) -> None:
        self.event, self.parser, self.home, self.client = event, parser, home, client
        self._answers: set[asyncio.Task[None]] = set()

    def __call__(self, data: Any) -> None:
        guild = data.get("guild_id") if isinstance(data, dict) else None
        if guild is None or str(guild) == str(self.home):
            self.parser(data)
            return
        user = data.get("member", {}).get("user") or data.get("user") or {}
        log.warning(
            "refused %s from guild %s (home guild is %s) by user %s",
            self.event,
            guild,
            self.home,
            user.get("id", data.get("user_id")),
        )
        if self.event == "INTERACTION_CREATE" and data.get("type") in (2, 3, 5):
            try:
                interaction = discord.Interaction(data=data, state=self.client._connection)
            except Exception:  # a payload discord.py cannot read: refused all the same
                log.info("could not read the refused interaction", exc_info=True)
                return
            task = asyncio.get_running_loop().create_task(self._refuse(interaction))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)

    async def _refuse(self, interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message(FOREIGN_GUILD_TEXT, ephemeral=True)
        except discord.HTTPException:
            log.info("could not answer the refused interaction %s", interaction.id)


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


def freeze_start_up_heap() -> None:
    """Move everything alive now out of the garbage collector's reach, for good.

    What start-up built (modules, the migrated engine, extensions, the command tree, parsed
    templates) lives as long as the process. Left in the oldest generation, every full
    collection rescans all of it, a pause that lands on whichever click allocated at that
    moment; frozen (`gc.freeze`), it is skipped. Garbage is collected first, so nothing
    frozen is garbage; later allocations are collected as usual. Once per process: a
    process that starts several clients (tests) freezes at the first start only.
    """
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()


class ChatClient(commands.Bot):
    """The releasebot Discord client, feature-agnostic: features plug in through handles."""

    def __init__(
        self,
        *,
        config: RoomConfig,
        clock: Clock,
        extensions: Sequence[str],
        handles: Iterable[object] = (),
        dynamic_items: Sequence[type[discord.ui.DynamicItem[Any]]] = (),
        on_start: Sequence[Hook] = (),
        before_close: Sequence[Hook] = (),
        on_close: Sequence[Hook] = (),
        intents: discord.Intents | None = None,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents or default_intents(),
            help_command=None,
            tree_cls=ReleaseCommandTree,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True),
            # No message cache: every feature works from raw events and stored references,
            # and discord.py would scan up to 1,000 cached messages (then parse the message
            # again) on every MESSAGE_UPDATE, which each edit of a room message brings.
            max_messages=None,
        )
        self.config = config
        self.clock = clock
        self.reporter = FailureReporter(config)
        self.extension_names = list(extensions)
        self.dynamic_item_types = list(dynamic_items)
        self.on_start = list(on_start)
        self.before_close = list(before_close)
        self.on_close = list(on_close)
        self._handles: dict[type, object] = {}
        for handle in handles:
            self.add_handle(handle)
        self._closed = False

    def add_handle(self, handle: object) -> None:
        """Give features `handle`, found again by its type."""
        self._handles[type(handle)] = handle

    def handle(self, kind: type[T]) -> T:
        """Return the handle of type `kind` the composition root gave this bot."""
        found = self.find_handle(kind)
        if found is None:
            raise LookupError(f"{kind.__name__} is not wired into this bot (create_bot adds it)")
        return found

    def find_handle(self, kind: type[T]) -> T | None:
        """Return the handle of type `kind`, or None when this bot has none."""
        found = self._handles.get(kind)
        return found if isinstance(found, kind) else None

    async def setup_hook(self) -> None:
        """Start what the bot needs (database upgrade first), load extensions, sync commands."""
        for hook in self.on_start:
            await hook()
        self._guard_gateway()
        self.add_dynamic_items(*self.dynamic_item_types)
        for name in self.extension_names:
            await self.load_extension(name)
        await self.sync_commands()
        freeze_start_up_heap()

    def _guard_gateway(self) -> None:
        """Refuse, before any handler runs, every interaction and reaction from another guild.

        The one home server is `discord.guild_id`: an interaction (command, button, select,
        modal) from any other server is answered with a refusal and logged, a reaction
        there is dropped and logged. DMs pass: a paged person's buttons work there, with
        the roles of their home-guild member. Without a home guild nothing is filtered.
        """
        home = self.config.guild_id
        if home is None:
            return
        parsers = self._connection.parsers
        for event in GUARDED_EVENTS:
            original = parsers.get(event)
            if original is not None:
                parsers[event] = _GuildGate(event, original, home, self)

    async def sync_commands(self) -> None:
        """Sync the app commands to the home guild; clear any global ones of earlier runs.

        Without a home guild (tests, the offline demo) they are synced globally.
        """
        if self.config.guild_id is not None:
            guild = discord.Object(id=self.config.guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            # Global commands would be visible (and usable) in every server the bot is in.
            self.tree.clear_commands(guild=None)
            await self.tree.sync()
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
        for hook in self.before_close:
            await hook()
        try:
            await super().close()
        finally:
            for hook in reversed(self.on_close):
                try:
                    await hook()
                except Exception:
                    log.exception("a close hook failed")

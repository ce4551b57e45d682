"""The releasebot client as the release room sees it: the kernel client plus the room.

Every cog is handed the client; `release_bot(client)` gives it this type back. The room
is attached by the composition root right after the client is built (the room needs it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import discord

from bot.chat.client import ChatClient
from bot.chat.roles import home_actor
from bot.core.actors import Actor

if TYPE_CHECKING:
    from bot.releases.chat.room import ReleaseRoom
    from bot.releases.domain.release import Release
    from bot.releases.service import ReleaseService

AbortFollowUp = Callable[["Release"], Awaitable["tuple[str, discord.ui.View | None] | None"]]
"""Asked after an abort what else the person aborting should hear, privately: a line and the
controls to act on it (the incidents extension: open incidents, each with its Resolve)."""


class ReleaseBot(ChatClient):
    """The releasebot Discord client: the release service and the room it keeps current."""

    room: ReleaseRoom

    def __init__(self, *, releases: ReleaseService, **kernel: Any) -> None:
        super().__init__(**kernel)
        self.releases = releases
        self.abort_followups: list[AbortFollowUp] = []


def release_bot(client: discord.Client) -> ReleaseBot:
    """Return `client` as the ReleaseBot it must be."""
    if not isinstance(client, ReleaseBot):
        raise TypeError("release-room controls need the ReleaseBot client")
    return client


def acting(interaction: discord.Interaction) -> tuple[ReleaseBot, Actor]:
    """Return the bot and the actor behind `interaction`, roles read right now."""
    bot = release_bot(interaction.client)
    return bot, home_actor(bot, interaction.user, bot.config.role_refs, bot.config.guild_id)

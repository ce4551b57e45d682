"""The one place that decides how a failure is shown to the person who caused it.

Slash commands reach it through the command tree's `on_error`; buttons, selects and modals
through `run_guarded`. Rule violations (DomainError) are answered with their own words,
privately; anything else is logged with a short reference the person can quote.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands

from bot.chat.layout import CONTENT_MAX, bounded_lines, clip
from bot.chat.room_config import RoomConfig
from bot.core.errors import DomainError, GatesOpen, NotAuthorized
from bot.core.redaction import redact

log = logging.getLogger(__name__)


def unwrap(error: BaseException) -> BaseException:
    """Return the exception a command raised, without discord.py's wrapper."""
    if isinstance(error, app_commands.CommandInvokeError):
        return error.original
    return error


class FailureReporter:
    """Turn any failure into a private answer; log the ones that are bugs."""

    def __init__(self, config: RoomConfig) -> None:
        self._config = config

    def denial_text(self, error: NotAuthorized) -> str:
        """Return "⛔ You may not …" naming the Discord roles that would allow the action."""
        roles = ", ".join(self._config.role_name(key) for key in error.allowed) or "nobody"
        target = f" on {error.target}" if error.target else ""
        return f"⛔ You may not {error.action}{target}: it needs one of these roles: {roles}."

    def describe(self, error: BaseException) -> tuple[str, bool]:
        """Return (what to tell the person, whether it is a bug that was logged)."""
        error = unwrap(error)
        if isinstance(error, NotAuthorized):
            return self.denial_text(error), False
        if isinstance(error, GatesOpen):
            head = f"🚧 {error.phase_title} cannot close yet; open gates:"
            gates = [f"- {clip(gate, 300)}" for gate in error.open_gates]
            body = bounded_lines(gates, CONTENT_MAX - len(head) - 1)
            return f"{head}\n{body}", False
        if isinstance(error, DomainError):
            return clip(f"⚠️ {error.message}", CONTENT_MAX), False
        if isinstance(error, app_commands.TransformerError):
            return clip(f"⚠️ {error.value!r} is not a valid {error.type.name.lower()}", 2000), False
        if isinstance(error, app_commands.NoPrivateMessage):
            return "⚠️ Use release commands in the server, not in direct messages.", False
        if isinstance(error, app_commands.CheckFailure):
            return "⛔ You cannot use this command here.", False
        if isinstance(error, discord.Forbidden):
            # A server setting, not a bug: say what the bot needs so an admin can fix it.
            log.warning("Discord refused the bot: %s", error)
            return (
                "⚠️ Discord refused the bot "
                f"({clip(error.text or str(error.code), 200)}): it needs View Channel, Send "
                "Messages, Create Public Threads, Send Messages in Threads, Embed Links, Add "
                "Reactions, Manage Messages and Read Message History in the release channel.",
                False,
            )
        if isinstance(error, OverflowError | ValueError):
            # A number or value out of range (a forged id, an absurd duration): the person's
            # input, not a bug; said plainly and noted at INFO.
            log.info("interaction refused: %s: %s", type(error).__name__, error)
            return "⚠️ That value is out of range or not valid; nothing was changed.", False
        ref = secrets.token_hex(4)
        log.error("interaction failed (ref %s)", ref, exc_info=error)
        return f"💥 Something went wrong; it was logged (ref {ref}).", True

    async def report(self, interaction: discord.Interaction, error: BaseException) -> None:
        """Tell the person who triggered `interaction` what went wrong, privately."""
        text, _bug = self.describe(error)
        await send_private(interaction, text)


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """Answer `interaction` with an ephemeral message, whatever was already sent."""
    text = redact(text)
    response = interaction.response
    try:
        if not response.is_done():
            await response.send_message(text, ephemeral=True)
        elif response.type is discord.InteractionResponseType.deferred_channel_message:
            await interaction.edit_original_response(content=text)
        else:
            await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        # The interaction token may have expired (15 min); the failure is already logged.
        log.warning("could not tell %s: %s", interaction.user, text, exc_info=True)


async def run_guarded(
    interaction: discord.Interaction,
    reporter: FailureReporter,
    action: Callable[[], Awaitable[None]],
) -> None:
    """Run a component or modal `action`; any failure goes to the central reporter.

    discord.py only logs exceptions raised by dynamic items, so they are caught here.
    """
    try:
        await action()
    except Exception as error:
        await reporter.report(interaction, error)

"""`/release monitor`: show a release's monitoring window; pause, resume, extend or close it.

The subcommand joins the `/release` group of `bot.releases.chat.commands`; the monitoring
extension attaches it as it loads (`bot.app.EXTENSIONS` loads the group's extension first).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.chat.kit import to_embed
from bot.config import parse_duration
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.monitoring.chat.controls import monitoring_of
from bot.monitoring.chat.render import render_window_status, when
from bot.monitoring.metrics import MonitoringMetrics
from bot.releases.chat.bot import acting
from bot.releases.chat.commands import resolve_release

if TYPE_CHECKING:
    from bot.releases.chat.bot import ReleaseBot

Action = Literal["show", "pause", "resume", "extend", "close"]


DESCRIPTION = "Show or control a release's monitoring"


@app_commands.describe(
    action="show (default), pause, resume, extend, or close (early, with a reason)",
    extend_by="With extend: how much longer to watch, e.g. 2h",
    reason="With close: why the window may end before its 24 hours",
    release="The release (default: this thread's)",
)
async def monitor(
    interaction: discord.Interaction,
    action: Action = "show",
    extend_by: app_commands.Range[str, 2, 16] | None = None,
    release: str | None = None,
    reason: app_commands.Range[str, 1, 500] | None = None,
) -> None:
    """Show the window (stages, next poll, polls done, last verdicts) or change it."""
    started = time.perf_counter()
    await interaction.response.defer(ephemeral=True, thinking=True)
    bot, actor = acting(interaction)
    found = await resolve_release(interaction, release)
    release_id = found.id or 0
    service = monitoring_of(bot)
    note = ""
    if action == "extend":
        if not extend_by:
            raise InvalidInput("extend needs extend_by, e.g. 2h")
        try:
            by = parse_duration(extend_by)
        except ValueError as error:
            raise InvalidInput(f"extend_by {extend_by!r}: {error}") from None
        window = await service.extend(release_id, by, actor, Source.SLASH)
        note = f"⏩ Extended; the window now closes {when(window.window.closes_at)}."
    elif action == "pause":
        await service.pause(release_id, actor, Source.SLASH)
        note = "⏸ Paused; no polls until resumed (slots missed meanwhile are skipped)."
    elif action == "close":
        window = await service.close_early(release_id, reason or "", actor, Source.SLASH)
        note = (
            f"⏹ Closed the monitoring window early ({reason}); the sign-off "
            "“Post-release monitoring completed” and the final Advance are open now."
        )
    elif action == "resume":
        window = await service.resume(release_id, actor, Source.SLASH)
        nxt = when(window.next_due_at) if window.next_due_at else "none (the window is over)"
        note = f"▶️ Resumed; next poll {nxt}."
    view = await service.window_view(release_id=release_id)
    embed = to_embed(render_window_status(view))
    await interaction.edit_original_response(content=note or None, embeds=[embed])
    metrics = bot.find_handle(MonitoringMetrics)
    if metrics is not None:
        metrics.observe_interaction(f"monitor-{action}", time.perf_counter() - started)


def attach_monitor_command(bot: ReleaseBot) -> None:
    """Add `monitor` to the `/release` group (a fresh command object per bot)."""
    group = bot.tree.get_command("release")
    if not isinstance(group, app_commands.Group):
        raise RuntimeError(
            "/release monitor needs the /release group of bot.releases.chat.commands"
        )
    group.add_command(
        app_commands.Command(name="monitor", description=DESCRIPTION, callback=monitor)
    )

"""The /release commands: start, status, list, advance, abort, waive, note."""

from __future__ import annotations

import re

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import send_private
from bot.chat.kit import to_embed
from bot.chat.layout import CONTENT_MAX, clip
from bot.chat.roles import actor_for
from bot.checklist.model import TemplateItem
from bot.core.actors import Source
from bot.core.errors import DomainError, InvalidInput, UnknownTarget
from bot.releases.chat.bot import acting, release_bot
from bot.releases.chat.render import REASON_MAX
from bot.releases.chat.summary import release_choice, render_list, render_status
from bot.releases.domain.release import ItemState, Release

_RELEASE_REF = re.compile(r"#?(\d+)")
_PHASE_ITEM = re.compile(r"#(\d+):(\d+)")

Reason = app_commands.Range[str, 3, REASON_MAX]


async def resolve_release(interaction: discord.Interaction, given: str | None) -> Release:
    """Return the release named by `given` ("12" or "#12"), else the one whose room this is.

    Outside a release room with no release given, the only active release is used; with
    several active releases the person is asked to pick one.
    """
    bot = release_bot(interaction.client)
    if given:
        match = _RELEASE_REF.fullmatch(given.strip())
        if match is None:
            raise InvalidInput(f"release {given!r} is not valid: pick one from the list (e.g. #12)")
        return await bot.releases.get(int(match[1]))
    if interaction.channel_id is not None:
        in_room = await bot.room.release_in_channel(interaction.channel_id)
        if in_room is not None:
            return await bot.releases.get(in_room)
    active = await bot.releases.list(active=True, limit=2)
    if len(active) == 1:
        return active[0]
    if not active:
        raise InvalidInput("there is no active release; start one with /release start")
    raise InvalidInput("several releases are active: run this in a release's thread or pick one")


def resolve_item(release: Release, given: str) -> TemplateItem:
    """Return the item named by `given`: an item id, "#phase:index", or a number in the phase."""
    text = given.strip()
    try:
        return release.template.item(text)
    except KeyError:
        pass
    if (match := _PHASE_ITEM.fullmatch(text)) is not None:
        phase, index = int(match[1]), int(match[2])
        if phase < len(release.phases) and index < len(release.phases[phase].all_items()):
            return release.phases[phase].all_items()[index]
    current = release.current_phase
    if current is not None and text.isdigit() and 1 <= int(text) <= len(current.all_items()):
        return current.all_items()[int(text) - 1]
    where = current.title if current else release.name
    raise UnknownTarget(f"there is no item {given!r} in {where}: pick one from the list")


async def _release_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    bot = release_bot(interaction.client)
    releases = await bot.releases.list(limit=25)
    wanted = current.strip().lstrip("#").casefold()
    return [
        app_commands.Choice(name=release_choice(r), value=str(r.id))
        for r in releases
        if wanted in release_choice(r).casefold()
    ][:25]


@app_commands.guild_only()
class ReleaseCommands(commands.GroupCog, group_name="release", group_description="Run releases"):
    """Slash commands that drive releases; every change goes through ReleaseService."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = release_bot(bot)
        super().__init__()

    @app_commands.command(name="start", description="Start a release and open its room")
    @app_commands.describe(
        version="vMAJOR.MINOR.PATCH, e.g. v1.2.3",
        service="The service to release (default: the first configured)",
        lead="Release lead (default: you)",
        target_date="Target date, YYYY-MM-DD",
        window="Deployment window, e.g. 2026-12-01 14:00-16:00 Asia/Shanghai",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        version: app_commands.Range[str, 1, 64],
        service: str | None = None,
        lead: discord.Member | None = None,
        target_date: app_commands.Range[str, 1, 32] | None = None,
        window: app_commands.Range[str, 1, 80] | None = None,
    ) -> None:
        """Validate every option, create the release, then open its thread."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        if interaction.guild is None:
            raise InvalidInput("start releases from the server, not in a direct message")
        channel = bot.room.release_channel(interaction.guild)
        if service is None and not bot.config.services:
            raise InvalidInput("no services are configured: add one under [[services]]")
        release = await bot.releases.start(
            actor,
            service=service or bot.config.services[0],
            version=version,
            lead=actor_for(lead, bot.config.role_refs) if lead else None,
            target_date=target_date,
            window=window,
            source=Source.SLASH,
        )
        thread = await bot.room.open(release, channel)
        await interaction.edit_original_response(
            content=f"🚀 Started {release.name} (release #{release.id}): {thread.mention}"
        )

    @start.autocomplete("service")
    async def _services(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=name, value=name)
            for name in self.bot.config.services
            if current.casefold() in name
        ][:25]

    @app_commands.command(name="status", description="Show where a release stands")
    @app_commands.describe(release="The release (default: this thread's)")
    @app_commands.autocomplete(release=_release_choices)
    async def status(self, interaction: discord.Interaction, release: str | None = None) -> None:
        """Show the summary and latest activity; finish opening the room if it is incomplete."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        assert found.id is not None
        thread_id = await self.bot.room.repair(found, interaction.guild)
        timeline = await self.bot.releases.timeline(found.id, 10)
        spec = render_status(found, self.bot.room.render_context, timeline, thread_id)
        await interaction.edit_original_response(embeds=[to_embed(e) for e in spec.embeds])

    @app_commands.command(name="list", description="List active and recent releases")
    async def list_(self, interaction: discord.Interaction) -> None:
        """List releases, newest first."""
        releases = await self.bot.releases.list(limit=25)
        spec = render_list(releases)
        await interaction.response.send_message(
            embeds=[to_embed(e) for e in spec.embeds], ephemeral=True
        )

    @app_commands.command(name="advance", description="Close the current phase if its gates hold")
    @app_commands.describe(
        phase="The phase to close (its key, e.g. deployment; default: the current one)"
    )
    @app_commands.autocomplete(release=_release_choices)
    async def advance(
        self,
        interaction: discord.Interaction,
        release: str | None = None,
        phase: app_commands.Range[str, 1, 100] | None = None,
    ) -> None:
        """Advance the release (refused with the list of open gates, or if already advanced)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        _, actor = acting(interaction)
        moved = await self.bot.room.advance(found.id or 0, actor, Source.SLASH, phase)
        await send_private(interaction, f"➡️ {moved.name}: {release_choice(moved)}")

    @app_commands.command(name="abort", description="Abort a release, with a reason")
    @app_commands.autocomplete(release=_release_choices)
    async def abort(
        self,
        interaction: discord.Interaction,
        reason: app_commands.Range[str, 3, 500],
        release: str | None = None,
    ) -> None:
        """Abort the release and say so in its thread."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        _, actor = acting(interaction)
        async with self.bot.room.serial(found.id or 0):
            stopped = await self.bot.releases.abort(found.id or 0, reason, actor, Source.SLASH)
        await self.bot.room.announce(
            stopped.id or 0, f"⏹ {actor.name} aborted {stopped.name}: {reason}"
        )
        lines, view = [f"⏹ Aborted {stopped.name}."], discord.ui.View(timeout=None)
        for followup in self.bot.abort_followups:
            said = await followup(stopped)
            if said is not None:
                lines.append(said[0])
                for item in said[1].children if said[1] is not None else ():
                    view.add_item(item)
        text = "\n".join(lines)
        if view.children:
            await interaction.edit_original_response(content=clip(text, CONTENT_MAX), view=view)
        else:
            await send_private(interaction, text)

    @app_commands.command(name="waive", description="Waive an item of the current phase")
    @app_commands.describe(item="The item to waive", reason="Why it is skipped")
    @app_commands.autocomplete(release=_release_choices)
    async def waive(
        self,
        interaction: discord.Interaction,
        item: app_commands.Range[str, 1, 100],
        reason: Reason,
        release: str | None = None,
    ) -> None:
        """Waive an item with a reason."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        target = resolve_item(found, item)
        _, actor = acting(interaction)
        async with self.bot.room.serial(found.id or 0):
            await self.bot.releases.waive(found.id or 0, target.id, reason, actor, Source.SLASH)
        await send_private(interaction, f"⏭ Waived “{clip(target.text, 200)}”: {reason}")

    @waive.autocomplete("item")
    async def _open_items(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        given = getattr(interaction.namespace, "release", None)
        try:
            found = await resolve_release(interaction, given if isinstance(given, str) else None)
        except DomainError:
            return []  # the command itself will say what is missing
        phase = found.current_phase
        if phase is None:
            return []
        phase_index = found.phase_index
        choices = []
        for index, entry in enumerate(phase.all_items()):
            if found.progress(entry.id).state is not ItemState.OPEN:
                continue
            label = clip(f"{index + 1}. {entry.text}", 100)
            if current.casefold() in label.casefold():
                value = entry.id if len(entry.id) <= 100 else f"#{phase_index}:{index}"
                choices.append(app_commands.Choice(name=label, value=value))
        return choices[:25]

    @app_commands.command(name="note", description="Add a note to a release's timeline")
    @app_commands.autocomplete(release=_release_choices)
    async def note(
        self,
        interaction: discord.Interaction,
        text: app_commands.Range[str, 1, 1500],
        release: str | None = None,
    ) -> None:
        """Record a note and show it in the release's thread."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await resolve_release(interaction, release)
        _, actor = acting(interaction)
        async with self.bot.room.serial(found.id or 0):
            await self.bot.releases.note(found.id or 0, text, actor, Source.SLASH)
        await self.bot.room.announce(found.id or 0, f"📝 {actor.name}: {text}")
        await send_private(interaction, "📝 Noted.")


async def setup(bot: commands.Bot) -> None:
    """Add the /release commands to `bot`."""
    await bot.add_cog(ReleaseCommands(bot))

"""The /incident and /oncall commands, the incident buttons, and Discord delivery of pages.

Loading this extension registers the "channel" and "dm" outbox senders on `bot.background`
(DM failures fall back to a mention in the release thread), the Acknowledge/Resolve dynamic
items, and binds the member directory the on-call roster reads role holders from.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat.failures import send_private
from bot.chat.kit import to_embed
from bot.config import Settings
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.core.roles import SeverityLevel
from bot.incidents.chat.delivery import DiscordDelivery, GuildDirectory, incident_dm_fallback
from bot.incidents.chat.render import list_text, oncall_text, resolve_id, status_spec
from bot.incidents.chat.view import (
    INCIDENT_ITEMS,
    IncidentResolveButton,
    ack_answer,
    acting,
    escalate_answer,
    incident_service,
)
from bot.incidents.paging.fallbacks import discord_to_external
from bot.incidents.service.oncall import OncallService
from bot.incidents.service.use_cases import IncidentService
from bot.releases.chat.bot import ReleaseBot, release_bot
from bot.releases.domain.release import Release
from bot.runtime.background import Background

_INCIDENT_REF = re.compile(r"#?(\d+)")
Level = SeverityLevel
OncallRole = Literal["primary", "secondary", "tech_lead", "eng_manager"]


def incident_ref(given: str) -> int:
    """Return the incident id in "7" or "#7", or raise InvalidInput."""
    match = _INCIDENT_REF.fullmatch(given.strip())
    if match is None:
        raise InvalidInput(f"incident {given!r} is not valid: pick one from the list (e.g. #7)")
    return int(match[1])


async def _incident_choices(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    service = incident_service(release_bot(interaction.client))
    wanted = current.strip().lstrip("#").casefold()
    choices = []
    for incident in await service.list_incidents(limit=25):
        state = f"{incident.severity.value} {incident.status.value}"
        label = f"#{incident.id} {state}: {incident.title}"
        if wanted in label.casefold():
            choices.append(app_commands.Choice(name=label[:100], value=str(incident.id)))
    return choices[:25]


@app_commands.guild_only()
class IncidentCommands(
    commands.GroupCog,
    group_name="incident",
    group_description="Incidents: ack, escalate, update, resolve",
):
    """Slash commands on incidents; every change goes through IncidentService."""

    def __init__(self, bot: ReleaseBot) -> None:
        self.bot = bot
        super().__init__()

    def _names(self) -> dict[str, str]:
        return {key: self.bot.config.role_name(key) for key in self.bot.config.role_refs}

    @app_commands.command(name="ack", description="Acknowledge an incident (stops escalation)")
    @app_commands.autocomplete(incident=_incident_choices)
    async def ack(self, interaction: discord.Interaction, incident: str) -> None:
        """Acknowledge as the invoking person."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        service = incident_service(bot)
        before = await service.get(incident_ref(incident))
        done = await service.acknowledge(incident_ref(incident), actor, Source.SLASH)
        fresh = f"✅ You acknowledged incident #{done.id}."
        await send_private(interaction, ack_answer(before, done, fresh))

    @app_commands.command(name="resolve", description="Resolve an incident, saying what fixed it")
    @app_commands.autocomplete(incident=_incident_choices)
    async def resolve(
        self,
        interaction: discord.Interaction,
        incident: str,
        note: app_commands.Range[str, 1, 1000],
    ) -> None:
        """Resolve with a note; the resolution time is scored against the SLA."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        done = await incident_service(bot).resolve(
            incident_ref(incident), actor, note, Source.SLASH
        )
        verdict = "⛔ outside" if done.resolution_sla_breached else "within"
        await send_private(interaction, f"🟢 Incident #{done.id} resolved ({verdict} its SLA).")

    @app_commands.command(name="escalate", description="Page the next escalation step now")
    @app_commands.autocomplete(incident=_incident_choices)
    async def escalate(self, interaction: discord.Interaction, incident: str) -> None:
        """Escalate now as the invoking person (the roles that may acknowledge may)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        service = incident_service(bot)
        before = await service.get(incident_ref(incident))
        done = await service.escalate_now(incident_ref(incident), actor, Source.SLASH)
        await send_private(interaction, escalate_answer(before, done))

    @app_commands.command(name="update", description="Post a status update to the stakeholders")
    @app_commands.describe(text="Where things stand: impact, what is being done, next update")
    @app_commands.autocomplete(incident=_incident_choices)
    async def update(
        self,
        interaction: discord.Interaction,
        incident: str,
        text: app_commands.Range[str, 1, 1500],
    ) -> None:
        """Post the update to the severity's notify audience and the release thread."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        done = await incident_service(bot).post_update(
            incident_ref(incident), actor, text, Source.SLASH
        )
        audience = ", ".join(done.sla.for_severity(done.severity).notify) or "the release thread"
        await send_private(
            interaction, f"📝 Status update posted on incident #{done.id} (to {audience})."
        )

    @app_commands.command(name="status", description="Show an incident and its timeline")
    @app_commands.autocomplete(incident=_incident_choices)
    async def status(self, interaction: discord.Interaction, incident: str) -> None:
        """Show the incident's state, escalation deadlines, SLA and every event."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        service = incident_service(self.bot)
        found, events = await service.status(incident_ref(incident))
        release = await service.release_of(found)
        spec = status_spec(found, release, events, self.bot.clock.now(), self._names())
        await interaction.edit_original_response(embeds=[to_embed(e) for e in spec.embeds])

    @app_commands.command(name="list", description="List incidents, newest first")
    @app_commands.describe(open_only="Only incidents that are not resolved (default yes)")
    async def list_(self, interaction: discord.Interaction, open_only: bool = True) -> None:
        """List incidents."""
        found = await incident_service(self.bot).list_incidents(open_only=open_only)
        await interaction.response.send_message(
            list_text(found, self.bot.clock.now()), ephemeral=True
        )

    @app_commands.command(name="open", description="Open an incident by hand and page on-call")
    @app_commands.describe(title="What is wrong", severity="P0 (worst) to P3", release="Release id")
    async def open_(
        self,
        interaction: discord.Interaction,
        title: app_commands.Range[str, 3, 200],
        severity: Level,
        release: app_commands.Range[int, 1] | None = None,
    ) -> None:
        """Open an incident; it pages like one from monitoring."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        opened = await incident_service(bot).open(
            actor, title=title, severity=severity, release_id=release, source=Source.SLASH
        )
        await send_private(
            interaction, f"🚨 Opened {opened.severity.value} incident #{opened.id}: paging now."
        )

    @app_commands.command(name="severity", description="Change an incident's severity")
    @app_commands.autocomplete(incident=_incident_choices)
    async def severity(self, interaction: discord.Interaction, incident: str, level: Level) -> None:
        """Change severity (authorized, audited); SLA deadlines are recomputed."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        changed = await incident_service(bot).change_severity(
            incident_ref(incident), level, actor, Source.SLASH
        )
        await send_private(
            interaction, f"⚠️ Incident #{changed.id} is now {changed.severity.value}."
        )


@app_commands.guild_only()
class OncallCommands(commands.GroupCog, group_name="oncall", group_description="Who is on call"):
    """Show and override who each escalation step pages."""

    def __init__(self, bot: ReleaseBot) -> None:
        self.bot = bot
        super().__init__()

    def _oncall(self) -> OncallService:
        return self.bot.handle(OncallService)

    @app_commands.command(name="show", description="Show who each escalation step pages now")
    async def show(self, interaction: discord.Interaction) -> None:
        """Say who an incident opened now would page at each step."""
        view = await self._oncall().show()
        names = {key: self.bot.config.role_name(key) for key in self.bot.config.role_refs}
        await interaction.response.send_message(
            oncall_text(view, names),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    @app_commands.command(name="set", description="Put someone on call until a time")
    @app_commands.describe(
        member="Who stands in",
        until='How long: "8h", or a UTC time "2026-03-02 18:00"',
        role="Which slot (default: the primary on-call)",
    )
    async def set_(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        until: app_commands.Range[str, 1, 40],
        role: OncallRole = "primary",
    ) -> None:
        """Override the on-call slot (audited); refused without the oncall_set permission."""
        _, actor = acting(interaction)
        override = await self._oncall().set_override(
            actor, str(member.id), until, role=role, source=Source.SLASH
        )
        await interaction.response.send_message(
            f"📟 {member.mention} is {role} on call until {override.until:%Y-%m-%d %H:%M} UTC.",
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )


ABORT_RESOLVE_SHOWN = 5
"""At most this many open incidents get a Resolve button in the abort's private reply."""


def abort_followup(
    client: ReleaseBot,
) -> Callable[[Release], Awaitable[tuple[str, discord.ui.View | None] | None]]:
    """Return what the person aborting hears about the release's open incidents, privately.

    An abort stops the polls but not an incident: each open one is named, with a Resolve
    button (the same one as on the incident message, so the note modal and the role check
    are the incident's own). The same question is asked in the thread for the others there.
    """

    async def followup(release: Release) -> tuple[str, discord.ui.View | None] | None:
        service = client.find_handle(IncidentService)
        if service is None or release.id is None:
            return None
        found = await service.list_incidents(open_only=True, release_id=release.id, limit=25)
        if not found:
            return None
        listed = "\n".join(
            f"- #{i.id} {i.severity.value} · {i.title} · {i.status.value}" for i in found
        )
        text = (
            f"🚨 {len(found)} incident(s) of {release.name} still open and escalating:\n{listed}\n"
            "Press **Resolve** (with a note) if the abort ends it, or leave it open."
        )
        view = discord.ui.View(timeout=None)
        for incident in found[:ABORT_RESOLVE_SHOWN]:
            assert incident.id is not None
            button = discord.ui.Button[discord.ui.View](
                label=f"Resolve #{incident.id}",
                custom_id=resolve_id(incident.id),
                style=discord.ButtonStyle.primary,
            )
            view.add_item(IncidentResolveButton(button))
        return text, view

    return followup


async def setup(bot: commands.Bot) -> None:
    """Add the incident commands, buttons and Discord senders to `bot`."""
    client = release_bot(bot)
    settings = client.handle(Settings)
    directory = client.find_handle(GuildDirectory)
    if directory is None:
        directory = GuildDirectory(client.config.role_refs, client.config.guild_id)
    directory.bind(client)
    client.add_dynamic_items(*INCIDENT_ITEMS)
    background = client.find_handle(Background)
    if background is not None and client.find_handle(IncidentService) is not None:
        delivery = DiscordDelivery(client, incident_service(client), settings, directory)
        # A Discord page failing past its budget also goes to PagerDuty/the webhook.
        background.add_sender(
            "channel", delivery.channel, discord_to_external(lambda: set(background.senders))
        )
        background.add_sender(
            "dm", delivery.dm, incident_dm_fallback(settings.discord.alerts_channel)
        )
    client.abort_followups.append(abort_followup(client))
    await client.add_cog(IncidentCommands(client))
    await client.add_cog(OncallCommands(client))

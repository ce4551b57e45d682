"""Persistent incident controls: Acknowledge, Resolve (with a note modal), and Roll back.

The Acknowledge and Resolve buttons are `DynamicItem`s whose custom ids carry the incident
id, so a page posted days ago (or DMed before a restart) still works. The Roll back button
only carries `rb:rollback:<release_id>`; the Kubernetes extension handles that id.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.chat.failures import run_guarded, send_private
from bot.chat.kit import to_button, to_embed
from bot.chat.layout import ButtonSpec, MessageSpec
from bot.chat.roles import home_actor
from bot.core.actors import Actor, Source
from bot.incidents.chat.render import (
    ACK_TEMPLATE,
    ESCALATE_TEMPLATE,
    NOTE_TEMPLATE,
    RESOLVE_TEMPLATE,
    note_id,
)
from bot.incidents.domain.model import Incident, IncidentStatus, TimerKind
from bot.incidents.service.use_cases import IncidentService
from bot.releases.chat.bot import release_bot

if TYPE_CHECKING:
    from bot.releases.chat.bot import ReleaseBot

NOTE_MAX = 1000
STEP = TimerKind.ESCALATION_STEP


def incident_service(bot: ReleaseBot) -> IncidentService:
    """Return the incident service the app wired into the bot."""
    return bot.handle(IncidentService)


def acting(interaction: discord.Interaction) -> tuple[ReleaseBot, Actor]:
    """Return the bot and the person acting, with the roles they hold right now.

    Roles are read from the home guild's member, from a DM too.
    """
    bot = release_bot(interaction.client)
    return bot, home_actor(bot, interaction.user, bot.config.role_refs, bot.config.guild_id)


def _button(spec: ButtonSpec) -> discord.ui.Item[Any]:
    button = to_button(spec)
    if spec.action == "ack":
        return IncidentAckButton(button)
    if spec.action == "resolve":
        return IncidentResolveButton(button)
    if spec.action == "escalate":
        return IncidentEscalateButton(button)
    return button


def to_view(spec: MessageSpec) -> discord.ui.View:
    """Return a fresh view of the incident buttons of `spec`."""
    view = discord.ui.View(timeout=None)
    for number, row in enumerate(spec.rows):
        for control in row:
            if isinstance(control, ButtonSpec):
                item = _button(control)
                item.row = number
                view.add_item(item)
    return view


def message_kwargs(spec: MessageSpec) -> dict[str, Any]:
    """Return send/edit arguments for an incident message (mentions decided by the caller)."""

    return {
        "content": spec.content or None,
        "embeds": [to_embed(e) for e in spec.embeds],
        "view": to_view(spec) if spec.rows else None,
    }


class _IncidentButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"rb:inc-x"):
    """Parse the incident id; route failures to the central reporter."""

    def __init__(self, item: discord.ui.Button[Any], incident_id: int | None = None) -> None:
        super().__init__(item)
        found = re.search(r"(\d+)$", item.custom_id or "")
        self.incident_id = incident_id if incident_id is not None else int(found[1] if found else 0)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _IncidentButton:
        """Rebuild the button from the custom id Discord sent back."""
        return cls(cast(discord.ui.Button[Any], item), int(match["incident"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Act; any failure is told to the person privately."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self.act(interaction))

    async def act(self, interaction: discord.Interaction) -> None:
        """Do what the button is for."""
        raise NotImplementedError


def ack_answer(before: Incident, after: Incident, fresh: str | None = None) -> str:
    """Return the private answer to an ack: done now, or already done (nothing changed)."""
    if before.acked_at is not None and before.status is IncidentStatus.ACKNOWLEDGED:
        return (
            f"✅ Incident #{after.id} was already acknowledged by <@{before.acked_by}> at "
            f"{before.acked_at:%H:%M} UTC; nothing changed (the ack timeout keeps running)."
        )
    return fresh or f"✅ You acknowledged incident #{after.id}; escalation stopped."


class IncidentAckButton(_IncidentButton, template=ACK_TEMPLATE):
    """Acknowledge the incident: stops every pending escalation step."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Acknowledge as the clicking person (paged, or holding an incident role)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        service = incident_service(bot)
        before = await service.get(self.incident_id)
        incident = await service.acknowledge(self.incident_id, actor, Source.BUTTON)
        await send_private(interaction, ack_answer(before, incident))


def escalate_answer(before: Incident, after: Incident) -> str:
    """Return the private answer to Escalate now: which step paged early, and what is next."""
    fired = {t.key for t in before.timers if t.fired}
    early = next(
        (t for t in after.timers if t.fired and t.key not in fired and t.kind is STEP), None
    )
    # Steps are numbered from 1 on the incident message, as the seed's escalation path is.
    step = "the next step" if early is None else f"step {(early.step_index or 0) + 1}"
    then = next((t for t in after.pending_timers() if t.kind is STEP), None)
    later = "" if then is None else f" The step after it still pages at {then.due_at:%H:%M} UTC."
    return f"⏩ Escalated incident #{after.id}: {step} was paged now.{later}"


class IncidentEscalateButton(_IncidentButton, template=ESCALATE_TEMPLATE):
    """Escalate now: page the next step at once (the ack roles may, checked at the click)."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Escalate as the clicking person, with the roles they hold in the home guild now."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        service = incident_service(bot)
        before = await service.get(self.incident_id)
        incident = await service.escalate_now(self.incident_id, actor, Source.BUTTON)
        await send_private(interaction, escalate_answer(before, incident))


class IncidentResolveButton(_IncidentButton, template=RESOLVE_TEMPLATE):
    """Ask for the resolution note, then resolve."""

    async def act(self, interaction: discord.Interaction) -> None:
        """Open the note modal (the check happens when the note is submitted)."""
        await interaction.response.send_modal(ResolveNoteModal(self.incident_id))


class ResolveNoteModal(discord.ui.Modal):
    """Ask what fixed the incident."""

    def __init__(self, incident_id: int) -> None:
        super().__init__(title=f"Resolve incident #{incident_id}", custom_id=note_id(incident_id))
        self.incident_id = incident_id
        self.note: discord.ui.TextInput[ResolveNoteModal] = discord.ui.TextInput(
            label="What fixed it?",
            style=discord.TextStyle.paragraph,
            min_length=1,
            max_length=NOTE_MAX,
            custom_id=f"{note_id(incident_id)}:note",
        )
        self.add_item(self.note)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        """Resolve with the note; refusals are told privately."""
        bot = release_bot(interaction.client)
        await run_guarded(interaction, bot.reporter, lambda: self._resolve(interaction))

    async def _resolve(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot, actor = acting(interaction)
        incident = await incident_service(bot).resolve(
            self.incident_id, actor, str(self.note.value), Source.MODAL
        )
        verdict = "⛔ outside" if incident.resolution_sla_breached else "within"
        await send_private(
            interaction, f"🟢 Incident #{incident.id} resolved ({verdict} its resolution SLA)."
        )


INCIDENT_ITEMS: tuple[type[_IncidentButton], ...] = (
    IncidentAckButton,
    IncidentEscalateButton,
    IncidentResolveButton,
)
__all__ = ["INCIDENT_ITEMS", "NOTE_TEMPLATE", "message_kwargs", "to_view"]

"""Helpers for the incident chat tests: the extra cast, a breach, and reading DMs and pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
import simcord
from simcord import MemberActor

from bot.app import create_bot
from bot.chat.client import default_intents
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.incidents.service.use_cases import IncidentService
from bot.releases.chat.bot import ReleaseBot
from bot.runtime.background import Background
from tests.incidents.service.harness import Measured, Met
from tests.support.world import ROOM_EXTENSIONS

if TYPE_CHECKING:
    from tests.support.world import World

PAGING = {"oncall": {"primary": "omar"}}
EXTENSIONS = [*ROOM_EXTENSIONS, "bot.incidents.chat.cog"]


def incident_bot(settings: Settings, clock: FakeClock, **overrides: Any) -> ReleaseBot:
    """Return a bot with the room and incident extensions and the Server Members intent.

    The intent lets the bot see who holds a role (to DM them); without it a role page
    still mentions the role in the channel (tested apart).
    """
    intents = default_intents()
    intents.members = True
    overrides.setdefault("intents", intents)
    overrides.setdefault("extensions", EXTENSIONS)
    return create_bot(settings, clock=clock, **overrides)


@dataclass
class Cast:
    """The people the incident tests add to the chat world: an EM and a stakeholder."""

    emma: MemberActor  # Engineering Manager
    stella: MemberActor  # Stakeholders
    managers: simcord.RoleHandle
    stakeholders: simcord.RoleHandle


def add_cast(world: World) -> Cast:
    """Add the Engineering Manager and Stakeholders roles, each with one member."""
    managers = world.guild.create_role("Engineering Manager")
    stakeholders = world.guild.create_role("Stakeholders")
    emma = world.guild.add_member(world.env.create_user("emma"), roles=[managers])
    stella = world.guild.add_member(world.env.create_user("stella"), roles=[stakeholders])
    return Cast(emma, stella, managers, stakeholders)


def incidents(world: World) -> IncidentService:
    """Return the bot's incident service."""
    service = world.bot.handle(IncidentService)
    assert isinstance(service, IncidentService)
    return service


async def breach(
    world: World, release_id: int = 1, condition: str = "error_rate", value: float = 0.034,
    severity: str = "", unit: str = "",
) -> int:  # fmt: skip
    """Report a met condition the way monitoring's hook does (inside its transaction)."""
    event = Met(
        release_id, "nexis-gateway", condition, severity,
        Measured(value, 0.01, "error ratio", world.bot.clock.now()), unit=unit,
    )  # fmt: skip
    async with world.bot.releases.uow() as uow:
        incident = await incidents(world).open_or_update(uow, event)
        await uow.commit()
    assert incident.id is not None
    return incident.id


async def pump(world: World) -> None:
    """Fire due timers and deliver the outbox until quiet."""
    await world.bot.handle(Background).pump()  # type: ignore[attr-defined]


def dms(member: MemberActor) -> list[discord.Message]:
    """Return the messages the bot sent `member` by DM."""
    return [m for m in member.user.dm_channel.history() if m.author.bot]


def mentioning(channel: simcord.ChannelHandle, member: MemberActor) -> list[discord.Message]:
    """Return the bot's messages in `channel` whose content mentions `member`."""
    return [m for m in channel.history() if m.author.bot and member.mention in (m.content or "")]


def buttons(message: discord.Message) -> dict[str, Any]:
    """Return the message's buttons by label."""
    return {
        getattr(c, "label", ""): c
        for row in message.components
        for c in getattr(row, "children", [])
    }


def said(result: simcord.InteractionResult) -> str:
    """Return what the bot answered to an interaction (its response, else its last follow-up)."""
    if result.followups:
        return result.followups[-1].content
    return result.response.content if result.response is not None else ""

"""One home server (issue 12): another guild sees and uses nothing; controls stay in their room.

SimCord runs the real discord.py against a simulated Discord with two guilds. The bot's
home is `discord.guild_id`; the second guild has roles named exactly like the home roles.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
import simcord
from simcord import Env

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from tests.support.world import ROOM_EXTENSIONS, World, make_settings

HOME = 424242424242424242
ROLE_NAMES = ("Release Lead", "Tech Lead", "DevOps", "On-call", "Developers")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings bound to the home guild."""
    return make_settings(tmp_path / "releasebot.db", discord={"guild_id": HOME})


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot under test, bound to HOME."""
    from bot.app import create_bot

    return create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS)


def _guild(env: Env, name: str, **kwargs: Any) -> tuple[simcord.GuildHandle, Any, dict[str, Any]]:
    guild = env.create_guild(name, **kwargs)
    channel = guild.create_text_channel("releases")
    return guild, channel, {role: guild.create_role(role) for role in ROLE_NAMES}


@pytest.fixture
async def world(simcord_env: Env) -> AsyncIterator[World]:
    """The home guild (id HOME) with its people, as in tests/support/world.py."""
    guild, channel, roles = _guild(simcord_env, "Nexis", id=HOME)

    def person(name: str, role: str) -> simcord.MemberActor:
        return guild.add_member(simcord_env.create_user(name), roles=[roles[role]])

    yield World(
        simcord_env,
        guild,
        channel,
        ann=person("ann", "Release Lead"),
        tom=person("tom", "Tech Lead"),
        dora=person("dora", "DevOps"),
        omar=person("omar", "On-call"),
        eve=person("eve", "Developers"),
    )
    if isinstance(simcord_env.bot, ReleaseBot):
        await simcord_env.bot.close()


async def test_another_guild_sees_no_command_and_its_events_are_refused(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A member of a second guild holding every home role name sees no command at all.

    A forged interaction and a reaction carrying the other guild's id (what Discord would
    send if a command or control reached that server) are refused before any handler runs.
    """
    env = world.env
    other, other_channel, roles = _guild(env, "Elsewhere")
    mallory = other.add_member(env.create_user("mallory"), roles=list(roles.values()))
    assert mallory.available_commands(other_channel) == ()
    assert "release start" in world.ann.available_commands(world.channel)
    with pytest.raises(Exception):  # noqa: B017  (SimCord: the command is not visible)
        await mallory.slash(other_channel, "release start", version="v1.2.3")

    await world.start()
    handled: list[str] = []

    async def on_interaction(interaction: object) -> None:
        handled.append("interaction")

    world.bot.add_listener(on_interaction, "on_interaction")
    parsers = world.bot._connection.parsers
    forged = {
        "id": "1",
        "application_id": str(world.bot.application_id),
        "type": 3,
        "token": "t",
        "version": 1,
        "attachment_size_limit": 8_388_608,
        "entitlements": [],
        "app_permissions": "0",
        "locale": "en-US",
        "guild_id": str(other.id),
        "channel_id": str(other_channel.id),
        "member": {"user": {"id": str(mallory.id), "username": "mallory"}, "roles": []},
        "data": {"custom_id": "rb:advance:1:0", "component_type": 2},
    }
    with caplog.at_level(logging.WARNING):
        parsers["INTERACTION_CREATE"](forged)
        parsers["MESSAGE_REACTION_ADD"](
            {
                "user_id": str(mallory.id),
                "channel_id": str(other_channel.id),
                "message_id": "1",
                "guild_id": str(other.id),
                "emoji": {"id": None, "name": "✅"},
            }
        )
    await env.settle()
    assert handled == []
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and all(str(other.id) in line for line in refused)
    release = await world.release()
    assert release.phase_index == 0
    assert all(e.actor_name != "mallory" for e in await world.audit())


async def _copy_of(world: World, release_id: int, into: int) -> discord.Message:
    """Have the bot post a copy of release `release_id`'s first phase message in channel `into`.

    (A control out of its room: what a misplaced or forged message would carry.)
    """
    refs = await world.bot.releases.messages(release_id)
    ref = next(r for r in refs if r.kind == "phase" and r.key.startswith("0:"))
    source = world.bot.get_channel(ref.channel_id)
    assert isinstance(source, discord.Thread)
    original = await source.fetch_message(ref.message_id)
    target = world.bot.get_channel(into)
    assert isinstance(target, discord.Thread | discord.TextChannel)
    return await target.send("copy", view=discord.ui.View.from_message(original, timeout=None))


async def test_a_control_out_of_its_room_changes_nothing(world: World) -> None:
    """Release 2's tick select in release 1's thread, or in #general, is refused; no change."""
    await world.start()
    await world.start(version="v1.2.4")
    general = world.guild.create_text_channel("general")
    thread_1 = await world.bot.room.thread_id(1)
    assert thread_1 is not None
    before = (await world.release(2)).items
    for channel_id, where in ((thread_1, "thread of release 1"), (general.id, "#general")):
        copy = await _copy_of(world, 2, channel_id)
        await world.env.settle()
        select = next(
            c
            for row in copy.components
            for c in getattr(row, "children", [])
            if (getattr(c, "custom_id", "") or "").startswith("rb:tick:2:")
        )
        shown = next(
            m for ch in [*world.channel.threads, general] for m in ch.history() if m.id == copy.id
        )
        result = await world.ann.select(shown, ["0"], custom_id=select.custom_id)
        assert "does not belong to this room" in str(result), where
    assert (await world.release(2)).items == before
    # The same control on release 2's own message is not refused as out of its room.
    refs = await world.bot.releases.messages(2)
    ref = next(r for r in refs if r.kind == "phase" and r.key.startswith("0:"))
    own_message = next(
        m for t in world.channel.threads for m in t.history() if m.id == ref.message_id
    )
    result = await world.ann.select(own_message, ["0"], custom_id=select.custom_id)
    assert "does not belong" not in str(result)

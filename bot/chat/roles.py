"""Who is acting: map a Discord member's roles, at the moment they act, to role keys."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import discord

from bot.core.actors import Actor


def role_keys(held: Iterable[tuple[int, str]], refs: Mapping[str, str]) -> frozenset[str]:
    """Return the role keys whose configured Discord role is among `held` (id, name) pairs.

    A configured reference that is all digits is a role id; anything else is a role name,
    matched case-insensitively (Discord lets two roles differ only by case; ids are exact).
    """
    ids: set[int] = set()
    names: set[str] = set()
    for role_id, name in held:
        ids.add(role_id)
        names.add(name.strip().casefold())
    keys = set()
    for key, ref in refs.items():
        text = ref.strip()
        held_it = int(text) in ids if text.isdigit() else text.casefold() in names
        if held_it:
            keys.add(key)
    return frozenset(keys)


def actor_for(user: discord.Member | discord.User, refs: Mapping[str, str]) -> Actor:
    """Return the Actor for `user` with the role keys they hold right now (none outside a guild)."""
    roles = user.roles if isinstance(user, discord.Member) else []
    held = ((role.id, role.name) for role in roles)
    return Actor(id=str(user.id), name=user.display_name, roles=role_keys(held, refs))


def home_member(
    client: discord.Client, user: discord.Member | discord.User, guild_id: int | None
) -> discord.Member | discord.User:
    """Return `user` as a member of the home guild, whose roles are the ones that count.

    With a home guild configured, only its member counts: a member of another server (or
    a DM user) is looked up there, and someone not in it holds no roles at all. Without
    one (tests, the offline demo) a DM user is looked up in the first guild that has them.
    """
    if guild_id is None:
        if isinstance(user, discord.Member):
            return user
        found = (guild.get_member(user.id) for guild in client.guilds)
        return next((member for member in found if member is not None), user)
    if isinstance(user, discord.Member) and user.guild.id == guild_id:
        return user
    home = client.get_guild(guild_id)
    member = home.get_member(user.id) if home is not None else None
    if member is not None:
        return member
    return _roleless(user)


def _roleless(user: discord.Member | discord.User) -> discord.User:
    """Return a plain user (no roles) for someone who is not in the home guild."""
    return user._user if isinstance(user, discord.Member) else user


def home_actor(
    client: discord.Client,
    user: discord.Member | discord.User,
    refs: Mapping[str, str],
    guild_id: int | None,
) -> Actor:
    """Return the Actor for `user` with the roles they hold in the home guild right now."""
    return actor_for(home_member(client, user, guild_id), refs)

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

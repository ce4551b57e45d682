"""What every cog needs to show a spec on Discord, whatever the feature."""

from __future__ import annotations

import discord

from bot.chat.layout import EmbedSpec


def to_embed(spec: EmbedSpec) -> discord.Embed:
    """Return the discord.py embed for `spec`."""
    embed = discord.Embed(title=spec.title, description=spec.description or None, color=spec.color)
    for f in spec.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    return embed

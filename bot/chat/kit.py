"""What every cog needs to show a spec on Discord, whatever the feature.

A room message is sent and edited straight from its `MessageSpec` as the JSON payload
discord.py itself would build (`handle_message_parameters` with the spec's embeds and a
view of its controls), through the client's HTTP layer. Each embed and control is turned
into its payload by discord.py once and kept by spec (specs are frozen values), so an
unchanged control costs a dictionary lookup; and no `View` is built or stored, no reply
parsed into a `discord.Message`. Clicks still reach their `DynamicItem`s, which the client
registers (`add_dynamic_items`) for every message, however old.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import discord
from discord.http import MultipartParameters

from bot.chat.layout import ButtonSpec, EmbedSpec, MessageSpec, SelectSpec

# Enough for every control and embed of a few hundred open rooms.
PAYLOAD_CACHE = 8192

_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "success": discord.ButtonStyle.success,
    "danger": discord.ButtonStyle.danger,
}


def to_embed(spec: EmbedSpec) -> discord.Embed:
    """Return the discord.py embed for `spec`."""
    embed = discord.Embed(title=spec.title, description=spec.description or None, color=spec.color)
    for f in spec.fields:
        embed.add_field(name=f.name, value=f.value, inline=f.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    return embed


def to_button(spec: ButtonSpec) -> discord.ui.Button[Any]:
    """Return the discord.py button for `spec`."""
    return discord.ui.Button(
        label=spec.label,
        custom_id=spec.custom_id,
        style=_STYLES[spec.style],
        disabled=spec.disabled,
    )


def to_item(control: SelectSpec | ButtonSpec) -> discord.ui.Button[Any] | discord.ui.Select[Any]:
    """Return the discord.py component for `control` (a button or a string select)."""
    if isinstance(control, ButtonSpec):
        return to_button(control)
    return discord.ui.Select(
        custom_id=control.custom_id,
        placeholder=control.placeholder,
        min_values=1,
        max_values=control.max_values,
        options=[
            discord.SelectOption(label=o.label, value=o.value, description=o.description or None)
            for o in control.options
        ],
    )


@lru_cache(maxsize=PAYLOAD_CACHE)
def embed_payload(spec: EmbedSpec) -> dict[str, Any]:
    """Return the JSON payload of `spec`'s embed (kept: never change the dictionary)."""
    return dict(to_embed(spec).to_dict())


@lru_cache(maxsize=PAYLOAD_CACHE)
def control_payload(control: SelectSpec | ButtonSpec) -> dict[str, Any]:
    """Return the JSON payload of one control (kept: never change the dictionary)."""
    return dict(to_item(control).to_component_dict())


def message_payload(spec: MessageSpec) -> dict[str, Any]:
    """Return the JSON body that sends or edits a message to show `spec`, mentioning no one.

    The same body discord.py builds for `send`/`edit` with content, embeds, a view of the
    controls (or none: no components) and `AllowedMentions.none()`.
    """
    return {
        "content": spec.content or None,
        "embeds": [embed_payload(e) for e in spec.embeds],
        "components": [
            {"type": discord.ComponentType.action_row.value, "components": _row(row)}
            for row in spec.rows
        ],
        "tts": False,
        "allowed_mentions": discord.AllowedMentions.none().to_dict(),
    }


def _row(row: tuple[SelectSpec | ButtonSpec, ...]) -> list[dict[str, Any]]:
    return [control_payload(control) for control in row]


def _params(spec: MessageSpec) -> MultipartParameters:
    return MultipartParameters(payload=message_payload(spec), multipart=None, files=None)


async def send_spec(client: discord.Client, channel_id: int, spec: MessageSpec) -> int:
    """Post a message showing `spec` in channel `channel_id`; return its id."""
    data = await client.http.send_message(channel_id, params=_params(spec))
    return int(data["id"])


async def edit_spec(
    client: discord.Client, channel_id: int, message_id: int, spec: MessageSpec
) -> None:
    """Make message `message_id` show `spec` (raises what discord.py's edit raises)."""
    await client.http.edit_message(channel_id, message_id, params=_params(spec))

"""Message payloads built straight from specs: the body discord.py's View/Embed path sends."""

from __future__ import annotations

import json
from typing import Any

import discord
from discord.http import handle_message_parameters

from bot.chat.kit import control_payload, message_payload
from bot.chat.layout import (
    ButtonSpec,
    EmbedField,
    EmbedSpec,
    MessageSpec,
    OptionSpec,
    SelectSpec,
)
from bot.releases.chat.summary import room_messages
from tests.support.world import World

STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}


def discord_py_body(spec: MessageSpec, previous: discord.AllowedMentions) -> dict[str, Any]:
    """Return the body discord.py sends for `spec` through a View and Embeds (the old path)."""
    view: discord.ui.View | None = None
    if spec.rows:
        view = discord.ui.View(timeout=None)
        for number, row in enumerate(spec.rows):
            for control in row:
                item: discord.ui.Item[discord.ui.View]
                if isinstance(control, ButtonSpec):
                    item = discord.ui.Button(
                        label=control.label,
                        custom_id=control.custom_id,
                        style=discord.ButtonStyle(STYLES[control.style]),
                        disabled=control.disabled,
                        row=number,
                    )
                else:
                    item = discord.ui.Select(
                        custom_id=control.custom_id,
                        placeholder=control.placeholder,
                        max_values=control.max_values,
                        options=[
                            discord.SelectOption(
                                label=o.label, value=o.value, description=o.description or None
                            )
                            for o in control.options
                        ],
                        row=number,
                    )
                view.add_item(item)
    embeds = []
    for e in spec.embeds:
        embed = discord.Embed(title=e.title, description=e.description or None, color=e.color)
        for f in e.fields:
            embed.add_field(name=f.name, value=f.value, inline=f.inline)
        if e.footer:
            embed.set_footer(text=e.footer)
        embeds.append(embed)
    params = handle_message_parameters(
        content=spec.content or None,
        embeds=embeds,
        view=view,
        allowed_mentions=discord.AllowedMentions.none(),
        previous_allowed_mentions=previous,
    )
    return dict(params.payload)


def canonical(body: dict[str, Any]) -> str:
    """Return `body` as the JSON text it goes to Discord as (keys sorted)."""
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


EDGES = MessageSpec(
    content="plain text",
    embeds=(
        EmbedSpec("Title", "", 0, (EmbedField("a", "b", inline=True), EmbedField("c", "d")), ""),
        EmbedSpec("Second", "described", 0x57F287, (), "a footer"),
    ),
    rows=(
        (
            SelectSpec(
                "tick",
                "rb:tick:1:0:0",
                "Tick…",
                (OptionSpec("one", "0", "why"), OptionSpec("two", "1")),
                max_values=2,
            ),
        ),
        (
            ButtonSpec("advance", "rb:advance:1:0", "Advance", "success", disabled=True),
            ButtonSpec("refresh", "rb:refresh:1", "Refresh", "secondary"),
            ButtonSpec("x", "rb:x:1", "Danger", "danger"),
            ButtonSpec("y", "rb:y:1", "Primary"),
        ),
    ),
)


def test_a_payload_is_the_body_discord_py_would_send_for_the_same_spec() -> None:
    """Build content, embeds, controls and mentions exactly as discord.py's edit/send do."""
    previous = discord.AllowedMentions(everyone=False, roles=False, users=True)
    for spec in (EDGES, MessageSpec(embeds=(EmbedSpec("only an embed"),))):
        assert canonical(message_payload(spec)) == canonical(discord_py_body(spec, previous))


async def test_every_room_message_payload_matches_discord_py(world: World) -> None:
    """Match discord.py for every message of a real room (summary, phases, sign-offs)."""
    await world.start()
    release = await world.release()
    messages = room_messages(release, world.bot.room.render_context)
    assert any(m.spec.rows for m in messages) and any(not m.spec.rows for m in messages)
    for message in messages:
        ours = canonical(message_payload(message.spec))
        assert ours == canonical(discord_py_body(message.spec, world.bot.allowed_mentions)), (
            message.kind,
            message.key,
        )


def test_an_unchanged_control_is_built_once_and_every_body_is_fresh() -> None:
    """Reuse the kept payload of an equal control; never hand out the same outer body."""
    rebuilt = MessageSpec(
        content=EDGES.content,
        embeds=EDGES.embeds,
        rows=tuple(tuple(type(c)(**vars(c)) for c in row) for row in EDGES.rows),
    )
    first, second = message_payload(EDGES), message_payload(rebuilt)
    assert rebuilt.rows[0][0] is not EDGES.rows[0][0]
    assert second["components"][0]["components"][0] is first["components"][0]["components"][0]
    assert second is not first and second["components"] is not first["components"]
    assert control_payload(rebuilt.rows[1][0]) == {
        "type": 2,
        "style": 3,
        "custom_id": "rb:advance:1:0",
        "label": "Advance",
        "disabled": True,
    }


async def test_the_bot_receives_no_message_events_and_keeps_no_message_cache(
    world: World,
) -> None:
    """Get no MESSAGE_CREATE/UPDATE for the room's posts and edits; cache no message."""
    await world.start()
    item = (await world.release()).phases[0].all_items()[0]
    await world.choose(world.ann, "tick", item.id)
    assert await world.bot.room.updater.wait_idle(5)

    log = [(kind, name) for kind, name, _ in world.env.backend.transcript]
    for event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):  # SimCord records then drops them
        assert log.count(("GATEWAY", event)) == log.count(("DROPPED", event)) > 0, event
    assert ("DROPPED", "INTERACTION_CREATE") not in log
    assert list(world.bot.cached_messages) == []
    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    assert f"✅ **1.** {item.text} — ann" in description  # Discord shows the edit all the same

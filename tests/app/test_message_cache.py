"""The bot keeps no discord.py message cache, and nothing it does needs one (issue 14).

Up to 1,000 full Message objects (embeds, components) were cached by default; the bot reads
none of them: sign-offs arrive as raw reaction events, the room edits through partial
messages, a click's message comes with the interaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.world import World


async def test_clicks_sign_offs_and_edits_work_with_no_message_cached(world: World) -> None:
    """Tick, advance and sign off by reaction through SimCord: each is recorded and the room's
    messages are edited, while discord.py holds no message at any point."""
    await world.start()
    assert list(world.bot.cached_messages) == []

    await world.run_whole_release_until("deployment")  # ticks and Advance clicks
    await world.sign(world.tom, "approval")  # a reaction on a message never cached

    assert list(world.bot.cached_messages) == []
    assert (await world.release()).signoffs["approval"].actor_name == "tom"
    message = await world.message("signoff", "approval")  # edited through a partial message
    assert "✅ Signed by **tom**" in (message.embeds[0].description or "")
    summary = (await world.message("summary")).embeds[0]
    assert "✅ Release approved: — tom" in summary.fields[2].value

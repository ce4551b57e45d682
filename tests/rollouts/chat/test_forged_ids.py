"""Forged controls with 25-digit ids get a plain refusal, never "💥 Something went wrong" (#12).

The bot itself posts buttons whose custom ids carry ids far past SQLite's 64-bit integers
(what a forged or corrupted message would carry); the clicks go through SimCord.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
import pytest

from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import k8s_api, rollout_rbac, settings, simcord_bot

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "settings", "simcord_bot"]

HUGE = "1" * 25


@pytest.mark.parametrize(
    "custom_id",
    [
        f"rb:rollback:{HUGE}",
        f"rb:alert-ack:{HUGE}",
        f"rb:alert-silence:{HUGE}",
        f"rb:inc-ack:{HUGE}",
        f"rb:inc-resolve:{HUGE}",
        f"rb:refresh:{HUGE}",
        f"rb:advance:{HUGE}:0",
    ],
)
async def test_a_25_digit_id_is_a_plain_refusal(
    world: World, k8s_api: FakeKubeApi, custom_id: str
) -> None:
    """The DevOps engineer clicking it is told plainly; nothing is logged as a bug."""
    await world.start()
    view = discord.ui.View(timeout=None)
    view.add_item(discord.ui.Button(label="Forged", custom_id=custom_id))
    channel = world.bot.get_partial_messageable(world.thread().id)
    await channel.send("forged", view=view)
    [message] = [m for m in world.thread().history() if m.content == "forged"]
    result = await world.dora.click(message, custom_id=custom_id)
    if result.modal is not None:  # Resolve asks for its note first; the submit is refused
        field = result.modal["components"][0]["components"][0]["custom_id"]
        result = await world.dora.submit_modal(result, {field: "restarted the pods"})
    answered = result.response.content if result.response is not None else ""
    answered += " ".join(m.content or "" for m in result.followups)
    assert "⚠️" in answered, answered
    assert "Something went wrong" not in answered
    assert k8s_api.requests("PATCH") == []

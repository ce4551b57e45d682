"""Tick, untick and waive through the phase messages' selects and the waive modal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bot.releases.domain.release import ItemState

if TYPE_CHECKING:
    from simcord import MemberActor

    from tests.support.world import World


@pytest.fixture
async def started(world: World) -> World:
    """Return the world with release #1 started by Ann."""
    await world.start()
    return world


async def _item(world: World, phase: int, index: int) -> tuple[str, str]:
    item = (await world.release()).phases[phase].all_items()[index]
    return item.id, item.text


async def test_tick_by_an_allowed_member_updates_database_and_message(started: World) -> None:
    """Record Eve's tick with who and when, and show it on the phase message at once."""
    world = started
    item_id, text = await _item(world, 0, 0)

    result = await world.choose(world.eve, "tick", item_id)

    assert result.acknowledged and result.deferred
    assert result.followups == []
    progress = (await world.release()).progress(item_id)
    assert (progress.state, progress.actor_name) == (ItemState.DONE, "eve")
    message = await world.message("phase", "0:0")
    assert f"✅ **1.** {text} — eve · 09:00" in (message.embeds[0].description or "")
    _, untick = await world.control("untick", item_id)
    assert untick.startswith("rb:untick:1:0:0")
    with pytest.raises(LookupError):
        await world.control("tick", item_id)
    assert [e.action for e in await world.audit()][-1] == "tick"


async def test_several_items_are_ticked_in_one_selection(started: World) -> None:
    """Tick three items chosen together in one Tick select."""
    world = started
    ids = [(await _item(world, 0, i))[0] for i in range(3)]

    await world.choose(world.ann, "tick", *ids)

    release = await world.release()
    assert [release.progress(i).state for i in ids] == [ItemState.DONE] * 3
    summary = (await world.message("summary")).embeds[0]
    assert "Pre-Release Preparation (发布前准备) — 3/22" in summary.fields[0].value


async def test_untick_reopens_an_item_and_shows_it_open_again(started: World) -> None:
    """Reopen a ticked item through the Untick select."""
    world = started
    item_id, text = await _item(world, 0, 1)
    await world.choose(world.ann, "tick", item_id)

    await world.choose(world.tom, "untick", item_id)

    assert (await world.release()).progress(item_id).state is ItemState.OPEN
    message = await world.message("phase", "0:0")
    assert f"☐ **2.** {text}\n" in (message.embeds[0].description or "")
    assert [e.action for e in await world.audit()][-2:] == ["tick", "untick"]


async def test_waive_asks_for_a_reason_and_shows_who_waived_and_why(started: World) -> None:
    """Waive through the modal: the reason is stored, shown, and the item can be reopened."""
    world = started
    item_id, text = await _item(world, 0, 2)

    result = await world.waive(world.tom, item_id, "merged last sprint already")

    assert result.ephemeral
    assert result.response is not None
    assert "⏭ Waived" in result.response.content
    progress = (await world.release()).progress(item_id)
    assert (progress.state, progress.reason) == (ItemState.WAIVED, "merged last sprint already")
    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    assert f"⏭ **3.** {text} — waived by tom: merged last sprint already" in description
    await world.control("untick", item_id)  # a waived item can be reopened


async def test_the_waive_modal_asks_for_a_reason_of_3_to_200_characters(started: World) -> None:
    """Title the modal after the item and bound the reason's length."""
    world = started
    item_id, _ = await _item(world, 0, 2)
    shown = await world.choose(world.ann, "waive", item_id)
    assert shown.modal is not None
    assert shown.modal["title"] == "Waive item 3"
    text_input = shown.modal["components"][0]["components"][0]
    assert (text_input["min_length"], text_input["max_length"]) == (3, 200)


@pytest.mark.parametrize("action", ["tick", "untick", "waive"])
async def test_a_member_without_the_role_is_denied_privately_and_audited(
    started: World, action: str
) -> None:
    """Deny an action to a member lacking the role: ephemeral ⛔, no change, audit entry."""
    world = started
    item_id, _ = await _item(world, 0, 0)
    if action == "untick":
        await world.choose(world.ann, "tick", item_id)
    before = (await world.message("phase", "0:0")).embeds[0].description
    visitor: MemberActor = world.guild.add_member(world.env.create_user("vic"))
    denier = world.eve if action == "waive" else visitor

    result = await world.choose(denier, action, item_id)

    messages = [result.response] if result.response and result.ephemeral else result.followups
    assert messages and messages[-1] is not None and messages[-1].ephemeral
    assert messages[-1].content.startswith("⛔ You may not")
    assert result.modal is None
    expected = ItemState.DONE if action == "untick" else ItemState.OPEN
    assert (await world.release()).progress(item_id).state is expected
    assert (await world.message("phase", "0:0")).embeds[0].description == before
    denial = (await world.audit())[-1]
    assert (denial.action, denial.actor_name, denial.detail["attempted"]) == (
        "denied",
        denier.name,
        action,
    )


async def test_devops_items_are_denied_to_other_roles_with_the_role_named(started: World) -> None:
    """Tell the Release Lead that a DevOps item needs the DevOps role."""
    world = started
    await world.run_whole_release_until("deployment")

    result = await world.choose(world.ann, "tick", "staging-deployed")

    assert result.followups[-1].content == (
        "⛔ You may not tick on “Staging 环境部署完成”: it needs one of these roles: DevOps."
    )
    assert (await world.release()).progress("staging-deployed").state is ItemState.OPEN


async def test_items_of_another_phase_or_locked_items_are_refused_with_the_reason(
    started: World,
) -> None:
    """Explain why an item of a later phase, or one locked by a sign-off, cannot be ticked."""
    world = started
    later_id, later_text = await _item(world, 1, 0)

    later = await world.choose(world.ann, "tick", later_id)

    assert later.followups[-1].content == (
        f"⚠️ “{later_text}” belongs to Release Process (发布流程); "
        "nexis-gateway v1.2.3 is in Pre-Release Preparation (发布前准备)"
    )
    await world.run_whole_release_until("deployment")
    locked = await world.choose(world.dora, "tick", "prod-deployed")
    assert "is locked until the sign-off “Release approved:”" in locked.followups[-1].content
    assert (await world.release()).progress("prod-deployed").state is ItemState.OPEN


async def test_two_people_opening_one_waive_modal_both_get_an_answer(started: World) -> None:
    """Tom and Ann open the waive modal of one item at once: both submits are answered (#12)."""
    world = started
    item_id, _ = await _item(world, 0, 2)
    first = await world.choose(world.tom, "waive", item_id)
    second = await world.choose(world.ann, "waive", item_id)
    assert first.modal is not None and second.modal is not None
    assert first.modal["custom_id"] != second.modal["custom_id"]
    field = first.modal["components"][0]["components"][0]["custom_id"]
    done = await world.tom.submit_modal(first, {field: "merged last sprint already"})
    late = await world.ann.submit_modal(second, {field: "covered by the canary"})
    assert done.response is not None and "⏭ Waived" in done.response.content
    answered = late.response.content if late.response is not None else ""
    answered += " ".join(m.content or "" for m in late.followups)
    assert answered, "the second submit got no answer"
    progress = (await world.release()).progress(item_id)
    assert progress.state is ItemState.WAIVED

"""A burst of clicks: every interaction answered at once, message edits coalesced."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.releases.domain.release import ItemState

if TYPE_CHECKING:
    from bot.chat.layout import MessageSpec
    from bot.core.ports import MessageRef
    from tests.support.world import World

CLICKS = 12
LATENCY = 10.0


async def test_a_burst_of_clicks_is_coalesced_into_few_edits_showing_the_final_state(
    world: World,
) -> None:
    """Answer 12 members' ticks at once; edit the phase message twice, ending with all 12.

    SimCord answers REST calls instantly, while a real edit takes time (and discord.py
    waits out rate limits). The real edit is therefore preceded by a 10 s pause on SimCord's
    virtual clock, so the clicks arrive while an edit is in flight, as they would on Discord.
    """
    await world.start()
    updater = world.bot.room.updater
    real_edit = updater.edit

    async def slow_edit(ref: MessageRef, spec: MessageSpec) -> None:
        import asyncio

        await asyncio.sleep(LATENCY)
        await real_edit(ref, spec)

    updater.edit = slow_edit
    developers = world.guild.roles["Developers"]
    people = [
        world.guild.add_member(world.env.create_user(f"dev{n}"), roles=[developers])
        for n in range(CLICKS)
    ]
    items = (await world.release()).phases[0].all_items()[:CLICKS]
    phase_message = await world.message("phase", "0:0")
    patches_before = len(world.env.http_requests)
    requests_before, passes_before = updater.stats.requests, updater.stats.passes

    results = [
        await world.choose(person, "tick", item.id)
        for person, item in zip(people, items, strict=True)
    ]

    assert all(r.acknowledged and r.deferred and not r.followups for r in results)
    release = await world.release()
    assert all(release.progress(item.id).state is ItemState.DONE for item in items)
    await world.env.advance_time(LATENCY * 4)
    assert not updater.busy()
    edits = [
        r
        for r in world.env.http_requests[patches_before:]
        if r.method == "PATCH" and r.path.endswith(f"/messages/{phase_message.id}")
    ]
    assert len(edits) == 2  # the first click's state, then the newest state
    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    for n, item in enumerate(items[:11], start=1):  # message 0:0 holds the first 11 items
        assert f"✅ **{n}.** {item.text} — dev{n - 1} · 09:00" in description
    summary = (await world.message("summary")).embeds[0].fields[0].value
    assert f"— {CLICKS}/22" in summary
    assert updater.stats.requests - requests_before == CLICKS
    assert updater.stats.passes - passes_before == 2  # two renders served twelve changes


async def test_a_late_report_of_an_older_state_never_overwrites_a_newer_one(
    world: World,
) -> None:
    """Keep showing the newest state when a change is reported after a later one."""
    await world.start()
    stale = await world.release()
    item = stale.phases[0].all_items()[0]
    await world.choose(world.ann, "tick", item.id)

    await world.bot.room.changed(stale)  # e.g. a timer's change reporting late
    assert await world.bot.room.updater.wait_idle(5)

    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    assert f"✅ **1.** {item.text} — ann" in description


async def test_clicks_arriving_at_once_on_one_release_are_shown_by_one_edit_per_message(
    world: World,
) -> None:
    """Render once after the queued clicks commit: each changed message is edited once."""
    from bench.clicks_common import emit_select

    await world.start()
    developers = world.guild.roles["Developers"]
    people = [
        world.guild.add_member(world.env.create_user(f"dev{n}"), roles=[developers])
        for n in range(8)
    ]
    items = (await world.release()).phases[0].all_items()[:8]
    phase_message, custom_id = await world.control("tick", items[0].id)
    summary = await world.message("summary")
    before = len(world.env.http_requests)

    for n, person in enumerate(people):  # every click's event out before any is handled
        emit_select(world.env, person, phase_message, custom_id, [str(n)])
    await world.env.settle()

    release = await world.release()
    assert all(release.progress(item.id).state is ItemState.DONE for item in items)
    patched = [r.path for r in world.env.http_requests[before:] if r.method == "PATCH"]
    assert patched.count(f"/channels/{phase_message.channel.id}/messages/{phase_message.id}") == 1
    assert patched.count(f"/channels/{summary.channel.id}/messages/{summary.id}") == 1
    description = (await world.message("phase", "0:0")).embeds[0].description or ""
    assert all(f"{item.text} — dev{n}" in description for n, item in enumerate(items))


async def test_a_render_waits_for_the_changes_queued_on_its_release() -> None:
    """Let `drained` return only once the changes queued before it are done."""
    import asyncio

    from bot.releases.chat.room import ChangeQueue

    queue, done = ChangeQueue(), []

    async def change(n: int) -> None:
        async with queue:
            await asyncio.sleep(0)
            done.append(n)

    changes = [asyncio.create_task(change(n)) for n in range(3)]
    await asyncio.sleep(0)  # all three queued: one holds the turn, two wait
    assert queue.pending == 3
    await queue.drained()
    assert done == [0, 1, 2] and queue.pending == 0
    await asyncio.gather(*changes)
    await queue.drained()  # nothing queued: returns at once


async def test_the_first_refresh_of_a_new_room_reads_no_message_list(world: World) -> None:
    """Render a room just opened from the references it stored, not a database read."""
    await world.start()
    room, stored = world.bot.room, await world.bot.releases.messages(1)
    reads = []
    real = room.releases.messages

    async def counted(release_id: int) -> Any:
        reads.append(release_id)
        return await real(release_id)

    room.releases.messages = counted  # type: ignore[method-assign]
    wanted = await room.wanted(1)
    assert reads == []
    assert sorted(ref.message_id for ref, _spec in wanted) == sorted(
        ref.message_id for ref in stored if ref.kind != "thread"
    )

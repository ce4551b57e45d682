"""Advance: refused with the open gates, allowed once they hold; a whole release in Discord."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from bot.core.actors import Actor, Source
from bot.core.errors import GatesOpen, InvalidTransition
from bot.releases.domain.release import ReleaseStatus

if TYPE_CHECKING:
    from tests.support.world import World


async def test_advance_is_refused_with_the_list_of_open_gates(world: World) -> None:
    """Answer Advance privately with every open gate of the phase and change nothing."""
    await world.start()
    first = (await world.release()).phases[0].all_items()[0]
    await world.choose(world.ann, "tick", first.id)

    result = await world.advance(world.ann)

    answer = result.followups[-1]
    assert answer.ephemeral
    lines = answer.content.split("\n")
    assert lines[0] == "🚧 Pre-Release Preparation (发布前准备) cannot close yet; open gates:"
    assert len(lines) == 1 + 21 + 1  # 21 open items and the missing sign-off
    assert "- item not done: 所有 P0/P1 Bug 已修复 (1. 代码完成度)" in lines
    assert lines[-1] == "- sign-off missing: Pre-release checklist completed: (release_lead)"
    assert (await world.release()).phase_index == 0


async def test_advance_is_allowed_once_the_gates_hold(world: World) -> None:
    """Close Pre-Release once its items are done and signed; show it everywhere."""
    await world.start()
    await world.tick_all(world.ann)
    await world.sign(world.ann, "pre-release")

    result = await world.advance(world.ann)

    assert result.followups == []
    release = await world.release()
    assert release.current_phase is not None and release.current_phase.key == "release"
    assert world.thread().history()[-1].content == (
        "➡️ ann closed **Pre-Release Preparation (发布前准备)**; "
        "now in **Release Process (发布流程)**."
    )
    summary = (await world.message("summary")).embeds[0]
    assert (summary.description or "").startswith("**Phase 2/4: Release Process (发布流程)**")
    closed = (await world.phase_messages(0))[-1]
    advance = next(
        c
        for row in closed.components
        for c in row.children
        if getattr(c, "custom_id", "").startswith("rb:advance:")
    )
    assert advance.disabled and advance.label == "Phase closed"


async def test_advance_by_someone_without_the_role_is_denied(world: World) -> None:
    """Deny Advance to Eve privately and audit it, even with every gate holding."""
    await world.start()
    await world.tick_all(world.ann)
    await world.sign(world.ann, "pre-release")

    result = await world.advance(world.eve)

    assert result.followups[-1].content.startswith("⛔ You may not advance")
    assert (await world.release()).phase_index == 0
    assert (await world.audit())[-1].detail["attempted"] == "advance"


async def test_a_release_goes_from_start_to_completed_through_discord_alone(world: World) -> None:
    """Run the seed release to Completed with slash commands, selects and reactions only."""
    await world.start()

    await world.run_whole_release()

    release = await world.release()
    assert release.status is ReleaseStatus.COMPLETED
    assert world.thread().history()[-1].content == "🏁 Release nexis-gateway v1.2.3: Completed."
    summary = (await world.message("summary")).embeds[0]
    assert (summary.description or "").startswith("**Completed**")
    assert all(not m.components for m in world.thread().history())  # no controls left
    actions = [e.action for e in await world.audit()]
    assert actions.count("tick") == 70
    assert actions.count("sign") == 4
    assert actions.count("advance") == 3 and actions[-1] == "complete"


async def test_the_advance_command_lists_the_open_gates_too(world: World) -> None:
    """Refuse /release advance in the thread with the open gates, privately."""
    await world.start()

    result = await world.ann.slash(world.thread(), "release advance")

    assert result.ephemeral and result.response is not None
    assert "cannot close yet; open gates:" in result.response.content
    assert world.errors() == [GatesOpen]


async def test_two_simultaneous_advance_clicks_close_exactly_one_phase(world: World) -> None:
    """Two Advance clicks at the same instant: one phase closes, the other is refused.

    SimCord runs one operation at a time, so the two clicks race where they meet: the
    room's advance (what the button's callback calls, with the phase its custom id carries),
    gathered. Release Process has only optional items: before the phase travelled with the
    click, the second one closed it too (a whole phase skipped).
    """
    await world.start()
    await world.tick_all(world.ann)
    await world.sign(world.ann, "pre-release")
    ann = Actor(str(world.ann.id), "ann", frozenset({"release_lead"}))
    tom = Actor(str(world.tom.id), "tom", frozenset({"tech_lead"}))

    outcomes = await asyncio.gather(
        world.bot.room.advance(1, ann, Source.BUTTON, "pre-release"),
        world.bot.room.advance(1, tom, Source.BUTTON, "pre-release"),
        return_exceptions=True,
    )

    refused = [o for o in outcomes if isinstance(o, InvalidTransition)]
    assert len(refused) == 1, outcomes
    assert "Pre-Release Preparation (发布前准备) was already advanced" in refused[0].message
    release = await world.release()
    assert release.phase_index == 1
    assert [e.action for e in await world.audit()].count("advance") == 1


async def test_advance_by_slash_names_the_phase_it_closes(world: World) -> None:
    """`/release advance phase:` refuses a phase already closed instead of closing the next."""
    await world.start()
    await world.tick_all(world.ann)
    await world.sign(world.ann, "pre-release")
    await world.advance(world.ann)

    again = await world.ann.slash(world.thread(), "release advance", phase="pre-release")

    assert again.response is not None and "was already advanced" in again.response.content
    assert world.errors() == [InvalidTransition]
    assert (await world.release()).phase_index == 1

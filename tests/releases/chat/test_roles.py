"""Role resolution at action time: configured Discord roles (names or ids) to role keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bot.app import create_bot
from bot.chat.roles import role_keys
from bot.releases.domain.release import ItemState
from tests.support.world import ROOM_EXTENSIONS, make_settings

if TYPE_CHECKING:
    from bot.core.clock import FakeClock
    from tests.support.world import World

REFS = {"release_lead": "Release Lead", "tech_lead": "123456789", "devops": " devops "}


def test_names_match_case_insensitively_and_ids_match_exactly() -> None:
    """Map a role named "release lead" and the role with id 123456789 to their keys."""
    held = [(1, "release lead"), (123456789, "Leads"), (5, "Developers")]
    assert role_keys(held, REFS) == frozenset({"release_lead", "tech_lead"})


def test_a_role_whose_name_looks_like_the_id_does_not_count() -> None:
    """Refuse a role merely named "123456789": numeric references are ids."""
    assert role_keys([(42, "123456789")], REFS) == frozenset()


def test_configured_names_ignore_surrounding_spaces() -> None:
    """Match " devops " in the config against a role called DevOps."""
    assert role_keys([(7, "DevOps")], REFS) == frozenset({"devops"})


async def test_roles_are_read_when_the_member_acts(world: World) -> None:
    """Let Eve tick a DevOps item right after she is given the DevOps role."""
    await world.start()
    await world.run_whole_release_until("deployment")
    denied = await world.choose(world.eve, "tick", "staging-deployed")
    assert denied.followups[-1].content.startswith("⛔")

    world.guild.remove_member(world.eve)  # SimCord changes roles by re-adding the member
    eve = world.guild.add_member(world.eve.user, roles=[world.guild.roles["DevOps"]])
    allowed = await world.choose(eve, "tick", "staging-deployed")

    assert allowed.followups == []
    assert (await world.release()).progress("staging-deployed").actor_name == "eve"


async def test_a_role_configured_by_id_is_recognised(
    world: World, tmp_path: Path, clock: FakeClock
) -> None:
    """Recognise the Tech Lead by the role id given in the config."""
    tech_lead_id = world.guild.roles["Tech Lead"].id
    settings = make_settings(
        tmp_path / "ids.db", roles={"tech_lead": tech_lead_id, "release_lead": "nobody"}
    )
    await world.bot.close()
    await world.env.restart_bot(create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS))

    await world.start(by=world.tom)
    item = (await world.release()).phases[0].all_items()[0]
    await world.waive(world.tom, item.id, "done in the previous release")

    assert (await world.release()).progress(item.id).state is ItemState.WAIVED

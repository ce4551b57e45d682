"""Sign-off by reaction: record, refuse (remove, tell, audit) and withdraw."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.world import World


@pytest.fixture
async def in_deployment(world: World) -> World:
    """Return the world with release #1 in its Deployment phase (approval can be given)."""
    await world.start()
    await world.run_whole_release_until("deployment")
    return world


def _dm(world: World, member: object) -> str:
    history = member.user.dm_channel.history()  # type: ignore[attr-defined]
    return history[-1].content if history else ""


def _reactors(message: object) -> list[int]:
    return [r.count for r in message.reactions]  # type: ignore[attr-defined]


async def test_a_tech_lead_reaction_records_the_approval(in_deployment: World) -> None:
    """Record Tom's ✅ as the approval, with who and when, on the message and the summary."""
    world = in_deployment

    await world.sign(world.tom, "approval")

    given = (await world.release()).signoffs["approval"]
    assert (given.actor_name, given.at.isoformat()) == ("tom", "2026-01-05T09:00:00+00:00")
    message = await world.message("signoff", "approval")
    assert "✅ Signed by **tom** at 2026-01-05 09:00 UTC" in (message.embeds[0].description or "")
    assert _reactors(message) == [2]  # the bot's and Tom's
    summary = (await world.message("summary")).embeds[0]
    assert "✅ Release approved: — tom · 2026-01-05 09:00 UTC" in summary.fields[2].value
    assert [e.action for e in await world.audit()][-1] == "sign"


async def test_anyone_else_s_reaction_is_removed_told_by_dm_and_audited(
    in_deployment: World,
) -> None:
    """Remove Eve's ✅ on the approval, DM her why, audit the denial, record no withdrawal."""
    world = in_deployment
    before = len(await world.audit())

    await world.sign(world.eve, "approval")

    assert "approval" not in (await world.release()).signoffs
    assert _reactors(await world.message("signoff", "approval")) == [1]  # only the bot's
    dm = _dm(world, world.eve)
    assert "Your ✅ on the sign-off “Release approved:” of nexis-gateway v1.2.3 was removed" in dm
    assert "it needs one of these roles: Tech Lead" in dm
    new = (await world.audit())[before:]
    assert [(e.action, e.actor_name, e.detail.get("attempted")) for e in new] == [
        ("denied", "eve", "sign")
    ]


async def test_a_refusal_is_told_in_the_thread_when_dms_are_closed(
    in_deployment: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Reply in the thread mentioning Eve when her DMs answer 50007, and log the fallback."""
    world = in_deployment
    dm_id = world.eve.user.dm_channel.id
    world.env.inject_error(
        "POST",
        f"/channels/{dm_id}/messages",
        status=403,
        code=50007,
        message="Cannot send messages to this user",
    )

    await world.sign(world.eve, "approval")

    last = world.thread().history()[-1]
    assert last.content.startswith(f"{world.eve.mention} Your ✅ on the sign-off")
    assert "Tech Lead" in last.content
    assert [e.action for e in await world.audit()][-1] == "denied"
    assert any(
        "DM to eve failed" in r.getMessage() and "50007" in r.getMessage() for r in caplog.records
    )


async def test_a_sign_off_of_a_later_phase_is_refused_and_audited(world: World) -> None:
    """Refuse the On-call sign-off while the release is still in Pre-Release."""
    await world.start()

    await world.sign(world.omar, "monitoring-complete")

    assert (await world.release()).signoffs == {}
    assert "belongs to Post-Release" in _dm(world, world.omar)
    denial = (await world.audit())[-1]
    assert (denial.action, denial.detail["attempted"]) == ("denied", "sign")


async def test_removing_a_valid_reaction_withdraws_the_sign_off(in_deployment: World) -> None:
    """Withdraw Tom's approval when he removes his ✅ while Deployment is open."""
    world = in_deployment
    await world.sign(world.tom, "approval")

    await world.tom.unreact(await world.message("signoff", "approval"), "✅")

    assert "approval" not in (await world.release()).signoffs
    message = await world.message("signoff", "approval")
    assert "⏳ Waiting: react with ✅" in (message.embeds[0].description or "")
    assert [e.action for e in await world.audit()][-2:] == ["sign", "withdraw"]


async def test_only_the_recorded_signer_s_removal_withdraws(in_deployment: World) -> None:
    """Keep Tom's approval when a second Tech Lead's refused ✅ is removed by the bot."""
    world = in_deployment
    tech_lead = world.guild.roles["Tech Lead"]
    tina = world.guild.add_member(world.env.create_user("tina"), roles=[tech_lead])
    await world.sign(world.tom, "approval")
    before = len(await world.audit())

    await world.sign(tina, "approval")

    assert (await world.release()).signoffs["approval"].actor_name == "tom"
    assert "was already signed by tom" in _dm(world, tina)
    assert _reactors(await world.message("signoff", "approval")) == [2]  # bot + Tom
    new = (await world.audit())[before:]
    assert [(e.action, e.actor_name) for e in new] == [("denied", "tina")]


async def test_a_sign_off_stays_once_its_phase_closed(world: World) -> None:
    """Keep the pre-release sign-off when Ann removes her ✅ after the phase closed."""
    await world.start()
    await world.run_whole_release_until("release")

    await world.ann.unreact(await world.message("signoff", "pre-release"), "✅")

    assert "pre-release" in (await world.release()).signoffs
    assert "Your sign-off on nexis-gateway v1.2.3 stays" in _dm(world, world.ann)

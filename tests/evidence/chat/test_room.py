"""Through SimCord: the phase opens and GitHub ticks its items; /release verify; branch delete."""

from __future__ import annotations

from datetime import timedelta

from simcord import InteractionResult, MemberActor

from bot.core.actors import BOT_ACTOR
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput
from bot.releases.domain.release import ItemState, Release
from bot.runtime.background import Background
from bot.sandbox.github import GitHubSandbox
from tests.support.world import World

TAG_SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
BRANCH_PATH = "/repos/nexis/nexis/git/refs/heads/release/v1.4.0"


async def settle(world: World) -> None:
    """Fire due timers and deliver the outbox (the checks run from it), until quiet."""
    await world.bot.handle(Background).pump()


async def into_release_process(world: World) -> Release:
    """Start v1.4.0 and take it through Pre-Release into Release Process."""
    started = await world.start(version="v1.4.0")
    assert not started.followups
    await world.run_whole_release_until("release")
    release = await world.release()
    assert release.current_phase is not None and release.current_phase.key == "release"
    return release


def github_items(release: Release) -> list[str]:
    """Return the Release Process items GitHub checks."""
    phase = release.current_phase
    assert phase is not None
    return [i.id for i in release.phase_items(phase) if (i.check or "").startswith("github.")]


def text(result: InteractionResult) -> str:
    """Return what the private answer says."""
    assert result.response is not None
    return result.response.content or ""


async def test_opening_release_process_ticks_its_items_as_the_bot_with_links(
    world: World,
) -> None:
    """Advance into Release Process: its 12 GitHub items are ticked by the bot with links."""
    release = await into_release_process(world)
    await settle(world)
    now = await world.release()
    ids = github_items(release)
    assert len(ids) == 12
    for item_id in ids:
        progress = now.progress(item_id)
        assert (progress.state, progress.actor_id) == (ItemState.DONE, BOT_ACTOR.id), item_id
        assert (progress.reason or "").startswith("https://github.example/nexis/nexis/")
    others = [i for i in now.phase_items(now.current_phase) if i.id not in ids]  # type: ignore[arg-type]
    assert others and all(now.progress(i.id).state is ItemState.OPEN for i in others)
    shown = "\n".join(m.embeds[0].description or "" for m in await world.phase_messages(1))
    assert "releasebot" in shown
    assert "<https://github.example/nexis/nexis/runs/1000>" in shown  # the CI item's check run
    assert "<https://github.example/nexis/nexis/releases/tag/v1.4.0>" in shown
    ticks = [e for e in await world.audit() if e.action == "tick" and e.actor_id == BOT_ACTOR.id]
    assert len(ticks) == 12 and all(e.detail["evidence"].startswith("https://") for e in ticks)


async def test_a_persons_tick_is_never_overwritten(
    world: World, github: GitHubSandbox, clock: FakeClock
) -> None:
    """Eve ticks the CI item while GitHub is rate-limited; the bot's later run leaves it hers."""
    github.limit_until(clock.now() + timedelta(hours=2))
    release = await into_release_process(world)
    await settle(world)
    ids = github_items(release)
    before = await world.release()
    assert all(before.progress(i).state is ItemState.OPEN for i in ids)
    ci = next(i for i in ids if release.item(i).check == "github.ci")
    picked = await world.choose(world.eve, "tick", ci)
    assert not picked.followups
    clock.advance(timedelta(hours=2))  # the reset: the retry timer is due
    await settle(world)
    now = await world.release()
    assert now.progress(ci).actor_name == "eve"
    assert [now.progress(i).actor_id for i in ids if i != ci] == [BOT_ACTOR.id] * 11


async def test_release_verify_reports_a_failing_check_with_its_reason(
    world: World, github: GitHubSandbox
) -> None:
    """A failed check run: /release verify says which check failed on which commit."""
    github.state.check_runs[TAG_SHA][1] = ("test (ubuntu)", "completed", "failure")
    release = await into_release_process(world)
    answer = await world.ann.slash(world.thread(), "release verify")
    assert answer.ephemeral
    body = text(answer)
    assert body.startswith("**GitHub evidence for nexis-gateway v1.4.0** (Release Process")
    assert (
        "❌ “CI 检查全部通过” `github.ci`: check `test (ubuntu)` failed on 3f2a1c9 "
        "<https://github.example/nexis/nexis/runs/1001>"
    ) in body
    assert "✅ “Tag 创建完成” `github.tag`: tag `v1.4.0` at 3f2a1c9" in body
    ci = next(i for i in github_items(release) if release.item(i).check == "github.ci")
    assert (await world.release()).progress(ci).state is ItemState.OPEN


async def test_release_verify_refuses_an_unknown_phase(world: World) -> None:
    """Name the phases when the one given does not exist."""
    await into_release_process(world)
    answer = await world.ann.slash(world.thread(), "release verify", phase="launch")
    assert "unknown phase 'launch'; expected all or one of: pre-release, release, " in text(answer)
    assert world.errors() == [InvalidInput]


async def test_a_later_failure_of_a_bot_tick_is_posted_in_the_thread(
    world: World, github: GitHubSandbox
) -> None:
    """The bot ticked the Tag items; the tag disappears: the thread is told, the tick stays."""
    release = await into_release_process(world)
    await settle(world)
    del github.state.tags["v1.4.0"]
    await world.ann.slash(world.thread(), "release verify")
    await settle(world)
    notices = [m.content for m in world.thread().history() if "fails now" in (m.content or "")]
    assert any("“Tag 创建完成”" in n and "tag `v1.4.0` missing" in n for n in notices)
    tag = next(i for i in github_items(release) if release.item(i).check == "github.tag")
    assert (await world.release()).progress(tag).state is ItemState.DONE


async def delete_offer(world: World, member: MemberActor) -> InteractionResult:
    """Return `member`'s /release verify all, which offers "Delete release branch"."""
    answer = await member.slash(world.thread(), "release verify", phase="all")
    assert "`github.branch_deleted`: branch `release/v1.4.0` still exists" in text(answer)
    return answer


async def test_branch_deletion_is_refused_without_the_role(
    world: World, github: GitHubSandbox
) -> None:
    """Eve (a developer) clicks: refused privately, audited, nothing deleted."""
    await into_release_process(world)
    offer = await delete_offer(world, world.eve)
    assert offer.response is not None
    clicked = await world.eve.click(offer.response, label="Delete release branch")
    assert clicked.ephemeral
    assert text(clicked) == (
        "⛔ You may not delete the release branch: it needs one of these roles: "
        "DevOps, Release Lead."
    )
    denied = [e for e in await world.audit() if e.action == "denied"]
    assert [(e.actor_name, e.detail["attempted"]) for e in denied] == [("eve", "delete_branch")]
    assert github.deletes == []


async def test_branch_deletion_is_refused_for_an_unmerged_branch(
    world: World, github: GitHubSandbox
) -> None:
    """Dora may delete, but the branch has commits not in main: no Confirm button."""
    github.state.unmerged.add("release/v1.4.0")
    await into_release_process(world)
    offer = await delete_offer(world, world.dora)
    assert offer.response is not None
    asked = await world.dora.click(offer.response, label="Delete release branch")
    body = text(asked)
    assert "⛔ `release/v1.4.0` in nexis/nexis is not merged: 2 commits not in `main`" in body
    assert asked.response is not None
    labels = [c["label"] for row in asked.response.components for c in row["components"]]
    assert labels == ["Cancel"]
    assert github.deletes == []


async def test_branch_deletion_works_for_the_role_on_a_merged_branch(
    world: World, github: GitHubSandbox
) -> None:
    """Dora confirms a merged branch: one DELETE, audited, the answer names the branch."""
    await into_release_process(world)
    offer = await delete_offer(world, world.dora)
    assert offer.response is not None
    asked = await world.dora.click(offer.response, label="Delete release branch")
    assert text(asked).startswith(
        "Delete `release/v1.4.0` in nexis/nexis? It is merged into `main`."
    )
    assert asked.response is not None
    done = await world.dora.click(asked.response, label="Delete release/v1.4.0")
    assert text(done) == "🗑️ Deleted `release/v1.4.0` in nexis/nexis (merged into `main`)."
    assert github.deletes == [BRANCH_PATH]
    audit = [e for e in await world.audit() if e.action == "delete_branch"]
    assert [(e.actor_name, e.target, e.detail["state"]) for e in audit] == [
        ("dora", "release/v1.4.0", "merged into `main`")
    ]


async def test_post_release_offers_the_button_in_the_thread_and_the_bot_ticks_cleanup(
    world: World, github: GitHubSandbox
) -> None:
    """Post-Release opens: the thread offers the button; Dora deletes; the bot ticks the item."""
    await world.start(version="v1.4.0")
    await world.run_whole_release_until("post-release")
    await settle(world)
    offers = [m for m in world.thread().history() if (m.content or "").startswith("🧹 Cleanup")]
    assert len(offers) == 1
    assert "`release/v1.4.0` in nexis/nexis can be deleted once it is merged" in offers[0].content
    eve = await world.eve.click(offers[0], label="Delete release branch")
    assert text(eve).startswith("⛔ You may not delete the release branch")
    asked = await world.dora.click(offers[0], label="Delete release branch")
    assert asked.response is not None
    await world.dora.click(asked.response, label="Delete release/v1.4.0")
    assert github.deletes == [BRANCH_PATH]
    release = await world.release()
    cleanup = next(
        i
        for i in release.phase_items(release.current_phase)
        if i.check == "github.branch_deleted"  # type: ignore[arg-type]
    )
    progress = release.progress(cleanup.id)
    assert (progress.state, progress.actor_id) == (ItemState.DONE, BOT_ACTOR.id)
    assert progress.reason == "https://github.example/nexis/nexis/branches"


async def test_the_first_phase_is_checked_when_the_release_starts(world: World) -> None:
    """Pre-Release opens with /release start: its CHANGELOG and Cargo.toml items are ticked."""
    await world.start(version="v1.4.0")
    await settle(world)
    release = await world.release()
    phase = release.current_phase
    assert phase is not None and phase.key == "pre-release"
    checked = [i for i in release.phase_items(phase) if (i.check or "").startswith("github.")]
    assert [i.check for i in checked] == ["github.changelog", "github.version_file"]
    for item in checked:
        progress = release.progress(item.id)
        assert (progress.state, progress.actor_id) == (ItemState.DONE, BOT_ACTOR.id)
    assert release.progress(checked[1].id).reason == (
        f"https://github.example/nexis/nexis/blob/{TAG_SHA}/Cargo.toml"
    )

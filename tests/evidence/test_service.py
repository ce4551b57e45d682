"""The evidence service on a migrated SQLite store, the real client and the loopback GitHub.

Faked: GitHub (bot/sandbox/github.py, GitHub's own shapes); Discord is not involved here (the
thread notices go to an Inbox; tests/evidence/test_chat.py shows them in SimCord).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.actors import BOT_ACTOR, Source
from bot.core.clock import FakeClock
from bot.core.errors import InvalidTransition, NotAuthorized
from bot.evidence.domain import VerdictStatus
from bot.evidence.service import TIMER_KIND
from bot.releases.domain.release import ItemState, Release
from tests.evidence.harness import GITHUB_ITEMS, VERSION, EvidenceWorld
from tests.support.actors import DEV, DEVOPS, LEAD

TAG_SHA = "3f2a1c9d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"


async def open_release_process(world: EvidenceWorld) -> Release:
    """Start v1.4.0, tick the Pre-Release item and advance into Release Process."""
    release = await world.releases.start(LEAD, service="nexis-gateway", version=VERSION)
    assert release.id is not None
    first = release.phase_items(release.phases[0])[0]
    await world.releases.tick(release.id, first.id, LEAD, Source.SLASH)
    return await world.releases.advance(release.id, LEAD, Source.SLASH)


def github_items(release: Release) -> list[str]:
    """Return the ids of the current phase's github.* items."""
    phase = release.current_phase
    assert phase is not None
    return [i.id for i in release.phase_items(phase) if (i.check or "").startswith("github.")]


async def test_opening_the_phase_ticks_its_items_as_the_bot_with_links(
    world: EvidenceWorld,
) -> None:
    """Advance into Release Process: the timer fires, the checks run, the items are ticked."""
    release = await open_release_process(world)
    assert release.id is not None
    await world.base.pump()
    now = await world.releases.get(release.id)
    ids = github_items(now)
    assert len(ids) == GITHUB_ITEMS
    for item_id in ids:
        progress = now.progress(item_id)
        assert progress.state is ItemState.DONE, item_id
        assert progress.actor_id == BOT_ACTOR.id
        assert (progress.reason or "").startswith("https://github.example/nexis/nexis/")
    manual = [i for i in now.phase_items(now.current_phase) if i.id not in ids]  # type: ignore[arg-type]
    assert [now.progress(i.id).state for i in manual] == [ItemState.OPEN]
    ticks = [e for e in await world.releases.timeline(release.id, 200) if e.action == "tick"]
    by_bot = {e.target: e.detail.get("evidence") for e in ticks if e.actor_id == BOT_ACTOR.id}
    assert set(by_bot) == set(ids)
    assert by_bot[ids[2]] == "https://github.example/nexis/nexis/runs/1000"  # the CI item


async def test_the_phase_is_rechecked_on_a_schedule_while_open(
    world: EvidenceWorld, clock: FakeClock
) -> None:
    """A failing item is re-checked every recheck period and ticked once it passes."""
    world.github.state.releases["v1.4.0"]["assets"] = []
    release = await open_release_process(world)
    assert release.id is not None
    await world.base.pump()
    assets = github_items(release)[6]
    assert (await world.releases.get(release.id)).progress(assets).state is ItemState.OPEN
    world.github.state.releases["v1.4.0"]["assets"] = ["nexis-v1.4.0-linux-x86_64.tar.gz"]
    clock.advance(world.evidence.recheck - timedelta(seconds=1))
    await world.base.pump()
    assert (await world.releases.get(release.id)).progress(assets).state is ItemState.OPEN
    clock.advance(timedelta(seconds=1))
    await world.base.pump()
    assert (await world.releases.get(release.id)).progress(assets).state is ItemState.DONE


async def test_a_persons_tick_and_a_waiver_are_never_touched(world: EvidenceWorld) -> None:
    """Items a person ticked or waived keep their person, even when the check fails."""
    release = await open_release_process(world)
    assert release.id is not None
    branch, merged, ci = github_items(release)[:3]
    await world.releases.tick(release.id, branch, DEV, Source.SLASH)
    await world.releases.waive(release.id, merged, "merged by hand via a PR", LEAD, Source.SLASH)
    world.github.state.check_runs[TAG_SHA][0] = ("build", "completed", "failure")
    await world.releases.tick(release.id, ci, DEV, Source.SLASH)
    report = await world.evidence.verify(release.id)
    actions = {r.item_id: r.action for r in report.results}
    assert (actions[branch], actions[merged], actions[ci]) == ("person", "waived", "person")
    now = report.release
    assert now.progress(branch).actor_id == DEV.id
    assert now.progress(merged).state is ItemState.WAIVED
    assert now.progress(ci).actor_id == DEV.id
    await world.base.pump()
    assert world.notices.got == []  # a person's tick failing is not the bot's to report


async def test_a_later_failure_of_a_bot_tick_is_reported_once_never_unticked(
    world: EvidenceWorld,
) -> None:
    """The CI item, ticked by the bot, fails later: one thread notice, the tick stays."""
    release = await open_release_process(world)
    assert release.id is not None
    await world.base.pump()
    ci = github_items(release)[2]
    world.github.state.check_runs[TAG_SHA][1] = ("test (ubuntu)", "completed", "failure")
    first = await world.evidence.verify(release.id)
    await world.evidence.verify(release.id)
    await world.base.pump()
    assert {r.item_id: r.action for r in first.results}[ci] == "regressed"
    assert (await world.releases.get(release.id)).progress(ci).state is ItemState.DONE
    assert world.notices.where(item=ci) == [
        {
            "kind": "regressed",
            "release_id": release.id,
            "item": ci,
            "text": "CI checks all pass",
            "check": "github.ci",
            "reason": "check `test (ubuntu)` failed on 3f2a1c9",
            "link": "https://github.example/nexis/nexis/runs/1001",
        }
    ]
    audit = [e for e in await world.releases.timeline(release.id, 200)]
    assert [e.action for e in audit].count("evidence_regressed") == 1


async def test_rate_limited_checks_are_retried_after_the_reset(
    world: EvidenceWorld, clock: FakeClock
) -> None:
    """403 with the limit spent: nothing ticked, a retry timer at the reset, run then."""
    release = await open_release_process(world)
    assert release.id is not None
    reset = clock.now() + timedelta(minutes=17)
    world.github.limit_until(reset)
    report = await world.evidence.verify(release.id)
    assert {r.verdict.status for r in report.results} == {VerdictStatus.INCONCLUSIVE}
    assert all(r.action == "open" for r in report.results)
    async with world.base.uow() as uow:
        timers = await uow.timers.pending(kind=TIMER_KIND, ref_id=release.id)
    retries = [t for t in timers if t.payload.get("chain") == "retry"]
    assert [t.due_at for t in retries] == [reset]
    clock.advance(timedelta(minutes=17))
    await world.base.pump()
    now = await world.releases.get(release.id)
    assert all(now.progress(i).state is ItemState.DONE for i in github_items(now))


async def test_verify_all_reports_items_of_closed_or_future_phases_without_ticking(
    world: EvidenceWorld,
) -> None:
    """`all` checks every phase; an item whose phase is not open is not ticked."""
    release = await open_release_process(world)
    assert release.id is not None
    report = await world.evidence.verify(release.id, "all")
    deleted = [r for r in report.results if r.check == "github.branch_deleted"]
    assert [(r.verdict.status, r.action) for r in deleted] == [(VerdictStatus.FAIL, "open")]
    assert report.scope == "all phases"


async def test_delete_branch_needs_the_role_and_a_merged_branch(world: EvidenceWorld) -> None:
    """Refuse (and audit) a member without the role and an unmerged branch; else one DELETE."""
    release = await open_release_process(world)
    assert release.id is not None
    with pytest.raises(NotAuthorized):
        await world.evidence.plan_delete(release.id, DEV, Source.BUTTON)
    world.github.state.unmerged.add("release/v1.4.0")
    plan = await world.evidence.plan_delete(release.id, DEVOPS, Source.BUTTON)
    assert (plan.merged, plan.state) == (False, "2 commits not in `main`")
    with pytest.raises(InvalidTransition, match="not merged"):
        await world.evidence.delete_branch(release.id, DEVOPS, Source.BUTTON)
    assert world.github.deletes == []
    world.github.state.unmerged.clear()
    done = await world.evidence.delete_branch(release.id, DEVOPS, Source.BUTTON)
    assert done.state == "merged into `main`"
    assert world.github.deletes == ["/repos/nexis/nexis/git/refs/heads/release/v1.4.0"]
    audit = await world.releases.timeline(release.id, 200)
    denied = [
        e for e in audit if e.action == "denied" and e.detail.get("attempted") == "delete_branch"
    ]
    assert [e.actor_id for e in denied] == [DEV.id, DEVOPS.id]
    deleted = [e for e in audit if e.action == "delete_branch"]
    assert [(e.actor_id, e.target) for e in deleted] == [(DEVOPS.id, "release/v1.4.0")]

"""Rules of the release aggregate: gates, sign-offs, waivers, side exits, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.checklist.model import ChecklistTemplate
from bot.core.actors import AccessPolicy, Actor, Source
from bot.core.errors import (
    GatesOpen,
    InvalidInput,
    InvalidTransition,
    NotAuthorized,
    UnknownTarget,
)
from bot.releases.domain.release import ItemState, Release, ReleaseStatus, start_release
from bot.releases.domain.values import DeploymentWindow, Version
from tests.support.actors import DEV, DEVOPS, LEAD, NOW, ONCALL, STRANGER, TECH

S = Source.BUTTON


def _start(template: ChecklistTemplate, policy: AccessPolicy, version: str = "v1.2.3") -> Release:
    return start_release(
        service="gw",
        version=version,
        lead=LEAD,
        template=template,
        now=NOW,
        actor=LEAD,
        source=Source.SLASH,
        policy=policy,
    )


def _item(release: Release, text: str) -> str:
    return next(i.id for i in release.template.items() if i.text == text)


def test_start_records_event_and_enters_first_phase(template, policy):
    """Start a release in the first workflow phase with a start event."""
    release = _start(template, policy)
    assert release.current_phase is not None
    assert release.current_phase.key == "pre-release"
    assert [e.action for e in release.events] == ["start"]
    assert release.events[0].source is Source.SLASH


@pytest.mark.parametrize("bad", ["1.2", "vX.Y", "v1.2", "v01.2.3", "1.2.3", "v1.2.3-", ""])
def test_start_rejects_malformed_versions(template, policy, bad):
    """Reject versions that are not vMAJOR.MINOR.PATCH[-pre]."""
    with pytest.raises(InvalidInput, match=r"vMAJOR\.MINOR\.PATCH"):
        _start(template, policy, bad)


@pytest.mark.parametrize("good", ["v1.2.3", "v0.0.1", "v10.20.30-rc.1", "v1.0.0-beta-2"])
def test_versions_round_trip(good):
    """Parse valid versions and print them back unchanged."""
    assert str(Version.parse(good)) == good


def test_start_needs_start_role(template, policy):
    """Refuse a start by someone without the start permission."""
    with pytest.raises(NotAuthorized):
        start_release(
            service="gw",
            version="v1.0.0",
            lead=DEV,
            template=template,
            now=NOW,
            actor=DEV,
            source=Source.SLASH,
            policy=policy,
        )


def test_advance_refused_with_open_gates_then_allowed(template, policy):
    """Refuse advance listing items and sign-offs, then allow it once they hold."""
    release = _start(template, policy)
    with pytest.raises(GatesOpen) as refused:
        release.advance(LEAD, NOW, S, policy)
    gates = refused.value.open_gates
    assert any("Features done" in g for g in gates)
    assert any("sign-off missing" in g for g in gates)
    assert not any("Docs updated" in g for g in gates)  # optional items do not gate
    release.tick(_item(release, "Features done"), DEV, NOW, S, policy)
    release.sign("pre-release", LEAD, NOW, Source.REACTION)
    release.advance(LEAD, NOW, S, policy)
    assert release.current_phase is not None and release.current_phase.key == "deployment"


def test_item_role_restricts_tick(template, policy):
    """Let only DevOps tick an item marked role=devops."""
    release = _start(template, policy)
    release.tick(_item(release, "Features done"), DEV, NOW, S, policy)
    release.sign("pre-release", LEAD, NOW, S)
    release.advance(LEAD, NOW, S, policy)
    staging = _item(release, "Staging deployed")
    with pytest.raises(NotAuthorized, match="devops"):
        release.tick(staging, DEV, NOW, S, policy)
    release.tick(staging, DEVOPS, NOW, S, policy)
    assert release.progress(staging).state is ItemState.DONE


def test_blocked_section_needs_approval_first(template, policy):
    """Lock production items until the Tech Lead's approval is given."""
    release = _to_deployment(template, policy)
    with pytest.raises(InvalidTransition, match="locked until"):
        release.tick("prod-deployed", DEVOPS, NOW, S, policy)
    release.sign("approval", TECH, NOW, Source.REACTION)
    release.tick("prod-deployed", DEVOPS, NOW, S, policy)
    assert [s.kind for s in release.signals] == ["phase_entered", "production_deployed"]


def _to_deployment(template: ChecklistTemplate, policy: AccessPolicy) -> Release:
    release = _start(template, policy)
    release.tick(_item(release, "Features done"), DEV, NOW, S, policy)
    release.sign("pre-release", LEAD, NOW, S)
    release.advance(LEAD, NOW, S, policy)
    return release


def test_signoff_requires_role_and_current_phase(template, policy):
    """Refuse a sign-off from the wrong role or for a phase not yet current."""
    release = _start(template, policy)
    with pytest.raises(NotAuthorized):
        release.sign("approval", DEV, NOW, S)
    with pytest.raises(InvalidTransition, match="belongs to Deployment"):
        release.sign("approval", TECH, NOW, S)
    with pytest.raises(UnknownTarget):
        release.sign("nope", TECH, NOW, S)


def test_withdraw_signoff_while_phase_open_only(template, policy):
    """Withdraw a sign-off while its phase is open; refuse once it closed."""
    release = _start(template, policy)
    release.tick(_item(release, "Features done"), DEV, NOW, S, policy)
    release.sign("pre-release", LEAD, NOW, S)
    release.withdraw("pre-release", LEAD, NOW, S)
    assert "pre-release" not in release.signoffs
    release.sign("pre-release", LEAD, NOW, S)
    release.advance(LEAD, NOW, S, policy)
    with pytest.raises(InvalidTransition, match="closed"):
        release.withdraw("pre-release", LEAD, NOW, S)


def test_waiver_needs_reason_and_role(template, policy):
    """Refuse a waiver without a reason or without the waive role."""
    release = _start(template, policy)
    item = _item(release, "Features done")
    with pytest.raises(InvalidInput, match="reason"):
        release.waive(item, "  ", TECH, NOW, S, policy)
    with pytest.raises(NotAuthorized):
        release.waive(item, "not needed this time", DEV, NOW, S, policy)
    release.waive(item, "not needed this time", TECH, NOW, S, policy)
    progress = release.progress(item)
    assert progress.state is ItemState.WAIVED
    assert progress.reason == "not needed this time"
    assert progress.actor_name == "Tom"


def test_untick_until_phase_closes(template, policy):
    """Undo a tick while the phase is open; refuse after it closed."""
    release = _start(template, policy)
    item = _item(release, "Features done")
    release.tick(item, DEV, NOW, S, policy)
    release.untick(item, DEV, NOW, S, policy)
    assert release.progress(item).state is ItemState.OPEN
    release.tick(item, DEV, NOW, S, policy)
    release.sign("pre-release", LEAD, NOW, S)
    release.advance(LEAD, NOW, S, policy)
    with pytest.raises(InvalidTransition):
        release.untick(item, DEV, NOW, S, policy)


def test_bot_ticked_item_needs_reason_to_untick(template, policy):
    """Make a person give a reason to untick an automatic check."""
    from bot.core.actors import BOT_ACTOR

    release = _start(template, policy)
    item = _item(release, "Features done")
    release.tick(item, BOT_ACTOR, NOW, Source.TIMER, policy)
    with pytest.raises(InvalidInput, match="reason"):
        release.untick(item, DEV, NOW, S, policy)
    release.untick(item, DEV, NOW, S, policy, reason="health check was flaky")
    assert release.progress(item).reason == "health check was flaky"


def test_both_side_exits(template, policy):
    """Reach Aborted (with reason) and Rolled back; nothing changes afterwards."""
    aborted = _start(template, policy)
    with pytest.raises(InvalidInput):
        aborted.abort("", LEAD, NOW, S, policy)
    with pytest.raises(NotAuthorized):
        aborted.abort("bad build", DEV, NOW, S, policy)
    aborted.abort("bad build", LEAD, NOW, S, policy)
    assert aborted.status is ReleaseStatus.ABORTED and aborted.close_reason == "bad build"
    with pytest.raises(InvalidTransition, match="aborted"):
        aborted.tick(_item(aborted, "Features done"), DEV, NOW, S, policy)
    rolled = _start(template, policy)
    rolled.mark_rolled_back(DEVOPS, NOW, Source.BUTTON, "to revision 2")
    assert rolled.status is ReleaseStatus.ROLLED_BACK


def test_full_walk_to_completed(template, policy):
    """Walk every phase to Completed, with an audit event per change."""
    release = _to_deployment(template, policy)
    release.tick(_item(release, "Staging deployed"), DEVOPS, NOW, S, policy)
    release.sign("approval", TECH, NOW, S)
    release.tick("prod-deployed", DEVOPS, NOW, S, policy)
    release.advance(TECH, NOW, S, policy)
    release.tick(_item(release, "Monitoring watched"), ONCALL, NOW + timedelta(hours=24), S, policy)
    with pytest.raises(GatesOpen, match="sign-off missing"):
        release.advance(LEAD, NOW, S, policy)
    release.sign("monitoring-complete", ONCALL, NOW, S)
    release.advance(LEAD, NOW, S, policy)
    assert release.status is ReleaseStatus.COMPLETED
    actions = [e.action for e in release.events]
    assert actions.count("tick") == 4 and actions.count("sign") == 3
    assert actions[-1] == "complete"


def test_lead_counts_as_release_lead(template, policy):
    """Treat the release's lead as holding release_lead even without the Discord role."""
    lead_without_role = Actor("1", "Ann", frozenset())
    release = start_release(
        service="gw",
        version="v1.0.0",
        lead=lead_without_role,
        template=template,
        now=NOW,
        actor=TECH,
        source=S,
        policy=policy,
    )
    release.sign("pre-release", lead_without_role, NOW, S)
    assert "pre-release" in release.signoffs
    with pytest.raises(NotAuthorized):
        release.sign("pre-release", STRANGER, NOW, S)


def test_denial_is_recorded(template, policy):
    """Record a denial event with the attempted action and reason."""
    release = _start(template, policy)
    event = release.deny(DEV, "sign", "approval", NOW, Source.REACTION, "needs tech_lead")
    assert event.action == "denied" and event.detail["attempted"] == "sign"
    assert release.events[-1] is event


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-12-01 14:00-16:00", "2026-12-01 14:00", "2026-12-01 16:00"),
        ("2026-12-01 14:00-16:00 +08:00", "2026-12-01 06:00", "2026-12-01 08:00"),
        ("2026-12-01 22:00-02:00 UTC", "2026-12-01 22:00", "2026-12-02 02:00"),
        ("2026-12-01 14:00-16:00 Asia/Shanghai", "2026-12-01 06:00", "2026-12-01 08:00"),
    ],
)
def test_window_parsing(text, start, end):
    """Parse the seed's deployment-window form, with zones and midnight crossing."""
    window = DeploymentWindow.parse(text)
    assert f"{window.start:%Y-%m-%d %H:%M}" == start
    assert f"{window.end:%Y-%m-%d %H:%M}" == end


@pytest.mark.parametrize(
    "bad", ["tomorrow", "2026-13-01 14:00-16:00", "2026-12-01 14:00-16:00 Mars/Base"]
)
def test_window_rejects_garbage(bad):
    """Reject a window that is not in the documented form."""
    with pytest.raises(InvalidInput, match=r"window|zone"):
        DeploymentWindow.parse(bad)

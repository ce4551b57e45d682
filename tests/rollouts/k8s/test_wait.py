"""Waiting for rollouts: completion, progress deadline, timeout, pause and lost contact."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.clock import FakeClock
from bot.rollouts.k8s import DeploymentTarget, RolloutController, RolloutStatus
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.support.clock import VirtualSleep

PATH = "/apis/apps/v1/namespaces/production/deployments/nexis-gateway"


async def test_wait_reports_progress_until_complete(
    controller: RolloutController, at_revision_3: DeploymentTarget, sleep: VirtualSleep
) -> None:
    """Call on_progress as replicas move and end ok once updated == replicas == available."""
    seen: list[RolloutStatus] = []

    async def on_progress(status: RolloutStatus) -> None:
        seen.append(status)

    await controller.undo(at_revision_3)
    outcome = await controller.wait_for_rollout(at_revision_3, poll=2.0, on_progress=on_progress)
    assert outcome.ok and outcome.status is not None and outcome.status.complete
    assert "successfully rolled out" in outcome.reason
    assert [s.updated_replicas for s in seen] == sorted(s.updated_replicas for s in seen)
    assert seen[0].updated_replicas < 3 and seen[-1].complete
    assert outcome.polls == len(sleep.calls) + 1
    assert outcome.elapsed == timedelta(seconds=2.0 * len(sleep.calls))


async def test_a_failing_progress_callback_does_not_stop_the_wait(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Keep watching the rollout when the chat update raises."""
    calls = 0

    async def broken(status: RolloutStatus) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("discord is down")

    await controller.undo(at_revision_3)
    outcome = await controller.wait_for_rollout(at_revision_3, poll=1.0, on_progress=broken)
    assert outcome.ok and calls >= 2


async def test_progress_deadline_exceeded_is_not_ok(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """End not ok with ProgressDeadlineExceeded when the controller gives up."""
    fake_api.cluster.stall("production", "nexis-gateway")
    await controller.undo(at_revision_3)
    outcome = await controller.wait_for_rollout(at_revision_3, poll=5.0)
    assert not outcome.ok
    assert outcome.reason.startswith("ProgressDeadlineExceeded: ")
    assert "has timed out progressing" in outcome.reason
    assert outcome.status is not None and outcome.status.deadline_exceeded


async def test_our_own_timeout_ends_the_wait(
    controller: RolloutController,
    at_revision_3: DeploymentTarget,
    fake_api: FakeKubeApi,
    sleep: VirtualSleep,
) -> None:
    """Stop after `timeout` of (virtual) time when Kubernetes has not given up yet."""
    fake_api.cluster.controller.reads_to_deadline = 10_000
    fake_api.cluster.stall("production", "nexis-gateway")
    await controller.undo(at_revision_3)
    outcome = await controller.wait_for_rollout(
        at_revision_3, timeout=timedelta(seconds=30), poll=10.0
    )
    assert not outcome.ok
    assert outcome.reason.startswith("ProgressDeadlineExceeded: not complete after 30s")
    assert outcome.elapsed == timedelta(seconds=30)
    assert sum(sleep.calls[-3:]) == 30.0


async def test_the_target_deadline_is_the_default_timeout(
    controller: RolloutController,
    fake_api: FakeKubeApi,
    clock: FakeClock,
    at_revision_3: DeploymentTarget,
) -> None:
    """Use the target's progress deadline (here 10 minutes) when no timeout is given."""
    fake_api.cluster.controller.reads_to_deadline = 10_000
    fake_api.cluster.stall("production", "nexis-gateway")
    await controller.undo(at_revision_3)
    outcome = await controller.wait_for_rollout(at_revision_3, poll=60.0)
    assert not outcome.ok and "not complete after 10m00s" in outcome.reason
    assert outcome.elapsed == timedelta(minutes=10)


async def test_a_paused_rollout_is_reported_not_waited_for(
    controller: RolloutController, fake_api: FakeKubeApi, at_revision_3: DeploymentTarget
) -> None:
    """End at once, not ok, when a rollout is paused half way (it would never progress)."""
    await controller.undo(at_revision_3)
    fake_api.cluster.pause("production", "nexis-gateway")
    outcome = await controller.wait_for_rollout(at_revision_3)
    assert not outcome.ok and "is paused" in outcome.reason and outcome.polls == 1


async def test_a_paused_but_finished_rollout_is_ok(
    controller: RolloutController, fake_api: FakeKubeApi, at_revision_3: DeploymentTarget
) -> None:
    """Report ok for a paused Deployment whose last rollout had completed (kubectl agrees)."""
    fake_api.cluster.pause("production", "nexis-gateway")
    outcome = await controller.wait_for_rollout(at_revision_3)
    assert outcome.ok and outcome.status is not None and outcome.status.paused


async def test_lost_contact_ends_the_wait_with_the_reason(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Return not ok (not raise) when status reads keep failing, so the caller can report."""
    fake_api.fail("GET", PATH, 500, times=None)
    outcome = await controller.wait_for_rollout(at_revision_3)
    assert not outcome.ok
    assert outcome.reason.startswith("lost track of the rollout: ")
    assert "production/nexis-gateway" in outcome.reason


async def test_wait_rejects_a_non_positive_poll(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Reject poll=0, naming the argument."""
    with pytest.raises(ValueError, match="poll must be a positive"):
        await controller.wait_for_rollout(at_revision_3, poll=0)


async def test_rollback_reports_a_completed_rollback(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Combine undo and wait in one report that says the rollout completed."""
    report = await controller.rollback(at_revision_3, actor="ann", poll=1.0)
    assert report.ok and report.undo.new_revision == 4
    assert report.summary() == (
        "rolled back production/nexis-gateway from revision 3 to revision 2's template "
        "(revision 4); rollout complete"
    )
    assert controller.in_flight(at_revision_3) is None


async def test_rollback_reports_a_patch_that_did_not_roll_out(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Say the patch was applied even though the rollout then missed its deadline."""
    fake_api.cluster.stall("production", "nexis-gateway")
    report = await controller.rollback(at_revision_3, poll=5.0)
    assert not report.ok
    assert "patch applied but the rollout did not complete: ProgressDeadlineExceeded" in (
        report.summary()
    )

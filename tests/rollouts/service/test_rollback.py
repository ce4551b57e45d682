"""RollbackService against a real SQLite store and the loopback fake Kubernetes API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.core.actors import Source
from bot.core.errors import InvalidTransition, NotAuthorized
from bot.core.events import ReleaseSignalled, on_signal
from bot.releases.domain.release import Release, ReleaseSignal, ReleaseStatus
from bot.rollouts.domain import ClusterRefusal, OperationStatus, RolloutInFlight
from bot.rollouts.service.rollback import RollbackService
from bot.sandbox.kubernetes.api import Recorder
from tests.rollouts.service.harness import (
    DEV,
    DEVOPS,
    IMAGE,
    SERVICE,
    World,
    build_world,
    roll_out,
    rollout_rbac,
)

__all__ = ["rollout_rbac"]


@pytest.fixture
async def world(tmp_path: Path, rollout_rbac: Recorder, engine) -> AsyncIterator[World]:
    """Return the rollout world with production at revision 3 (v1.0.0, v1.1.0, v1.2.0)."""
    async with build_world(tmp_path, rollout_rbac, engine=engine) as built:
        roll_out(built.api, "production", "v1.1.0", "v1.2.0")
        yield built


def image(world: World, namespace: str = "production") -> str:
    """Return the image the stored Deployment's template runs."""
    dep = world.api.cluster.deployment(namespace, SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def rolled_back(world: World, release: Release, **options: object) -> int:
    """Preview, confirm as DevOps and run a rollback to completion; return the operation id."""
    assert release.id is not None
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON, **options)  # type: ignore[arg-type]
    op = await world.rollbacks.request(
        release.id,
        DEVOPS,
        Source.BUTTON,
        from_revision=plan.from_revision,
        to_revision=plan.to_revision,
        explicit=bool(options.get("to_revision")),
    )
    await world.settle()
    assert op.id is not None
    return op.id


async def test_preview_names_target_and_revisions(world: World) -> None:
    """Ask to confirm the rollback of production/nexis-gateway from revision 3 to 2."""
    release = await world.start_release()
    assert release.id is not None
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    assert (plan.target, plan.from_revision, plan.to_revision) == (
        "production/nexis-gateway",
        3,
        2,
    )
    assert plan.question().startswith(
        "Confirm rollback of production/nexis-gateway from revision 3 to 2"
    )
    assert f"{IMAGE}:v1.2.0 → {IMAGE}:v1.1.0" in plan.question()
    assert world.api.requests("PATCH") == []


async def test_rollback_restores_revision_2_as_4_and_rolls_the_release_back(world: World) -> None:
    """Restore revision 2's template as revision 4, watch it done, mark the release Rolled back."""
    release = await world.start_release()
    signals: list[ReleaseSignal] = []

    async def record(uow: object, rel: Release, signal: ReleaseSignal) -> None:
        signals.append(signal)

    world.releases.events.subscribe(ReleaseSignalled, on_signal("rolled_back", record))
    op_id = await rolled_back(world, release)

    op = await world.rollbacks.get(op_id)
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert (op.from_revision, op.to_revision, op.new_revision) == (3, 2, 4)
    assert "rollout complete" in op.detail and "Rolled back" in op.detail
    assert image(world) == f"{IMAGE}:v1.1.0"
    status = await (await world.rollbacks.cluster.controller()).status(
        world.rollbacks.target(SERVICE, "production").deployment
    )
    assert status.complete and status.revision == 4
    assert release.id is not None
    assert (await world.releases.get(release.id)).status is ReleaseStatus.ROLLED_BACK
    assert [s.kind for s in signals] == ["rolled_back"]
    actions = [row.action for row in await world.audit()]
    assert "rollback_requested" in actions and "rollback_succeeded" in actions
    assert "rolled_back" in actions


async def test_thread_gets_every_step_ending_with_the_outcome(world: World) -> None:
    """Queue a thread update for the request, the start, each rollout step and the outcome."""
    release = await world.start_release()
    op_id = await rolled_back(world, release)
    keys = [m.idempotency_key for m in world.sent.sent]
    assert keys[0] == f"k8s.rollout:{op_id}:0:requested"
    assert keys[-1].endswith(":succeeded")
    assert sum(":in_progress" in key for key in keys) >= 3  # claimed, patched, progress
    assert all(m.payload["operation_id"] == op_id for m in world.sent.sent)
    assert len(set(keys)) == len(keys)


async def test_to_revision_1_restores_the_first_template(world: World) -> None:
    """Roll back to an explicitly named revision, like `--to-revision=1`."""
    release = await world.start_release()
    op_id = await rolled_back(world, release, to_revision=1)
    op = await world.rollbacks.get(op_id)
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert (op.from_revision, op.to_revision) == (3, 1)
    assert image(world) == f"{IMAGE}:v1.0.0"


async def test_unknown_revision_is_refused_with_the_available_ones(world: World) -> None:
    """Refuse a revision the Deployment never had, listing the ones it has."""
    release = await world.start_release()
    assert release.id is not None
    with pytest.raises(ClusterRefusal, match=r"has no revision 7; available revisions: 1, 2, 3"):
        await world.rollbacks.preview(release.id, DEVOPS, Source.SLASH, to_revision=7)


async def test_paused_deployment_is_refused_and_left_alone(world: World) -> None:
    """Refuse while paused, both at the confirmation and if it got paused after it."""
    release = await world.start_release()
    assert release.id is not None
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    world.api.cluster.pause("production", SERVICE)
    with pytest.raises(ClusterRefusal, match="is paused; resume it before rolling back"):
        await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    op = await world.rollbacks.request(
        release.id, DEVOPS, Source.BUTTON, from_revision=3, to_revision=plan.to_revision
    )
    await world.settle()
    assert op.id is not None
    stored = await world.rollbacks.get(op.id)
    assert stored.status is OperationStatus.REFUSED
    assert "paused" in stored.detail
    assert world.api.requests("PATCH") == []
    assert (await world.releases.get(release.id)).status is ReleaseStatus.ACTIVE


async def test_no_earlier_revision_is_refused(tmp_path: Path, rollout_rbac: Recorder) -> None:
    """Refuse a rollback of a Deployment that only ever had one revision."""
    async with build_world(tmp_path, rollout_rbac) as fresh:
        release = await fresh.start_release()
        assert release.id is not None
        with pytest.raises(ClusterRefusal, match="no earlier revision to roll back to"):
            await fresh.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
        assert fresh.api.requests("PATCH") == []


async def test_member_without_the_role_is_denied_and_audited(world: World) -> None:
    """Deny a developer, at preview and at confirmation, and audit both denials."""
    release = await world.start_release()
    assert release.id is not None
    with pytest.raises(NotAuthorized, match="devin may not rollback"):
        await world.rollbacks.preview(release.id, DEV, Source.BUTTON)
    with pytest.raises(NotAuthorized):
        await world.rollbacks.request(release.id, DEV, Source.BUTTON, from_revision=3)
    denials = await world.audit("denied")
    assert [(d.actor_name, d.detail["attempted"]) for d in denials] == [
        ("devin", "rollback"),
        ("devin", "rollback"),
    ]
    assert world.api.requests() == []


async def test_second_rollback_while_one_is_in_flight_is_refused(world: World) -> None:
    """Refuse a second rollback of the same Deployment while the first one runs."""
    release = await world.start_release()
    assert release.id is not None
    held = world.api.hang("GET", "/apis/apps/v1/namespaces/production/deployments/nexis-gateway")
    first = await world.rollbacks.request(release.id, DEVOPS, Source.BUTTON, from_revision=3)
    await asyncio.wait_for(held.entered.wait(), 5)
    with pytest.raises(RolloutInFlight, match=r"already in progress \(#1, requested by dana"):
        await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    with pytest.raises(RolloutInFlight):
        await world.rollbacks.request(release.id, DEVOPS, Source.SLASH, from_revision=3)
    assert held.release is not None
    held.release.set()
    await world.settle()
    assert first.id is not None
    assert (await world.rollbacks.get(first.id)).status is OperationStatus.SUCCEEDED


async def test_in_flight_guard_survives_a_restart_until_recovered(world: World) -> None:
    """Keep refusing after a restart (new process, no lock) until start-up recovery reports it."""
    release = await world.start_release()
    assert release.id is not None
    held = world.api.hang("GET", "/apis/apps/v1/namespaces/production/deployments/nexis-gateway")
    first = await world.rollbacks.request(release.id, DEVOPS, Source.BUTTON, from_revision=3)
    await asyncio.wait_for(held.entered.wait(), 5)
    await world.rollbacks.close()  # the process dies mid-rollback
    restarted = RollbackService(
        world.uow,
        world.clock,
        world.releases,
        world.rollbacks.policy,
        world.rollbacks.targets,
        world.rollbacks.cluster,
        poll_seconds=1.0,
    )
    with pytest.raises(RolloutInFlight):
        await restarted.preview(release.id, DEVOPS, Source.BUTTON)
    assert await restarted.recover() == 1
    assert first.id is not None
    interrupted = await restarted.get(first.id)
    assert interrupted.status is OperationStatus.FAILED
    assert "interrupted: the bot restarted" in interrupted.detail
    assert held.release is not None
    held.release.set()
    plan = await restarted.preview(release.id, DEVOPS, Source.BUTTON)
    assert (plan.from_revision, plan.to_revision) == (3, 2)
    await restarted.settle()


async def test_forbidden_patch_reports_clearly_and_changes_nothing(world: World) -> None:
    """Report a 403 on the patch with the missing permission; leave Deployment and release."""
    release = await world.start_release()
    assert release.id is not None
    world.api.fail(
        "PATCH",
        "/apis/apps/v1/namespaces/production/deployments/*",
        403,
        times=None,
        message='deployments.apps "nexis-gateway" is forbidden',
    )
    op_id = await rolled_back(world, release)
    op = await world.rollbacks.get(op_id)
    assert op.status is OperationStatus.FAILED
    assert "service account may not patch deployments in production" in op.detail
    assert image(world) == f"{IMAGE}:v1.2.0"
    assert (await world.releases.get(release.id)).status is ReleaseStatus.ACTIVE


async def test_conflict_on_patch_is_retried_with_a_fresh_object(world: World) -> None:
    """Retry a 409 with a freshly read Deployment and succeed."""
    release = await world.start_release()
    world.api.fail("PATCH", "/apis/apps/v1/namespaces/production/deployments/*", 409, times=1)
    op_id = await rolled_back(world, release)
    op = await world.rollbacks.get(op_id)
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert len(world.api.requests("PATCH")) == 2
    assert image(world) == f"{IMAGE}:v1.1.0"


async def test_server_errors_on_every_read_fail_the_rollback_without_a_patch(world: World) -> None:
    """Report a 5xx that outlasts the read retries; nothing is patched."""
    release = await world.start_release()
    assert release.id is not None
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    world.api.fail("GET", "/apis/apps/v1/namespaces/production/deployments/*", 503, times=None)
    op = await world.rollbacks.request(
        release.id, DEVOPS, Source.BUTTON, from_revision=3, to_revision=plan.to_revision
    )
    await world.settle()
    assert op.id is not None
    stored = await world.rollbacks.get(op.id)
    assert stored.status is OperationStatus.FAILED
    assert "Kubernetes API unavailable" in stored.detail and "gave up after" in stored.detail
    assert world.api.requests("PATCH") == []


async def test_stalled_rollout_after_the_patch_is_reported_as_half_done(world: World) -> None:
    """Say the patch landed but the rollout hit its deadline; still withdraw the release."""
    release = await world.start_release()
    assert release.id is not None
    world.api.cluster.stall("production", SERVICE)
    op_id = await rolled_back(world, release)
    op = await world.rollbacks.get(op_id)
    assert op.status is OperationStatus.FAILED
    assert "patch applied but the rollout did not complete" in op.detail
    assert "ProgressDeadlineExceeded" in op.detail
    assert image(world) == f"{IMAGE}:v1.1.0"
    assert (await world.releases.get(release.id)).status is ReleaseStatus.ROLLED_BACK


async def test_deployment_moved_since_confirmation_is_refused(world: World) -> None:
    """Refuse when the Deployment is no longer at the revision the person confirmed."""
    release = await world.start_release()
    assert release.id is not None
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    roll_out(world.api, "production", "v1.3.0")
    op = await world.rollbacks.request(
        release.id,
        DEVOPS,
        Source.BUTTON,
        from_revision=plan.from_revision,
        to_revision=plan.to_revision,
    )
    await world.settle()
    assert op.id is not None
    stored = await world.rollbacks.get(op.id)
    assert stored.status is OperationStatus.REFUSED
    assert "moved from revision 3 to 4 after the rollback was confirmed" in stored.detail
    assert image(world) == f"{IMAGE}:v1.3.0"


async def test_second_plain_undo_of_a_rolled_back_release_is_refused(world: World) -> None:
    """Refuse an undo that would flip back to the version just rolled back from."""
    release = await world.start_release()
    assert release.id is not None
    await rolled_back(world, release)
    with pytest.raises(InvalidTransition, match="already rolled back"):
        await world.rollbacks.preview(release.id, DEVOPS, Source.BUTTON)
    plan = await world.rollbacks.preview(release.id, DEVOPS, Source.SLASH, to_revision=1)
    assert (plan.from_revision, plan.to_revision) == (4, 1)

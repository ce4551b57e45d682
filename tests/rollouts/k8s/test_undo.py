"""`kubectl rollout undo` through the real client against the fake API server."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.rollouts.k8s import (
    ApiUnavailable,
    Conflict,
    DeploymentTarget,
    Forbidden,
    NotFound,
    RolloutController,
    RolloutRefused,
)
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.k8s.harness import IMAGE, STAGING

PATH = "/apis/apps/v1/namespaces/production/deployments/nexis-gateway"


def _image(fake_api: FakeKubeApi) -> str:
    dep = fake_api.cluster.deployment("production", "nexis-gateway")
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_undo_restores_the_previous_revision(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Roll revision 3 back to revision 2's template, which becomes revision 4, and finish."""
    result = await controller.undo(at_revision_3, actor="ann")
    assert (result.from_revision, result.to_revision, result.new_revision) == (3, 2, 4)
    assert result.actor == "ann" and result.attempts == 1 and result.warning is None
    assert result.generation == 4
    assert _image(fake_api) == f"{IMAGE}:v1.1.0"
    outcome = await controller.wait_for_rollout(at_revision_3, poll=1.0)
    assert outcome.ok, outcome.reason
    assert outcome.status is not None and outcome.status.revision == 4
    history = await controller.history(at_revision_3)
    assert [(r.number, r.change_cause) for r in history] == [
        (1, "release v1.0.0"),
        (3, "release v1.2.0"),
        (4, "release v1.1.0"),
    ]


async def test_undo_sends_kubectls_json_patch(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Send one JSON patch: template without pod-template-hash, annotations from the RS."""
    await controller.undo(at_revision_3)
    (patch,) = fake_api.requests("PATCH")
    assert patch.content_type == "application/json-patch+json"
    ops = {op["path"]: op for op in json.loads(patch.body)}
    assert set(ops) == {"/metadata/resourceVersion", "/spec/template", "/metadata/annotations"}
    assert "pod-template-hash" not in ops["/spec/template"]["value"]["metadata"]["labels"]
    assert ops["/metadata/annotations"]["value"] == {
        "deployment.kubernetes.io/revision": "3",
        "kubernetes.io/change-cause": "release v1.1.0",
    }
    dep = fake_api.cluster.deployment("production", "nexis-gateway")
    assert "pod-template-hash" not in dep["spec"]["template"]["metadata"]["labels"]


async def test_undo_to_revision_one(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Restore an explicit older revision (--to-revision=1)."""
    result = await controller.undo(at_revision_3, to_revision=1)
    assert (result.from_revision, result.to_revision, result.new_revision) == (3, 1, 4)
    assert _image(fake_api) == f"{IMAGE}:v1.0.0"


async def test_undo_twice_toggles_like_kubectl(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Undo of an undo goes back to the release that was rolled back (revision 3 -> 5)."""
    await controller.undo(at_revision_3)
    await controller.wait_for_rollout(at_revision_3, poll=1.0)
    second = await controller.undo(at_revision_3)
    assert (second.from_revision, second.to_revision, second.new_revision) == (4, 3, 5)
    assert _image(fake_api) == f"{IMAGE}:v1.2.0"


async def test_paused_deployment_is_refused_and_untouched(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Refuse to roll back a paused Deployment and send no patch."""
    fake_api.cluster.pause("production", "nexis-gateway")
    with pytest.raises(RolloutRefused) as caught:
        await controller.undo(at_revision_3)
    assert str(caught.value) == (
        "deployment production/nexis-gateway is paused; resume it before rolling back"
    )
    assert fake_api.requests("PATCH") == []
    assert _image(fake_api) == f"{IMAGE}:v1.2.0"


async def test_single_revision_is_refused(
    controller: RolloutController, fake_api: FakeKubeApi
) -> None:
    """Refuse when the Deployment has never been rolled out more than once."""
    with pytest.raises(RolloutRefused, match=r"staging/nexis-gateway has no earlier revision"):
        await controller.undo(STAGING)
    assert fake_api.requests("PATCH") == []


async def test_unknown_revision_is_refused_naming_the_available_ones(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Name revisions 1, 2, 3 when asked for revision 7."""
    with pytest.raises(RolloutRefused) as caught:
        await controller.undo(at_revision_3, to_revision=7)
    assert str(caught.value) == (
        "deployment production/nexis-gateway has no revision 7; available revisions: 1, 2, 3"
    )
    assert fake_api.requests("PATCH") == []


async def test_current_revision_is_skipped(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Refuse a rollback to the template that already runs ("skipped rollback")."""
    with pytest.raises(RolloutRefused, match="skipped rollback"):
        await controller.undo(at_revision_3, to_revision=3)
    assert fake_api.requests("PATCH") == []


async def test_negative_revision_is_refused(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Reject a negative revision before calling the API."""
    with pytest.raises(RolloutRefused, match="revision -1"):
        await controller.undo(at_revision_3, to_revision=-1)


async def test_an_injected_conflict_is_retried(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Re-read and patch again after one 409."""
    fake_api.fail("PATCH", PATH, 409)
    result = await controller.undo(at_revision_3)
    assert result.attempts == 2 and result.new_revision == 4
    assert [p.status for p in fake_api.requests("PATCH")] == [409, 200]


async def test_a_change_made_during_the_rollback_wins_a_conflict_not_a_silent_overwrite(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Hit the resourceVersion guard when someone deploys mid-rollback, then restore rev 2."""
    held = fake_api.hang("PATCH", PATH)
    task = asyncio.create_task(controller.undo(at_revision_3))
    await asyncio.wait_for(held.entered.wait(), timeout=5)
    fake_api.cluster.roll_out("production", "nexis-gateway", image=f"{IMAGE}:v1.3.0")
    assert held.release is not None
    held.release.set()
    result = await asyncio.wait_for(task, timeout=5)
    assert [p.status for p in fake_api.requests("PATCH")] == [409, 200]
    assert (result.from_revision, result.to_revision, result.new_revision) == (3, 2, 5)
    assert _image(fake_api) == f"{IMAGE}:v1.1.0"


async def test_persistent_conflicts_give_up_after_three_attempts(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Raise Conflict after three 409s and leave the Deployment as it was."""
    fake_api.fail("PATCH", PATH, 409, times=None)
    with pytest.raises(Conflict, match=r"production/nexis-gateway gave up after 3"):
        await controller.undo(at_revision_3)
    assert len(fake_api.requests("PATCH")) == 3
    assert _image(fake_api) == f"{IMAGE}:v1.2.0"


async def test_forbidden_patch_changes_nothing(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Name the missing permission (patch deployments in production) and change nothing."""
    before = fake_api.cluster.deployment("production", "nexis-gateway")
    fake_api.fail("PATCH", PATH, 403, message='deployments.apps "nexis-gateway" is forbidden')
    with pytest.raises(Forbidden) as caught:
        await controller.undo(at_revision_3)
    assert str(caught.value).startswith(
        "the bot's service account may not patch deployments in production"
    )
    assert "production/nexis-gateway" in str(caught.value)
    assert fake_api.cluster.deployment("production", "nexis-gateway") == before


async def test_missing_deployment_is_not_found(controller: RolloutController) -> None:
    """Raise NotFound naming the Deployment."""
    with pytest.raises(NotFound, match=r"^deployment production/nexis-nope not found$"):
        await controller.undo(DeploymentTarget("production", "nexis-nope"))


async def test_a_lost_patch_response_is_confirmed_not_repeated(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """After a 500 on a patch that did land, confirm it by reading back; patch only once."""
    fake_api.fail("PATCH", PATH, 500, after_apply=True)
    result = await controller.undo(at_revision_3)
    assert [p.status for p in fake_api.requests("PATCH")] == [500]
    assert (result.to_revision, result.new_revision) == (2, 4)
    assert fake_api.cluster.deployment("production", "nexis-gateway")["metadata"]["generation"] == 4


async def test_a_failed_patch_is_retried_safely(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Retry a patch that got a 500 without landing (the resourceVersion guard makes it safe)."""
    fake_api.fail("PATCH", PATH, 500)
    result = await controller.undo(at_revision_3)
    assert [p.status for p in fake_api.requests("PATCH")] == [500, 200]
    assert result.attempts == 2 and result.new_revision == 4


async def test_an_unconfirmed_patch_is_reported_as_uncertain(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Say the patch may or may not have applied when every attempt ends in a 5xx."""
    fake_api.fail("PATCH", PATH, 502, times=None)
    with pytest.raises(ApiUnavailable, match="may or may not have applied"):
        await controller.undo(at_revision_3)


async def test_a_failed_patch_then_failing_reads_says_it_may_have_applied(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Never claim nothing happened when a patch got a 5xx and the API then went away."""
    fake_api.fail("PATCH", PATH, 500)
    fake_api.fail("GET", PATH, 503, skip=1, times=None)
    with pytest.raises(ApiUnavailable, match="an earlier patch may or may not have applied"):
        await controller.undo(at_revision_3)


async def test_patch_applied_but_read_back_failing_is_reported(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Return the result with a warning, not an exception, when only the read-back fails."""
    fake_api.fail("GET", PATH, 500, skip=1, times=None)
    result = await controller.undo(at_revision_3)
    assert result.new_revision is None and result.to_revision == 2
    assert result.warning is not None and "patch was applied" in result.warning
    assert _image(fake_api) == f"{IMAGE}:v1.1.0"


async def test_a_second_concurrent_undo_is_refused(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Refuse bob's undo while ann's is in flight; ann's completes; the guard is released."""
    held = fake_api.hang("PATCH", PATH)
    first = asyncio.create_task(controller.undo(at_revision_3, actor="ann"))
    await asyncio.wait_for(held.entered.wait(), timeout=5)
    assert controller.in_flight(at_revision_3) is not None
    with pytest.raises(RolloutRefused) as caught:
        await controller.undo(at_revision_3, actor="bob")
    assert str(caught.value).startswith(
        "a rollback of production/nexis-gateway is already in progress (started by ann at "
    )
    assert held.release is not None
    held.release.set()
    result = await asyncio.wait_for(first, timeout=5)
    assert result.new_revision == 4 and len(fake_api.requests("PATCH")) == 1
    assert controller.in_flight(at_revision_3) is None


async def test_the_guard_is_released_after_a_refusal(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Allow a new undo after a refused one."""
    with pytest.raises(RolloutRefused):
        await controller.undo(at_revision_3, to_revision=9)
    result = await controller.undo(at_revision_3)
    assert result.new_revision == 4


async def test_undo_of_another_deployment_is_not_blocked(
    controller: RolloutController, at_revision_3: DeploymentTarget, fake_api: FakeKubeApi
) -> None:
    """Key the guard by namespace/deployment, so staging is not blocked by production."""
    fake_api.cluster.roll_out("staging", "nexis-gateway", image=f"{IMAGE}:v1.1.0")
    held = fake_api.hang("PATCH", PATH)
    first = asyncio.create_task(controller.undo(at_revision_3))
    await asyncio.wait_for(held.entered.wait(), timeout=5)
    staging = await controller.undo(STAGING)
    assert staging.to_revision == 1
    assert held.release is not None
    held.release.set()
    assert (await asyncio.wait_for(first, timeout=5)).to_revision == 2

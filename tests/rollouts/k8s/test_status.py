"""Rollout status and history over the real client, and how read failures are reported."""

from __future__ import annotations

from datetime import timedelta

import pytest
from kubernetes_asyncio import client

from bot.core.clock import FakeClock
from bot.rollouts.k8s import (
    ApiUnavailable,
    CallPolicy,
    DeploymentTarget,
    Forbidden,
    NotFound,
    RolloutController,
    RolloutStatus,
)
from bot.rollouts.k8s.models import Condition
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.k8s.harness import IMAGE, PRODUCTION
from tests.support.clock import VirtualSleep

DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/production/deployments/nexis-gateway"


async def test_status_reports_every_field(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """Read name, revision, generations, replica counts, conditions and deadline."""
    status = await controller.status(at_revision_3)
    assert (status.name, status.namespace, status.revision) == ("nexis-gateway", "production", 3)
    assert status.generation == status.observed_generation == 3
    assert (
        status.replicas,
        status.updated_replicas,
        status.ready_replicas,
        status.available_replicas,
        status.total_replicas,
    ) == (3, 3, 3, 3, 3)
    assert status.paused is False
    assert status.progress_deadline_seconds == 600
    assert status.images == (f"{IMAGE}:v1.2.0",)
    assert status.condition("Progressing") == Condition(
        "Progressing",
        "True",
        "NewReplicaSetAvailable",
        f'ReplicaSet "{_current_rs(status)}" has successfully progressed.',
    )
    assert status.complete and status.available_ratio == 1.0
    assert status.summary() == (
        "deployment production/nexis-gateway revision 3: successfully rolled out (3/3 available)"
    )


def _current_rs(status: RolloutStatus) -> str:
    message = status.conditions[-1].message
    return message.split('"')[1]


def test_status_ratio_and_completeness_rules() -> None:
    """Count desired 0 as fully available and demand kubectl's full rollout rule."""
    base = RolloutStatus("gw", "prod", 2, 2, 2, 4, 4, 3, 2, False, (), 600, total_replicas=4)
    assert base.available_ratio == 0.5 and not base.complete
    assert "2 of 4 updated replicas available" in base.summary()
    assert RolloutStatus("gw", "prod", 1, 1, 1, 0, 0, 0, 0, False, (), None).available_ratio == 1.0
    unobserved = RolloutStatus("gw", "prod", 2, 3, 2, 4, 4, 4, 4, False, (), 600, 4)
    assert not unobserved.complete
    assert "waiting for the deployment spec update" in unobserved.summary()
    old_pods = RolloutStatus("gw", "prod", 2, 2, 2, 4, 4, 4, 4, False, (), 600, 5)
    assert not old_pods.complete and "1 old replicas pending termination" in old_pods.summary()


async def test_history_lists_revisions_with_change_cause(
    controller: RolloutController, at_revision_3: DeploymentTarget
) -> None:
    """List revisions 1..3 with their ReplicaSets, images and change-cause."""
    revisions = await controller.history(at_revision_3)
    assert [(r.number, r.change_cause) for r in revisions] == [
        (1, "release v1.0.0"),
        (2, "release v1.1.0"),
        (3, "release v1.2.0"),
    ]
    assert revisions[0].images == (f"{IMAGE}:v1.0.0",)
    assert all(r.replicaset.startswith("nexis-gateway-") for r in revisions)


async def test_history_ignores_replicasets_of_other_deployments(
    controller: RolloutController, fake_api: FakeKubeApi
) -> None:
    """Leave out a look-alike Deployment's ReplicaSets even when labels overlap."""
    fake_api.cluster.add_deployment("production", "nexis-gateway-canary", image=f"{IMAGE}:x")
    canary_rs = fake_api.cluster.replicasets("production", "nexis-gateway-canary")[0]
    key = ("production", canary_rs["metadata"]["name"])
    fake_api.cluster.objects["replicasets"][key]["metadata"]["labels"]["app"] = "nexis-gateway"
    revisions = await controller.history(PRODUCTION)
    assert [r.number for r in revisions] == [1]
    assert revisions[0].images == (f"{IMAGE}:v1.0.0",)


async def test_missing_deployment_is_not_found(controller: RolloutController) -> None:
    """Name the namespace and Deployment that do not exist."""
    missing = DeploymentTarget("production", "nexis-missing")
    with pytest.raises(NotFound) as caught:
        await controller.status(missing)
    assert str(caught.value) == "deployment production/nexis-missing not found"
    assert caught.value.status == 404


async def test_forbidden_read_names_verb_resource_and_namespace(
    controller: RolloutController, fake_api: FakeKubeApi
) -> None:
    """Explain which permission the service account lacks."""
    fake_api.fail("GET", DEPLOYMENT_PATH, 403, message="RBAC: access denied")
    with pytest.raises(Forbidden) as caught:
        await controller.status(PRODUCTION)
    assert str(caught.value).startswith(
        "the bot's service account may not get deployments in production"
    )
    assert "production/nexis-gateway" in str(caught.value)
    assert "RBAC: access denied" in str(caught.value)


async def test_server_errors_on_reads_are_retried_with_backoff(
    controller: RolloutController, fake_api: FakeKubeApi, sleep: VirtualSleep
) -> None:
    """Retry a read that got 500 twice, backing off 0.5 s then 1 s (virtual time)."""
    fault = fake_api.fail("GET", DEPLOYMENT_PATH, 500, times=2)
    status = await controller.status(PRODUCTION)
    assert status.revision == 1
    assert fault.hits == 2
    assert sleep.calls == [0.5, 1.0]


async def test_reads_give_up_after_three_retries(
    controller: RolloutController, fake_api: FakeKubeApi, sleep: VirtualSleep
) -> None:
    """Raise ApiUnavailable naming the target after 1 try + 3 retries."""
    fake_api.fail("GET", DEPLOYMENT_PATH, 503, times=None, message="etcdserver: leader changed")
    with pytest.raises(ApiUnavailable) as caught:
        await controller.status(PRODUCTION)
    text = str(caught.value)
    assert "deployment production/nexis-gateway" in text and "HTTP 503" in text
    assert "etcdserver: leader changed" in text and "after 4 attempts" in text
    assert len(fake_api.requests("GET")) == 4
    assert sleep.calls == [0.5, 1.0, 2.0]


async def test_a_hanging_api_times_out_as_unavailable(
    api_client: client.ApiClient, fake_api: FakeKubeApi, clock: FakeClock, sleep: VirtualSleep
) -> None:
    """Turn a request that never answers into ApiUnavailable after the per-request timeout."""
    fake_api.hang("GET", DEPLOYMENT_PATH, times=None)
    policy = CallPolicy(read_retries=1, request_timeout_seconds=0.2)
    controller = RolloutController(api_client, clock=clock, sleep=sleep, policy=policy)
    with pytest.raises(ApiUnavailable, match=r"production/nexis-gateway timed out"):
        await controller.status(PRODUCTION)
    assert sleep.calls == [0.5]


@pytest.mark.parametrize("bad", ["", None])
def test_target_rejects_missing_names(bad: str | None) -> None:
    """Reject a DeploymentTarget without a namespace, naming the field."""
    with pytest.raises(ValueError, match=r"DeploymentTarget\.namespace"):
        DeploymentTarget(bad, "nexis-gateway")  # type: ignore[arg-type]


def test_target_rejects_a_non_positive_deadline() -> None:
    """Reject a zero progress deadline."""
    with pytest.raises(ValueError, match="progress_deadline must be positive"):
        DeploymentTarget("production", "nexis-gateway", timedelta(0))


def test_call_policy_rejects_negative_retries() -> None:
    """Reject a negative retry count by name."""
    with pytest.raises(ValueError, match="read_retries"):
        CallPolicy(read_retries=-1)

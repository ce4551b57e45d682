"""Server-side apply of manifest folders (`kubectl apply -f k8s/<env>/`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from kubernetes_asyncio import client

from bot.core.clock import FakeClock
from bot.rollouts.k8s import RolloutController
from bot.rollouts.k8s.apply import load_manifests
from bot.sandbox.kubernetes.api import FakeKubeApi, Recorder
from tests.rollouts.k8s.harness import PRODUCTION, STAGING, client_for
from tests.support.clock import VirtualSleep

ROOT = Path(__file__).resolve().parents[3]
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: nexis-gateway-config
data:
  LOG_LEVEL: info
"""


@pytest.fixture
async def empty_cluster(rbac_recorder: Recorder) -> AsyncIterator[FakeKubeApi]:
    """Run a fake API server with nothing deployed yet."""
    api = FakeKubeApi(recorders=(rbac_recorder,))
    await api.start()
    yield api
    await api.close()
    assert not api.unrouted


@pytest.fixture
async def fresh(
    empty_cluster: FakeKubeApi, clock: FakeClock, sleep: VirtualSleep
) -> AsyncIterator[RolloutController]:
    """Return a controller on the empty fake cluster."""
    async with client_for(empty_cluster) as api:
        yield RolloutController(api, clock=clock, sleep=sleep)


async def test_apply_creates_deployment_and_service_then_rolls_out(
    fresh: RolloutController, empty_cluster: FakeKubeApi
) -> None:
    """Create both objects from k8s/staging with server-side apply, then reach revision 1."""
    result = await fresh.apply(STAGING, ROOT / "k8s" / "staging")
    assert result.ok, result.summary()
    assert [(o.kind, o.name, o.action) for o in result.applied] == [
        ("Service", "nexis-gateway", "created"),
        ("Deployment", "nexis-gateway", "created"),
    ]
    for patch in empty_cluster.requests("PATCH"):
        assert patch.content_type == "application/apply-patch+yaml"
        assert patch.query["fieldManager"] == "releasebot"
        assert patch.query["force"].lower() == "true"
    service = empty_cluster.cluster.objects["services"][("staging", "nexis-gateway")]
    assert service["spec"]["selector"] == {"app": "nexis-gateway"}
    outcome = await fresh.wait_for_rollout(STAGING, poll=1.0)
    assert outcome.ok and outcome.status is not None and outcome.status.revision == 1
    assert outcome.status.replicas == 1


async def test_apply_updates_an_existing_deployment(
    controller: RolloutController, fake_api: FakeKubeApi
) -> None:
    """Configure the running Deployment (new generation, new revision) and create the Service."""
    result = await controller.apply(PRODUCTION, ROOT / "k8s" / "production")
    assert result.ok, result.summary()
    actions = {(o.kind, o.action) for o in result.applied}
    assert actions == {("Service", "created"), ("Deployment", "configured")}
    deployment = next(o for o in result.applied if o.kind == "Deployment")
    assert deployment.generation == 2
    dep = fake_api.cluster.deployment("production", "nexis-gateway")
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    outcome = await controller.wait_for_rollout(PRODUCTION, poll=1.0)
    assert outcome.ok and outcome.status is not None and outcome.status.revision == 2


async def test_apply_is_repeatable(controller: RolloutController) -> None:
    """Apply the same folder twice; the second time everything is configured, not created."""
    await controller.apply(PRODUCTION, ROOT / "k8s" / "production")
    again = await controller.apply(PRODUCTION, ROOT / "k8s" / "production")
    assert again.ok and {o.action for o in again.applied} == {"configured"}


async def test_configmaps_are_applied_before_the_deployment(
    fresh: RolloutController, empty_cluster: FakeKubeApi, tmp_path: Path
) -> None:
    """Apply ConfigMap, then Service, then Deployment, whatever the file order."""
    for source in (ROOT / "k8s" / "production").glob("*.yaml"):  # not cluster-policy/
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / "zz-config.yaml").write_text(CONFIGMAP)
    result = await fresh.apply(PRODUCTION, tmp_path)
    assert [o.kind for o in result.applied] == ["ConfigMap", "Service", "Deployment"]
    stored = empty_cluster.cluster.objects["configmaps"][("production", "nexis-gateway-config")]
    assert stored["data"] == {"LOG_LEVEL": "info"}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "ingress.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: gw\n",
            "kind 'Ingress' is not supported (supported: ConfigMap, Deployment, Service)",
        ),
        (
            "cm.yaml",
            CONFIGMAP.replace("  name: nexis", "  namespace: staging\n  name: nexis"),
            "declares namespace 'staging' but the target namespace is 'production'",
        ),
        ("bad.yaml", "kind: [unclosed", "cannot parse"),
        (
            "cm.json",
            '{"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}}',
            "ConfigMap needs apiVersion 'v1', got 'apps/v1'",
        ),
        (
            "noname.yaml",
            "apiVersion: v1\nkind: Service\nmetadata: {}\n",
            "Service has no metadata.name",
        ),
        ("list.yaml", "- a\n- b\n", "expected a Kubernetes object (a mapping), got list"),
    ],
)
async def test_invalid_manifests_stop_the_apply_before_any_request(
    controller: RolloutController,
    fake_api: FakeKubeApi,
    tmp_path: Path,
    name: str,
    text: str,
    expected: str,
) -> None:
    """Report the file and the problem, and apply nothing at all."""
    (tmp_path / "service.yaml").write_text((ROOT / "k8s/production/service.yaml").read_text())
    (tmp_path / name).write_text(text)
    result = await controller.apply(PRODUCTION, tmp_path)
    assert not result.ok and result.applied == ()
    assert any(expected in e and name in e for e in result.errors), result.errors
    assert fake_api.requests("PATCH") == []


def test_duplicate_objects_are_reported(tmp_path: Path) -> None:
    """Name an object defined twice across documents."""
    (tmp_path / "a.yaml").write_text(CONFIGMAP + "---\n" + CONFIGMAP)
    _, errors = load_manifests(tmp_path, "production")
    assert errors == [
        f"{tmp_path / 'a.yaml'} (document 2): ConfigMap/nexis-gateway-config is defined twice"
    ]


@pytest.mark.parametrize("make_folder", [False, True])
def test_a_missing_or_empty_folder_is_reported(tmp_path: Path, make_folder: bool) -> None:
    """Say the folder is missing or holds no manifests."""
    folder = tmp_path / "k8s"
    if make_folder:
        folder.mkdir()
        (folder / "README.md").write_text("not a manifest")
    manifests, errors = load_manifests(folder, "production")
    assert manifests == [] and len(errors) == 1
    assert str(folder) in errors[0]
    assert ("has no" if make_folder else "does not exist") in errors[0]


async def test_an_api_error_mid_apply_reports_what_was_done(
    controller: RolloutController, fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    """List what was applied, the failure (naming the object) and what was not attempted."""
    for source in (ROOT / "k8s" / "production").glob("*.yaml"):  # not cluster-policy/
        (tmp_path / source.name).write_text(source.read_text())
    (tmp_path / "config.yaml").write_text(CONFIGMAP)
    fake_api.fail(
        "PATCH",
        "/api/v1/namespaces/production/services/*",
        403,
        message='services "nexis-gateway" is forbidden',
    )
    result = await controller.apply(PRODUCTION, tmp_path)
    assert [o.kind for o in result.applied] == ["ConfigMap"]
    (error,) = result.errors
    assert "Service/nexis-gateway" in error
    assert "may not patch services in production" in error
    assert result.skipped == ("Deployment/nexis-gateway",)
    assert "not attempted: Deployment/nexis-gateway" in result.summary()


async def test_server_side_apply_needs_force_against_other_managers(
    raw_client: client.ApiClient,
) -> None:
    """Show the fake answers 409 to an unforced apply over fields another manager owns."""
    apps = client.AppsV1Api(raw_client)
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nexis-gateway", "namespace": "production"},
    }
    with pytest.raises(client.ApiException) as caught:
        await apps.patch_namespaced_deployment(
            "nexis-gateway",
            "production",
            body,
            field_manager="someone-else",
            _content_type="application/apply-patch+yaml",
        )
    assert caught.value.status == 409

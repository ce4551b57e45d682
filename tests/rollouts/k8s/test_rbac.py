"""deploy/k8s/rbac.yaml grants exactly what the adapter uses: nothing missing, nothing extra."""

from __future__ import annotations

from pathlib import Path

from bot.core.clock import FakeClock
from bot.rollouts.k8s import DeploymentTarget, RolloutController
from bot.sandbox.kubernetes.api import FakeKubeApi, Recorder
from tests.rollouts.k8s.harness import IMAGE, client_for
from tests.rollouts.k8s.rbacfile import granted, load_documents
from tests.support.clock import VirtualSleep

ROOT = Path(__file__).resolve().parents[3]
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: gw-config\ndata:\n  a: b\n"


async def _exercise_every_flow(
    controller: RolloutController, api: FakeKubeApi, target: DeploymentTarget, folder: Path
) -> None:
    """Deploy from scratch, read status and history, undo, roll back, and wait."""
    for source in (ROOT / "k8s" / target.namespace).glob("*.yaml"):  # not cluster-policy/
        (folder / source.name).write_text(source.read_text())
    (folder / "config.yaml").write_text(CONFIGMAP)
    assert (await controller.apply(target, folder)).ok
    assert (await controller.apply(target, folder)).ok
    assert (await controller.wait_for_rollout(target, poll=1.0)).ok
    api.cluster.roll_out(target.namespace, target.deployment, image=f"{IMAGE}:v2")
    api.cluster.roll_out(target.namespace, target.deployment, image=f"{IMAGE}:v3")
    await controller.status(target)
    assert len(await controller.history(target)) == 3
    await controller.undo(target, actor="rbac-test")
    assert (await controller.wait_for_rollout(target, poll=1.0)).ok
    assert (await controller.rollback(target, to_revision=1, poll=1.0)).ok


async def test_rbac_grants_exactly_what_the_code_uses(
    rbac_recorder: Recorder, tmp_path: Path, clock: FakeClock, sleep: VirtualSleep
) -> None:
    """Run every flow in production and staging and compare the used set with the Roles."""
    api = FakeKubeApi(recorders=(rbac_recorder,))
    await api.start()
    try:
        async with client_for(api) as client:
            controller = RolloutController(client, clock=clock, sleep=sleep)
            for namespace in ("production", "staging"):
                folder = tmp_path / namespace
                folder.mkdir()
                target = DeploymentTarget(namespace, "nexis-gateway")
                await _exercise_every_flow(controller, api, target, folder)
    finally:
        await api.close()
    assert not api.unrouted
    allowed = granted()
    assert api.used == allowed, (
        f"used but not granted: {sorted(api.used - allowed)}; "
        f"granted but never used: {sorted(allowed - api.used)}"
    )
    # Every other k8s test that ran before this one must also have stayed within the Roles.
    assert rbac_recorder.used <= allowed


def test_rbac_has_no_cluster_wide_or_wildcard_grants() -> None:
    """Use Roles and RoleBindings only, bound to the releasebot ServiceAccount."""
    docs = load_documents()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Role", "Role", "RoleBinding", "RoleBinding", "ServiceAccount"]
    account = next(d for d in docs if d["kind"] == "ServiceAccount")["metadata"]
    roles = {d["metadata"]["namespace"]: d["metadata"]["name"] for d in docs if d["kind"] == "Role"}
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        namespace = binding["metadata"]["namespace"]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": roles[namespace],
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
    assert set(roles) == {"production", "staging"}

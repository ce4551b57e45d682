"""The bot's own manifests (deploy/k8s) and the example app manifests (k8s/<env>) hang together."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import build_settings
from bot.rollouts.k8s.apply import load_manifests
from tests.rollouts.k8s.rbacfile import load_documents

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy" / "k8s"


def _one(name: str) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def bot_deployment() -> dict[str, Any]:
    """Return deploy/k8s/deployment.yaml."""
    return _one("deployment.yaml")


def test_the_bot_runs_once_with_recreate(bot_deployment: dict[str, Any]) -> None:
    """Run one replica with strategy Recreate, because SQLite allows one writer."""
    assert bot_deployment["spec"]["replicas"] == 1
    assert bot_deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_the_bot_runs_as_non_root_with_a_read_only_root(bot_deployment: dict[str, Any]) -> None:
    """Run as uid 10001, non-root, read-only root filesystem, no privilege escalation."""
    pod = bot_deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_data_volume_token_config_and_probes(bot_deployment: dict[str, Any]) -> None:
    """Mount /data from the PVC, read the token from the Secret, probe /healthz on 8080."""
    pod = bot_deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == _one("pvc.yaml")["metadata"]["name"]
    config_map = volumes[mounts["/etc/releasebot"]]["configMap"]["name"]
    assert config_map == _one("configmap.yaml")["metadata"]["name"]
    env = {e["name"]: e for e in container["env"]}
    assert env["RELEASEBOT_DISCORD_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "releasebot-secrets",
        "key": "discord-token",
    }
    # issue 15: the Secret also carries the Alertmanager bearer token (was discord-token only).
    assert _one("secret.example.yaml")["stringData"].keys() == {
        "discord-token",
        "alertmanager-token",
    }
    assert env["RELEASEBOT_ALERTMANAGER_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "releasebot-secrets",
        "key": "alertmanager-token",
    }
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    paths = {"livenessProbe": "/healthz", "startupProbe": "/healthz", "readinessProbe": "/readyz"}
    for probe, path in paths.items():
        check = container[probe]["httpGet"]
        assert check["path"] == path and ports[check["port"]] == 8080
    assert pod["terminationGracePeriodSeconds"] >= 30  # above the bot's shutdown_grace
    assert container["args"] == ["run", "--config", "/etc/releasebot/releasebot.toml"]


def test_the_bot_uses_the_rbac_service_account(bot_deployment: dict[str, Any]) -> None:
    """Run under the ServiceAccount that rbac.yaml defines, in the same namespace."""
    account = next(d for d in load_documents() if d["kind"] == "ServiceAccount")["metadata"]
    assert bot_deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]
    assert bot_deployment["metadata"]["namespace"] == account["namespace"]


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    """Deploy everything with `kubectl apply -k`, never the example Secret."""
    listed = set(_one("kustomization.yaml")["resources"])
    present = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}


def test_the_configmap_toml_is_valid_config_for_the_rbac_namespaces() -> None:
    """Load the mounted TOML with the real settings loader; its targets must have Roles."""
    raw = tomllib.loads(_one("configmap.yaml")["data"]["releasebot.toml"])
    settings = build_settings(raw, env={}, config_dir=ROOT)
    assert settings.kubernetes.in_cluster is True
    assert settings.web.port == 8080
    namespaces = {
        target.namespace
        for service in settings.services
        for target in (service.kubernetes.staging, service.kubernetes.production)
        if target is not None
    }
    roles = {d["metadata"]["namespace"] for d in load_documents() if d["kind"] == "Role"}
    assert namespaces == roles == {"production", "staging"}


@pytest.mark.parametrize(("namespace", "replicas"), [("production", 3), ("staging", 1)])
def test_example_app_manifests_are_appliable(namespace: str, replicas: int) -> None:
    """Load k8s/<env> without errors; the Service selects the Deployment's pods."""
    manifests, errors = load_manifests(ROOT / "k8s" / namespace, namespace)
    assert errors == []
    by_kind = {m.kind: m.body for m in manifests}
    assert set(by_kind) == {"Deployment", "Service"}
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "nexis-gateway"
    assert deployment["spec"]["replicas"] == replicas
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["metadata"]["namespace"] == namespace


def test_release_manifests_are_mounted_from_outside_the_image(
    bot_deployment: dict[str, Any],
) -> None:
    """Point each target at a mounted ConfigMap folder and give it the version image rule."""
    raw = tomllib.loads(_one("configmap.yaml")["data"]["releasebot.toml"])
    settings = build_settings(raw, env={}, config_dir=ROOT)
    pod = bot_deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    (service,) = settings.services
    for env in ("staging", "production"):
        target = getattr(service.kubernetes, env)
        mount = mounts[str(target.manifests)]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["configMap"]["name"] == f"releasebot-manifests-{env}"
        assert [rule.name for rule in target.images] == ["ghcr.io/nexis/nexis-gateway"]
        assert not str(target.manifests).startswith("/app")


def test_the_receiver_url_names_the_namespace() -> None:
    """Document the webhook URL that resolves from Alertmanager's namespace."""
    url = "http://releasebot.releasebot.svc:8080/alertmanager"
    service = _one("service.yaml")["metadata"]
    assert (service["name"], service["namespace"]) == ("releasebot", "releasebot")
    assert url in (DEPLOY / "secret.example.yaml").read_text(encoding="utf-8")
    assert url in (DEPLOY / "configmap.yaml").read_text(encoding="utf-8")


def test_roles_limit_get_and_patch_to_the_released_objects() -> None:
    """Name the Deployment and Service in resourceNames wherever Kubernetes allows it."""
    for role in (d for d in load_documents() if d["kind"] == "Role"):
        for rule in role["rules"]:
            named = {"deployments", "services"} & set(rule["resources"])
            if named and {"get", "patch"} & set(rule["verbs"]):
                assert rule.get("resourceNames") == ["nexis-gateway"], rule
            if {"create", "list"} & set(rule["verbs"]):
                assert "resourceNames" not in rule, rule  # not enforceable for these verbs


def _app(namespace: str) -> dict[str, Any]:
    (doc,) = [
        d
        for d in yaml.safe_load_all((ROOT / "k8s" / namespace / "deployment.yaml").read_text())
        if d
    ]
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("namespace", ["production", "staging"])
def test_example_app_probes_are_distinct_and_its_security_as_strict_as_the_bot(
    namespace: str, bot_deployment: dict[str, Any]
) -> None:
    """Readiness and liveness ask different endpoints; pod and container lock down like ours."""
    pod = _app(namespace)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    ready, alive = container["readinessProbe"], container["livenessProbe"]
    assert ready["httpGet"]["path"] == "/readyz"
    assert alive["httpGet"]["path"] == "/healthz"
    assert ready != alive
    assert "startupProbe" in container
    bot_pod = bot_deployment["spec"]["template"]["spec"]
    (bot_container,) = bot_pod["containers"]
    assert bot_pod["securityContext"].items() <= pod["securityContext"].items()
    assert bot_container["securityContext"].items() <= container["securityContext"].items()
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_the_production_pod_disruption_budget_stays_outside_what_the_bot_applies() -> None:
    """The PDB keeps 2 of 3 pods through drains; the bot's apply folder does not contain it."""
    folder = ROOT / "k8s" / "production"
    (pdb,) = list(
        yaml.safe_load_all((folder / "cluster-policy" / "poddisruptionbudget.yaml").read_text())
    )
    assert (pdb["apiVersion"], pdb["kind"]) == ("policy/v1", "PodDisruptionBudget")
    deployment = _app("production")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    manifests, errors = load_manifests(folder, "production")
    assert errors == [] and "PodDisruptionBudget" not in {m.kind for m in manifests}
    assert not (ROOT / "k8s" / "staging" / "cluster-policy").exists()  # 1 replica: no PDB

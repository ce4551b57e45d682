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
    assert _one("secret.example.yaml")["stringData"].keys() == {"discord-token"}
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

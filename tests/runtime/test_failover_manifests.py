"""deploy/k8s/postgres: the PostgreSQL variant's manifests describe two replicas that fail over."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.config import load_settings

OVERLAY = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "postgres"


def _doc(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((OVERLAY / name).read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_two_replicas_rolled_one_at_a_time_on_different_nodes():
    """2 replicas, RollingUpdate that keeps one up, anti-affinity per node, readiness probed."""
    spec = _doc("deployment-patch.yaml")["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    [rule] = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    env = {item["name"]: item for item in container["env"]}
    secret = env["RELEASEBOT_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "releasebot-secrets", "key": "database-url"}
    assert "$(POD_IP)" in env["RELEASEBOT_ADVERTISE_URL"]["value"]
    [data] = pod["volumes"]
    assert data == {"name": "data", "persistentVolumeClaim": None, "emptyDir": {}}


def test_a_disruption_budget_keeps_a_replica():
    """Voluntary disruptions take at most one of the replicas."""
    pdb = _doc("pdb.yaml")
    assert pdb["kind"] == "PodDisruptionBudget"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == {"app": "releasebot"}
    kustomization = _doc("kustomization.yaml")
    assert "pdb.yaml" in kustomization["resources"]
    assert "../pvc.yaml" not in kustomization["resources"]  # no volume to share


def test_the_config_enables_leader_election_without_a_password(tmp_path: Path):
    """The overlay's settings load, lead on PostgreSQL, and take the password from the Secret."""
    toml = _doc("configmap-patch.yaml")["data"]["releasebot.toml"]
    config = tmp_path / "releasebot.toml"
    config.write_text(toml, encoding="utf-8")
    url = "postgresql+asyncpg://releasebot:pw@postgres.releasebot.svc:5432/releasebot"
    settings = load_settings(config, env={"RELEASEBOT_DATABASE_URL": url})
    assert settings.leader.enabled is True
    assert settings.database_url == url
    assert settings.database.url.startswith("postgresql+asyncpg://releasebot@")
    assert "pw" not in toml

"""Static checks of the Dockerfile (no Docker engine runs on this machine kind)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_multi_stage_install_from_lock():
    """Build in one stage from uv.lock (frozen) and copy the result into a runtime stage."""
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) == 2
    assert "uv sync --frozen --no-dev" in DOCKERFILE
    assert "COPY --from=build" in DOCKERFILE


def test_every_copied_path_exists():
    """Copy only files and folders that exist in the repository."""
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M):
        *sources, _dest = line.split()
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_runs_as_non_root_with_healthcheck_and_volume():
    """Run as an unprivileged user, check /healthz, keep SQLite on a volume."""
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users
    assert users[-1] not in {"root", "0"}
    assert re.search(r"^HEALTHCHECK .*\n?.*?/healthz", DOCKERFILE, re.M)
    assert 'VOLUME ["/data"]' in DOCKERFILE


def test_settings_path_matches_the_kubernetes_deployment():
    """Read settings from the path the bot's own Kubernetes Deployment mounts."""
    manifest = (ROOT / "deploy" / "k8s" / "deployment.yaml").read_text(encoding="utf-8")
    assert "/etc/releasebot/releasebot.toml" in DOCKERFILE
    assert "/etc/releasebot/releasebot.toml" in manifest

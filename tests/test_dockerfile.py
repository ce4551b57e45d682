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


def test_the_build_context_leaves_out_the_venv_and_the_repository_history():
    """Keep .venv, .git, caches and tests out of the build context (.dockerignore)."""
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv/", ".git/", "tests/", "**/__pycache__/"):
        assert entry in ignored
    # Everything the Dockerfile copies stays in the context.
    for line in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M):
        for source in line.split()[:-1]:
            assert f"{source}/" not in ignored and source not in ignored


def test_release_manifests_are_not_baked_into_the_image():
    """Leave k8s/ out: the manifests a release applies are mounted, not rebuilt."""
    assert not re.search(r"^COPY .*\bk8s\b", DOCKERFILE, re.M)


def test_code_and_venv_are_root_owned_and_read_only_for_the_runtime_user():
    """Copy /app without --chown (root owns it) and drop write permission for everyone."""
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    copy = re.search(r"^COPY --from=build(.*)$", runtime, re.M)
    assert copy is not None and "--chown" not in copy.group(1)
    assert "chmod -R a-w" in runtime
    assert runtime.index("chmod -R a-w") < runtime.index("USER releasebot")


def test_build_tools_are_pinned_and_the_runtime_has_no_test_packages():
    """Pin uv; keep SimCord (demo/test only) out of the main dependencies (--no-dev)."""
    import tomllib

    assert re.search(r"pip install --no-cache-dir uv==\d+\.\d+\.\d+", DOCKERFILE)
    assert "--no-dev" in DOCKERFILE
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime = [dep.lower() for dep in project["project"]["dependencies"]]
    for test_only in ("simcord", "pytest", "hypothesis"):
        assert not any(dep.startswith(test_only) for dep in runtime), test_only
    assert any(dep.startswith("simcord") for dep in project["dependency-groups"]["demo"])
    assert any(dep.startswith("simcord") for dep in project["dependency-groups"]["dev"])

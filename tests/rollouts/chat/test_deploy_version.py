"""Through SimCord and the loopback Kubernetes API: the deploy ships the release's version.

The manifests are the repository's k8s/ files copied as they are (they say v1.0.0 and
"release ${VERSION}"); the target's image rule puts the release version in. The cluster is the
loopback fake API server (the only fake: no Kubernetes runs here), driven by the real
kubernetes-asyncio client; Discord is SimCord.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.core.errors import InvalidInput
from bot.releases.domain.release import ItemState
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.chat.harness import (
    confirm_deploy,
    into_deployment,
    k8s_api,
    rollout_rbac,
    settle,
    simcord_bot,
)
from tests.rollouts.service.harness import IMAGE, ROOT, SERVICE, roll_out
from tests.support.world import make_settings

if TYPE_CHECKING:
    from tests.support.world import World

__all__ = ["k8s_api", "rollout_rbac", "simcord_bot"]

WINDOW = "2026-01-05 10:00-12:00 UTC"
IN_WINDOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


def service(manifests: Path, rule: str = IMAGE) -> dict[str, Any]:
    """Return nexis-gateway deploying from `manifests`/<env> with an image rule for `rule`."""
    return {
        "name": SERVICE,
        "prometheus_url": "http://127.0.0.1:9090",
        "kubernetes": {
            env: {
                "namespace": env,
                "deployment": SERVICE,
                "manifests": str(manifests / env),
                "images": [{"name": rule}],
            }
            for env in ("staging", "production")
        },
    }


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Return settings deploying from a verbatim copy of k8s/ (a mounted folder, say)."""
    folder = tmp_path / "mounted"
    shutil.copytree(ROOT / "k8s", folder)
    variant = getattr(request, "param", "ok")
    if variant == "missing":
        shutil.rmtree(folder / "production")
    rule = "ghcr.io/nexis/not-this-one" if variant == "no-match" else IMAGE
    return make_settings(tmp_path / "releasebot.db", services=[service(folder, rule)])


async def in_window(world: World, clock: FakeClock, k8s_api: FakeKubeApi) -> None:
    """Run v1.3.2 in production, start v1.4.0 and bring it into its open window."""
    roll_out(k8s_api, "production", "v1.3.2")
    await world.start(version="v1.4.0", window=WINDOW)
    await into_deployment(world)
    clock.set(IN_WINDOW)


async def test_production_deploy_applies_the_release_version(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock
) -> None:
    """Show v1.3.2 → v1.4.0, apply …:v1.4.0 (in the recorded apply body), tick the items."""
    await in_window(world, clock, k8s_api)
    asked = await confirm_deploy(world, world.dora, "production")
    assert f"• image {IMAGE}: v1.3.2 → v1.4.0" in asked.shown
    assert "• replicas: 3 (unchanged)" in asked.shown
    assert f"• image {IMAGE}: v1.3.2 → v1.4.0" in asked.said
    await settle(world)
    applies = [
        json.loads(s.body)
        for s in k8s_api.requests("PATCH", "deployments")
        if s.namespace == "production"
    ]
    assert len(applies) == 1
    body = applies[0]
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.4.0"
    assert body["metadata"]["annotations"]["kubernetes.io/change-cause"] == "release v1.4.0"
    dep = k8s_api.cluster.deployment("production", SERVICE)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.4.0"
    release = await world.release()
    assert release.progress("prod-available").state is ItemState.DONE
    # deploy-status reads the running v1.4.0 and agrees (nothing left open to tick).
    status = await world.eve.slash(world.thread(), "release deploy-status")
    assert status.response is not None
    prod = {f.name: f.value or "" for f in status.response.embeds[0].fields}[
        "production · production/nexis-gateway"
    ]
    assert f"Images: {IMAGE}:v1.4.0" in prod


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ("missing", "does not exist or is not a folder"),
        ("no-match", "image rule 'ghcr.io/nexis/not-this-one' matches no container image"),
    ],
    indirect=["settings"],
)
async def test_a_deploy_that_cannot_render_is_refused_before_any_call(
    world: World, k8s_api: FakeKubeApi, clock: FakeClock, reason: str
) -> None:
    """Refuse a missing folder or an unmatched image rule before the cluster is asked."""
    await in_window(world, clock, k8s_api)
    before = len(k8s_api.served)
    result = await world.dora.slash(world.thread(), "release deploy", environment="production")
    assert result.response is not None
    assert result.response.content.startswith("⚠️ deploy refused, nothing was changed:")
    assert reason in result.response.content
    assert world.errors() == [InvalidInput]
    assert k8s_api.served[before:] == []
    assert (await world.release()).progress("prod-available").state is ItemState.OPEN

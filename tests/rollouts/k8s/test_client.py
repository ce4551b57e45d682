"""Building the ApiClient: explicit host, kubeconfig with a context, in-cluster."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.rollouts.k8s import KubernetesError, RolloutController, make_api_client
from bot.sandbox.kubernetes.api import FakeKubeApi
from tests.rollouts.k8s.harness import PRODUCTION


def _kubeconfig(path: Path, server: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": server}},
            {"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:9"}},
        ],
        "users": [{"name": "bot", "user": {"token": "s3cr3t-token"}}],
        "contexts": [
            {"name": "prod", "context": {"cluster": "fake", "user": "bot"}},
            {"name": "other", "context": {"cluster": "elsewhere", "user": "bot"}},
        ],
        "current-context": "other",
    }
    path.write_text(yaml.safe_dump(config))
    return path


async def test_explicit_host_is_used(fake_api: FakeKubeApi) -> None:
    """Point the client at the given host."""
    api = await make_api_client(
        in_cluster=False, kubeconfig=None, context=None, host=fake_api.host + "/"
    )
    async with api:
        assert api.configuration.host == fake_api.host
        assert (await RolloutController(api).status(PRODUCTION)).revision == 1


async def test_kubeconfig_context_selects_cluster_and_token(
    fake_api: FakeKubeApi, tmp_path: Path
) -> None:
    """Use the named context's server and bearer token, not the current context."""
    path = _kubeconfig(tmp_path / "config", fake_api.host)
    api = await make_api_client(in_cluster=False, kubeconfig=str(path), context="prod")
    async with api:
        status = await RolloutController(api).status(PRODUCTION)
    assert status.revision == 1
    assert fake_api.served[-1].authorization == "Bearer s3cr3t-token"


async def test_unknown_context_is_named(fake_api: FakeKubeApi, tmp_path: Path) -> None:
    """Name the context that the kubeconfig does not have."""
    path = _kubeconfig(tmp_path / "config", fake_api.host)
    with pytest.raises(KubernetesError, match="context 'staging'"):
        await make_api_client(in_cluster=False, kubeconfig=str(path), context="staging")


async def test_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    """Name the kubeconfig path that does not exist."""
    missing = tmp_path / "nope.yaml"
    with pytest.raises(KubernetesError, match=f"kubeconfig file {missing} does not exist"):
        await make_api_client(in_cluster=False, kubeconfig=str(missing), context=None)


async def test_in_cluster_outside_a_pod_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explain that in-cluster config needs a pod with a service account."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(KubernetesError, match="in-cluster Kubernetes config"):
        await make_api_client(in_cluster=True, kubeconfig=None, context=None)


async def test_a_host_without_scheme_is_rejected() -> None:
    """Reject a host that is not an http(s) URL, quoting it."""
    with pytest.raises(KubernetesError, match=re.escape("'127.0.0.1:6443'")):
        await make_api_client(
            in_cluster=False, kubeconfig=None, context=None, host="127.0.0.1:6443"
        )

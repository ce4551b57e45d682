"""Build the kubernetes-asyncio ApiClient from in-cluster config, a kubeconfig, or a host."""

from __future__ import annotations

from pathlib import Path

from kubernetes_asyncio import client, config
from kubernetes_asyncio.config.config_exception import ConfigException

from bot.rollouts.k8s.errors import KubernetesError


async def make_api_client(
    *,
    in_cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    host: str | None = None,
) -> client.ApiClient:
    """Return an ApiClient: explicit `host` (tests) > in-cluster > kubeconfig path and context.

    The caller owns the client and must close it (`await api.close()` or `async with`).
    """
    cfg = client.Configuration()
    if host is not None:
        if not host.startswith(("http://", "https://")):
            raise KubernetesError(f"Kubernetes host must start with http:// or https://: {host!r}")
        cfg.host = host.rstrip("/")
    elif in_cluster:
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise KubernetesError(
                f"cannot load the in-cluster Kubernetes config (is the bot running in a pod "
                f"with a service account token mounted?): {exc}"
            ) from exc
    else:
        await _load_kubeconfig(cfg, kubeconfig, context)
    return client.ApiClient(configuration=cfg)


async def _load_kubeconfig(
    cfg: client.Configuration, kubeconfig: str | None, context: str | None
) -> None:
    path = _existing_file(kubeconfig) if kubeconfig else None
    try:
        await config.load_kube_config(
            config_file=str(path) if path else None,
            context=context,
            client_configuration=cfg,
            persist_config=False,
        )
    except ConfigException as exc:
        where = path or "the default kubeconfig (~/.kube/config)"
        ctx = f" with context {context!r}" if context else ""
        raise KubernetesError(f"cannot load {where}{ctx}: {exc}") from exc
    except OSError as exc:
        raise KubernetesError(f"cannot read kubeconfig {path}: {exc}") from exc


def _existing_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise KubernetesError(f"kubeconfig file {path} does not exist")
    return path

"""The few Kubernetes API calls the bot makes, with error translation and read retries."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from bot.rollouts.k8s.errors import ApiUnavailable, translate
from bot.rollouts.k8s.models import DeploymentTarget

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class CallPolicy:
    """Say how patient the adapter is: read retries, backoff base and per-request timeout."""

    read_retries: int = 3
    backoff_seconds: float = 0.5
    request_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.read_retries < 0:
            raise ValueError(f"read_retries must be >= 0, got {self.read_retries}")
        if self.backoff_seconds < 0 or self.request_timeout_seconds <= 0:
            raise ValueError("backoff_seconds must be >= 0 and request_timeout_seconds > 0")


class ApiCalls:
    """Issue the bot's Kubernetes requests; only idempotent reads are retried on their own."""

    def __init__(self, api: client.ApiClient, sleep: Sleep, policy: CallPolicy) -> None:
        self._api = api
        self._sleep = sleep
        self._policy = policy
        self._apps = client.AppsV1Api(api)
        self._core = client.CoreV1Api(api)

    def wire(self, model: Any) -> Obj:
        """Return a model in Kubernetes wire form (camelCase keys, no empty fields)."""
        data = self._api.sanitize_for_serialization(model)
        return data if isinstance(data, dict) else {}

    async def read_deployment(self, target: DeploymentTarget) -> Obj:
        """Return the Deployment (GET deployments), retrying while the API is unavailable."""
        model = await self._read(
            lambda: self._apps.read_namespaced_deployment(
                target.deployment, target.namespace, _request_timeout=self._timeout
            ),
            verb="get",
            resource="deployments",
            target=target,
        )
        return self.wire(model)

    async def list_replicasets(self, target: DeploymentTarget, selector: str) -> list[Obj]:
        """Return the ReplicaSets matching `selector` (LIST replicasets), with read retries."""
        model = await self._read(
            lambda: self._apps.list_namespaced_replica_set(
                target.namespace, label_selector=selector, _request_timeout=self._timeout
            ),
            verb="list",
            resource="replicasets",
            target=target,
        )
        return list(self.wire(model).get("items") or [])

    async def json_patch_deployment(self, target: DeploymentTarget, patch: list[Obj]) -> Obj:
        """Send one JSON patch to the Deployment; never retried here (the caller decides)."""
        try:
            model = await self._apps.patch_namespaced_deployment(
                target.deployment,
                target.namespace,
                patch,
                _content_type=JSON_PATCH,
                _request_timeout=self._timeout,
            )
        except Exception as exc:
            raise translate(
                exc,
                verb="patch",
                resource="deployments",
                namespace=target.namespace,
                name=target.deployment,
            ) from exc
        return self.wire(model)

    async def apply(
        self, kind: str, namespace: str, name: str, body: Obj, manager: str
    ) -> tuple[Obj, int]:
        """Server-side apply one object; return it and the HTTP status (201 means created)."""
        methods = {
            "Deployment": (self._apps.patch_namespaced_deployment_with_http_info, "deployments"),
            "Service": (self._core.patch_namespaced_service_with_http_info, "services"),
            "ConfigMap": (self._core.patch_namespaced_config_map_with_http_info, "configmaps"),
        }
        method, resource = methods[kind]
        try:
            model, status, _headers = await method(
                name,
                namespace,
                body,
                field_manager=manager,
                force=True,
                _content_type=APPLY_PATCH,
                _request_timeout=self._timeout,
            )
        except Exception as exc:
            raise translate(
                exc, verb="patch", resource=resource, namespace=namespace, name=name
            ) from exc
        return self.wire(model), int(status)

    @property
    def _timeout(self) -> float:
        return self._policy.request_timeout_seconds

    async def _read(
        self,
        call: Callable[[], Awaitable[Any]],
        *,
        verb: str,
        resource: str,
        target: DeploymentTarget,
    ) -> Any:
        retries = self._policy.read_retries
        for attempt in range(retries + 1):
            try:
                return await call()
            except Exception as exc:
                err = translate(
                    exc,
                    verb=verb,
                    resource=resource,
                    namespace=target.namespace,
                    name=target.deployment,
                    subject=None if resource == "deployments" else f"{resource} of {target}",
                )
                if not isinstance(err, ApiUnavailable) or attempt == retries:
                    if isinstance(err, ApiUnavailable) and retries:
                        err = ApiUnavailable(
                            f"{err.message} (gave up after {attempt + 1} attempts)", err.status
                        )
                    raise err from exc
                delay = self._policy.backoff_seconds * (2**attempt)
                log.warning(
                    "retrying %s %s for %s in %.1fs: %s", verb, resource, target, delay, err
                )
                await self._sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")

"""One exception family for everything the Kubernetes adapter can report."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:  # loaded by the client that raises it; importing the adapter stays light
    from kubernetes_asyncio.client.exceptions import ApiException


class KubernetesError(Exception):
    """Report a Kubernetes failure; `status` is the HTTP status when the API answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class RolloutRefused(KubernetesError):
    """Refuse a rollout action that is unsafe or impossible (paused, no history, in flight)."""


class NotFound(KubernetesError):
    """Report that the named object does not exist (HTTP 404)."""


class Forbidden(KubernetesError):
    """Report that the bot's service account lacks a permission (HTTP 401/403)."""


class Conflict(KubernetesError):
    """Report that the object changed under us more often than we were willing to retry (409)."""


class ApiUnavailable(KubernetesError):
    """Report a 5xx answer, a timeout or a broken connection: worth retrying later."""


def server_message(exc: ApiException) -> str:
    """Return the `message` of a Kubernetes `Status` body, or the HTTP reason."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body.strip()[:300]
        if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
            return str(parsed["message"])
    return str(exc.reason or "no reason given")


def translate(
    exc: BaseException,
    *,
    verb: str,
    resource: str,
    namespace: str,
    name: str,
    subject: str | None = None,
) -> KubernetesError:
    """Turn a client-side exception into the adapter's family, naming verb, resource and target."""
    what = subject or f"{_singular(resource)} {namespace}/{name}"
    if isinstance(exc, KubernetesError):
        return exc
    from kubernetes_asyncio.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return _from_status(exc, verb=verb, resource=resource, namespace=namespace, what=what)
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ClientError | OSError):
        kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else "failed"
        return ApiUnavailable(
            f"Kubernetes API request to {verb} {what} {kind}: {type(exc).__name__} {exc}".rstrip(),
            None,
        )
    return KubernetesError(f"unexpected error while trying to {verb} {what}: {exc!r}")


def _from_status(
    exc: ApiException, *, verb: str, resource: str, namespace: str, what: str
) -> KubernetesError:
    status = int(exc.status or 0) or None
    detail = server_message(exc)
    if status == 404:
        return NotFound(f"{what} not found", 404)
    if status in (401, 403):
        return Forbidden(
            f"the bot's service account may not {verb} {resource} in {namespace} "
            f"({what}): {detail}",
            status,
        )
    if status == 409:
        return Conflict(f"conflict while trying to {verb} {what}: {detail}", 409)
    if status is None or status >= 500 or status == 429:
        return ApiUnavailable(
            f"Kubernetes API unavailable while trying to {verb} {what} "
            f"(HTTP {exc.status}): {detail}",
            status,
        )
    return KubernetesError(
        f"Kubernetes rejected {verb} of {what} (HTTP {status}): {detail}", status
    )


def _singular(resource: str) -> str:
    """Return the kind-like singular of a plural resource name ("deployments" -> "deployment")."""
    base = resource.split("/", 1)[0]
    return base[:-1] if base.endswith("s") else base

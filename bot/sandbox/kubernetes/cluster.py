"""In-memory cluster state behind the fake API server: objects, patches and server-side apply.

The Deployment controller is simulated lazily (see fakecontroller): every GET of a Deployment
first lets it take one step, so tests steer rollouts by reading status, not by waiting.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from bot.sandbox.kubernetes.controller import REVISION, DeploymentControllerSim
from bot.sandbox.kubernetes.jsonpatch import PatchError, apply_json_patch, merge_patch
from bot.sandbox.kubernetes.rules import ApiError, default_deployment, label_selector, validate

__all__ = ["KINDS", "ApiError", "FakeCluster"]

Obj = dict[str, Any]
KINDS = {
    "deployments": ("Deployment", "apps/v1"),
    "replicasets": ("ReplicaSet", "apps/v1"),
    "services": ("Service", "v1"),
    "configmaps": ("ConfigMap", "v1"),
}


class FakeCluster:
    """Keep Deployments, ReplicaSets, Services and ConfigMaps; a simulated controller rolls out."""

    def __init__(self, *, reads_to_complete: int = 3, reads_to_deadline: int = 3) -> None:
        self.objects: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in KINDS}
        self.controller = DeploymentControllerSim(
            self, reads_to_complete=reads_to_complete, reads_to_deadline=reads_to_deadline
        )
        # Server-side apply field managers per object, kept off the served objects.
        self._managers: dict[tuple[str, str, str], set[str]] = {}
        self._rv = 100
        self._uid = 0
        self._time = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)

    # -- seeding and steering (tests call these directly; not recorded as API use) ----------

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        replicas: int = 3,
        change_cause: str | None = None,
    ) -> Obj:
        """Create a Deployment already rolled out at revision 1."""
        labels = {"app": name}
        body: Obj = {
            "metadata": {"name": name, "labels": dict(labels)},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {"containers": [{"name": name.split("-")[-1], "image": image}]},
                },
            },
        }
        if change_cause:
            body["metadata"]["annotations"] = {"kubernetes.io/change-cause": change_cause}
        self.create("deployments", namespace, body)
        self.settle(namespace, name)
        return self.deployment(namespace, name)

    def roll_out(
        self, namespace: str, name: str, *, image: str, change_cause: str | None = None
    ) -> int:
        """Set the image (like `kubectl set image`), finish the rollout, return the revision."""
        dep = self.stored("deployments", namespace, name)
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
        annotations = dep["metadata"].setdefault("annotations", {})
        if change_cause:
            annotations["kubernetes.io/change-cause"] = change_cause
        self._touch(dep, spec_changed=True)
        self.settle(namespace, name)
        return int(self.deployment(namespace, name)["metadata"]["annotations"][REVISION])

    def settle(self, namespace: str, name: str) -> None:
        """Run the controller until the Deployment's rollout is complete."""
        for _ in range(self.controller.reads_to_complete + 2):
            self.controller.step(namespace, name)

    def pause(self, namespace: str, name: str, paused: bool = True) -> None:
        """Set spec.paused (like `kubectl rollout pause` / `resume`)."""
        dep = self.stored("deployments", namespace, name)
        dep["spec"]["paused"] = paused
        self._touch(dep, spec_changed=True)

    def stall(self, namespace: str, name: str) -> None:
        """Make every future rollout of this Deployment hang until its progress deadline."""
        self.controller.stalled.add((namespace, name))

    def deployment(self, namespace: str, name: str) -> Obj:
        """Return a copy of the stored Deployment without running the controller."""
        return copy.deepcopy(self.stored("deployments", namespace, name))

    def replicasets(self, namespace: str, deployment: str | None = None) -> list[Obj]:
        """Return copies of the stored ReplicaSets, optionally only those of one Deployment."""
        items = [rs for (ns, _), rs in self.objects["replicasets"].items() if ns == namespace]
        if deployment is not None:
            uid = self.stored("deployments", namespace, deployment)["metadata"]["uid"]
            items = [rs for rs in items if rs["metadata"]["ownerReferences"][0]["uid"] == uid]
        return copy.deepcopy(items)

    # -- API operations (the HTTP layer calls these) ----------------------------------------

    def read(self, resource: str, namespace: str, name: str) -> Obj:
        """Serve GET of one object; a Deployment read lets the controller take a step."""
        if resource == "deployments":
            self.controller.step(namespace, name)
        return copy.deepcopy(self.stored(resource, namespace, name))

    def list(self, resource: str, namespace: str, selector: str | None) -> Obj:
        """Serve LIST with an optional labelSelector."""
        match = label_selector(selector)
        items = [
            copy.deepcopy(o)
            for (ns, _), o in sorted(self.objects[resource].items())
            if ns == namespace and match(o["metadata"].get("labels") or {})
        ]
        kind, api_version = KINDS[resource]
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._rv)},
            "items": items,
        }

    def patch(
        self,
        resource: str,
        namespace: str,
        name: str,
        content_type: str,
        raw: bytes,
        query: dict[str, str],
    ) -> tuple[Obj, bool]:
        """Serve PATCH (JSON, merge, strategic-merge or server-side apply); True when created."""
        kind = content_type.split(";")[0].strip()
        if kind == "application/apply-patch+yaml":
            return self._apply(resource, namespace, name, raw, query)
        current = self.stored(resource, namespace, name)
        try:
            body = json.loads(raw)
            if kind == "application/json-patch+json":
                patched = apply_json_patch(current, body)
            elif kind in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                patched = merge_patch(current, body)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an "
                    f"unknown format - accepted media types include: json-patch, "
                    f"merge-patch, strategic-merge-patch, apply-patch; got {kind!r}",
                )
        except (PatchError, ValueError) as exc:
            raise ApiError(422, "Invalid", f"{resource} {name!r} patch failed: {exc}") from exc
        return self._replace(resource, current, patched), False

    # -- used by the controller simulation ---------------------------------------------------

    def stored(self, resource: str, namespace: str, name: str) -> Obj:
        """Return the stored object itself (not a copy), or raise a 404 ApiError."""
        try:
            return self.objects[resource][(namespace, name)]
        except KeyError:
            group = "deployments.apps" if resource in ("deployments", "replicasets") else resource
            raise ApiError(404, "NotFound", f'{group} "{name}" not found') from None

    def _apply(
        self, resource: str, namespace: str, name: str, raw: bytes, query: dict[str, str]
    ) -> tuple[Obj, bool]:
        manager = query.get("fieldManager")
        if not manager:
            raise ApiError(400, "BadRequest", "PATCH requests with apply-patch need a fieldManager")
        try:
            body = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"cannot parse apply patch: {exc}") from exc
        if not isinstance(body, dict) or body.get("metadata", {}).get("name") != name:
            raise ApiError(400, "BadRequest", "apply patch metadata.name must match the URL")
        existing = self.objects[resource].get((namespace, name))
        if existing is None:
            created = self.create(resource, namespace, body, manager=manager)
            return copy.deepcopy(created), True
        managers = self._managers.setdefault((resource, namespace, name), set())
        # The API server parses booleans with Go's strconv.ParseBool; the client sends "True".
        forced = query.get("force") in ("1", "t", "T", "true", "True", "TRUE")
        if not forced and managers - {manager}:
            owners = ", ".join(sorted(managers - {manager}))
            raise ApiError(
                409, "Conflict", f"Apply failed with conflicts: fields owned by {owners}"
            )
        result = self._replace(resource, existing, merge_patch(existing, body))
        managers.add(manager)
        return result, False

    def create(self, resource: str, namespace: str, body: Obj, manager: str = "seed") -> Obj:
        """Store a new object with server-set metadata and defaults; return the stored object."""
        kind, api_version = KINDS[resource]
        obj = copy.deepcopy(body)
        obj.update(kind=kind, apiVersion=api_version)
        meta = obj.setdefault("metadata", {})
        self._uid += 1
        meta.update(
            namespace=namespace, uid=f"uid-{self._uid:04d}", creationTimestamp=self._stamp()
        )
        if resource == "deployments":
            default_deployment(obj)
            meta["generation"] = 1
            obj["status"] = {}
        elif resource == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("clusterIP", f"10.96.0.{self._uid % 250 + 1}")
            for port in spec.get("ports") or ():
                port.setdefault("protocol", "TCP")
        validate(resource, obj)
        self.bump(obj)
        self.objects[resource][(namespace, meta["name"])] = obj
        self._managers[(resource, namespace, meta["name"])] = {manager}
        return obj

    def _replace(self, resource: str, current: Obj, patched: Obj) -> Obj:
        meta = current["metadata"]
        if str(patched.get("metadata", {}).get("resourceVersion")) != meta["resourceVersion"]:
            # A patch that carries a stale resourceVersion is a failed precondition.
            raise ApiError(
                409,
                "Conflict",
                f"Operation cannot be fulfilled on {resource} "
                f'"{meta["name"]}": the object has been modified; please apply your '
                "changes to the latest version and try again",
            )
        for key in ("name", "namespace", "uid", "creationTimestamp"):
            patched["metadata"][key] = meta[key]
        patched["status"] = current.get("status", {})
        validate(resource, patched)
        spec_changed = patched.get("spec") != current.get("spec")
        current.clear()
        current.update(patched)
        self._touch(current, spec_changed=spec_changed and resource == "deployments")
        return copy.deepcopy(current)

    def _touch(self, obj: Obj, *, spec_changed: bool) -> None:
        if spec_changed:
            obj["metadata"]["generation"] = int(obj["metadata"].get("generation", 0)) + 1
        self.bump(obj)

    def bump(self, obj: Obj) -> None:
        """Give an object a new resourceVersion after a change."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)

    def _stamp(self) -> str:
        self._time += timedelta(minutes=1)
        return self._time.strftime("%Y-%m-%dT%H:%M:%SZ")

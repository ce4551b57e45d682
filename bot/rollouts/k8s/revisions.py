"""kubectl's `rollout undo` and `rollout history` logic as pure functions over wire-form dicts.

Mirrors kubectl/pkg/polymorphichelpers/rollback.go (DeploymentRollbacker) and
deploymentutil.GetAllReplicaSets: ReplicaSets are matched by label selector *and* by a
controller ownerReference to the Deployment's uid; revisions come from each ReplicaSet's
`deployment.kubernetes.io/revision` annotation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.rollouts.k8s.errors import RolloutRefused
from bot.rollouts.k8s.models import (
    CHANGE_CAUSE_ANNOTATION,
    REVISION_ANNOTATION,
    DeploymentTarget,
    Revision,
    revision_of,
)

POD_TEMPLATE_HASH = "pod-template-hash"

# The annotations kubectl keeps from the Deployment rather than copying from the ReplicaSet.
ANNOTATIONS_TO_SKIP = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class UndoPlan:
    """Hold everything needed to send one rollback patch."""

    source_replicaset: str
    source_revision: int
    current_revision: int
    resource_version: str
    patch: list[Obj]


def selector_string(selector: Obj | None) -> str:
    """Render a LabelSelector (matchLabels + matchExpressions) as a `labelSelector` query."""
    if not selector:
        raise ValueError("the deployment has no spec.selector")
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op = expr.get("key"), expr.get("operator")
        values = ",".join(sorted(expr.get("values") or ()))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(f"unsupported label selector operator {op!r} for key {key!r}")
    if not parts:
        raise ValueError("the deployment's spec.selector selects nothing")
    return ",".join(parts)


def owned_replicasets(deployment: Obj, replicasets: list[Obj]) -> list[Obj]:
    """Return the ReplicaSets whose controller ownerReference points at this Deployment."""
    uid = (deployment.get("metadata") or {}).get("uid")
    owned = []
    for rs in replicasets:
        for ref in (rs.get("metadata") or {}).get("ownerReferences") or ():
            if ref.get("controller") and ref.get("uid") == uid and ref.get("kind") == "Deployment":
                owned.append(rs)
                break
    return owned


def history(replicasets: list[Obj]) -> list[Revision]:
    """Return the revisions of the given (owned) ReplicaSets, oldest first."""
    revisions = []
    for rs in replicasets:
        meta = rs.get("metadata") or {}
        number = revision_of(meta)
        if number <= 0:
            continue
        annotations = meta.get("annotations") or {}
        containers = ((rs.get("spec") or {}).get("template") or {}).get("spec", {}).get(
            "containers"
        ) or ()
        revisions.append(
            Revision(
                number=number,
                replicaset=str(meta.get("name", "")),
                created=_timestamp(meta.get("creationTimestamp")),
                change_cause=annotations.get(CHANGE_CAUSE_ANNOTATION),
                images=tuple(str(c.get("image", "")) for c in containers),
            )
        )
    return sorted(revisions, key=lambda r: r.number)


def pick_replicaset(target: DeploymentTarget, owned: list[Obj], to_revision: int | None) -> Obj:
    """Return the ReplicaSet to restore: the requested revision, or the second newest."""
    by_revision = {revision_of(rs.get("metadata") or {}): rs for rs in owned}
    by_revision.pop(0, None)
    available = ", ".join(str(n) for n in sorted(by_revision)) or "none"
    if to_revision:
        if to_revision not in by_revision:
            raise RolloutRefused(
                f"deployment {target} has no revision {to_revision}; "
                f"available revisions: {available}"
            )
        return by_revision[to_revision]
    if len(by_revision) < 2:
        raise RolloutRefused(
            f"deployment {target} has no earlier revision to roll back to "
            f"(available revisions: {available})"
        )
    return by_revision[sorted(by_revision)[-2]]


def equal_ignoring_hash(a: Obj | None, b: Obj | None) -> bool:
    """Return True if two pod templates are equal once `pod-template-hash` labels are dropped."""
    return _without_hash(a or {}) == _without_hash(b or {})


def rollback_annotations(deployment_annotations: Obj, rs_annotations: Obj) -> dict[str, str]:
    """Return the Deployment annotations kubectl writes: skip-list kept, the rest from the RS."""
    kept = {k: v for k, v in deployment_annotations.items() if k in ANNOTATIONS_TO_SKIP}
    copied = {k: v for k, v in rs_annotations.items() if k not in ANNOTATIONS_TO_SKIP}
    return {**kept, **copied}


def plan_undo(
    target: DeploymentTarget,
    deployment: Obj,
    owned: list[Obj],
    to_revision: int | None,
    pinned_replicaset: str | None = None,
) -> UndoPlan:
    """Decide the rollback patch like kubectl does, or refuse with a reason naming the target."""
    rs = _source(target, owned, to_revision, pinned_replicaset)
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    source_revision = revision_of(rs.get("metadata") or {})
    if spec.get("paused"):
        raise RolloutRefused(f"deployment {target} is paused; resume it before rolling back", None)
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    if equal_ignoring_hash(template, spec.get("template")):
        raise RolloutRefused(
            f"skipped rollback of deployment {target}: the current template already matches "
            f"revision {source_revision}"
        )
    labels = (template.get("metadata") or {}).get("labels") or {}
    labels.pop(POD_TEMPLATE_HASH, None)
    annotations = rollback_annotations(
        meta.get("annotations") or {}, (rs.get("metadata") or {}).get("annotations") or {}
    )
    patch: list[Obj] = [
        # A stale resourceVersion in the patched object makes the API server answer 409
        # instead of silently rolling back over a change made since we read it.
        {"op": "replace", "path": "/metadata/resourceVersion", "value": meta["resourceVersion"]},
        {"op": "replace", "path": "/spec/template", "value": template},
        # "add" replaces an existing member and also works when there are no annotations yet.
        {"op": "add", "path": "/metadata/annotations", "value": annotations},
    ]
    return UndoPlan(
        source_replicaset=_name(rs),
        source_revision=source_revision,
        current_revision=revision_of(meta),
        resource_version=str(meta["resourceVersion"]),
        patch=patch,
    )


def _source(
    target: DeploymentTarget, owned: list[Obj], to_revision: int | None, pinned: str | None
) -> Obj:
    if pinned is None:
        return pick_replicaset(target, owned, to_revision)
    rs = next((r for r in owned if _name(r) == pinned), None)
    if rs is None:
        raise RolloutRefused(
            f"deployment {target}: ReplicaSet {pinned} vanished during the rollback"
        )
    return rs


def _without_hash(template: Obj) -> Obj:
    clone = copy.deepcopy(template)
    labels = (clone.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return clone


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _timestamp(raw: Any) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, str) and raw:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return None

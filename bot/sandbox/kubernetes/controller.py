"""A small stand-in for the Deployment controller, driven by reads of the fake API server.

The first read after a spec change observes it (new or reused ReplicaSet, revision bump, like
the real controller); each later read advances the rollout until, after `reads_to_complete`
reads, it is done. A stalled Deployment never progresses and, after `reads_to_deadline` reads,
reports Progressing=False/ProgressDeadlineExceeded, as the controller does at the deadline.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.sandbox.kubernetes.cluster import FakeCluster

Obj = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
HISTORY = "deployment.kubernetes.io/revision-history"
HASH_LABEL = "pod-template-hash"
NOT_COPIED = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    HISTORY,
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
}


@dataclass
class Progress:
    """Track one Deployment's simulated rollout."""

    reads_left: int
    stalled: bool = False
    stalled_reads: int = 0
    done: bool = False


class DeploymentControllerSim:
    """Play kube-controller-manager's Deployment controller over a FakeCluster's objects."""

    def __init__(
        self, cluster: FakeCluster, *, reads_to_complete: int, reads_to_deadline: int
    ) -> None:
        self._cluster = cluster
        self.reads_to_complete = reads_to_complete
        self.reads_to_deadline = reads_to_deadline
        self.stalled: set[tuple[str, str]] = set()
        self._progress: dict[tuple[str, str], Progress] = {}

    def step(self, namespace: str, name: str) -> None:
        """Let the controller take one step for this Deployment (called on every GET)."""
        dep = self._cluster.stored("deployments", namespace, name)
        if int(dep["status"].get("observedGeneration", 0)) < int(dep["metadata"]["generation"]):
            self._observe(namespace, name, dep)
        else:
            self._advance(namespace, name, dep)

    def _observe(self, namespace: str, name: str, dep: Obj) -> None:
        status = dep["status"]
        status["observedGeneration"] = dep["metadata"]["generation"]
        owned = self._owned(dep)
        template = strip_hash(dep["spec"]["template"])
        if dep["spec"].get("paused"):
            # A paused Deployment creates no ReplicaSet for a new template: nothing is updated.
            if not any(strip_hash(rs["spec"]["template"]) == template for rs in owned):
                status["updatedReplicas"] = 0
            _condition(dep, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
            return
        newest = max((int(rs["metadata"]["annotations"][REVISION]) for rs in owned), default=0)
        match = next((rs for rs in owned if strip_hash(rs["spec"]["template"]) == template), None)
        if match is not None and int(match["metadata"]["annotations"][REVISION]) == newest:
            # Not a template change (replicas, annotations): nothing to roll out.
            self._progress[(namespace, name)] = Progress(reads_left=0)
            self._finish(dep, match)
            return
        if match is None:
            match = self._new_replicaset(namespace, dep, newest + 1)
        else:
            self._reuse(match, dep, newest + 1)
        dep["metadata"].setdefault("annotations", {})[REVISION] = str(newest + 1)
        self._cluster.bump(dep)
        status.update(replicas=int(dep["spec"]["replicas"]), updatedReplicas=0)
        status.setdefault("readyReplicas", 0)
        status.setdefault("availableReplicas", 0)
        stalled = (namespace, name) in self.stalled
        self._progress[(namespace, name)] = Progress(self.reads_to_complete, stalled=stalled)
        message = f'ReplicaSet "{match["metadata"]["name"]}" is progressing.'
        _condition(dep, "Progressing", "True", "ReplicaSetUpdated", message)

    def _owned(self, dep: Obj) -> list[Obj]:
        return [
            rs
            for rs in self._cluster.objects["replicasets"].values()
            if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
        ]

    def _reuse(self, rs: Obj, dep: Obj, revision: int) -> None:
        """Give an old ReplicaSet the new revision, as the controller does on a rollback."""
        notes = rs["metadata"]["annotations"]
        notes[HISTORY] = ",".join(filter(None, [notes.get(HISTORY), notes[REVISION]]))
        notes[REVISION] = str(revision)
        copied = dep["metadata"].get("annotations") or {}
        notes.update({k: v for k, v in copied.items() if k not in NOT_COPIED})
        self._cluster.bump(rs)

    def _advance(self, namespace: str, name: str, dep: Obj) -> None:
        progress = self._progress.get((namespace, name))
        if progress is None or progress.done or dep["spec"].get("paused"):
            return
        rs = self._current_rs(dep)
        if progress.stalled:
            progress.stalled_reads += 1
            if progress.stalled_reads >= self.reads_to_deadline:
                _condition(
                    dep,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.',
                )
            return
        progress.reads_left -= 1
        replicas = int(dep["spec"]["replicas"])
        if progress.reads_left <= 0:
            self._finish(dep, rs)
            return
        updated = max(
            1, replicas * (self.reads_to_complete - progress.reads_left) // self.reads_to_complete
        )
        dep["status"].update(updatedReplicas=min(updated, replicas), replicas=replicas + 1)

    def _finish(self, dep: Obj, current: Obj) -> None:
        replicas = int(dep["spec"]["replicas"])
        dep["status"].update(
            replicas=replicas,
            updatedReplicas=replicas,
            readyReplicas=replicas,
            availableReplicas=replicas,
        )
        for rs in self._cluster.objects["replicasets"].values():
            if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]:
                count = replicas if rs is current else 0
                rs["spec"]["replicas"] = count
                rs["status"] = {
                    "replicas": count,
                    "readyReplicas": count,
                    "availableReplicas": count,
                }
        self._progress.setdefault(_key(dep), Progress(reads_left=0)).done = True
        _condition(
            dep,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.",
        )
        _condition(
            dep,
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{current["metadata"]["name"]}" has successfully progressed.',
        )

    def _current_rs(self, dep: Obj) -> Obj:
        template = strip_hash(dep["spec"]["template"])
        return next(
            rs
            for rs in self._cluster.objects["replicasets"].values()
            if rs["metadata"]["ownerReferences"][0]["uid"] == dep["metadata"]["uid"]
            and strip_hash(rs["spec"]["template"]) == template
        )

    def _new_replicaset(self, namespace: str, dep: Obj, revision: int) -> Obj:
        template = copy.deepcopy(dep["spec"]["template"])
        digest = hashlib.sha256(json.dumps(strip_hash(template), sort_keys=True).encode())
        pod_hash = digest.hexdigest()[:10]
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = pod_hash
        annotations = {
            k: v
            for k, v in (dep["metadata"].get("annotations") or {}).items()
            if k not in NOT_COPIED
        }
        annotations[REVISION] = str(revision)
        selector = copy.deepcopy(dep["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        body = {
            "metadata": {
                "name": f"{dep['metadata']['name']}-{pod_hash}",
                "labels": dict(template["metadata"]["labels"]),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "controller": True,
                        "blockOwnerDeletion": True,
                        "name": dep["metadata"]["name"],
                        "uid": dep["metadata"]["uid"],
                    }
                ],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
            "status": {"replicas": 0},
        }
        return self._cluster.create(
            "replicasets", namespace, body, manager="kube-controller-manager"
        )


def _key(dep: Obj) -> tuple[str, str]:
    return dep["metadata"]["namespace"], dep["metadata"]["name"]


def strip_hash(template: Obj) -> Obj:
    """Return a copy of a pod template without the pod-template-hash label."""
    clone = copy.deepcopy(template)
    (clone.get("metadata") or {}).get("labels", {}).pop(HASH_LABEL, None)
    return clone


def _condition(dep: Obj, kind: str, status: str, reason: str, message: str) -> None:
    conditions = [c for c in dep["status"].get("conditions", []) if c["type"] != kind]
    conditions.append({"type": kind, "status": status, "reason": reason, "message": message})
    dep["status"]["conditions"] = sorted(conditions, key=lambda c: c["type"])

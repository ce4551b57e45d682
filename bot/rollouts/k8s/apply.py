"""`kubectl apply -f <dir>` for the few kinds a release touches, via server-side apply."""

from __future__ import annotations

import asyncio
import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bot.rollouts.k8s.errors import KubernetesError
from bot.rollouts.k8s.models import AppliedObject, ApplyResult, DeploymentTarget
from bot.rollouts.k8s.render import Rendering, render_all

if TYPE_CHECKING:
    from bot.rollouts.k8s.calls import ApiCalls

API_VERSIONS = {"ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1"}
# Config and Services first, so new pods find what they mount and what they sit behind.
APPLY_ORDER = ("ConfigMap", "Service", "Deployment")
SUFFIXES = (".yaml", ".yml", ".json")
SERVER_FIELDS = (
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    """Hold one object to apply, with the file it came from."""

    source: str
    kind: str
    name: str
    body: Obj


def load_manifests(directory: Path, namespace: str) -> tuple[list[Manifest], list[str]]:
    """Read and check every manifest in `directory`; return them in apply order and the errors."""
    if not directory.is_dir():
        return [], [f"manifest folder {directory} does not exist or is not a folder"]
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if not files:
        return [], [f"manifest folder {directory} has no {'/'.join(SUFFIXES)} files"]
    manifests: list[Manifest] = []
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path in files:
        try:
            documents = _documents(path)
        except (yaml.YAMLError, ValueError, UnicodeDecodeError) as exc:
            errors.append(f"{path}: cannot parse: {exc}".replace("\n", " "))
            continue
        for index, doc in enumerate(documents, start=1):
            where = f"{path}" if len(documents) == 1 else f"{path} (document {index})"
            manifest, error = _check(doc, where, namespace)
            if error:
                errors.append(error)
            elif manifest is not None:
                if (manifest.kind, manifest.name) in seen:
                    errors.append(f"{where}: {manifest.kind}/{manifest.name} is defined twice")
                seen.add((manifest.kind, manifest.name))
                manifests.append(manifest)
    manifests.sort(key=lambda m: APPLY_ORDER.index(m.kind))
    return manifests, errors


def load_rendered(
    directory: Path, namespace: str, rendering: Rendering | None
) -> tuple[list[Manifest], list[str]]:
    """Read, check and render the folder's manifests with the release version put in.

    Everything here is local (files and parsed objects): a missing folder, a bad manifest or
    an image rule that matches nothing is reported before any request reaches the cluster.
    """
    manifests, errors = load_manifests(directory, namespace)
    if errors or rendering is None:
        return manifests, errors
    bodies, rule_errors = render_all([m.body for m in manifests], rendering)
    rendered = [replace(m, body=body) for m, body in zip(manifests, bodies, strict=True)]
    return rendered, [f"{directory}: {e}" for e in rule_errors]


async def apply_manifests(
    calls: ApiCalls,
    target: DeploymentTarget,
    directory: Path,
    manager: str,
    rendering: Rendering | None = None,
) -> ApplyResult:
    """Apply every manifest of `directory` into the target's namespace, all or nothing on input.

    Any invalid manifest stops the apply before the first request; an API error stops it at
    that object and the result lists what was applied and what was never attempted.
    """
    manifests, errors = await asyncio.to_thread(
        load_rendered, directory, target.namespace, rendering
    )
    if errors:
        return ApplyResult(
            target=target, errors=tuple(errors), skipped=tuple(_label(m) for m in manifests)
        )
    applied: list[AppliedObject] = []
    for index, item in enumerate(manifests):
        try:
            obj, status = await calls.apply(
                item.kind, target.namespace, item.name, item.body, manager
            )
        except KubernetesError as exc:
            return ApplyResult(
                target=target,
                applied=tuple(applied),
                errors=(f"{item.source}: {_label(item)}: {exc}",),
                skipped=tuple(_label(m) for m in manifests[index + 1 :]),
            )
        generation = (obj.get("metadata") or {}).get("generation")
        applied.append(
            AppliedObject(
                kind=item.kind,
                name=item.name,
                source=item.source,
                action="created" if status == 201 else "configured",
                generation=int(generation) if generation is not None else None,
            )
        )
    return ApplyResult(target=target, applied=tuple(applied))


def _documents(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return [json.loads(text)]
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def _check(doc: Any, where: str, namespace: str) -> tuple[Manifest | None, str | None]:
    if not isinstance(doc, dict):
        return None, f"{where}: expected a Kubernetes object (a mapping), got {type(doc).__name__}"
    kind = doc.get("kind")
    if kind not in API_VERSIONS:
        supported = ", ".join(sorted(API_VERSIONS))
        return None, f"{where}: kind {kind!r} is not supported (supported: {supported})"
    if doc.get("apiVersion") != API_VERSIONS[kind]:
        return None, (
            f"{where}: {kind} needs apiVersion {API_VERSIONS[kind]!r}, "
            f"got {doc.get('apiVersion')!r}"
        )
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None, f"{where}: {kind} has no metadata.name"
    declared = meta.get("namespace") if isinstance(meta, dict) else None
    if declared not in (None, namespace):
        return None, (
            f"{where}: {kind}/{name} declares namespace {declared!r} but the target namespace "
            f"is {namespace!r}"
        )
    body = copy.deepcopy(doc)
    body.pop("status", None)
    for key in SERVER_FIELDS:
        body["metadata"].pop(key, None)
    body["metadata"]["namespace"] = namespace
    return Manifest(source=where, kind=str(kind), name=name, body=body), None


def _label(manifest: Manifest) -> str:
    return f"{manifest.kind}/{manifest.name}"

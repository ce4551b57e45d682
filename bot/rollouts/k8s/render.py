"""Put the release's version into parsed manifests by a declared rule (kustomize `images:`).

The files in the manifests folder are never edited: they are parsed (PyYAML, already used by
apply.py) and each release renders them anew. Per target, a list of image rules with
kustomize's `images:` semantics names the container images whose tag becomes the release
version (`newTag`, default "{version}"), optionally with a new name (`newName`). Every
annotation value (the object's and its pod template's) has `${VERSION}` replaced through
`string.Template`, so `kubernetes.io/change-cause: "release ${VERSION}"` records the release.
A rule that matches no container is an error: it would otherwise ship the files' old tag.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from string import Template
from typing import Any

Obj = dict[str, Any]
CONTAINER_LISTS = ("initContainers", "containers")


@dataclass(frozen=True)
class ImageRule:
    """One kustomize-style image override: `name` (no tag) gets `new_tag` (and `new_name`)."""

    name: str
    new_tag: str = "{version}"
    new_name: str | None = None

    def tag(self, version: str) -> str:
        """Return the tag this rule sets for `version`."""
        return self.new_tag.replace("{version}", version)


@dataclass(frozen=True)
class Rendering:
    """The release version and the image rules to render a target's manifests with."""

    version: str
    images: tuple[ImageRule, ...] = ()


def split_image(image: str) -> tuple[str, str]:
    """Split an image reference into (name, ":tag" or "@digest" or "")."""
    if "@" in image:
        name, digest = image.split("@", 1)
        return name, f"@{digest}"
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon > slash:
        return image[:colon], image[colon:]
    return image, ""


def image_tag(image: str) -> str:
    """Return the tag (or digest) of an image reference, "" when it has none."""
    return split_image(image)[1].lstrip(":")


def _pod_spec(body: Obj) -> Obj | None:
    spec = body.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    pod = template.get("spec") if isinstance(template, dict) else None
    return pod if isinstance(pod, dict) else None


def containers(body: Obj) -> list[Obj]:
    """Return the (init) containers of an object's pod template, if it has one."""
    pod = _pod_spec(body)
    if pod is None:
        return []
    found: list[Obj] = []
    for key in CONTAINER_LISTS:
        items = pod.get(key)
        if isinstance(items, list):
            found.extend(c for c in items if isinstance(c, dict))
    return found


def _annotation_maps(body: Obj) -> Iterable[Obj]:
    meta = body.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
        yield meta["annotations"]
    spec = body.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    tmeta = template.get("metadata") if isinstance(template, dict) else None
    if isinstance(tmeta, dict) and isinstance(tmeta.get("annotations"), dict):
        yield tmeta["annotations"]


def render_body(body: Obj, rendering: Rendering) -> tuple[Obj, set[str]]:
    """Return a rendered deep copy of `body` and the names of the rules that matched in it."""
    out = copy.deepcopy(body)
    matched: set[str] = set()
    for container in containers(out):
        image = container.get("image")
        if not isinstance(image, str):
            continue
        name, _ = split_image(image)
        for rule in rendering.images:
            if rule.name == name:
                container["image"] = f"{rule.new_name or name}:{rule.tag(rendering.version)}"
                matched.add(rule.name)
                break
    for notes in _annotation_maps(out):
        for key, value in notes.items():
            if isinstance(value, str) and "$" in value:
                notes[key] = Template(value).safe_substitute(VERSION=rendering.version)
    return out, matched


def render_all(bodies: Sequence[Obj], rendering: Rendering) -> tuple[list[Obj], list[str]]:
    """Render every manifest body; return them and an error per image rule that matched nothing."""
    rendered: list[Obj] = []
    matched: set[str] = set()
    for body in bodies:
        out, hits = render_body(body, rendering)
        matched |= hits
        rendered.append(out)
    found = {
        split_image(c["image"])[0]
        for body in bodies
        for c in containers(body)
        if isinstance(c.get("image"), str)
    }
    errors = [
        f"image rule {rule.name!r} matches no container image in the manifests (images found: "
        f"{', '.join(sorted(found)) or 'none'})"
        for rule in rendering.images
        if rule.name not in matched
    ]
    return rendered, errors


def plan_lines(
    rendered: Obj | None, running: Sequence[str], running_replicas: int | None
) -> list[str]:
    """Describe what applying `rendered` changes on the Deployment that runs `running` images."""
    if rendered is None:
        return []
    lines: list[str] = []
    current = {split_image(image)[0]: image for image in running}
    for container in containers(rendered):
        image = container.get("image")
        if not isinstance(image, str):
            continue
        name, _ = split_image(image)
        old = current.get(name)
        if old is None:
            lines.append(f"image {name}: (not running) → {image_tag(image) or image}")
        elif old == image:
            lines.append(f"image {name}: {image_tag(image)} (unchanged)")
        else:
            lines.append(f"image {name}: {image_tag(old) or old} → {image_tag(image) or image}")
    wanted = (rendered.get("spec") or {}).get("replicas")
    if wanted is None:
        shown = "unknown" if running_replicas is None else str(running_replicas)
        lines.append(f"replicas: {shown} (kept; the manifests do not set them)")
    elif running_replicas is None:
        lines.append(f"replicas: {wanted}")
    elif running_replicas == wanted:
        lines.append(f"replicas: {wanted} (unchanged)")
    else:
        lines.append(f"replicas: {running_replicas} → {wanted}")
    return lines

"""The release version put into parsed manifests by kustomize-style image rules (no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.rollouts.k8s.apply import load_rendered
from bot.rollouts.k8s.render import (
    ImageRule,
    Rendering,
    plan_lines,
    render_all,
    split_image,
)

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "ghcr.io/nexis/nexis-gateway"


def deployment(*images: str, init: str | None = None, replicas: int | None = 3) -> dict[str, Any]:
    """Return a Deployment body running `images` (and an init container)."""
    pod: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": x} for i, x in enumerate(images)]
    }
    if init is not None:
        pod["initContainers"] = [{"name": "init", "image": init}]
    spec: dict[str, Any] = {
        "template": {"metadata": {"annotations": {"v": "${VERSION}"}}, "spec": pod}
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "gw",
            "annotations": {"kubernetes.io/change-cause": "release ${VERSION}", "cost": "$5"},
        },
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/nexis/gw:v1.0.0", ("ghcr.io/nexis/gw", ":v1.0.0")),
        ("localhost:5000/gw:v1", ("localhost:5000/gw", ":v1")),
        ("localhost:5000/gw", ("localhost:5000/gw", "")),
        ("gw@sha256:abc", ("gw", "@sha256:abc")),
    ],
)
def test_split_image_separates_name_and_tag(image: str, expected: tuple[str, str]) -> None:
    """Tell a registry port from a tag, and a digest from both."""
    assert split_image(image) == expected


def test_the_rule_sets_the_tag_and_annotations_get_the_version() -> None:
    """Set the matching images' tag (init containers too), keep others, fill ${VERSION}."""
    body = deployment(f"{IMAGE}:v1.0.0", "busybox:1.36", init=f"{IMAGE}@sha256:abc")
    rendered, errors = render_all([body], Rendering("v1.4.0", (ImageRule(IMAGE),)))
    assert errors == []
    out = rendered[0]
    pod = out["spec"]["template"]["spec"]
    assert [c["image"] for c in pod["containers"]] == [f"{IMAGE}:v1.4.0", "busybox:1.36"]
    assert pod["initContainers"][0]["image"] == f"{IMAGE}:v1.4.0"
    assert out["metadata"]["annotations"] == {
        "kubernetes.io/change-cause": "release v1.4.0",
        "cost": "$5",
    }
    assert out["spec"]["template"]["metadata"]["annotations"] == {"v": "v1.4.0"}
    # The input is parsed data the caller still owns: it is not changed.
    assert body["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.0.0"


def test_new_name_and_a_tag_pattern() -> None:
    """Rename the image and build the tag from the pattern, as kustomize's newName/newTag."""
    rule = ImageRule(IMAGE, new_tag="release-{version}", new_name="registry.example/gw")
    rendered, errors = render_all([deployment(f"{IMAGE}:old")], Rendering("v2.0.0", (rule,)))
    assert errors == []
    assert rendered[0]["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example/gw:release-v2.0.0"
    )


def test_a_rule_that_matches_nothing_is_an_error() -> None:
    """Name the unmatched rule and the images that are there."""
    _, errors = render_all(
        [deployment("ghcr.io/other/app:v1")], Rendering("v1.4.0", (ImageRule(IMAGE),))
    )
    assert errors == [
        f"image rule {IMAGE!r} matches no container image in the manifests "
        "(images found: ghcr.io/other/app)"
    ]


def test_the_repository_manifests_render_with_the_release_version() -> None:
    """Render k8s/production for v1.4.0 from the files as they are (v1.0.0 inside)."""
    manifests, errors = load_rendered(
        ROOT / "k8s" / "production", "production", Rendering("v1.4.0", (ImageRule(IMAGE),))
    )
    assert errors == []
    dep = next(m.body for m in manifests if m.kind == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:v1.4.0"
    assert dep["metadata"]["annotations"]["kubernetes.io/change-cause"] == "release v1.4.0"


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    """Report the missing folder (nothing to render)."""
    manifests, errors = load_rendered(tmp_path / "gone", "production", Rendering("v1"))
    assert manifests == []
    assert errors == [f"manifest folder {tmp_path / 'gone'} does not exist or is not a folder"]


def test_plan_lines_show_image_and_replicas_changes() -> None:
    """Show old → new tags, unchanged images and the replica count against what runs."""
    body = deployment(f"{IMAGE}:v1.4.0", "busybox:1.36", replicas=5)
    running = (f"{IMAGE}:v1.3.2", "busybox:1.36")
    assert plan_lines(body, running, 3) == [
        f"image {IMAGE}: v1.3.2 → v1.4.0",
        "image busybox: 1.36 (unchanged)",
        "replicas: 3 → 5",
    ]
    assert plan_lines(deployment("new:v1", replicas=None), (), 2) == [
        "image new: (not running) → v1",
        "replicas: 2 (kept; the manifests do not set them)",
    ]
    assert plan_lines(deployment("new:v1"), (), None)[-1] == "replicas: 3"

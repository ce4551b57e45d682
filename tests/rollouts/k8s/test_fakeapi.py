"""The fake API server itself behaves like Kubernetes where the adapter depends on it."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client

from bot.sandbox.kubernetes.cluster import ApiError, FakeCluster
from bot.sandbox.kubernetes.jsonpatch import PatchError, apply_json_patch, merge_patch
from bot.sandbox.kubernetes.rules import label_selector


def test_json_patch_ops_follow_rfc6902() -> None:
    """Apply add, replace, remove and test, escaping ~1 as '/'; leave the input untouched."""
    doc: dict[str, Any] = {"metadata": {"annotations": {"a/b": "1"}}, "items": [1, 2]}
    patched = apply_json_patch(
        doc,
        [
            {"op": "test", "path": "/metadata/annotations/a~1b", "value": "1"},
            {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
            {"op": "add", "path": "/items/-", "value": 3},
            {"op": "remove", "path": "/items/0"},
        ],
    )
    assert patched == {"metadata": {"annotations": {"a/b": "2"}}, "items": [2, 3]}
    assert doc["items"] == [1, 2]


def test_json_patch_replace_of_a_missing_path_fails() -> None:
    """Refuse to replace what does not exist, naming the missing element."""
    with pytest.raises(PatchError, match="'spec'"):
        apply_json_patch({}, [{"op": "replace", "path": "/spec/template", "value": {}}])


def test_merge_patch_deletes_with_null() -> None:
    """Merge maps, replace lists, delete keys set to null."""
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"c": None}, "l": [2]}) == {
        "a": {"b": 1},
        "l": [2],
    }


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=gw", {"app": "gw"}, True),
        ("app=gw,tier=web", {"app": "gw"}, False),
        ("app!=gw", {"app": "x"}, True),
        ("env in (prod,canary)", {"env": "canary"}, True),
        ("env notin (prod)", {"env": "prod"}, False),
        ("owner,!legacy", {"owner": "me"}, True),
        ("owner,!legacy", {"owner": "me", "legacy": "1"}, False),
    ],
)
def test_label_selectors(selector: str, labels: dict[str, str], expected: bool) -> None:
    """Match equality, set-based and existence requirements like the API server."""
    assert label_selector(selector)(labels) is expected


def test_a_stale_resource_version_is_a_conflict() -> None:
    """Answer 409 to a patch carrying an old resourceVersion."""
    cluster = FakeCluster()
    cluster.add_deployment("production", "gw", image="gw:1")
    raw = b'[{"op": "replace", "path": "/metadata/resourceVersion", "value": "1"}]'
    with pytest.raises(ApiError) as caught:
        cluster.patch("deployments", "production", "gw", "application/json-patch+json", raw, {})
    assert caught.value.status == 409


def test_a_template_that_breaks_the_selector_is_invalid() -> None:
    """Answer 422 when template labels no longer match the selector."""
    cluster = FakeCluster()
    cluster.add_deployment("production", "gw", image="gw:1")
    raw = b'{"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}'
    with pytest.raises(ApiError, match="does not match") as caught:
        cluster.patch("deployments", "production", "gw", "application/merge-patch+json", raw, {})
    assert caught.value.status == 422


async def test_plain_json_patch_content_type_is_refused(raw_client: client.ApiClient) -> None:
    """Answer 415 to a PATCH sent as application/json (the field-notes pitfall)."""
    apps = client.AppsV1Api(raw_client)
    with pytest.raises(client.ApiException) as caught:
        await apps.patch_namespaced_deployment(
            "nexis-gateway",
            "production",
            {"spec": {"replicas": 2}},
            _content_type="application/json",
        )
    assert caught.value.status == 415


async def test_rollout_needs_several_reads(raw_client: client.ApiClient) -> None:
    """Report a patched template as not rolled out until a few status reads later."""
    apps = client.AppsV1Api(raw_client)
    patch = {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}
    await apps.patch_namespaced_deployment("nexis-gateway", "production", patch)
    updated = []
    for _ in range(5):
        dep = await apps.read_namespaced_deployment_status("nexis-gateway", "production")
        updated.append(dep.status.updated_replicas or 0)
    assert updated[0] == 0 and updated[-1] == 3
    assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"

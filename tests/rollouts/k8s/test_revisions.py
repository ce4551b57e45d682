"""kubectl's undo/history rules as pure functions, checked without a server."""

from __future__ import annotations

from typing import Any

import pytest

from bot.rollouts.k8s import DeploymentTarget, RolloutRefused
from bot.rollouts.k8s.revisions import (
    equal_ignoring_hash,
    history,
    owned_replicasets,
    pick_replicaset,
    plan_undo,
    rollback_annotations,
    selector_string,
)

TARGET = DeploymentTarget("production", "nexis-gateway")


def _rs(revision: int, image: str, *, uid: str = "dep-uid", name: str | None = None) -> Any:
    return {
        "metadata": {
            "name": name or f"nexis-gateway-{revision}",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": f"release {image}",
            },
            "ownerReferences": [{"kind": "Deployment", "uid": uid, "controller": True}],
            "creationTimestamp": "2026-01-05T08:00:00Z",
        },
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "gw", "pod-template-hash": f"h{revision}"}},
                "spec": {"containers": [{"name": "gw", "image": image}]},
            }
        },
    }


def _deployment(image: str, *, revision: int = 3, paused: bool = False) -> Any:
    return {
        "metadata": {
            "name": "nexis-gateway",
            "uid": "dep-uid",
            "resourceVersion": "42",
            "annotations": {
                "deployment.kubernetes.io/revision": str(revision),
                "kubernetes.io/change-cause": "current",
                "team": "gateway",
            },
        },
        "spec": {
            "paused": paused,
            "template": {
                "metadata": {"labels": {"app": "gw"}},
                "spec": {"containers": [{"name": "gw", "image": image}]},
            },
        },
    }


THREE = [_rs(1, "gw:1"), _rs(3, "gw:3"), _rs(2, "gw:2")]


def test_selector_string_renders_labels_and_expressions() -> None:
    """Render matchLabels and every matchExpressions operator as a labelSelector."""
    selector = {
        "matchLabels": {"tier": "web", "app": "gw"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "canary"]},
            {"key": "track", "operator": "NotIn", "values": ["debug"]},
            {"key": "owner", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    assert selector_string(selector) == (
        "app=gw,tier=web,env in (canary,prod),track notin (debug),owner,!legacy"
    )


@pytest.mark.parametrize("selector", [None, {}, {"matchLabels": {}}])
def test_selector_string_rejects_empty_selectors(selector: Any) -> None:
    """Refuse to list ReplicaSets with a selector that would match everything."""
    with pytest.raises(ValueError, match="selector"):
        selector_string(selector)


def test_owned_replicasets_follow_the_controller_reference() -> None:
    """Keep only ReplicaSets controlled by this Deployment's uid, like kubectl."""
    stranger = _rs(9, "other:1", uid="other-uid")
    assert owned_replicasets(_deployment("gw:3"), [*THREE, stranger]) == THREE


def test_history_is_sorted_by_revision_with_change_cause() -> None:
    """List revisions oldest first with their change-cause and images."""
    revisions = history(THREE)
    assert [r.number for r in revisions] == [1, 2, 3]
    assert revisions[1].change_cause == "release gw:2"
    assert revisions[1].images == ("gw:2",)
    assert revisions[0].created is not None and revisions[0].created.tzinfo is not None


def test_pick_replicaset_defaults_to_the_second_newest() -> None:
    """Pick revision 2 when revisions 1..3 exist and none is requested."""
    assert pick_replicaset(TARGET, THREE, None)["metadata"]["name"] == "nexis-gateway-2"


def test_pick_replicaset_refuses_an_unknown_revision_naming_the_available_ones() -> None:
    """Name the revisions that do exist when the requested one does not."""
    with pytest.raises(RolloutRefused, match=r"no revision 7; available revisions: 1, 2, 3"):
        pick_replicaset(TARGET, THREE, 7)


def test_pick_replicaset_refuses_without_history() -> None:
    """Refuse to roll back a Deployment that only ever had one revision."""
    with pytest.raises(RolloutRefused, match="no earlier revision"):
        pick_replicaset(TARGET, [_rs(1, "gw:1")], None)


def test_equal_ignoring_hash_ignores_only_the_hash_label() -> None:
    """Treat templates that differ only in pod-template-hash as equal, and nothing else."""
    rs_template = _rs(3, "gw:3")["spec"]["template"]
    assert equal_ignoring_hash(rs_template, _deployment("gw:3")["spec"]["template"])
    assert not equal_ignoring_hash(rs_template, _deployment("gw:4")["spec"]["template"])


def test_rollback_annotations_keep_the_skip_list_and_copy_the_rest() -> None:
    """Keep the Deployment's revision annotation, take change-cause from the ReplicaSet."""
    merged = rollback_annotations(
        _deployment("gw:3")["metadata"]["annotations"], _rs(2, "gw:2")["metadata"]["annotations"]
    )
    assert merged == {
        "deployment.kubernetes.io/revision": "3",
        "kubernetes.io/change-cause": "release gw:2",
    }


def test_plan_undo_builds_a_guarded_json_patch_without_the_hash_label() -> None:
    """Patch spec.template (hash label removed) and annotations, guarded by resourceVersion."""
    plan = plan_undo(TARGET, _deployment("gw:3"), THREE, None)
    assert (plan.source_revision, plan.current_revision) == (2, 3)
    guard, template, annotations = plan.patch
    assert guard == {"op": "replace", "path": "/metadata/resourceVersion", "value": "42"}
    assert template["path"] == "/spec/template"
    assert template["value"]["metadata"]["labels"] == {"app": "gw"}
    assert template["value"]["spec"]["containers"][0]["image"] == "gw:2"
    assert annotations["value"]["kubernetes.io/change-cause"] == "release gw:2"


def test_plan_undo_refuses_a_paused_deployment() -> None:
    """Refuse to roll back a paused Deployment, as kubectl does."""
    with pytest.raises(RolloutRefused) as caught:
        plan_undo(TARGET, _deployment("gw:3", paused=True), THREE, None)
    assert str(caught.value) == (
        "deployment production/nexis-gateway is paused; resume it before rolling back"
    )


def test_plan_undo_skips_when_the_template_already_matches() -> None:
    """Report a skipped rollback when the target revision is what already runs."""
    with pytest.raises(RolloutRefused, match=r"skipped rollback.*revision 3"):
        plan_undo(TARGET, _deployment("gw:3"), THREE, 3)


def test_plan_undo_keeps_a_pinned_replicaset_on_retry() -> None:
    """Restore the ReplicaSet chosen first even if the revisions moved since."""
    plan = plan_undo(
        TARGET,
        _deployment("gw:4", revision=4),
        [*THREE, _rs(4, "gw:4")],
        None,
        pinned_replicaset="nexis-gateway-2",
    )
    assert plan.source_replicaset == "nexis-gateway-2"

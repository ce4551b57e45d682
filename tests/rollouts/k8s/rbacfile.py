"""Read deploy/k8s/rbac.yaml into the (namespace, verb, resource) triples it grants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.sandbox.kubernetes.api import rbac_group

RBAC_FILE = Path(__file__).resolve().parents[3] / "deploy" / "k8s" / "rbac.yaml"


def load_documents(path: Path = RBAC_FILE) -> list[dict[str, Any]]:
    """Return the YAML documents of the RBAC manifest."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def granted(path: Path = RBAC_FILE) -> set[tuple[str, str, str]]:
    """Return every (namespace, verb, resource) the Roles grant; reject wildcards and bad groups."""
    triples: set[tuple[str, str, str]] = set()
    for doc in load_documents(path):
        if doc["kind"] != "Role":
            continue
        namespace = doc["metadata"]["namespace"]
        for rule in doc["rules"]:
            for resource in rule["resources"]:
                assert rule["apiGroups"] == [rbac_group(resource)], (
                    f"{path}: {resource} belongs to API group {rbac_group(resource)!r}, "
                    f"the rule says {rule['apiGroups']}"
                )
                for verb in rule["verbs"]:
                    assert "*" not in (verb, resource), f"{path}: wildcard in Role {namespace}"
                    triples.add((namespace, verb, resource))
    return triples

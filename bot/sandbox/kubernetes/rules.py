"""Rules the fake API server enforces like the real one: errors, defaults, validation, selectors."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Obj = dict[str, Any]
LabelTest = Callable[[dict[str, str]], bool]


class ApiError(Exception):
    """Answer a request with a Kubernetes Status error."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def default_deployment(obj: Obj) -> None:
    """Fill in the defaults the API server gives a new Deployment."""
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    )


def validate(resource: str, obj: Obj) -> None:
    """Reject objects the API server would reject (422), naming the field."""
    name = obj["metadata"].get("name")
    if resource in ("deployments", "replicasets"):
        spec = obj.get("spec") or {}
        selector = (spec.get("selector") or {}).get("matchLabels")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            raise ApiError(
                422, "Invalid", f'{resource} "{name}" is invalid: spec.selector: Required value'
            )
        if any(labels.get(k) != v for k, v in selector.items()):
            raise ApiError(
                422,
                "Invalid",
                f'{resource} "{name}" is invalid: '
                "spec.template.metadata.labels: `selector` does not match template "
                "`labels`",
            )
        if not ((spec.get("template") or {}).get("spec") or {}).get("containers"):
            raise ApiError(
                422,
                "Invalid",
                f'{resource} "{name}" is invalid: spec.template.spec.containers: Required value',
            )
    if resource == "services" and not (obj.get("spec") or {}).get("ports"):
        raise ApiError(422, "Invalid", f'Service "{name}" is invalid: spec.ports: Required value')


def label_selector(raw: str | None) -> LabelTest:
    """Return a predicate over labels for a labelSelector string (equality and set forms)."""
    if not raw:
        return lambda labels: True
    tests = [_requirement(term.strip()) for term in re.split(r",(?![^(]*\))", raw)]
    return lambda labels: all(test(labels) for test in tests)


def _requirement(term: str) -> LabelTest:
    if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term):
        key, wanted = m.group(1), m.group(2) == "in"
        values = {v.strip() for v in m.group(3).split(",")}
        return lambda labels: (labels.get(key) in values) == wanted
    if m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term):
        key, op, value = m.groups()
        return lambda labels: (labels.get(key) == value) == (op != "!=")
    if m := re.fullmatch(r"(!?)([\w./-]+)", term):
        negated, key = bool(m.group(1)), m.group(2)
        return lambda labels: (key in labels) != negated
    raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")

"""Kubernetes adapter: rollout status, history, `rollout undo`, waiting and server-side apply.

`CallPolicy`, `make_api_client` and `RolloutController` are loaded on first access: they pull
in kubernetes-asyncio (~100 MB, more than a second to import), which a bot that never reaches
a cluster, and every CLI command, should not pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bot.rollouts.k8s.errors import (
    ApiUnavailable,
    Conflict,
    Forbidden,
    KubernetesError,
    NotFound,
    RolloutRefused,
)
from bot.rollouts.k8s.models import (
    AppliedObject,
    ApplyResult,
    Condition,
    DeploymentTarget,
    Revision,
    RollbackReport,
    RolloutOutcome,
    RolloutStatus,
    UndoResult,
)
from bot.rollouts.k8s.render import ImageRule, Rendering, plan_lines

if TYPE_CHECKING:
    from bot.rollouts.k8s.calls import CallPolicy
    from bot.rollouts.k8s.client import make_api_client
    from bot.rollouts.k8s.rollout import RolloutController

_LAZY = {
    "CallPolicy": "bot.rollouts.k8s.calls",
    "make_api_client": "bot.rollouts.k8s.client",
    "RolloutController": "bot.rollouts.k8s.rollout",
}


def __getattr__(name: str) -> Any:
    """Import the kubernetes-asyncio backed parts when first asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ApiUnavailable",
    "AppliedObject",
    "ApplyResult",
    "CallPolicy",
    "Condition",
    "Conflict",
    "DeploymentTarget",
    "Forbidden",
    "ImageRule",
    "KubernetesError",
    "NotFound",
    "Rendering",
    "Revision",
    "RollbackReport",
    "RolloutController",
    "RolloutOutcome",
    "RolloutRefused",
    "RolloutStatus",
    "UndoResult",
    "make_api_client",
    "plan_lines",
]

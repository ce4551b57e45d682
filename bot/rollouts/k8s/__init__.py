"""Kubernetes adapter: rollout status, history, `rollout undo`, waiting and server-side apply."""

from __future__ import annotations

from bot.rollouts.k8s.calls import CallPolicy
from bot.rollouts.k8s.client import make_api_client
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
from bot.rollouts.k8s.rollout import RolloutController

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

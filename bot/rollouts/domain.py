"""Rollbacks and deploys as durable operations, and the rules around them.

A `RolloutOperation` is the record of one rollback or one deploy of one Deployment: who asked,
what it was meant to do, how far it got and how it ended. At most one operation of each kind
is in flight per Deployment (the store enforces it with a unique partial index), which is the
durable "another rollback is in progress" guard that survives restarts.

The pure rules here decide the deployment-window gate, which checklist items a rollout's
status ticks, and whether the auto-rollback policy applies to a met condition.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.checklist.model import ChecklistTemplate, TemplateItem
from bot.core.actors import Actor, Source
from bot.core.errors import DomainError, InvalidInput
from bot.releases.domain.values import DeploymentWindow

ENVIRONMENTS: tuple[str, ...] = ("staging", "production")
ROLLOUT_CHECK = "k8s.rollout"
AVAILABLE_CHECK = "k8s.available"


class OperationKind(StrEnum):
    """What an operation does to a Deployment."""

    ROLLBACK = "rollback"
    DEPLOY = "deploy"


class OperationStatus(StrEnum):
    """Where an operation stands; requested and in_progress count as in flight."""

    REQUESTED = "requested"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUSED = "refused"


IN_FLIGHT: frozenset[OperationStatus] = frozenset(
    {OperationStatus.REQUESTED, OperationStatus.IN_PROGRESS}
)


class RolloutInFlight(DomainError):
    """Refuse an operation while another of the same kind runs on the same Deployment."""


class ClusterRefusal(DomainError):
    """Refuse an operation for a reason the cluster gave (paused, no such revision, API error)."""


def check_environment(environment: str) -> str:
    """Return `environment` if it is staging or production, else raise InvalidInput."""
    if environment not in ENVIRONMENTS:
        raise InvalidInput(
            f"environment {environment!r} is not valid: expected one of {', '.join(ENVIRONMENTS)}"
        )
    return environment


@dataclass
class RolloutOperation:
    """One rollback or deploy of one Deployment, from request to outcome."""

    kind: OperationKind
    release_id: int
    service: str
    environment: str
    namespace: str
    deployment: str
    requested_by_id: str
    requested_by_name: str
    source: Source
    requested_at: datetime
    id: int | None = None
    status: OperationStatus = OperationStatus.REQUESTED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    from_revision: int | None = None
    to_revision: int | None = None
    new_revision: int | None = None
    generation: int | None = None
    trigger: str = ""
    override_reason: str = ""
    progress: str = ""
    detail: str = ""
    silence_id: str | None = None
    """The Alertmanager silence this production rollout created, while it is active."""
    ticked: tuple[str, ...] = ()
    version: int = 0

    @property
    def target(self) -> str:
        """Return `namespace/deployment`, as kubectl names it."""
        return f"{self.namespace}/{self.deployment}"

    @property
    def in_flight(self) -> bool:
        """Return True while the operation is requested or running."""
        return self.status in IN_FLIGHT

    @property
    def automatic(self) -> bool:
        """Return True when the bot itself asked for the operation (auto-rollback)."""
        return bool(self.trigger)

    def start(self, now: datetime) -> None:
        """Move a requested operation to in progress."""
        if self.status is not OperationStatus.REQUESTED:
            raise InvalidInput(f"{self.kind} #{self.id} is {self.status}, not requested")
        self.status = OperationStatus.IN_PROGRESS
        self.started_at = now

    def finish(self, status: OperationStatus, now: datetime, detail: str) -> None:
        """Close the operation with its outcome and a sentence saying what happened."""
        if status in IN_FLIGHT:
            raise InvalidInput(f"an operation cannot finish as {status}")
        self.status = status
        self.finished_at = now
        self.detail = detail


def requested_operation(
    kind: OperationKind,
    *,
    release_id: int,
    service: str,
    environment: str,
    namespace: str,
    deployment: str,
    actor: Actor,
    source: Source,
    now: datetime,
    **fields: object,
) -> RolloutOperation:
    """Return a new requested operation for `actor` (extra keyword fields are set as given)."""
    op = RolloutOperation(
        kind,
        release_id,
        service,
        check_environment(environment),
        namespace,
        deployment,
        actor.id,
        actor.name,
        source,
        now,
    )
    for name, value in fields.items():
        if not hasattr(op, name):
            raise TypeError(f"RolloutOperation has no field {name!r}")
        setattr(op, name, value)
    return op


class RolloutRecords(Protocol):
    """Store rollout operations in the unit of work's transaction."""

    requested: list[int]

    async def add(self, op: RolloutOperation) -> int:
        """Insert `op`; raise RolloutInFlight if one of its kind is in flight on its target."""
        ...

    async def get(self, op_id: int) -> RolloutOperation:
        """Return operation `op_id` or raise UnknownTarget."""
        ...

    async def save(self, op: RolloutOperation) -> None:
        """Persist `op` (its version goes up by one)."""
        ...

    async def claim(self, op_id: int, now: datetime) -> RolloutOperation | None:
        """Move a requested operation to in progress; None if it was not requested any more."""
        ...

    async def in_flight(
        self, kind: OperationKind, namespace: str, deployment: str
    ) -> RolloutOperation | None:
        """Return the operation of `kind` in flight on the Deployment, if any."""
        ...

    async def with_status(
        self, statuses: Collection[OperationStatus], limit: int = 100
    ) -> Sequence[RolloutOperation]:
        """Return operations in any of `statuses`, oldest first."""
        ...

    async def for_release(
        self, release_id: int, kind: OperationKind | None = None
    ) -> Sequence[RolloutOperation]:
        """Return the release's operations, oldest first."""
        ...


# ----- the deployment window ----------------------------------------------------------------


@dataclass(frozen=True)
class WindowDecision:
    """Say whether a production deploy may go ahead now, and whether it needs an override."""

    allowed: bool
    needs_override: bool
    reason: str


def window_decision(
    environment: str, window: DeploymentWindow | None, now: datetime
) -> WindowDecision:
    """Return whether deploying `environment` now respects the release's deployment window."""
    if environment != "production":
        return WindowDecision(True, False, "staging has no deployment window")
    if window is None:
        return WindowDecision(
            False, True, "the release has no deployment window, so production is closed"
        )
    if window.contains(now):
        return WindowDecision(True, False, f"inside the deployment window {window}")
    when = "has not opened yet" if now < window.start else "has closed"
    return WindowDecision(
        False, True, f"the deployment window {window} {when} (now {now:%Y-%m-%d %H:%M} UTC)"
    )


# ----- automatic checks --------------------------------------------------------------------


def check_keys(environment: str) -> dict[str, str]:
    """Return the check keys a rollout of `environment` answers, mapped to what they test.

    `k8s.rollout.<env>` passes when the rollout is complete, `k8s.available.<env>` when every
    desired replica is available; production also answers the bare `k8s.rollout` and
    `k8s.available` keys, the default template's spelling.
    """
    check_environment(environment)
    keys = {
        f"{ROLLOUT_CHECK}.{environment}": ROLLOUT_CHECK,
        f"{AVAILABLE_CHECK}.{environment}": AVAILABLE_CHECK,
    }
    if environment == "production":
        keys[ROLLOUT_CHECK] = ROLLOUT_CHECK
        keys[AVAILABLE_CHECK] = AVAILABLE_CHECK
    return keys


def check_items(template: ChecklistTemplate, environment: str) -> list[TemplateItem]:
    """Return the template items a rollout of `environment` can tick, in template order."""
    keys = check_keys(environment)
    return [item for item in template.items() if item.check in keys]


def passing_items(
    template: ChecklistTemplate, environment: str, *, complete: bool, available: bool
) -> list[TemplateItem]:
    """Return the check items of `environment` whose test passes for the observed rollout."""
    results = {ROLLOUT_CHECK: complete, AVAILABLE_CHECK: available}
    keys = check_keys(environment)
    return [item for item in check_items(template, environment) if results[keys[item.check or ""]]]


def runs_release_version(images: Sequence[str], version: str) -> bool:
    """Return True if any container image is tagged exactly `version` (e.g. `repo:v1.2.3`)."""
    return any(image.rsplit("/", 1)[-1].partition(":")[2] == version for image in images)


# ----- auto-rollback policy ----------------------------------------------------------------


@dataclass(frozen=True)
class AutoRollbackPolicy:
    """Say which met conditions roll production back without waiting for a human."""

    enabled: bool = False
    conditions: frozenset[str] = field(default_factory=frozenset)
    severities: frozenset[str] = field(default_factory=frozenset)

    def applies(self, condition: str, severity: str | None) -> str | None:
        """Return why a met `condition` triggers a rollback, or None when it does not."""
        if not self.enabled:
            return None
        if condition in self.conditions:
            return f"condition {condition} is set to roll back automatically"
        if severity is not None and severity in self.severities:
            return f"severity {severity} (condition {condition}) is set to roll back automatically"
        return None

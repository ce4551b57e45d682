"""Value objects the Kubernetes adapter hands to the services layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
DEADLINE_EXCEEDED_REASON = "ProgressDeadlineExceeded"


@dataclass(frozen=True)
class DeploymentTarget:
    """Name a Deployment the bot may watch, roll back or deploy, and its rollout deadline."""

    namespace: str
    deployment: str
    progress_deadline: timedelta = timedelta(minutes=10)

    def __post_init__(self) -> None:
        for label, value in (("namespace", self.namespace), ("deployment", self.deployment)):
            if not value or not isinstance(value, str):
                raise ValueError(f"DeploymentTarget.{label} must be a non-empty string")
        if self.progress_deadline <= timedelta(0):
            raise ValueError(
                f"DeploymentTarget.progress_deadline must be positive, got {self.progress_deadline}"
            )

    def __str__(self) -> str:
        return f"{self.namespace}/{self.deployment}"


@dataclass(frozen=True)
class Condition:
    """Hold one Deployment condition as Kubernetes reports it."""

    type: str
    status: str
    reason: str
    message: str


@dataclass(frozen=True)
class RolloutStatus:
    """Describe a Deployment's rollout at one moment; `replicas` is the desired count."""

    name: str
    namespace: str
    revision: int
    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    paused: bool
    conditions: tuple[Condition, ...]
    progress_deadline_seconds: int | None
    total_replicas: int = 0
    images: tuple[str, ...] = ()

    @property
    def observed(self) -> bool:
        """Return True once the controller has seen the latest spec."""
        return self.observed_generation >= self.generation

    @property
    def complete(self) -> bool:
        """Return True when the latest spec is fully rolled out (kubectl's rule)."""
        return (
            self.observed
            and self.updated_replicas >= self.replicas
            and self.total_replicas <= self.updated_replicas
            and self.available_replicas >= self.updated_replicas
        )

    @property
    def deadline_exceeded(self) -> bool:
        """Return True when the controller gave up: Progressing=False/ProgressDeadlineExceeded."""
        return any(
            c.type == "Progressing" and c.reason == DEADLINE_EXCEEDED_REASON
            for c in self.conditions
        )

    @property
    def available_ratio(self) -> float:
        """Return available / desired replicas; 1.0 when nothing is desired."""
        if self.replicas <= 0:
            return 1.0
        return min(1.0, self.available_replicas / self.replicas)

    def condition(self, kind: str) -> Condition | None:
        """Return the condition of type `kind`, if Kubernetes reported one."""
        return next((c for c in self.conditions if c.type == kind), None)

    def summary(self) -> str:
        """Return one line a human can read, worded like `kubectl rollout status`."""
        head = f"deployment {self.namespace}/{self.name} revision {self.revision}"
        if self.paused:
            return f"{head}: paused ({self.updated_replicas}/{self.replicas} updated)"
        if not self.observed:
            return f"{head}: waiting for the deployment spec update to be observed"
        if self.deadline_exceeded:
            return f"{head}: exceeded its progress deadline"
        if self.updated_replicas < self.replicas:
            return (
                f"{head}: {self.updated_replicas} of {self.replicas} new replicas updated, "
                f"{self.available_replicas} available"
            )
        if self.total_replicas > self.updated_replicas:
            pending = self.total_replicas - self.updated_replicas
            return f"{head}: {pending} old replicas pending termination"
        if self.available_replicas < self.updated_replicas:
            return (
                f"{head}: {self.available_replicas} of {self.updated_replicas} "
                "updated replicas available"
            )
        return (
            f"{head}: successfully rolled out ({self.available_replicas}/{self.replicas} available)"
        )


@dataclass(frozen=True)
class Revision:
    """Describe one entry of `kubectl rollout history`."""

    number: int
    replicaset: str
    created: datetime | None
    change_cause: str | None
    images: tuple[str, ...] = ()


@dataclass(frozen=True)
class UndoResult:
    """Report a rollback patch: from which revision, to which source revision, and the new one.

    `new_revision` is None when the controller had not yet observed the patch by the time we
    stopped looking; `warning` then says why. The patch itself did happen. `generation` is the
    Deployment generation the patch produced (wait until observedGeneration reaches it).
    """

    target: DeploymentTarget
    from_revision: int
    to_revision: int
    new_revision: int | None
    replicaset: str
    actor: str
    attempts: int = 1
    warning: str | None = None
    generation: int | None = None


@dataclass(frozen=True)
class RolloutOutcome:
    """Tell whether a rollout finished; `reason` says why not (deadline, paused, API errors)."""

    target: DeploymentTarget
    ok: bool
    reason: str
    status: RolloutStatus | None
    elapsed: timedelta
    polls: int

    def summary(self) -> str:
        """Return one line for a chat message."""
        verdict = "rolled out" if self.ok else "did not roll out"
        return f"{self.target} {verdict}: {self.reason}"


@dataclass(frozen=True)
class RollbackReport:
    """Combine an undo with the wait that followed it, so a half-done rollback is visible."""

    undo: UndoResult
    outcome: RolloutOutcome

    @property
    def ok(self) -> bool:
        """Return True when the patch landed and the rollout completed."""
        return self.outcome.ok

    def summary(self) -> str:
        """Return one line for a chat message."""
        new = f"revision {self.undo.new_revision}" if self.undo.new_revision else "a new revision"
        head = (
            f"rolled back {self.undo.target} from revision {self.undo.from_revision} to "
            f"revision {self.undo.to_revision}'s template ({new})"
        )
        if self.ok:
            return f"{head}; rollout complete"
        return f"{head}; patch applied but the rollout did not complete: {self.outcome.reason}"


@dataclass(frozen=True)
class AppliedObject:
    """Name one object server-side-applied, and whether it was created or configured."""

    kind: str
    name: str
    source: str
    action: str
    generation: int | None = None


@dataclass(frozen=True)
class ApplyResult:
    """Report an apply: what was applied, what failed, and what was never attempted."""

    target: DeploymentTarget
    applied: tuple[AppliedObject, ...] = ()
    errors: tuple[str, ...] = ()
    skipped: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Return True when every manifest was applied."""
        return not self.errors and not self.skipped

    def summary(self) -> str:
        """Return a short human report of the apply."""
        done = ", ".join(f"{o.kind}/{o.name} {o.action}" for o in self.applied) or "nothing"
        text = f"apply to {self.target.namespace}: {done}"
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        if self.skipped:
            text += "; not attempted: " + ", ".join(self.skipped)
        return text


def status_from_deployment(dep: dict[str, Any]) -> RolloutStatus:
    """Build a RolloutStatus from a Deployment in wire (camelCase) form."""
    meta = dep.get("metadata") or {}
    spec = dep.get("spec") or {}
    st = dep.get("status") or {}
    conditions = tuple(
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            reason=str(c.get("reason") or ""),
            message=str(c.get("message") or ""),
        )
        for c in st.get("conditions") or ()
    )
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or ()
    desired = spec.get("replicas")
    return RolloutStatus(
        name=str(meta.get("name", "")),
        namespace=str(meta.get("namespace", "")),
        revision=revision_of(meta),
        generation=int(meta.get("generation") or 0),
        observed_generation=int(st.get("observedGeneration") or 0),
        replicas=1 if desired is None else int(desired),
        updated_replicas=int(st.get("updatedReplicas") or 0),
        ready_replicas=int(st.get("readyReplicas") or 0),
        available_replicas=int(st.get("availableReplicas") or 0),
        paused=bool(spec.get("paused")),
        conditions=conditions,
        progress_deadline_seconds=spec.get("progressDeadlineSeconds"),
        total_replicas=int(st.get("replicas") or 0),
        images=tuple(str(c.get("image", "")) for c in containers),
    )


def revision_of(meta: dict[str, Any]) -> int:
    """Return the `deployment.kubernetes.io/revision` of an object's metadata (0 when absent)."""
    raw = (meta.get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        return 0

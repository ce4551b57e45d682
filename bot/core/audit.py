"""The append-only audit trail: every change and every denial is one event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.core.actors import Actor, Source


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened: who, what, to what, when, from where."""

    at: datetime
    actor_id: str
    actor_name: str
    action: str
    target: str
    source: Source
    release_id: int | None = None
    detail: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def record(
        cls,
        actor: Actor,
        action: str,
        target: str,
        at: datetime,
        source: Source,
        release_id: int | None = None,
        **detail: str,
    ) -> AuditEvent:
        """Build an event for `actor` doing `action` on `target`."""
        return cls(at, actor.id, actor.name, action, target, source, release_id, dict(detail))

    def describe(self) -> str:
        """Return a one-line human description for timelines."""
        extra = "; ".join(f"{k}: {v}" for k, v in self.detail.items() if v)
        suffix = f" ({extra})" if extra else ""
        when = f"{self.at:%Y-%m-%d %H:%M} UTC"
        return f"{when} · {self.actor_name} · {self.action} {self.target}{suffix}"

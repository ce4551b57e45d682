"""Ports of the incident feature: its repository and the member directory.

The incident use-cases need three things from outside: a place to keep incidents and on-call
overrides (the store implements `IncidentRepository`), a way to learn who holds a Discord
role or who a configured name is (the chat layer implements `MemberDirectory`), and the
"condition met" event the monitoring feature publishes (`bot.core.events.ConditionMet`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.core.audit import AuditEvent
from bot.core.ports import UnitOfWork
from bot.incidents.domain.model import Incident
from bot.incidents.domain.oncall import Override


@dataclass(frozen=True, slots=True)
class IncidentMessage:
    """Say where a Discord message about an incident lives, so later changes can edit it."""

    incident_id: int
    key: str
    channel_id: int
    message_id: int


@dataclass(frozen=True, slots=True)
class StoredOverride:
    """Hold an on-call override with when it was set (for `/oncall show`)."""

    override: Override
    set_at: datetime


class IncidentRepository(Protocol):
    """Load and save incidents, their Discord messages and on-call overrides."""

    async def add(self, incident: Incident) -> int:
        """Insert a new incident and return its id."""
        ...

    async def get(self, incident_id: int) -> Incident:
        """Return the incident or raise UnknownTarget."""
        ...

    async def save(self, incident: Incident) -> None:
        """Persist `incident`; raise ConcurrentUpdate if someone saved it since it was read."""
        ...

    async def find_open(self, release_id: int | None, condition: str) -> Incident | None:
        """Return the open incident of `release_id` for `condition`, if any."""
        ...

    async def list(
        self, *, open_only: bool = False, release_id: int | None = None, limit: int = 25
    ) -> Sequence[Incident]:
        """Return incidents, newest first."""
        ...

    async def timeline(self, incident: Incident, limit: int = 100) -> Sequence[AuditEvent]:
        """Return the audit events of `incident`, oldest first."""
        ...

    async def put_message(self, message: IncidentMessage) -> None:
        """Remember (or replace) a Discord message showing an incident."""
        ...

    async def messages(self, incident_id: int) -> Sequence[IncidentMessage]:
        """Return the Discord messages showing an incident."""
        ...

    async def add_override(self, override: Override, set_at: datetime) -> None:
        """Store an on-call override."""
        ...

    async def overrides(self, now: datetime) -> Sequence[StoredOverride]:
        """Return the overrides still in force at `now`, oldest first."""
        ...


# (kind, ref_id, due_at, token, payload) and (kind, payload, idempotency_key, order_key)
NewTimer = tuple[str, int, datetime, int, Mapping[str, Any]]
NewMessage = tuple[str, Mapping[str, Any], str, str | None]


@runtime_checkable
class BatchIncidents(Protocol):
    """An incident repository that also reads and writes many incidents per statement."""

    async def get_many(self, incident_ids: Sequence[int]) -> dict[int, Incident]:
        """Return the incidents of `incident_ids` that exist, by id."""
        ...

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        """Persist incidents read in this unit of work (ConcurrentUpdate if one changed)."""
        ...

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append audit events, in order."""
        ...


@runtime_checkable
class BatchTimers(Protocol):
    """Durable timers read and written for many incidents per statement."""

    async def pending_keys(
        self, ref_ids: Sequence[int], kinds: Sequence[str]
    ) -> list[tuple[int, str, str]]:
        """Return (ref_id, kind, payload key) of the pending timers of `kinds` of `ref_ids`."""
        ...

    async def cancel_many(self, pairs: Sequence[tuple[str, int]]) -> None:
        """Cancel the pending timers of each (kind, ref_id)."""
        ...

    async def schedule_many(self, timers: Sequence[NewTimer]) -> None:
        """Store pending timers."""
        ...


@runtime_checkable
class BatchOutbox(Protocol):
    """An outbox that stores many messages per statement."""

    async def enqueue_many(self, messages: Sequence[NewMessage]) -> None:
        """Store messages in order; repeated idempotency keys are ignored."""
        ...


class IncidentUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also holds the incident repository."""

    incidents: IncidentRepository


class MemberDirectory(Protocol):
    """Answer who holds a role and who a configured name is, from the chat platform."""

    async def role_members(self, role_key: str) -> Sequence[str]:
        """Return the user ids holding the chat role mapped from `role_key` (empty if none)."""
        ...

    async def user_id(self, ref: str) -> str | None:
        """Return the user id of `ref` (a numeric id or a member name), or None if unknown."""
        ...


def audit_target(incident_id: int) -> str:
    """Return the audit-log target naming an incident (its timeline is read back by it)."""
    return f"incident #{incident_id}"

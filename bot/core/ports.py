"""Ports: what the use-cases need from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from bot.core.audit import AuditEvent
from bot.core.timers import TimerRecord

if TYPE_CHECKING:
    from bot.releases.domain.release import Release  # the release repository's aggregate


@dataclass(frozen=True)
class MessageRef:
    """Where a Discord message the bot keeps current lives."""

    release_id: int
    kind: str
    key: str
    channel_id: int
    message_id: int


class ReleaseRepository(Protocol):
    """Load and save release aggregates."""

    async def get(self, release_id: int) -> Release:
        """Return the release or raise UnknownTarget."""
        ...

    async def revision(self, release_id: int) -> int | None:
        """Return the stored revision of the release (None if there is no such release)."""
        ...

    async def add(self, release: Release, template_body: str) -> int:
        """Insert a new release with its template snapshot; return its id.

        Raise DuplicateRelease if the service+version already has an active release.
        """
        ...

    async def save(self, release: Release) -> None:
        """Persist what changed (ConcurrentUpdate if someone saved first)."""
        ...

    async def list(self, *, active: bool | None = None, limit: int = 25) -> Sequence[Release]:
        """Return releases, newest first."""
        ...

    async def find_active(self, service: str, version: str) -> Release | None:
        """Return the active release of `service` `version`, if any."""
        ...


class AuditLog(Protocol):
    """Append and read audit events."""

    async def append(self, event: AuditEvent) -> None:
        """Append one event (used for denials outside an aggregate change)."""
        ...

    async def for_release(self, release_id: int, limit: int = 50) -> Sequence[AuditEvent]:
        """Return the release's events, oldest first (the newest `limit`)."""
        ...


class MessageRefs(Protocol):
    """Remember which Discord messages show which part of a release."""

    async def put(self, ref: MessageRef) -> None:
        """Insert or replace a reference."""
        ...

    async def for_release(self, release_id: int) -> Sequence[MessageRef]:
        """Return every reference of a release."""
        ...

    async def find_by_message(self, message_id: int) -> MessageRef | None:
        """Return the reference of a message, if the bot keeps it."""
        ...


class Timers(Protocol):
    """Durable due times."""

    scheduled: list[datetime]

    async def schedule(
        self,
        kind: str,
        ref_id: int,
        due_at: datetime,
        *,
        token: int = 0,
        payload: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a pending timer and return its id."""
        ...

    async def cancel(self, kind: str | None, ref_id: int, *, kinds: Sequence[str] = ()) -> int:
        """Cancel pending timers of `ref_id`; return how many."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> Sequence[TimerRecord]:
        """Return pending timers due at or before `now`, earliest first."""
        ...

    async def pending(
        self, *, kind: str | None = None, ref_id: int | None = None
    ) -> Sequence[TimerRecord]:
        """Return pending timers, earliest first."""
        ...

    async def next_due(self) -> datetime | None:
        """Return the earliest pending due time."""
        ...

    async def claim(self, timer_id: int, now: datetime) -> bool:
        """Mark a timer fired unless already fired or cancelled (exactly once)."""
        ...

    async def claim_many(self, timer_ids: Sequence[int], now: datetime) -> set[int]:
        """Claim several timers at once; return the ids claimed (the others went elsewhere)."""
        ...

    async def unclaim(self, timer_ids: Sequence[int]) -> None:
        """Give back claims made earlier in this unit of work."""
        ...

    async def postpone(self, timer_id: int, due_at: datetime, error: str) -> None:
        """Push a failed timer back."""
        ...


class Outbox(Protocol):
    """Notifications stored with the change that causes them."""

    enqueued: int

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        now: datetime | None = None,
        *,
        order_key: str | None = None,
    ) -> int | None:
        """Store a message to deliver once; a repeated key is ignored.

        Messages sharing an `order_key` are delivered one after another, in enqueue order.
        """
        ...


class UnitOfWork(Protocol):
    """One transaction: repositories share it; commit once."""

    releases: ReleaseRepository
    audit: AuditLog
    messages: MessageRefs
    timers: Timers
    outbox: Outbox

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Commit everything done in this unit of work."""
        ...


class UnitOfWorkFactory(Protocol):
    """Open a fresh unit of work (never shared between concurrent tasks).

    `read_only=True` opens one that only reads: it never waits for a writer (a snapshot, no
    write lock, no leader fence) and any write in it fails. Use it only where nothing is written.
    """

    def __call__(self, *, read_only: bool = False) -> UnitOfWork: ...


class NowProvider(Protocol):
    """Alias of the clock port for use-cases."""

    def now(self) -> datetime: ...

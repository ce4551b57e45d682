"""The events that cross features, one type each, and the bus that delivers them.

A feature publishes an event inside the unit of work of the change that caused it; the
bus runs the handlers `bot.app.events` lists for that type, in order, in the same
transaction, so what they write commits with the change or not at all. What runs *after*
a commit (wake the background, kick a rollout watch, refresh the release room) is the
second half of that table, delivered by the unit of work and the release service.

The kernel names the release types only for the type checker: at run time it imports no
feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from bot.core.actors import Actor

if TYPE_CHECKING:
    from bot.core.ports import UnitOfWork
    from bot.releases.domain.release import Release, ReleaseSignal


@dataclass(frozen=True)
class ReleaseSignalled:
    """A release emitted a signal: production deployed, rolled back (rollback done), aborted."""

    release: Release
    signal: ReleaseSignal

    @property
    def kind(self) -> str:
        """Return the signal's kind, e.g. "production_deployed"."""
        return self.signal.kind


class Measured(Protocol):
    """The measured value behind a met or recovered condition."""

    @property
    def value(self) -> float | None:
        """Return the measured value (None when nothing could be measured)."""
        ...

    @property
    def threshold(self) -> float | None:
        """Return the threshold the value was compared with."""
        ...

    @property
    def query(self) -> str | None:
        """Return the query or URL that produced the value."""
        ...

    @property
    def at(self) -> datetime:
        """Return when the value was measured."""
        ...


@dataclass(frozen=True)
class ConditionMet:
    """A rollback condition was met (by a poll or an Alertmanager push)."""

    release_id: int
    window_id: int
    service: str
    condition: str
    title: str
    severity: str
    measurement: Measured
    source: str
    alert_id: int
    consecutive: int = 1

    @property
    def value(self) -> float | None:
        """Return the measured value."""
        return self.measurement.value

    @property
    def threshold(self) -> float | None:
        """Return the threshold the value was compared with."""
        return self.measurement.threshold

    @property
    def query(self) -> str | None:
        """Return the query (or check) that produced the value."""
        return self.measurement.query

    @property
    def at(self) -> datetime:
        """Return when the measurement was taken."""
        return self.measurement.at


@dataclass(frozen=True)
class ConditionRecovered:
    """A condition that had breached passes again."""

    release_id: int
    window_id: int
    service: str
    condition: str
    title: str
    severity: str
    measurement: Measured
    source: str
    alert_id: int


@dataclass(frozen=True)
class AlertAcknowledged:
    """Someone acknowledged a monitoring alert of a release's condition."""

    release_id: int
    condition: str
    actor: Actor


@dataclass(frozen=True)
class WindowEnded:
    """A release's monitoring window ended (its time ran out, or it was closed early).

    Not published for a window stopped because its release ended (that is the release's own
    signal). The reports feature records the release's figures at this point.
    """

    release_id: int
    window_id: int
    at: datetime
    status: str


Event = ReleaseSignalled | ConditionMet | ConditionRecovered | AlertAcknowledged | WindowEnded
E = TypeVar("E")
Handler = Callable[["UnitOfWork", Any], Awaitable[object]]
"""An in-transaction handler: `await handler(uow, event)`."""


class Publisher(Protocol):
    """Where a feature publishes its events (the bus)."""

    async def publish(self, uow: UnitOfWork, event: Event) -> None:
        """Run the handlers of `event` inside `uow`."""
        ...


class EventBus:
    """Deliver each event to the handlers listed for its type, in order, inside the uow."""

    def __init__(self, handlers: Mapping[type, Sequence[Handler]] | None = None) -> None:
        """Keep a copy of the table (type -> handlers)."""
        self.handlers: dict[type, list[Handler]] = {
            kind: list(found) for kind, found in (handlers or {}).items()
        }

    def route(self, table: Mapping[type, Sequence[Handler]]) -> None:
        """Add the handlers of `table` (type -> handlers, in order) after the present ones."""
        for kind, handlers in table.items():
            self.handlers.setdefault(kind, []).extend(handlers)

    def subscribe(
        self, kind: type[E], handler: Callable[[UnitOfWork, E], Awaitable[object]]
    ) -> None:
        """Add one `handler` for events of `kind` (tests wire single features with it)."""
        self.handlers.setdefault(kind, []).append(handler)

    async def publish(self, uow: UnitOfWork, event: Event) -> None:
        """Run the handlers of `event`'s type inside `uow`; an error propagates (rolls back)."""
        for handler in self.handlers.get(type(event), ()):
            await handler(uow, event)


def on_signal(
    kind: str, handler: Callable[[UnitOfWork, Release, ReleaseSignal], Awaitable[None]]
) -> Handler:
    """Return a ReleaseSignalled handler that calls `handler(uow, release, signal)` for `kind`."""

    async def handle(uow: UnitOfWork, event: ReleaseSignalled) -> None:
        if event.kind == kind:
            await handler(uow, event.release, event.signal)

    handle.__qualname__ = f"on_signal({kind!r}, {getattr(handler, '__qualname__', handler)})"
    return handle

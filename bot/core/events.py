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
    # How the value reads ("ratio": a percentage, "seconds": ms) and what breaches (">").
    unit: str = ""
    op: str = ">"

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
    unit: str = ""


@dataclass(frozen=True)
class AlertAcknowledged:
    """Someone acknowledged a monitoring alert of a release's condition."""

    release_id: int
    condition: str
    actor: Actor


@dataclass(frozen=True)
class RolloutStarted:
    """A production deploy or a rollback started (rollouts, in the transaction claiming it).

    What a change event needs: incidents' paging sends it to PagerDuty and the webhook.
    """

    kind: str
    """"deploy" or "rollback"."""
    operation_id: int
    release_id: int
    release_name: str
    service: str
    environment: str
    target: str
    """namespace/deployment."""
    summary: str
    requested_by: str
    at: datetime
    links: tuple[tuple[str, str], ...] = ()
    """(href, text) pairs, the release thread first."""


@dataclass(frozen=True)
class AlertsStillFiring:
    """A deploy silence was expired; Alertmanager's alerts of the service still firing.

    Told after the fact (no transaction): `alerts` are Alertmanager API v2 alert objects,
    which monitoring evaluates at once instead of waiting for the next notification.
    """

    service: str
    silence_id: str
    alerts: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class WindowSuperseded:
    """A release of the same service reached production while an earlier one was watched.

    Monitoring closed the earlier window ("superseded by v1.2.4"); what was open about the
    earlier release in production (its incidents) now belongs to the newer one.
    """

    service: str
    old_release_id: int
    old_release: str
    new_release_id: int
    new_release: str
    at: datetime


@dataclass(frozen=True)
class MonitoringPassed:
    """The part of a release's window a checklist item covers passed clean (`monitors=`).

    The releases feature ticks the item as the bot with `evidence` ("12 polls 10:05-11:00
    UTC, max 0.4 % (breach if > 1 %)"), unless a person already ticked, waived or reopened it.
    """

    release_id: int
    item_id: str
    evidence: str
    polls: int
    start: datetime
    end: datetime
    at: datetime


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


Event = (
    ReleaseSignalled
    | ConditionMet
    | ConditionRecovered
    | AlertAcknowledged
    | WindowSuperseded
    | MonitoringPassed
    | RolloutStarted
    | WindowEnded
)
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

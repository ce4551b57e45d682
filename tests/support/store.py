"""Store fixtures and the one backbone every store-backed world is built on.

`engine` is a real SQLite file migrated with Alembic; `backbone(engine, clock)` wires the
unit of work, durable timers, the outbox, the background that drains both and an event bus
the way `bot.app.create_bot` does, so a feature's service-level world adds only its own
services and inboxes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from bot.app.uow import SqlUnitOfWorkFactory
from bot.checklist import parse_template
from bot.core.actors import AccessPolicy
from bot.core.clock import FakeClock
from bot.core.events import EventBus
from bot.releases.service import ReleaseService, TemplateSource
from bot.runtime.background import Background
from bot.runtime.timers import TimerService
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from bot.store.outbox import SqlOutboxStore
from tests.support.actors import NOW, SMALL_TEMPLATE
from tests.support.inbox import Inbox


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[object]:
    """Yield an engine on a fresh SQLite file upgraded to head."""
    eng = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'store.db'}")
    await migrate.upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def clock_start() -> datetime:
    """Start the one clock fixture (`support.clock`) at NOW for store-backed tests."""
    return NOW


@pytest.fixture
def service(engine, clock) -> ReleaseService:
    """Return a release service on the migrated database."""
    source = TemplateSource(parse_template(SMALL_TEMPLATE, "small.md"), SMALL_TEMPLATE)
    return ReleaseService(
        uow=SqlUnitOfWorkFactory(make_session_factory(engine), clock),
        clock=clock,
        policy=AccessPolicy(),
        template=lambda: source,
        services=["gw", "api"],
    )


@dataclass
class Backbone:
    """What every store-backed world shares: one database, its timers, outbox and bus."""

    engine: object
    clock: FakeClock
    uow: SqlUnitOfWorkFactory
    timers: TimerService
    outbox: SqlOutboxStore
    background: Background
    events: EventBus

    async def pump(self) -> None:
        """Fire due timers and deliver due messages until quiet."""
        await self.background.pump()

    def inbox(self, kind: str, detail: str | None = None) -> Inbox:
        """Return a new Inbox delivering the outbox messages of `kind`."""
        inbox = Inbox(detail)
        self.background.add_sender(kind, inbox)
        return inbox


def backbone(engine: object, clock: FakeClock, *, wake_on_commit: bool = True) -> Backbone:
    """Wire the shared plumbing over `engine` (call again for a restart on the same file)."""
    sessions = make_session_factory(engine)  # type: ignore[arg-type]
    uow = SqlUnitOfWorkFactory(sessions, clock)
    timers = TimerService(uow, clock)
    outbox = SqlOutboxStore(sessions)
    background = Background(timers, outbox, clock)
    if wake_on_commit:
        uow.after_commit.append(background.after_commit)
    return Backbone(engine, clock, uow, timers, outbox, background, EventBus())

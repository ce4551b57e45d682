"""Store fixtures and the one backbone every store-backed world is built on.

`engine` is a real SQLite file migrated with Alembic, or, where the test is parametrized
with `database="postgresql"` (the store and service tiers, see `pytest_generate_tests`), a
fresh database on the session's real PostgreSQL server (`tests.support.postgres`);
`backbone(engine, clock)` wires the unit of work, durable timers, the outbox, the background
that drains both and an event bus the way `bot.app.create_bot` does, so a feature's
service-level world adds only its own services and inboxes.
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

DATABASES = ("sqlite", "postgresql")


def runs_on_both(path: Path) -> bool:
    """Return True for the tiers that run on SQLite and PostgreSQL: store and service."""
    parts = path.parts[path.parts.index("tests") + 1 :] if "tests" in path.parts else ()
    return bool(parts) and (
        parts[0] == "store" or (len(parts) > 2 and parts[1] in ("store", "service"))
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every store- and service-tier test that uses `database` on both databases."""
    if "database" in metafunc.fixturenames and runs_on_both(metafunc.definition.path):
        already = any(
            "database" in marker.args[0]
            for marker in metafunc.definition.iter_markers("parametrize")
        )
        if not already:
            metafunc.parametrize("database", DATABASES, indirect=True)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """Name the database the test runs on: "sqlite" unless parametrized."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def engine(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[object]:
    """Yield an engine on a fresh database upgraded to head (SQLite file or PostgreSQL)."""
    if database == "postgresql":
        server = request.getfixturevalue("postgres_server")
        name = await server.create_database()
        eng = make_engine(server.url(name))
        yield eng
        await eng.dispose()
        await server.drop_database(name)
        return
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

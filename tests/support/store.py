"""Store fixtures: a real SQLite file migrated with Alembic, and the release service on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.app.uow import SqlUnitOfWorkFactory
from bot.checklist import parse_template
from bot.core.actors import AccessPolicy
from bot.releases.service import ReleaseService, TemplateSource
from bot.store import migrate
from bot.store.db import make_engine, make_session_factory
from tests.support.actors import NOW, SMALL_TEMPLATE


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

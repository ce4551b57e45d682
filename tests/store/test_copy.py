"""`releasebot db copy`: a SQLite database with live work moved to PostgreSQL, the bot carries on.

The source is a real SQLite file with a release, an open incident whose escalation timers are
pending and whose pages still wait in the outbox (nothing was delivered yet); the target a
fresh database on the real PostgreSQL test server. After the copy, the incident world is
rebuilt on PostgreSQL (as the bot would be after pointing database.url there): the waiting
pages are delivered, the next escalation step fires on time, and new rows get fresh ids.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app.schema import metadata
from bot.app.uow import SqlUnitOfWorkFactory
from bot.checklist import parse_template
from bot.cli import main
from bot.core.actors import AccessPolicy
from bot.releases.service import ReleaseService, TemplateSource
from bot.store.db import make_engine, make_session_factory
from tests.incidents.service.harness import (
    PRIMARY,
    RELEASE_LEAD,
    TECH,
    World,
    make_settings,
    met,
    start_release,
)
from tests.support.actors import SMALL_TEMPLATE

SQLITE_SOURCE = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


@pytest.fixture
async def pg_url(postgres_server) -> AsyncIterator[str]:
    """Yield the URL of a new, empty PostgreSQL database."""
    name = await postgres_server.create_database(template=None)
    yield postgres_server.url(name)
    await postgres_server.drop_database(name)


async def _counts(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
        }


async def _cli(*argv: str) -> tuple[int, str]:
    """Run the CLI in a thread (it runs its own event loop), as a user would."""
    out = io.StringIO()
    code = await asyncio.to_thread(main, list(argv), out)
    return code, out.getvalue()


@SQLITE_SOURCE
async def test_copy_sqlite_to_postgresql_and_the_bot_continues(
    engine, clock, service, pg_url: str, capsys: pytest.CaptureFixture[str]
):
    """Copy releases, incidents, timers and pending pages; on PostgreSQL the escalation goes on."""
    source = World(engine, clock, make_settings())
    release_id = await start_release(service)
    async with source.uow() as uow:
        incident = await source.incidents.open_or_update(uow, met(release_id, clock.now()))
        await uow.commit()
    assert incident.id is not None
    before = await _counts(engine)
    assert before["releases"] == 1 and before["incidents"] == 1
    async with source.uow() as uow:
        pending_timers = await uow.timers.pending(ref_id=incident.id)
    assert pending_timers  # the escalation steps wait in the timers table
    pending_pages = [m for m, _ in await source.outbox.messages() if m.status == "pending"]
    assert pending_pages  # the first page was never delivered on SQLite

    source_url = engine.url.render_as_string(hide_password=False)
    code, out = await _cli("db", "copy", "--from", source_url, "--to", pg_url)
    assert code == 0, capsys.readouterr().err
    assert f"copied {sum(before.values())} rows" in out
    target = make_engine(pg_url)
    try:
        assert await _counts(target) == before  # every row of every table, nothing else

        # The bot, restarted on PostgreSQL, delivers the waiting pages and escalates on time.
        moved = World(target, clock, make_settings())
        await moved.pump()
        assert len(moved.pages_to(PRIMARY)) == 1
        assert moved.pages_to(TECH) == []
        clock.advance(timedelta(minutes=15))
        await moved.pump()
        assert [p["step"] for p in moved.pages_to(TECH)] == [1]

        # New rows continue the numbering (PostgreSQL's sequences moved past the copied ids).
        releases = ReleaseService(
            uow=SqlUnitOfWorkFactory(make_session_factory(target), clock),
            clock=clock,
            policy=AccessPolicy(),
            template=lambda: TemplateSource(
                parse_template(SMALL_TEMPLATE, "small.md"), SMALL_TEMPLATE
            ),
            services=["gw", "api"],
        )
        second = await releases.start(RELEASE_LEAD, service="api", version="v2.0.0")
        assert second.id == release_id + 1
    finally:
        await target.dispose()

    # A second copy into the now non-empty database is refused, and changes nothing.
    after = await _counts(make_engine(pg_url))
    code, _ = await _cli("db", "copy", "--from", source_url, "--to", pg_url)
    err = capsys.readouterr().err
    assert code == 1
    assert "not empty" in err and "Traceback" not in err
    assert await _counts(make_engine(pg_url)) == after


async def test_copy_refuses_a_source_that_is_not_migrated(tmp_path, pg_url: str, capsys):
    """An unmigrated source is refused with the command that fixes it; the target stays empty."""
    code, _ = await _cli("db", "copy", "--from", f"sqlite+aiosqlite:///{tmp_path / 'old.db'}",
                   "--to", pg_url)  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "releasebot db upgrade --url SOURCE" in err
    assert len(err.strip().splitlines()) == 1

"""A click costs only its rows: SQL statements per change, cache freshness across processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.actors import AccessPolicy, Source
from bot.core.errors import InvalidTransition, NotAuthorized
from bot.core.ports import MessageRef
from bot.releases.domain.release import ItemState
from bot.releases.service import ReleaseService
from bot.releases.store import templates
from bot.store.db import make_session_factory
from tests.support.actors import DEV, LEAD, TECH

MAX_STATEMENTS = 5


@contextmanager
def counted(engine: Any) -> Iterator[list[str]]:
    """Collect every statement the engine sends to the database while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        # PostgreSQL's BEGIN is the write lock's SELECT (bot.store.db): name it BEGIN too.
        verb = statement.split()[0].upper()
        seen.append("BEGIN" if "pg_advisory_xact_lock" in statement else verb)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def other_process(service: ReleaseService, engine: Any) -> ReleaseService:
    """Return a second service on the same database: another bot process, its own memory."""
    return ReleaseService(
        uow=SqlUnitOfWorkFactory(make_session_factory(engine), service.clock),
        clock=service.clock,
        policy=AccessPolicy(),
        template=service.template,
        services=list(service.services),
    )


async def test_each_click_kind_costs_at_most_five_statements(service, engine):
    """Tick, untick, waive, sign and withdraw each send ≤ 5 statements (BEGIN included)."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    first, second = (item.id for item in release.template.items()[:2])
    await service.get(release.id)
    clicks = {
        "tick": lambda: service.tick(release.id, first, DEV, Source.SELECT),
        "untick": lambda: service.untick(release.id, first, DEV, Source.SELECT),
        "waive": lambda: service.waive(release.id, second, "not this time", LEAD, Source.MODAL),
        "sign": lambda: service.sign(release.id, "pre-release", LEAD, Source.REACTION),
        "withdraw": lambda: service.withdraw(release.id, "pre-release", LEAD, Source.REACTION),
    }
    for name, click in clicks.items():
        with counted(engine) as statements:
            await click()
        assert len(statements) <= MAX_STATEMENTS, (name, statements)
        assert statements.count("UPDATE") == 1, (name, statements)  # the revision, once


async def test_a_click_neither_loads_nor_parses_the_template(service, engine, monkeypatch):
    """A tick on a known release reads no template row and parses nothing."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    parses: list[str] = []
    real = templates.parse_template
    monkeypatch.setattr(
        templates, "parse_template", lambda *a, **k: parses.append("parse") or real(*a, **k)
    )
    with counted(engine) as statements:
        for item in release.template.items()[:2]:
            await service.tick(release.id, item.id, DEV, Source.SELECT)
    assert parses == []
    # Memory is current: nothing is read, the revision UPDATE is the optimistic check.
    assert statements.count("SELECT") == 0
    assert statements.count("UPDATE") == 2


async def test_a_denied_click_is_audited_from_memory_too(service):
    """A refused abort on a kept release still writes its denial to the audit log."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    with pytest.raises(NotAuthorized):
        await service.abort(release.id, "not mine to stop", DEV, Source.SLASH)
    events = await service.timeline(release.id)
    assert [e.action for e in events][-1] == "denied"


async def test_a_change_by_another_process_is_seen_by_the_next_click(service, engine):
    """A release kept in memory is reloaded when another process moved its revision on."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    first, second = (item.id for item in release.template.items()[:2])
    await service.tick(release.id, first, DEV, Source.SELECT)
    other = other_process(service, engine)
    await other.untick(release.id, first, TECH, Source.SLASH)
    after = await service.tick(release.id, second, DEV, Source.SELECT)
    assert after.progress(first).state is ItemState.OPEN
    assert after.progress(second).state is ItemState.DONE
    assert (await other.get(release.id)).revision == after.revision


async def test_a_stale_peek_never_decides(service, engine):
    """A tick refused on stale memory would be wrong: the refusal reads the revision and
    decides again on what is stored."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    first = release.template.items()[0].id
    await service.tick(release.id, first, DEV, Source.SELECT)
    await other_process(service, engine).untick(release.id, first, TECH, Source.SLASH)
    assert (await service.peek(release.id)).progress(first).state is ItemState.DONE  # memory
    again = await service.tick(release.id, first, DEV, Source.SELECT)  # not "already done"
    assert again.progress(first).state is ItemState.DONE


async def test_two_processes_ticking_at_once_both_land(service, engine):
    """Concurrent ticks from two processes with their own memory all commit, none lost."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    other = other_process(service, engine)
    await other.get(release.id)
    items = [item.id for item in release.template.items()[:2]]
    await asyncio.gather(
        service.tick(release.id, items[0], DEV, Source.SELECT),
        other.tick(release.id, items[1], DEV, Source.SELECT),
    )
    stored = await other_process(service, engine).get(release.id)
    assert {stored.progress(i).state for i in items} == {ItemState.DONE}
    assert stored.revision == 2


async def test_a_failed_change_leaves_memory_untouched(service):
    """A refused change (phase closed) does not leak into the state the next click uses."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    await service.abort(release.id, "wrong branch", LEAD, Source.SLASH)
    first = release.template.items()[0].id
    with pytest.raises(InvalidTransition):
        await service.tick(release.id, first, DEV, Source.SELECT)
    assert (await service.peek(release.id)).progress(first).state is ItemState.OPEN


async def test_a_stale_copy_never_refuses_a_denial_either(service, engine):
    """A refusal decided on stale memory (a sign-off whose phase moved on elsewhere) is
    decided again on the stored release before anything is audited."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    first = release.template.items()[0].id
    await service.tick(release.id, first, DEV, Source.SELECT)
    other = other_process(service, engine)
    await other.untick(release.id, first, TECH, Source.SLASH)
    await other.tick(release.id, first, TECH, Source.SLASH)
    # Ticked already, as stored now (by TECH), and as remembered (by DEV).
    with counted(engine) as statements, pytest.raises(InvalidTransition):
        await service.tick(release.id, first, DEV, Source.SELECT)
    assert statements.count("SELECT") >= 2  # the revision, then the stored release
    assert (await service.peek(release.id)).progress(first).actor_id == TECH.id


async def test_a_stale_copy_ticks_through_the_revision_check(service, engine):
    """A change on stale memory fails its revision UPDATE, reloads and lands once."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    first, second = (item.id for item in release.template.items()[:2])
    await service.tick(release.id, first, DEV, Source.SELECT)
    await other_process(service, engine).tick(release.id, second, TECH, Source.SLASH)
    with counted(engine) as statements:
        after = await service.untick(release.id, first, DEV, Source.SELECT)
    assert statements.count("UPDATE") == 2  # the stale attempt, then the one that landed
    assert after.progress(first).state is ItemState.OPEN
    assert after.progress(second).state is ItemState.DONE  # the other process's tick kept
    assert after.revision == 3


async def test_a_message_this_process_stored_is_found_without_a_read(service, engine):
    """The first click on a message the bot just posted reads no message row; a re-posted
    part replaces the older message, which is no longer found from memory."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    old = MessageRef(release.id, "phase", "0:0", channel_id=7, message_id=100)
    new = MessageRef(release.id, "phase", "0:0", channel_id=7, message_id=101)
    await service.put_message(old)
    await service.put_message(new)
    with counted(engine) as statements:
        assert await service.find_message(101) == new
    assert statements == []
    with counted(engine) as statements:
        assert await service.find_message(100) is None  # replaced: asked of the database
    assert "SELECT" in statements

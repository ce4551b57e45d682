"""Release persistence: mapping round trip, duplicates, concurrency, audit."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.actors import Source
from bot.core.errors import DuplicateRelease, InvalidInput, NotAuthorized
from bot.core.events import ReleaseSignalled, on_signal
from bot.releases.domain.release import ItemState, ReleaseStatus
from tests.support.actors import DEV, DEVOPS, LEAD, TECH


async def test_round_trip_keeps_every_field(service):
    """Store a release and read back the same items, sign-offs, window and phase."""
    release = await service.start(
        LEAD,
        service="gw",
        version="v2.0.0-rc.1",
        target_date="2026-03-05",
        window="2026-03-05 14:00-16:00 +08:00",
    )
    first = release.template.items()[0].id
    await service.tick(release.id, first, DEV, Source.BUTTON)
    await service.sign(release.id, "pre-release", LEAD, Source.REACTION)
    loaded = await service.get(release.id)
    assert str(loaded.version) == "v2.0.0-rc.1"
    assert loaded.window == release.window
    assert loaded.target_date.isoformat() == "2026-03-05"
    assert loaded.progress(first).state is ItemState.DONE
    assert loaded.progress(first).actor_name == "Eve"
    assert loaded.progress(first).at is not None and loaded.progress(first).at.tzinfo is not None
    assert loaded.signoffs["pre-release"].actor_name == "Ann"
    events = await service.timeline(release.id)
    assert [e.action for e in events] == ["start", "tick", "sign"]


async def test_duplicate_active_release_refused(service):
    """Refuse a second active release of one service and version; allow after abort."""
    first = await service.start(LEAD, service="gw", version="v1.0.0")
    with pytest.raises(DuplicateRelease):
        await service.start(LEAD, service="gw", version="v1.0.0")
    await service.start(LEAD, service="api", version="v1.0.0")  # other service: fine
    await service.abort(first.id, "wrong branch", LEAD, Source.SLASH)
    again = await service.start(LEAD, service="gw", version="v1.0.0")
    assert again.id != first.id
    assert len(await service.list(active=True)) == 2


async def test_racing_starts_only_one_wins(service):
    """Let the database's unique index decide between two simultaneous starts."""
    results = await asyncio.gather(
        *(service.start(LEAD, service="gw", version="v3.0.0") for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert all(isinstance(r, DuplicateRelease) for r in results if isinstance(r, Exception))


async def test_bad_input_stores_nothing(service):
    """Reject a malformed version or unknown service without writing a row."""
    with pytest.raises(InvalidInput, match="vMAJOR"):
        await service.start(LEAD, service="gw", version="1.2")
    with pytest.raises(InvalidInput, match="unknown service"):
        await service.start(LEAD, service="nope", version="v1.2.3")
    assert await service.list() == []


async def test_concurrent_ticks_lose_nothing(service):
    """Tick every item of a phase from concurrent tasks; every tick is kept."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    items = [i.id for i in release.current_phase.all_items()]
    await asyncio.gather(*(service.tick(release.id, item, LEAD, Source.BUTTON) for item in items))
    loaded = await service.get(release.id)
    assert all(loaded.progress(i).state is ItemState.DONE for i in items)
    ticks = [e for e in await service.timeline(release.id) if e.action == "tick"]
    assert sorted(e.target for e in ticks) == sorted(items)


async def test_denial_is_audited_and_changes_nothing(service):
    """Record a denied tick in the audit log and leave the item open."""
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    await service.tick(release.id, release.template.items()[0].id, DEV, Source.BUTTON)
    await service.sign(release.id, "pre-release", LEAD, Source.REACTION)
    await service.advance(release.id, LEAD, Source.BUTTON)
    staging = next(i.id for i in release.template.items() if i.role == "devops")
    with pytest.raises(NotAuthorized):
        await service.tick(release.id, staging, DEV, Source.BUTTON)
    loaded = await service.get(release.id)
    assert loaded.progress(staging).state is ItemState.OPEN
    last = (await service.timeline(release.id))[-1]
    assert (last.action, last.actor_name, last.detail["attempted"]) == ("denied", "Eve", "tick")
    await service.tick(release.id, staging, DEVOPS, Source.BUTTON)


async def test_signal_hook_runs_in_the_same_transaction(service):
    """Run a production_deployed hook inside the tick's transaction."""
    seen: list[tuple[int, str]] = []

    async def hook(uow, release, signal):
        seen.append((release.id, signal.kind))

    service.events.subscribe(ReleaseSignalled, on_signal("production_deployed", hook))
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    await service.tick(release.id, release.template.items()[0].id, DEV, Source.BUTTON)
    await service.sign(release.id, "pre-release", LEAD, Source.REACTION)
    await service.advance(release.id, LEAD, Source.BUTTON)
    await service.sign(release.id, "approval", TECH, Source.REACTION)
    await service.tick(release.id, "prod-deployed", DEVOPS, Source.BUTTON)
    assert seen == [(release.id, "production_deployed")]
    assert (await service.get(release.id)).status is ReleaseStatus.ACTIVE

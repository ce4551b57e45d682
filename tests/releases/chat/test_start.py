"""/release start: the room it opens, and the bad starts that must create nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.app import create_bot
from bot.core.clock import FakeClock
from bot.core.errors import DuplicateRelease, InvalidInput, NotAuthorized
from bot.releases.chat.render import plan_phase
from tests.support.world import ROOM_EXTENSIONS, make_settings

if TYPE_CHECKING:
    from tests.support.world import World


async def test_start_opens_a_thread_with_summary_every_phase_and_all_74_checkboxes(
    world: World,
) -> None:
    """Open the thread, pin the summary, post every phase and sign-off, offer all 74 items."""
    result = await world.start()

    assert result.ephemeral
    assert result.response is not None
    thread = world.thread()
    assert thread.name == "nexis-gateway v1.2.3"
    assert thread.mention in result.response.content
    release = await world.release()
    history = [m for m in thread.history() if m.embeds]
    summary = await world.message("summary")
    assert summary.pinned and summary.embeds[0].title == "Release nexis-gateway v1.2.3"
    chunks = sum(len(plan_phase(phase)) for phase in release.phases)
    titles = [m.embeds[0].title or "" for m in history]
    assert sum(title.split(" · ")[0] in {"1/4", "2/4", "3/4", "4/4"} for title in titles) == chunks
    options = {
        (m.id, o.value)
        for m in history
        for row in m.components
        for c in getattr(row, "children", [])
        if (getattr(c, "custom_id", "") or "").startswith("rb:tick:")
        for o in c.options
    }
    signoffs = [m for m in history if (m.embeds[0].title or "").startswith("Sign-off:")]
    assert len(options) == 70
    assert len(signoffs) == 4
    assert len(options) + len(signoffs) == release.template.checkbox_count() == 74
    for message in signoffs:
        assert [(str(r.emoji), r.count) for r in message.reactions] == [("✅", 1)]
    own_reactions = [
        r
        for r in world.env.http_requests
        if r.method == "PUT" and r.path.endswith("/reactions/%E2%9C%85/@me")
    ]
    assert len(own_reactions) == 4
    refs = await world.bot.releases.messages(1)
    assert sorted({r.kind for r in refs}) == ["phase", "signoff", "summary", "thread"]
    assert len(refs) == 1 + 1 + chunks + 4


async def test_start_records_lead_target_date_and_window_in_the_summary(world: World) -> None:
    """Show the chosen lead, target date and deployment window in the pinned summary."""
    await world.start(
        lead=world.tom, target_date="2026-01-09", window="2026-01-09 14:00-16:00 Asia/Shanghai"
    )

    release = await world.release()
    assert release.lead_name == "tom"
    text = (await world.message("summary")).embeds[0].description or ""
    assert "Lead: tom" in text
    assert "Target date: 2026-01-09" in text
    assert "Deployment window: 2026-01-09 06:00-08:00 UTC" in text


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"version": "1.2"}, "version '1.2' is not valid: expected vMAJOR.MINOR.PATCH"),
        ({"version": "vX.Y"}, "version 'vX.Y' is not valid"),
        ({"service": "billing"}, "unknown service 'billing' (configured: nexis-gateway)"),
        ({"target_date": "next friday"}, "date 'next friday' is not valid: expected YYYY-MM-DD"),
        ({"window": "tonight"}, "deployment window 'tonight' is not valid"),
    ],
)
async def test_a_bad_start_gets_an_ephemeral_error_and_creates_nothing(
    world: World, options: dict[str, str], expected: str
) -> None:
    """Refuse a malformed version, an unknown service or a bad date: no thread, no row."""
    result = await world.start(**options)

    assert result.ephemeral
    assert result.response is not None
    assert expected in result.response.content
    assert result.response.content.startswith("⚠️")
    assert world.channel.threads == []
    assert list(await world.bot.releases.list()) == []
    assert world.errors() == [InvalidInput]


async def test_a_duplicate_active_release_is_refused_and_creates_nothing(world: World) -> None:
    """Refuse a second active release of the same service and version."""
    await world.start()
    result = await world.start(by=world.tom)

    assert result.ephemeral
    assert result.response is not None
    assert "nexis-gateway v1.2.3" in result.response.content
    assert "already" in result.response.content
    assert len(world.channel.threads) == 1
    assert len(await world.bot.releases.list()) == 1
    assert world.errors() == [DuplicateRelease]


async def test_a_start_by_someone_without_the_role_is_denied_and_audited(world: World) -> None:
    """Deny Eve (a developer) starting a release, privately, and audit the denial."""
    result = await world.start(by=world.eve)

    assert result.response is not None
    assert result.ephemeral
    assert result.response.content.startswith("⛔ You may not start")
    assert "Release Lead, Tech Lead" in result.response.content
    assert world.channel.threads == []
    async with world.bot.releases.uow() as uow:
        events = await uow.audit.all()  # type: ignore[attr-defined]
    assert [(e.actor_name, e.action, e.detail["attempted"]) for e in events] == [
        ("eve", "denied", "start")
    ]
    assert world.errors() == [NotAuthorized]


async def test_a_missing_release_channel_is_named_and_nothing_is_created(
    world: World, tmp_path: Path, clock: FakeClock
) -> None:
    """Name the missing release channel instead of creating a release without a room."""
    settings = make_settings(tmp_path / "other.db", discord={"release_channel": "deploys"})
    await world.bot.close()
    await world.env.restart_bot(create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS))

    result = await world.start()

    assert result.response is not None
    assert "release channel 'deploys' does not exist" in result.response.content
    assert list(await world.bot.releases.list()) == []
    assert world.errors() == [InvalidInput]


async def test_service_autocomplete_offers_the_configured_services(world: World) -> None:
    """Offer configured services while typing the service option."""
    choices = await world.ann.autocomplete(world.channel, "release start", "service", "nex")

    assert choices == [{"name": "nexis-gateway", "value": "nexis-gateway"}]

"""A hotfix during an open window: one production problem, one incident, one page.

Through SimCord with every extension; the probes are scripted (`ScriptedProbes`, a fake:
no Prometheus is needed to say "the error ratio is 5.2 %"). Release #1 (v1.2.3) breaches
and pages Omar; hotfix #2 (v1.2.4) reaches production while #1's window is open and keeps
breaching. #1's window stops "superseded by v1.2.4", its incident moves to #2, and #2's
breach counts on it: no second incident, no second page.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings
from bot.core.actors import Actor, Source
from bot.core.clock import FakeClock
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import ReleaseBot
from bot.releases.domain.release import ItemState
from bot.releases.service import ReleaseService
from tests.incidents.chat.harness import dms, incident_bot, incidents, pump
from tests.monitoring.service.harness import Script, ScriptedProbes

if TYPE_CHECKING:
    from tests.support.world import World

MIN = timedelta(minutes=1)
EVERY_ROLE = Actor(
    "999", "setup", frozenset({"release_lead", "tech_lead", "devops", "oncall", "qa"})
)


@pytest.fixture
def script() -> Script:
    """Return what the scripted probes answer (healthy until a test says otherwise)."""
    return Script()


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock, script: Script) -> ReleaseBot:
    """Return the bot with every extension, its probes scripted."""
    return incident_bot(settings, clock, probes=ScriptedProbes(script), extensions=None)


async def to_production(releases: ReleaseService, release_id: int) -> None:
    """Walk release `release_id` (no deploy window) up to its production-deployed tick."""
    while True:
        release = await releases.get(release_id)
        phase = release.current_phase
        assert phase is not None
        for spec in release.phase_signoffs(phase):
            if spec.blocks and spec.key not in release.signoffs:
                await releases.sign(release_id, spec.key, EVERY_ROLE, Source.SLASH)
        for item in release.phase_items(phase):
            if (await releases.get(release_id)).progress(item.id).state is ItemState.OPEN:
                await releases.tick(release_id, item.id, EVERY_ROLE, Source.SLASH)
                if item.marks == "production_deployed":
                    return
        release = await releases.get(release_id)
        for spec in release.phase_signoffs(phase):
            if spec.key not in release.signoffs:
                await releases.sign(release_id, spec.key, EVERY_ROLE, Source.SLASH)
        await releases.advance(release_id, EVERY_ROLE, Source.SLASH)


async def test_a_hotfix_during_an_open_window_gives_one_incident_and_one_page(
    world: World, clock: FakeClock, script: Script
) -> None:
    """Breach on v1.2.3, hotfix v1.2.4 deployed, still breaching: one incident, one page."""
    await world.start()
    await world.run_whole_release_until("post-release")
    await pump(world)
    script.values["error_rate"] = 0.052
    for _ in range(2):  # two breaches in a row meet the condition
        clock.advance(5 * MIN)
        await pump(world)
    [incident] = await incidents(world).list_incidents()
    assert incident.release_id == 1
    assert len(dms(world.omar)) == 1

    await world.start(version="v1.2.4")  # the hotfix, while #1's window is open
    await to_production(world.bot.releases, 2)
    await pump(world)
    for _ in range(3):  # the hotfix breaches too, twice and more
        clock.advance(5 * MIN)
        await pump(world)

    [moved] = await incidents(world).list_incidents()
    assert (moved.id, moved.release_id) == (incident.id, 2)
    assert moved.trigger_count > incident.trigger_count  # the hotfix's breach counted on it
    assert len(dms(world.omar)) == 1  # one page for one production problem
    _, timeline = await incidents(world).status(moved.id or 0)
    actions = [e.action for e in timeline]
    assert actions[0] == "incident_open"  # the part from v1.2.3 is still in its timeline
    [note] = [e for e in timeline if e.action == "incident_moved" and e.release_id == 2]
    assert note.detail["detail"].startswith(
        "moved from nexis-gateway v1.2.3 to nexis-gateway v1.2.4"
    )
    assert actions.index("incident_moved") < actions.index("incident_retrigger", 2)

    monitoring = world.bot.handle(MonitoringService)
    old = await monitoring.window_view(release_id=1)
    assert old.record.status.value == "stopped" and old.record.next_due_at is None
    [stopped] = [e for e in await world.audit(1) if e.action == "monitor_stopped"]
    assert stopped.detail["reason"] == "superseded by v1.2.4 (release #2)"
    old_thread = world.channel.threads[0]
    said = [m.content for m in old_thread.history() if m.author.bot]
    assert any("stopped" in t and "superseded by v1.2.4" in t for t in said), said
    assert (await monitoring.window_view(release_id=2)).record.is_open

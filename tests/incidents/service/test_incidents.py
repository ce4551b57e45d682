"""Incident use-cases on real SQLite: open/update, escalation, ack, SLA clocks, restart safety."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.core.actors import Source
from bot.core.errors import InvalidInput, NotAuthorized
from bot.core.events import AlertAcknowledged, ReleaseSignalled, on_signal
from bot.core.roles import Severity
from bot.incidents.domain.model import IncidentStatus
from tests.incidents.service.harness import (
    EM,
    MANAGER,
    NOBODY,
    ONCALL_PERSON,
    PRIMARY,
    SECONDARY,
    STAKEHOLDER,
    TECH,
    TECH_LEAD,
    World,
    make_settings,
    met,
    start_release,
)

MIN = timedelta(minutes=1)


@pytest.fixture
def world(engine, clock) -> World:
    """Return the incident world with the default settings (on-call primary: omar = 100)."""
    return World(engine, clock, make_settings())


async def breach(world: World, release_id: int, **kwargs) -> int:
    """Report a met condition inside one transaction, as monitoring does; return the id."""
    async with world.uow() as uow:
        incident = await world.incidents.open_or_update(
            uow, met(release_id, world.clock.now(), **kwargs)
        )
        await uow.commit()
    assert incident.id is not None
    return incident.id


async def actions(world: World, incident_id: int) -> list[str]:
    """Return the incident's timeline as action names."""
    _, events = await world.incidents.status(incident_id)
    return [e.action for e in events]


async def test_breach_opens_p1_and_pages_oncall_by_dm_and_channel_at_once(world, service):
    """Open a P1 incident on a breach; DM the on-call and mention them in both channels."""
    release_id = await start_release(service)
    incident_id = await breach(world, release_id)
    await world.pump()
    incident = await world.incidents.get(incident_id)
    assert incident.severity is Severity.P1
    assert incident.title.startswith("Error rate 0.034")
    assert incident.paged_user_ids == (PRIMARY,)
    [dm] = world.pages_to(PRIMARY)
    assert dm["step"] == 0 and "You are paged" in dm["content"]
    pages = world.channel.where(notice="page")
    assert {p["where"] for p in pages} == {"release", "alerts"}
    assert all(p["mention_user_ids"] == [PRIMARY] for p in pages)
    assert (await actions(world, incident_id))[:2] == ["incident_open", "incident_page"]
    kinds = await world.pending_kinds(incident_id)
    opened = world.clock.now()
    assert ("incident.step", opened + 15 * MIN) in kinds
    assert ("incident.step", opened + 30 * MIN) in kinds
    assert ("incident.secondary", opened + 5 * MIN) in kinds
    assert ("incident.sla", opened + timedelta(hours=1)) in kinds


async def test_same_condition_while_open_updates_without_repaging(world, service):
    """Count a repeat of the condition on the open incident: no new incident, no new page."""
    release_id = await start_release(service)
    first = await breach(world, release_id)
    await world.pump()
    world.clock.advance(2 * MIN)
    second = await breach(world, release_id, value=0.05)
    await world.pump()
    assert second == first
    incident = await world.incidents.get(first)
    assert (incident.trigger_count, incident.latest_value) == (2, 0.05)
    assert len(world.pages_to(PRIMARY)) == 1
    assert len(world.channel.where(notice="page")) == 2
    assert len(await world.incidents.list_incidents()) == 1


async def test_no_ack_escalates_to_tech_lead_then_engineering_manager(world, service):
    """Page the Tech Lead at +15 min and the Engineering Manager at +30 min without an ack."""
    incident_id = await breach(world, await start_release(service))
    await world.pump()
    world.clock.advance(14 * MIN)
    await world.pump()
    assert world.pages_to(TECH) == []
    world.clock.advance(1 * MIN)
    await world.pump()
    assert [p["step"] for p in world.pages_to(TECH)] == [1]
    assert world.pages_to(MANAGER) == []
    world.clock.advance(15 * MIN)
    await world.pump()
    assert [p["step"] for p in world.pages_to(MANAGER)] == [2]
    assert (await actions(world, incident_id)).count("incident_escalate") == 2


async def test_ack_at_20_minutes_stops_every_pending_step_durably(world, service):
    """Ack at +20 min: the Engineering Manager is never paged; the step timers are cancelled."""
    incident_id = await breach(world, await start_release(service))
    world.clock.advance(20 * MIN)
    await world.pump()
    acked = await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.BUTTON)
    assert acked.status is IncidentStatus.ACKNOWLEDGED
    kinds = [kind for kind, _ in await world.pending_kinds(incident_id)]
    assert "incident.step" not in kinds and "incident.ack_timeout" in kinds
    world.clock.advance(9 * MIN)
    await world.pump()
    world.clock.advance(2 * MIN)
    await world.pump()
    assert world.pages_to(MANAGER) == []
    assert world.channel.where(notice="ack")[0]["text"].startswith("✅ Acknowledged by <@300>")


async def test_ack_by_member_without_role_is_denied_audited_and_escalation_continues(
    world, service
):
    """Refuse an ack from a developer, audit it, and still page the Tech Lead at +15."""
    incident_id = await breach(world, await start_release(service))
    with pytest.raises(
        NotAuthorized, match=r"Sam may not acknowledge incident #1 \(you were not paged"
    ):
        await world.incidents.acknowledge(incident_id, NOBODY, Source.BUTTON)
    assert "denied" in await actions(world, incident_id)
    world.clock.advance(15 * MIN)
    await world.pump()
    assert len(world.pages_to(TECH)) == 1
    assert (await world.incidents.get(incident_id)).status is IncidentStatus.TRIGGERED


async def test_paged_person_may_ack_without_an_incident_role(world, service):
    """Let the paged on-call engineer acknowledge even without the on-call Discord role."""
    incident_id = await breach(world, await start_release(service))
    acked = await world.incidents.acknowledge(incident_id, ONCALL_PERSON, Source.BUTTON)
    assert acked.acked_by == PRIMARY


async def test_ack_timeout_pages_the_acknowledger_again(world, service):
    """Page the acknowledger again when the incident is still unresolved 30 min after the ack."""
    incident_id = await breach(world, await start_release(service))
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    world.clock.advance(30 * MIN)
    await world.pump()
    [repage] = [p for p in world.pages_to(TECH) if p["notice"] == "repage"]
    assert "still unresolved" in repage["content"].lower()
    assert (await world.incidents.get(incident_id)).status is IncidentStatus.TRIGGERED


async def test_restart_after_downtime_pages_tech_lead_once_and_nobody_twice(engine, clock, service):
    """Rebuild everything at +16 min: the Tech Lead is paged once; a second restart sends none."""
    first = World(engine, clock, make_settings())
    incident_id = await breach(first, await start_release(service))
    await first.pump()
    assert len(first.pages_to(PRIMARY)) == 1
    clock.advance(16 * MIN)  # the bot was down from +0 to +16
    second = World(engine, clock, make_settings())
    await second.pump()
    assert [p["step"] for p in second.pages_to(TECH)] == [1]
    assert second.pages_to(PRIMARY) == []
    third = World(engine, clock, make_settings())
    await third.pump()
    assert third.dm.got == [] and third.channel.got == []
    escalations = (await actions(third, incident_id)).count("incident_escalate")
    assert escalations == 1


async def test_stale_timer_token_does_nothing(world, service):
    """Ignore a step timer carrying the token from before the ack."""
    incident_id = await breach(world, await start_release(service))
    async with world.uow() as uow:
        [step] = [r for r in await uow.timers.pending(ref_id=incident_id)
                  if r.kind == "incident.step" and r.payload["step"] == 1]  # fmt: skip
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    world.clock.advance(16 * MIN)
    async with world.uow() as uow:
        await world.incidents.handle_timer(uow, step, world.clock.now())
        await uow.commit()
    await world.pump()
    assert world.pages_to(TECH) == []
    assert "incident_escalate" not in await actions(world, incident_id)


async def test_p0_unacked_gets_response_reminders_before_and_at_15_minutes(world, service):
    """Remind the P0 notify scope 5 min before the response deadline and at 15 min."""
    incident_id = await breach(
        world, await start_release(service), condition="availability", value=0.5, severity=""
    )
    incident = await world.incidents.get(incident_id)
    assert incident.severity is Severity.P0  # the availability condition's configured severity
    world.clock.advance(10 * MIN)
    await world.pump()
    [reminder] = [p for p in world.channel.where(notice="sla_reminder") if p["where"] == "alerts"]
    assert reminder["sla"] == "response"
    assert reminder["mention_roles"] == ["everyone", "stakeholders"]
    assert reminder["mention_user_ids"] == [PRIMARY]
    world.clock.advance(5 * MIN)
    await world.pump()
    [breached] = [p for p in world.channel.where(notice="sla_breach") if p["where"] == "alerts"]
    assert "Response SLA breached" in breached["text"]
    assert (await world.incidents.get(incident_id)).response_sla_breached is True
    assert world.dm.where(user_id=STAKEHOLDER) == []  # the scope is a role mention, not DMs


async def test_p0_resolved_after_five_hours_is_a_resolution_sla_breach(world, service):
    """Record a P0 resolved after 5 h as breaching its 4 h resolution SLA."""
    release_id = await start_release(service)
    incident_id = await breach(world, release_id, condition="availability", severity="")
    await world.incidents.acknowledge(incident_id, TECH_LEAD, Source.SLASH)
    world.clock.advance(timedelta(hours=5))
    resolved = await world.incidents.resolve(
        incident_id, TECH_LEAD, "rolled back the bad config", Source.MODAL
    )
    assert resolved.resolution_sla_breached is True
    assert resolved.resolution_note == "rolled back the bad config"
    _, events = await world.incidents.status(incident_id)
    [resolve_event] = [e for e in events if e.action == "incident_resolve"]
    assert "resolution SLA breached" in resolve_event.detail["detail"]
    assert await world.pending_kinds(incident_id) == []


async def test_severity_change_is_authorized_audited_and_moves_deadlines(world, service):
    """Recompute SLA deadlines on a severity change; refuse it to a developer (audited)."""
    incident_id = await breach(world, await start_release(service))
    before = await world.incidents.get(incident_id)
    with pytest.raises(NotAuthorized):
        await world.incidents.change_severity(incident_id, "P0", NOBODY, Source.SLASH)
    changed = await world.incidents.change_severity(incident_id, "p0", EM, Source.SLASH)
    assert changed.response_due == before.opened_at + 15 * MIN
    assert changed.resolution_due == before.opened_at + timedelta(hours=4)
    timeline = await actions(world, incident_id)
    assert "denied" in timeline and "incident_severity_change" in timeline
    with pytest.raises(InvalidInput, match="unknown severity 'P9'"):
        await world.incidents.change_severity(incident_id, "P9", EM, Source.SLASH)


async def test_policy_snapshot_survives_a_config_edit(engine, clock, service):
    """Keep escalating by the policy an incident opened with after the config changes."""
    first = World(engine, clock, make_settings())
    incident_id = await breach(first, await start_release(service))
    edited = make_settings(
        {"oncall": {"primary": "omar"},
         "escalation": {"steps": [{"target": "oncall", "after": "0m"},
                                  {"target": "eng_manager", "after": "1m"}]}}
    )  # fmt: skip
    later = World(engine, clock, edited)
    clock.advance(2 * MIN)
    await later.pump()
    assert later.pages_to(MANAGER) == []
    clock.advance(13 * MIN)
    await later.pump()
    assert len(later.pages_to(TECH)) == 1
    assert (await later.incidents.get(incident_id)).policy.steps[1].target == "tech_lead"


async def test_secondary_is_paged_after_its_delay(engine, clock, service):
    """Page the secondary on-call 5 minutes after the primary when nobody acknowledged."""
    world = World(engine, clock, make_settings({"oncall": {"primary": "omar", "secondary": "sid"}}))
    await breach(world, await start_release(service))
    clock.advance(5 * MIN)
    await world.pump()
    assert [p["step"] for p in world.pages_to(SECONDARY)] == [0]


async def test_rollback_is_recorded_in_open_incidents(world, service):
    """Record a completed rollback in the timeline of the release's open incident."""
    release_id = await start_release(service)
    service.events.subscribe(
        ReleaseSignalled, on_signal("rolled_back", world.incidents.on_rolled_back)
    )
    incident_id = await breach(world, release_id)
    await service.mark_rolled_back(release_id, TECH_LEAD, Source.BUTTON, "kubectl rollout undo")
    await world.pump()
    assert "incident_rollback" in await actions(world, incident_id)
    assert world.channel.where(notice="rollback")[0]["where"] == "release"


async def test_recovery_is_noted_but_does_not_resolve(world, service):
    """Record a recovered condition in the timeline; the incident stays open for a person."""
    release_id = await start_release(service)
    incident_id = await breach(world, release_id)
    async with world.uow() as uow:
        await world.incidents.on_recovered(uow, met(release_id, world.clock.now(), value=0.001))
        await uow.commit()
    assert "incident_recovered" in await actions(world, incident_id)
    assert (await world.incidents.get(incident_id)).is_open


async def test_alert_ack_hook_acknowledges_the_open_incident(world, service):
    """Acknowledge the incident of a release+condition when its alert is acknowledged."""
    release_id = await start_release(service)
    incident_id = await breach(world, release_id)
    async with world.uow() as uow:
        await world.incidents.on_alert_ack(
            uow, AlertAcknowledged(release_id, "error_rate", TECH_LEAD)
        )
        await uow.commit()
    assert (await world.incidents.get(incident_id)).acked_by == TECH


async def test_manual_open_takes_the_given_severity(world, service):
    """Open an incident by hand with a severity; refuse a member with no release role."""
    release_id = await start_release(service)
    incident = await world.incidents.open(
        TECH_LEAD, title="Checkout is down", severity="P0", release_id=release_id
    )
    assert (incident.severity, incident.condition) == (Severity.P0, "manual:checkout-is-down")
    with pytest.raises(InvalidInput, match="already open"):
        await world.incidents.open(
            TECH_LEAD, title="checkout is  DOWN", severity="P1", release_id=release_id
        )
    outsider = ONCALL_PERSON
    with pytest.raises(NotAuthorized):
        await world.incidents.open(outsider, title="Something broke", severity="P2")
    with pytest.raises(InvalidInput, match="3 to 200"):
        await world.incidents.open(TECH_LEAD, title="x", severity="P2")


async def test_resolve_needs_a_note_and_an_open_incident(world, service):
    """Refuse an empty note, then refuse resolving twice, each with a clear message."""
    incident_id = await breach(world, await start_release(service))
    with pytest.raises(InvalidInput, match="needs a note"):
        await world.incidents.resolve(incident_id, TECH_LEAD, "  ", Source.MODAL)
    await world.incidents.resolve(incident_id, TECH_LEAD, "fixed", Source.MODAL)
    with pytest.raises(InvalidInput, match="already resolved"):
        await world.incidents.resolve(incident_id, TECH_LEAD, "again", Source.MODAL)

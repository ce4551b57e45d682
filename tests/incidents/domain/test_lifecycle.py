"""Incident lifecycle: paging, escalation, ack, ack timeout, SLA clocks, resolution."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.core.clock import FakeClock
from bot.core.roles import Severity
from bot.incidents.domain.escalation import SEED_POLICY, EscalationPolicy, EscalationStep
from bot.incidents.domain.lifecycle import (
    Announce,
    Effect,
    ExternalUpdate,
    Incident,
    IncidentAction,
    IncidentEvent,
    IncidentStatus,
    IncidentTransitionError,
    Page,
    Repage,
    SlaBreached,
    SlaReminder,
    Timer,
    TimerKind,
    acknowledge,
    change_severity,
    fire_due,
    fire_timer,
    open_incident,
    resolve,
    retrigger,
)
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
ROSTER = Roster(
    primary="100",
    secondary="200",
    role_members={"tech_lead": ["300"], "eng_manager": ["400"]},
)


# The seed path with PagerDuty and the webhook switched on for the first page.
PAGING_POLICY = EscalationPolicy(
    (
        EscalationStep(0, "oncall", timedelta(0), pagerduty=True, webhook=True),
        *SEED_POLICY.steps[1:],
    )
)


def minutes(n: float) -> timedelta:
    """Return `n` minutes."""
    return timedelta(minutes=n)


def open_p(severity: Severity = Severity.P1, policy: EscalationPolicy = PAGING_POLICY) -> Incident:
    """Return a freshly opened error-rate incident at T0 (effects checked elsewhere)."""
    incident, _ = open_incident(
        7, "error_rate", severity, "Error rate 3%", 0.03, T0, policy, DEFAULT_SLA_TABLE,
        "probe", "releasebot", ROSTER,
    )  # fmt: skip
    return incident


def pages(effects: list[Effect]) -> list[Page]:
    """Return the Page effects."""
    return [e for e in effects if isinstance(e, Page)]


def run_until(
    incident: Incident, clock: FakeClock, until: datetime
) -> tuple[Incident, list[Effect]]:
    """Fire every timer in due order up to `until`, moving the clock like a scheduler would."""
    effects: list[Effect] = []
    while (due := incident.next_due()) is not None and due <= until:
        clock.set(max(due, clock.now()))
        incident, fired = fire_due(incident, clock.now(), ROSTER)
        effects += fired
    clock.set(until)
    return incident, effects


def test_open_pages_oncall_primary_at_once() -> None:
    """Page step 0 (the primary on-call) the moment a P1 incident opens."""
    incident, effects = open_incident(
        7, "error_rate", Severity.P1, "Error rate 3%", 0.03, T0, PAGING_POLICY, DEFAULT_SLA_TABLE,
        "probe", "releasebot", ROSTER,
    )  # fmt: skip
    [page] = pages(effects)
    assert (page.step_index, page.target, page.recipients) == (0, "oncall", ("100",))
    assert page.channels == ("channel", "dm", "pagerduty", "webhook")
    assert page.deadline_of_each_step == (
        ("oncall", T0),
        ("tech_lead", T0 + minutes(15)),
        ("eng_manager", T0 + minutes(30)),
    )
    assert Announce(("tech_lead", "stakeholders"), "P1 incident opened") in effects
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.response_due == T0 + timedelta(hours=1)
    assert incident.resolution_due == T0 + timedelta(hours=24)
    assert [e.action for e in incident.events] == [IncidentAction.OPEN, IncidentAction.PAGE]


def test_escalation_path_unacked() -> None:
    """Page secondary at +5m, tech_lead at +15m and eng_manager at +30m while nobody acks."""
    clock = FakeClock(T0)
    incident, effects = run_until(open_p(), clock, T0 + minutes(45))
    got = [(p.target, p.recipients) for p in pages(effects)]
    assert got == [("secondary", ("200",)), ("tech_lead", ("300",)), ("eng_manager", ("400",))]
    fired_at = {
        e.detail.split()[2]: e.at
        for e in incident.events
        if e.action in (IncidentAction.PAGE, IncidentAction.ESCALATE)
    }
    assert fired_at == {
        "oncall": T0,
        "secondary": T0 + minutes(5),
        "tech_lead": T0 + minutes(15),
        "eng_manager": T0 + minutes(30),
    }
    assert incident.paged_user_ids == ("100", "200", "300", "400")


def test_ack_at_20m_stops_eng_manager() -> None:
    """Ack at +20m: the eng_manager timer still fires at +30m but pages nobody."""
    clock = FakeClock(T0)
    incident = open_p()
    eng_manager_timer = next(t for t in incident.timers if t.step_index == 2)
    incident, before = run_until(incident, clock, T0 + minutes(20))
    assert [p.target for p in pages(before)] == ["secondary", "tech_lead"]
    incident, ack_effects = acknowledge(incident, "300", clock.now())
    assert incident.response_sla_breached is False
    assert incident.responded_at == T0 + minutes(20)
    assert ExternalUpdate("acknowledge", ("pagerduty", "webhook")) in ack_effects
    after, effects = fire_timer(incident, eng_manager_timer, T0 + minutes(30), ROSTER)
    assert effects == []
    assert after == incident
    assert all(t.kind is not TimerKind.ESCALATION_STEP for t in incident.pending_timers())


def test_stale_token_timer_does_nothing() -> None:
    """Ignore a timer whose token is not the incident's current escalation token."""
    incident = open_p()
    step1 = next(t for t in incident.timers if t.step_index == 1)
    bumped = replace(incident, escalation_token=incident.escalation_token + 1)
    after, effects = fire_timer(bumped, step1, T0 + minutes(15), ROSTER)
    assert (after, effects) == (bumped, [])


def test_timer_fired_twice_acts_once() -> None:
    """Deliver a duplicate firing of the same timer: effects appear only the first time."""
    incident = open_p()
    step1 = next(t for t in incident.timers if t.step_index == 1)
    incident, first = fire_timer(incident, step1, T0 + minutes(15), ROSTER)
    incident, second = fire_timer(incident, step1, T0 + minutes(16), ROSTER)
    assert [p.target for p in pages(first)] == ["tech_lead"]
    assert second == []
    assert next(t for t in incident.timers if t.same_as(step1)).fired


def test_early_or_unknown_timer_does_nothing() -> None:
    """Refuse to act before the due time or on a timer the incident never scheduled."""
    incident = open_p()
    step1 = next(t for t in incident.timers if t.step_index == 1)
    assert fire_timer(incident, step1, T0 + minutes(14), ROSTER) == (incident, [])
    stranger = Timer(TimerKind.ESCALATION_STEP, T0 + minutes(15), 1, 0, fired=False)
    moved = replace(stranger, due_at=T0 + minutes(16))
    assert fire_timer(incident, moved, T0 + minutes(20), ROSTER) == (incident, [])


def test_ack_timeout_repages_acknowledger() -> None:
    """Re-page the acknowledger at ack+30m when the incident is still unresolved."""
    clock = FakeClock(T0)
    incident, _ = run_until(open_p(), clock, T0 + minutes(20))
    incident, _ = acknowledge(incident, "300", clock.now())
    incident, effects = run_until(incident, clock, T0 + minutes(50))
    [repage] = [e for e in effects if isinstance(e, Repage)]
    assert repage.acknowledger == "300"
    assert repage.deadline_of_each_step[0] == ("user:300", T0 + minutes(50))
    assert incident.status is IncidentStatus.TRIGGERED
    assert incident.events[-1].action is IncidentAction.ACK_TIMEOUT
    assert incident.events[-1].at == T0 + minutes(50)
    # The re-triggered run escalates again from the re-page if it stays quiet.
    incident, later = run_until(incident, clock, T0 + minutes(50 + 15))
    assert [p.target for p in pages(later)] == ["tech_lead"]


def test_ack_timeout_does_nothing_once_resolved() -> None:
    """Let a resolved incident's old ack-timeout timer pass silently."""
    incident = open_p()
    incident, _ = acknowledge(incident, "100", T0 + minutes(2))
    ack_timer = next(t for t in incident.timers if t.kind is TimerKind.ACK_TIMEOUT)
    incident, _ = resolve(incident, "100", "rolled back", T0 + minutes(10))
    assert fire_timer(incident, ack_timer, ack_timer.due_at, ROSTER) == (incident, [])
    assert incident.pending_timers() == ()


def test_reack_is_idempotent() -> None:
    """A second ack changes nothing: no event, no effect, the ack timeout keeps its due time.

    (This replaces the old contract, where a re-ack restarted the ack timeout.)
    """
    incident = open_p()
    incident, _ = acknowledge(incident, "100", T0 + minutes(2))
    again, effects = acknowledge(incident, "100", T0 + minutes(3))
    assert again == incident and effects == []
    [ack_timer] = [t for t in again.pending_timers() if t.kind is TimerKind.ACK_TIMEOUT]
    assert ack_timer.due_at == T0 + minutes(2) + incident.policy.ack_timeout


def test_an_overdue_reminder_says_overdue_by() -> None:
    """A reminder fired after its deadline reads "overdue by 1 h 58 min", never "-1 day"."""
    incident = open_p()
    [reminder] = [t for t in incident.pending_timers() if t.kind is TimerKind.RESPONSE_REMINDER]
    late = (incident.response_due or T0) + timedelta(hours=1, minutes=58)
    _, effects = fire_timer(incident, reminder, late, ROSTER)
    [event] = [e for e in effects if isinstance(e, IncidentEvent)]
    assert "overdue by 1 h 58 min" in event.detail and "-1 day" not in event.detail


def test_p0_unacked_response_reminder_then_breach() -> None:
    """P0 unacked: response reminder at 10m (reminder_before=5m) and breach at 15m."""
    clock = FakeClock(T0)
    incident, effects = run_until(open_p(Severity.P0), clock, T0 + minutes(16))
    sla = [e for e in effects if isinstance(e, SlaReminder | SlaBreached)]
    assert sla == [
        SlaReminder("response", T0 + minutes(15)),
        SlaBreached("response", T0 + minutes(15)),
    ]
    at = {e.action: e.at for e in incident.events}
    assert at[IncidentAction.SLA_REMINDER] == T0 + minutes(10)
    assert at[IncidentAction.SLA_BREACH] == T0 + minutes(15)
    assert incident.response_sla_breached is True


def test_ack_before_reminder_silences_response_sla() -> None:
    """Acking a P0 at 8m cancels the response reminder and breach."""
    clock = FakeClock(T0)
    incident = open_p(Severity.P0)
    incident, _ = acknowledge(incident, "100", T0 + minutes(8))
    incident, effects = run_until(incident, clock, T0 + minutes(20))
    assert not [e for e in effects if isinstance(e, SlaReminder | SlaBreached)]
    assert incident.response_sla_breached is False


def test_p0_resolved_after_5h_breaches_resolution_sla() -> None:
    """A P0 resolved after 5 hours (SLA 4h) records resolution_sla_breached True."""
    incident = open_p(Severity.P0)
    incident, _ = acknowledge(incident, "100", T0 + minutes(3))
    incident, effects = resolve(incident, "100", "hotfix deployed", T0 + timedelta(hours=5))
    assert incident.status is IncidentStatus.RESOLVED
    assert incident.resolution_sla_breached is True
    assert incident.resolution_note == "hotfix deployed"
    assert incident.pending_timers() == ()
    assert ExternalUpdate("resolve", ("pagerduty", "webhook")) in effects
    assert "resolution SLA breached" in incident.events[-1].detail


def test_resolve_within_sla_without_ack_counts_as_response() -> None:
    """Resolving straight from TRIGGERED meets both SLAs and records the response time."""
    incident, _ = resolve(open_p(Severity.P0), "100", "", T0 + minutes(12))
    assert (incident.response_sla_breached, incident.resolution_sla_breached) == (False, False)
    assert incident.time_to_respond() == minutes(12)
    assert incident.resolution_note is None


def test_resolution_breach_fires_once_through_ack_and_ack_timeout() -> None:
    """Keep the resolution clock through an ack and an ack-timeout re-trigger: one breach at 4h."""
    clock = FakeClock(T0)
    incident, _ = acknowledge(open_p(Severity.P0), "100", T0 + minutes(1))
    assert {TimerKind.RESOLUTION_REMINDER, TimerKind.RESOLUTION_BREACH} <= {
        t.kind for t in incident.pending_timers()
    }
    assert all(t.token == incident.escalation_token for t in incident.pending_timers())
    clock.set(T0 + minutes(1))
    incident, effects = run_until(incident, clock, T0 + timedelta(hours=5))
    assert any(isinstance(e, Repage) for e in effects)
    assert [e for e in effects if isinstance(e, SlaBreached)] == [
        SlaBreached("resolution", T0 + timedelta(hours=4))
    ]
    assert [e for e in effects if isinstance(e, SlaReminder)] == [
        SlaReminder("resolution", T0 + timedelta(hours=4))
    ]


@pytest.mark.parametrize(
    ("action", "call"),
    [
        ("acknowledge", lambda i: acknowledge(i, "100", T0 + minutes(9))),
        ("resolve", lambda i: resolve(i, "100", "again", T0 + minutes(9))),
        ("retrigger", lambda i: retrigger(i, 0.1, T0 + minutes(9))),
        ("change severity", lambda i: change_severity(i, Severity.P0, "100", T0 + minutes(9))),
    ],
)
def test_resolved_incident_rejects_changes(action: str, call: Callable[[Incident], object]) -> None:
    """Reject ack, resolve, retrigger and severity change on a resolved incident."""
    incident, _ = resolve(open_p(), "100", "done", T0 + minutes(5))
    with pytest.raises(IncidentTransitionError, match="already resolved"):
        call(incident)


def test_retrigger_counts_without_repaging() -> None:
    """Count a repeated breach on the open incident; no page, latest value kept."""
    incident, effects = retrigger(open_p(), 0.05, T0 + minutes(3), source="alertmanager")
    assert (incident.trigger_count, incident.latest_value) == (2, 0.05)
    assert pages(effects) == []
    assert incident.events[-1].action is IncidentAction.RETRIGGER
    assert incident.events[-1].actor == "alertmanager"
    assert "0.05" in incident.events[-1].detail


def test_change_severity_recomputes_from_opened_at() -> None:
    """P2 -> P0 at +30m: response deadline is opened_at+15m, already past, so breach at once."""
    incident = open_p(Severity.P2)
    incident, effects = change_severity(incident, Severity.P0, "300", T0 + minutes(30))
    assert incident.severity is Severity.P0
    assert incident.response_due == T0 + minutes(15)
    assert incident.resolution_due == T0 + timedelta(hours=4)
    assert SlaBreached("response", T0 + minutes(15)) in effects
    assert not any(isinstance(e, SlaReminder) and e.kind == "response" for e in effects)
    assert Announce(("everyone", "stakeholders"), "severity changed P2 -> P0") in effects
    change = next(e for e in incident.events if e.action is IncidentAction.SEVERITY_CHANGE)
    assert (change.actor, change.at) == ("300", T0 + minutes(30))
    # Escalation keeps running on the same token.
    assert any(t.kind is TimerKind.ESCALATION_STEP for t in incident.pending_timers())


def test_change_severity_rescores_an_earlier_response() -> None:
    """A response at 30m is 'met' for P1 but 'breached' once upgraded to P0."""
    incident, _ = acknowledge(open_p(Severity.P1), "100", T0 + minutes(30))
    assert incident.response_sla_breached is False
    incident, _ = change_severity(incident, Severity.P0, "300", T0 + minutes(31))
    assert incident.response_sla_breached is True


def test_change_severity_to_same_is_rejected() -> None:
    """Reject a severity change that changes nothing, naming the severity."""
    with pytest.raises(ValueError, match="already P1"):
        change_severity(open_p(Severity.P1), Severity.P1, "300", T0)


def test_policy_edit_after_open_does_not_touch_incident() -> None:
    """Edit the configured policy after opening: the incident keeps its snapshot timings."""
    config = {"policy": PAGING_POLICY}
    incident = open_p(policy=config["policy"])
    config["policy"] = EscalationPolicy(
        (EscalationStep(0, "oncall", timedelta(0)), EscalationStep(1, "cto", minutes(1)))
    )
    clock = FakeClock(T0)
    incident, effects = run_until(incident, clock, T0 + minutes(31))
    assert incident.policy == PAGING_POLICY
    assert [p.target for p in pages(effects)] == ["secondary", "tech_lead", "eng_manager"]


def test_p3_has_no_resolution_clock() -> None:
    """P3 responds within 1 business day and has no resolution deadline or timers."""
    incident = open_p(Severity.P3)
    assert incident.response_due == T0 + timedelta(days=1)
    assert incident.resolution_due is None
    kinds = {t.kind for t in incident.pending_timers()}
    assert TimerKind.RESOLUTION_BREACH not in kinds
    assert TimerKind.RESPONSE_BREACH in kinds


def test_empty_roster_still_pages_the_channel() -> None:
    """With nobody on call, page the channel with no recipients and skip the secondary."""
    incident, effects = open_incident(
        None, "manual", Severity.P1, "Checkout down", None, T0, SEED_POLICY, DEFAULT_SLA_TABLE,
        "slash", "500", Roster(),
    )  # fmt: skip
    [page] = pages(effects)
    assert page.recipients == ()
    assert "nobody" in incident.events[-1].detail
    incident, later = fire_due(incident, T0 + minutes(5), Roster())
    assert pages(later) == []
    assert incident.events[-1].detail == "no secondary on call to page"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "  ", "title must not be empty"),
        ("condition", "", "condition must not be empty"),
        ("now", datetime(2026, 1, 5, 9, 0), "timezone-aware"),  # noqa: DTZ001 - the bad input
    ],
)
def test_open_rejects_bad_input(field: str, value: object, message: str) -> None:
    """Reject an empty title or condition and a naive time, naming what is wrong."""
    args: dict[str, object] = {
        "release_id": 1, "condition": "error_rate", "severity": Severity.P1, "title": "t",
        "value": None, "now": T0, "policy": SEED_POLICY, "sla_policy": DEFAULT_SLA_TABLE,
        "source": "probe", "actor": "releasebot", "roster": ROSTER,
    }  # fmt: skip
    args[field] = value
    with pytest.raises(ValueError, match=message):
        open_incident(**args)  # type: ignore[arg-type]


def test_restart_catch_up_fires_overdue_steps_once() -> None:
    """After downtime, fire_due pages every overdue step once, in order, then nothing more."""
    incident = open_p()
    incident, effects = fire_due(incident, T0 + minutes(40), ROSTER)
    assert [p.target for p in pages(effects)] == ["secondary", "tech_lead", "eng_manager"]
    again, more = fire_due(incident, T0 + minutes(41), ROSTER)
    assert pages(more) == []
    assert again == incident


def test_without_external_pages_ack_and_resolve_stay_internal() -> None:
    """Emit no ExternalUpdate when no step paged through PagerDuty or a webhook."""
    incident = open_p(policy=SEED_POLICY)
    assert "pagerduty" not in incident.paged_channels
    incident, acked = acknowledge(incident, "100", T0 + minutes(1))
    incident, resolved = resolve(incident, "100", "ok", T0 + minutes(2))
    assert not any(isinstance(e, ExternalUpdate) for e in acked + resolved)


def test_timer_copy_from_a_database_still_matches() -> None:
    """Recognise a timer whose due time lost its microseconds and timezone in storage."""
    incident = open_p()
    step1 = next(t for t in incident.timers if t.step_index == 1)
    stored = replace(
        step1, due_at=(step1.due_at + timedelta(microseconds=250)).replace(tzinfo=None)
    )
    stored = replace(stored, due_at=stored.due_at.replace(microsecond=0))
    incident, effects = fire_timer(incident, stored, T0 + minutes(15), ROSTER)
    assert [p.target for p in pages(effects)] == ["tech_lead"]

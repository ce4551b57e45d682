"""Pure domain: repeat loops, Escalate now, the status-update cadence and their settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, build_settings
from bot.core.roles import Severity
from bot.incidents.chat.render import update_line
from bot.incidents.domain.cadence import owners, post_update
from bot.incidents.domain.escalation import SEED_POLICY, EscalationPolicy, EscalationStep
from bot.incidents.domain.lifecycle import (
    Incident,
    IncidentTransitionError,
    Page,
    TimerKind,
    acknowledge,
    change_severity,
    escalate_now,
    fire_due,
    open_incident,
)
from bot.incidents.domain.model import StatusUpdate, UpdateReminder
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
ROSTER = Roster(primary="100", role_members={"tech_lead": ("300",), "eng_manager": ("400",)})


def _open(repeat: int = 0, severity: Severity = Severity.P1) -> Incident:
    policy = replace(SEED_POLICY, repeat=repeat)
    incident, _ = open_incident(
        1, "error_rate", severity, "Error rate", 0.05, T0, policy, DEFAULT_SLA_TABLE,
        "poll", "releasebot", ROSTER,
    )  # fmt: skip
    return incident


def _pages(incident: Incident, until: timedelta) -> tuple[Incident, list[Page]]:
    found: list[Page] = []
    at = T0
    while at < T0 + until:
        at += MIN
        incident, effects = fire_due(incident, at, ROSTER)
        found += [e for e in effects if isinstance(e, Page)]
    return incident, found


def test_the_seed_path_loops_every_45_minutes() -> None:
    """Loop period = last step (+30) plus the gap before it (15); one step alone: ack_timeout."""
    assert SEED_POLICY.loop_period == timedelta(minutes=45)
    single = EscalationPolicy((EscalationStep(0, "oncall", timedelta(0)),))
    assert single.loop_period == single.ack_timeout


def test_repeat_2_pages_each_step_three_times_at_planned_times() -> None:
    """Pages at +0/15/30, +45/60/75, +90/105/120; none after; each names its loop."""
    incident, pages = _pages(_open(repeat=2), timedelta(hours=6))
    # Step 0 of loop 1 paged inside open_incident itself.
    assert [(p.step_index, p.loop) for p in pages] == [
        (s, loop) for loop in (1, 2, 3) for s in (0, 1, 2)
    ][1:]
    paged_at = [e.at - T0 for e in incident.events if e.detail.startswith("step ")]
    assert paged_at == [timedelta(minutes=m) for m in (0, 15, 30, 45, 60, 75, 90, 105, 120)]
    assert not [t for t in incident.pending_timers() if t.kind is TimerKind.ESCALATION_STEP]


def test_an_ack_in_loop_2_cancels_every_later_step() -> None:
    """Ack at +50: no step timer of loop 2 or 3 remains for the scheduler."""
    incident, _ = _pages(_open(repeat=2), timedelta(minutes=50))
    acked, _ = acknowledge(incident, "300", T0 + 50 * MIN)
    assert [t.kind for t in acked.pending_timers()].count(TimerKind.ESCALATION_STEP) == 0


def test_escalate_now_pulls_only_the_next_step_forward() -> None:
    """At +5 the Tech Lead is paged; EM stays due at +30 and loop 2 at +45."""
    incident, _ = _pages(_open(repeat=1), timedelta(minutes=5))
    now = T0 + 5 * MIN
    escalated, effects = escalate_now(incident, "100", now, ROSTER)
    [page] = [e for e in effects if isinstance(e, Page)]
    assert (page.step_index, page.recipients) == (1, ("300",))
    steps = [t for t in escalated.pending_timers() if t.kind is TimerKind.ESCALATION_STEP]
    assert [t.due_at - T0 for t in steps][:2] == [30 * MIN, 45 * MIN]


def test_escalate_now_refuses_when_acked_or_when_the_path_is_done() -> None:
    """An acked incident and a finished path each raise a transition error naming why."""
    incident, _ = _pages(_open(), timedelta(minutes=31))
    with pytest.raises(IncidentTransitionError, match="loop 1 of 1"):
        escalate_now(incident, "100", T0 + 31 * MIN, ROSTER)
    acked, _ = acknowledge(incident, "300", T0 + 32 * MIN)
    with pytest.raises(IncidentTransitionError, match="acknowledged"):
        escalate_now(acked, "100", T0 + 33 * MIN, ROSTER)


def test_repeat_is_snapshotted_and_old_snapshots_do_not_loop() -> None:
    """repeat survives to_dict/from_dict; a snapshot without it reads 0; 6 is refused."""
    policy = replace(SEED_POLICY, repeat=3)
    assert EscalationPolicy.from_dict(policy.to_dict()).repeat == 3
    plain = policy.to_dict()
    del plain["repeat"]
    assert EscalationPolicy.from_dict(plain).repeat == 0
    with pytest.raises(ValueError, match=r"repeat must be 0\.\.5"):
        replace(SEED_POLICY, repeat=6)
    with pytest.raises(ValueError, match=r"escalation\.repeat: expected a whole number"):
        EscalationPolicy.from_dict({**policy.to_dict(), "repeat": "2"})


def test_config_repeat_out_of_range_names_the_key() -> None:
    """escalation.repeat = 6 is a config error naming escalation.repeat."""
    with pytest.raises(ConfigError, match=r"escalation\.repeat"):
        build_settings({"escalation": {"repeat": 6}}, env={})
    settings = build_settings({"severities": {"P2": {"update_every": "1h"}}}, env={})
    assert settings.severities.P2.update_every == timedelta(hours=1)
    assert settings.severities.P3.update_every == timedelta(0)  # "0m": no cadence


def test_p0_reminder_fires_every_30_minutes_and_counts_the_misses() -> None:
    """P0: reminders at +30 and +60 to the on-call, 2 missed; an update at +70 moves it to +100."""
    incident, _ = _pages(_open(severity=Severity.P0), timedelta(minutes=60))
    assert incident.updates_missed == 2
    reminders = [t for t in incident.timers if t.kind is TimerKind.STATUS_UPDATE and t.fired]
    assert [t.due_at - T0 for t in reminders] == [30 * MIN, 60 * MIN]
    updated, effects = post_update(incident, "100", "  rolled   back ", T0 + 70 * MIN)
    assert [e for e in effects if isinstance(e, StatusUpdate)] == [
        StatusUpdate("100", "rolled back", ("everyone", "stakeholders"))
    ]
    [nxt] = [t for t in updated.pending_timers() if t.kind is TimerKind.STATUS_UPDATE]
    assert nxt.due_at == T0 + 100 * MIN
    assert "2 updates missed" in update_line(updated)


def test_the_owner_is_the_acknowledger_else_the_on_call() -> None:
    """Before an ack the on-call owns the incident; after it, whoever acked."""
    incident = _open(severity=Severity.P0)
    assert owners(incident, T0, ROSTER) == ("100",)
    acked, _ = acknowledge(incident, "300", T0 + MIN)
    _, effects = fire_due(acked, T0 + 30 * MIN, ROSTER)
    [reminder] = [e for e in effects if isinstance(e, UpdateReminder)]
    assert reminder.owners == ("300",)


def test_p2_has_no_cadence_and_a_raise_to_p0_starts_one() -> None:
    """P2 plans no reminder; raised to P0 at +40 it is due at once (+30 already passed)."""
    incident = _open(severity=Severity.P2)
    assert not [t for t in incident.timers if t.kind is TimerKind.STATUS_UPDATE]
    assert update_line(incident) == ""
    raised, _ = change_severity(incident, Severity.P0, "300", T0 + 40 * MIN)
    [due] = [t for t in raised.pending_timers() if t.kind is TimerKind.STATUS_UPDATE]
    assert due.due_at == T0 + 40 * MIN


def test_an_update_on_a_resolved_incident_or_without_text_is_refused() -> None:
    """Empty text raises ValueError; a resolved incident raises a transition error."""
    incident = _open(severity=Severity.P0)
    with pytest.raises(ValueError, match="needs some text"):
        post_update(incident, "100", " ", T0)
    with pytest.raises(ValueError, match="at most 1500"):
        post_update(incident, "100", "x" * 1501, T0)
    closed = replace(incident, status=incident.status.RESOLVED)
    with pytest.raises(IncidentTransitionError):
        post_update(closed, "100", "done", T0)

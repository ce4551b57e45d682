"""Pure rendering of incidents: absolute deadlines, buttons, Discord limits, timelines."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bot.chat.layout import limit_problems
from bot.core.actors import BOT_ACTOR, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.roles import Severity
from bot.incidents.chat.render import incident_spec, list_text, oncall_text, status_spec
from bot.incidents.domain.escalation import SEED_POLICY
from bot.incidents.domain.lifecycle import acknowledge, open_incident, resolve
from bot.incidents.domain.oncall import Coverage, Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE
from bot.incidents.service.notices import ReleaseInfo
from bot.incidents.service.oncall import OncallView

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NAMES = {"tech_lead": "Tech Lead", "eng_manager": "Engineering Manager"}
RELEASE = ReleaseInfo(1, "gw v1.2.3", "gw", "v1.2.3")


def _actor() -> Actor:
    return BOT_ACTOR


def _incident(title: str = "Error rate 0.034 (threshold 0.01)"):
    incident, _ = open_incident(
        1, "error_rate", Severity.P1, title, 0.034, T0, SEED_POLICY, DEFAULT_SLA_TABLE,
        "poll", "releasebot", Roster(primary="100"),
    )  # fmt: skip
    return replace(incident, id=7)


def test_page_shows_each_steps_absolute_deadline_and_the_four_buttons() -> None:
    """Show 09:00/09:15/09:30 UTC for the seed path and Acknowledge, Escalate now, Resolve,
    Roll back."""
    spec = incident_spec(_incident(), RELEASE, T0, NAMES, "<@100> paged")
    fields = {f.name: f.value for f in spec.embeds[0].fields}
    assert fields["Escalation"].splitlines() == [
        "1. On-call engineer — 2026-01-05 09:00 UTC (paged)",
        "2. Tech Lead — 2026-01-05 09:15 UTC (if no ack by then)",
        "3. Engineering Manager — 2026-01-05 09:30 UTC (if no ack by then)",
    ]
    assert fields["SLA (P1)"].splitlines() == [
        "Respond by 2026-01-05 10:00 UTC (1h)",
        "Resolve by 2026-01-06 09:00 UTC (1d)",
    ]
    assert [(b.label, b.custom_id, b.disabled) for b in spec.rows[0]] == [
        ("Acknowledge", "rb:inc-ack:7", False),
        ("Escalate now", "rb:inc-esc:7", False),
        ("Resolve", "rb:inc-resolve:7", False),
        ("Roll back", "rb:rollback:1", False),
    ]
    assert limit_problems(spec) == []


def test_ack_stops_later_steps_and_resolve_disables_the_buttons() -> None:
    """Mark later steps stopped after an ack; disable every button once resolved."""
    acked, _ = acknowledge(_incident(), "300", T0 + timedelta(minutes=3))
    lines = incident_spec(acked, RELEASE, T0 + timedelta(minutes=3), NAMES).embeds[0].fields
    escalation = next(f.value for f in lines if f.name == "Escalation")
    assert escalation.endswith("09:30 UTC (stopped)")
    done, _ = resolve(acked, "300", "reverted", T0 + timedelta(hours=2))
    spec = incident_spec(done, RELEASE, T0 + timedelta(hours=2), NAMES)
    assert all(button.disabled for button in spec.rows[0])
    status = next(f.value for f in spec.embeds[0].fields if f.name == "Status")
    assert status == "Resolved by <@300> at 2026-01-05 11:00 UTC — reverted"


def test_huge_titles_and_timelines_stay_within_discord_limits() -> None:
    """Clip a 300-character title and bound a 500-event timeline without losing the count."""
    incident = _incident("x" * 300)
    events = [
        AuditEvent.record(
            _actor(),
            "incident_page",
            "incident #7",
            T0 + timedelta(minutes=i),
            Source.TIMER,
            1,
            detail="y" * 200,
        )
        for i in range(500)
    ]
    spec = status_spec(incident, RELEASE, events, T0, NAMES)
    assert limit_problems(spec) == []
    assert "earlier events" in (spec.embeds[0].description or "")
    title = spec.embeds[0].title
    assert len(title) == 256 and title.endswith("…")


def test_list_and_oncall_texts() -> None:
    """List incidents one per line; say who each step pages and which override holds."""
    assert list_text([], T0) == "No incidents."
    assert "#7 P1 · Error rate" in list_text([_incident()], T0)
    view = OncallView(
        T0, SEED_POLICY,
        (Coverage(0, "oncall", timedelta(0), ("100",), None),
         Coverage(None, "secondary", timedelta(minutes=5), (), None),
         Coverage(1, "tech_lead", timedelta(minutes=15), ("300",), None)),
        (),
    )  # fmt: skip
    assert oncall_text(view, NAMES).splitlines()[1:] == [
        "1. On-call engineer at 2026-01-05 09:00 UTC: <@100> (static)",
        "1b. On-call secondary at 2026-01-05 09:05 UTC: nobody (static)",
        "2. Tech Lead at 2026-01-05 09:15 UTC: <@300> (static)",
    ]


def test_seen_reads_the_latest_value_in_the_conditions_unit_and_as_is_without_one() -> None:
    """Show "latest value 5.1 %" for a ratio and "412 ms" for seconds; an incident opened
    before its unit was stored (unit "") shows the number as it always did."""

    def seen(value: float, unit: str) -> str:
        incident = replace(_incident(), latest_value=value, unit=unit)
        fields = incident_spec(incident, RELEASE, T0, NAMES).embeds[0].fields
        return next(f.value for f in fields if f.name == "Seen")

    assert seen(0.051, "ratio") == "1 time(s) · latest value 5.1 %"
    assert seen(0.412, "seconds") == "1 time(s) · latest value 412 ms"
    assert seen(0.051, "") == "1 time(s) · latest value 0.051"


def test_escalate_now_is_disabled_once_acknowledged_and_the_loop_is_shown() -> None:
    """After an ack only Escalate now is greyed out; with repeat=1 the field names loop 1 of 2."""
    acked, _ = acknowledge(_incident(), "300", T0 + timedelta(minutes=3))
    states = {b.label: b.disabled for b in incident_spec(acked, RELEASE, T0, NAMES).rows[0]}
    assert states == {
        "Acknowledge": False, "Escalate now": True, "Resolve": False, "Roll back": False,
    }  # fmt: skip
    looping = replace(_incident(), policy=replace(SEED_POLICY, repeat=1))
    fields = incident_spec(looping, RELEASE, T0 + timedelta(minutes=50), NAMES).embeds[0].fields
    escalation = next(f.value for f in fields if f.name == "Escalation")
    assert escalation.splitlines()[:2] == [
        "Loop 2 of 2",
        "1. On-call engineer — 2026-01-05 09:45 UTC (paged)",
    ]

"""Escalation policy validation and snapshot format; on-call roster resolution."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, datetime, timedelta

import pytest

from bot.incidents.domain.escalation import SEED_POLICY, EscalationPolicy, EscalationStep
from bot.incidents.domain.oncall import Override, Roster

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_seed_policy_reads_as_deadlines_from_the_page() -> None:
    """Carry the seed path: oncall +0 (secondary +5m), tech_lead +15m, eng_manager +30m."""
    assert [(s.target, s.after) for s in SEED_POLICY.steps] == [
        ("oncall", timedelta(0)),
        ("tech_lead", timedelta(minutes=15)),
        ("eng_manager", timedelta(minutes=30)),
    ]
    assert SEED_POLICY.secondary_after == timedelta(minutes=5)
    assert SEED_POLICY.ack_timeout == timedelta(minutes=30)
    assert SEED_POLICY.reminder_before == timedelta(minutes=5)


def test_policy_round_trips_through_a_plain_dict() -> None:
    """Turn a policy into a JSON-ready dict and back into an equal policy."""
    policy = EscalationPolicy(
        (
            EscalationStep(0, "oncall", timedelta(0), pagerduty=True),
            EscalationStep(1, "user:123456789012345678", timedelta(seconds=90.5), webhook=True),
        ),
        ack_timeout=timedelta(minutes=45),
        secondary_after=timedelta(minutes=2),
        reminder_before=timedelta(0),
    )
    plain = policy.to_dict()
    assert EscalationPolicy.from_dict(plain) == policy
    assert plain["steps"][1]["after_seconds"] == 90.5  # type: ignore[index]


def test_policy_is_immutable() -> None:
    """Refuse in-place edits of a policy, so a snapshot cannot drift."""
    with pytest.raises(FrozenInstanceError):
        SEED_POLICY.ack_timeout = timedelta(minutes=1)  # type: ignore[misc]
    assert isinstance(SEED_POLICY.steps, tuple)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([], "at least one step"),
        ([{"target": "oncall", "after_seconds": 60}], "must page at once"),
        (
            [
                {"target": "oncall", "after_seconds": 0},
                {"target": "tech_lead", "after_seconds": 900},
                {"target": "eng_manager", "after_seconds": 600},
            ],
            r"steps\[2\] \(eng_manager\) pages at \+0:10:00, before",
        ),
        ([{"target": "Tech Lead", "after_seconds": 0}], r"steps\[0\].*'Tech Lead'"),
        ([{"target": "user:abc", "after_seconds": 0}], "numeric id"),
        ([{"target": "oncall", "after_seconds": "soon"}], r"steps\[0\]\.after_seconds"),
        ([{"target": "oncall", "pagerduty": "yes"}], r"steps\[0\]\.pagerduty"),
        (["oncall"], r"steps\[0\]: expected a mapping"),
    ],
)
def test_policy_from_dict_names_what_is_wrong(steps: list[object], message: str) -> None:
    """Reject a broken policy dict with an error naming the step and key."""
    with pytest.raises(ValueError, match=message):
        EscalationPolicy.from_dict({"version": 1, "steps": steps})


def test_policy_rejects_bad_timings() -> None:
    """Reject a zero ack timeout and a negative reminder lead."""
    with pytest.raises(ValueError, match="ack_timeout must be longer than zero"):
        EscalationPolicy(ack_timeout=timedelta(0))
    with pytest.raises(ValueError, match="reminder_before must be >= 0"):
        EscalationPolicy(reminder_before=timedelta(minutes=-1))


ROSTER = Roster(
    primary="100",
    secondary="200",
    overrides=(),
    role_members={"tech_lead": ["300", "301", "300"], "eng_manager": ["400"]},
)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("oncall", ("100",)),
        ("secondary", ("200",)),
        ("tech_lead", ("300", "301")),
        ("eng_manager", ("400",)),
        ("stakeholders", ()),
        ("user:555", ("555",)),
    ],
)
def test_who_for_resolves_targets(target: str, expected: tuple[str, ...]) -> None:
    """Resolve oncall, secondary, role keys (deduplicated) and user targets to user ids."""
    assert ROSTER.who_for(target, NOW) == expected


def test_override_wins_until_it_expires() -> None:
    """Page the override holder while the override lasts, then the regular primary."""
    override = Override("900", "primary", NOW + timedelta(hours=2), set_by="300")
    roster = ROSTER.with_override(override, NOW)
    assert roster.who_for("oncall", NOW) == ("900",)
    assert roster.who_for("oncall", NOW + timedelta(hours=2)) == ("100",)
    assert roster.who_for("secondary", NOW) == ("200",)


def test_newest_override_wins_and_can_be_removed() -> None:
    """Let the most recent override win; removing the role's overrides restores the primary."""
    roster = ROSTER.with_override(Override("901", "primary", NOW + timedelta(hours=1), "300"), NOW)
    roster = roster.with_override(Override("902", "primary", NOW + timedelta(hours=1), "300"), NOW)
    assert roster.who_for("oncall", NOW) == ("902",)
    assert roster.without_override("primary", NOW).who_for("oncall", NOW) == ("100",)


def test_role_override_replaces_role_members() -> None:
    """An override on a role key pages the stand-in instead of the role's members."""
    roster = ROSTER.with_override(Override("777", "tech_lead", NOW + timedelta(days=1), "400"), NOW)
    assert roster.who_for("tech_lead", NOW) == ("777",)


def test_describe_shows_who_each_step_pages_now() -> None:
    """List every step (and the secondary) with the user ids paged right now."""
    override = Override("900", "primary", NOW + timedelta(hours=2), set_by="300")
    rows = ROSTER.with_override(override, NOW).describe(NOW, SEED_POLICY)
    assert [(r.target, r.pages_at, r.user_ids) for r in rows] == [
        ("oncall", timedelta(0), ("900",)),
        ("secondary", timedelta(minutes=5), ("200",)),
        ("tech_lead", timedelta(minutes=15), ("300", "301")),
        ("eng_manager", timedelta(minutes=30), ("400",)),
    ]
    assert rows[0].override == override
    assert rows[1].override is None


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Roster(primary="ann"), "roster primary must be a numeric user id"),
        (lambda: Override("1", "oncall", NOW, "2"), "spelled 'primary'"),
        (lambda: Override("1", "user:5", NOW, "2"), "must be a role key"),
        (lambda: Override("x", "primary", NOW, "2"), "override user_id"),
        (
            lambda: Override("1", "primary", datetime(2026, 1, 5), "2"),  # noqa: DTZ001
            "timezone-aware",
        ),
        (lambda: ROSTER.who_for("Tech Lead", NOW), "escalation target 'Tech Lead'"),
    ],
)
def test_roster_rejects_bad_input(make: object, message: str) -> None:
    """Reject malformed user ids, roles and naive times with a clear message."""
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]

"""SLA clocks: seed defaults, deadlines, business days and the snapshot format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.roles import Severity
from bot.incidents.domain.sla import (
    DEFAULT_SLA_TABLE,
    NEXT_RELEASE,
    BusinessDays,
    SlaPolicy,
    SlaTable,
    deadline,
    describe_duration,
)

FRIDAY_17 = datetime(2026, 1, 9, 17, 0, tzinfo=UTC)


def test_seed_defaults_match_the_checklist() -> None:
    """Carry the seed table: P0 15m/4h, P1 1h/24h, P2 4h/3d, P3 1 business day/next release."""
    got = {
        sev.value: (
            describe_duration(p.response),
            describe_duration(p.resolution),
            p.notify,
        )
        for sev, p in DEFAULT_SLA_TABLE.policies.items()
    }
    assert got == {
        "P0": ("15m", "4h", ("everyone", "stakeholders")),
        "P1": ("1h", "1d", ("tech_lead", "stakeholders")),
        "P2": ("4h", "3d", ("dev_team",)),
        "P3": ("1 business day", "next release", ("dev_team",)),
    }


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (FRIDAY_17, 1, datetime(2026, 1, 12, 17, 0, tzinfo=UTC)),  # Fri -> Mon
        (FRIDAY_17, 2, datetime(2026, 1, 13, 17, 0, tzinfo=UTC)),  # Fri -> Tue
        (datetime(2026, 1, 8, 9, 30, tzinfo=UTC), 1, datetime(2026, 1, 9, 9, 30, tzinfo=UTC)),
        (datetime(2026, 1, 8, 9, 30, tzinfo=UTC), 3, datetime(2026, 1, 13, 9, 30, tzinfo=UTC)),
        # Saturday and Sunday count from Monday 00:00.
        (datetime(2026, 1, 10, 11, 0, tzinfo=UTC), 1, datetime(2026, 1, 13, 0, 0, tzinfo=UTC)),
        (datetime(2026, 1, 11, 23, 59, tzinfo=UTC), 1, datetime(2026, 1, 13, 0, 0, tzinfo=UTC)),
        (FRIDAY_17, 5, datetime(2026, 1, 16, 17, 0, tzinfo=UTC)),  # a whole week
    ],
)
def test_business_days_skip_weekends(start: datetime, days: int, expected: datetime) -> None:
    """Count business days Monday to Friday, skipping the weekend."""
    assert deadline(start, BusinessDays(days)) == expected


def test_business_days_follow_the_configured_timezone() -> None:
    """Friday 17:00 in New York + 1 business day is Monday 17:00 there, across a DST change."""
    ny = ZoneInfo("America/New_York")
    # 2026-03-06 is a Friday; DST starts Sunday 2026-03-08.
    start = datetime(2026, 3, 6, 17, 0, tzinfo=ny)
    due = deadline(start, BusinessDays(1), ny)
    assert due is not None
    assert due.astimezone(ny).replace(tzinfo=None) == datetime(2026, 3, 9, 17, 0)  # noqa: DTZ001
    assert due.tzinfo is UTC
    assert due - start == timedelta(days=3) - timedelta(hours=1)


def test_business_day_boundary_depends_on_timezone() -> None:
    """Friday 23:00 UTC is already Saturday in Tokyo, so counting starts Monday there."""
    start = datetime(2026, 1, 9, 23, 0, tzinfo=UTC)
    table = SlaTable(timezone="Asia/Tokyo")
    tokyo_due = deadline(start, BusinessDays(1), table.zone)
    assert tokyo_due == datetime(2026, 1, 12, 15, 0, tzinfo=UTC)  # Tuesday 00:00 JST
    assert deadline(start, BusinessDays(1)) == datetime(2026, 1, 12, 23, 0, tzinfo=UTC)


def test_plain_durations_and_next_release() -> None:
    """Add a timedelta as is; NEXT_RELEASE has no deadline."""
    assert deadline(FRIDAY_17, timedelta(hours=4)) == FRIDAY_17 + timedelta(hours=4)
    assert deadline(FRIDAY_17, NEXT_RELEASE) is None


def test_deadline_rejects_naive_start() -> None:
    """Reject a naive start time."""
    with pytest.raises(ValueError, match="timezone-aware"):
        deadline(datetime(2026, 1, 9, 17, 0), timedelta(hours=1))  # noqa: DTZ001 - the bad input


def test_table_round_trips_through_a_plain_dict() -> None:
    """Turn the table into a JSON-ready dict and back into an equal table."""
    table = SlaTable(
        {**DEFAULT_SLA_TABLE.policies, Severity.P2: SlaPolicy(BusinessDays(2), timedelta(days=3))},
        timezone="Europe/Berlin",
    )
    plain = table.to_dict()
    assert SlaTable.from_dict(plain) == table
    assert plain["severities"]["P3"] == {  # type: ignore[index]
        "response": {"business_days": 1},
        "resolution": "next_release",
        "notify": ["dev_team"],
        "update_every_seconds": None,
    }
    assert plain["severities"]["P0"]["update_every_seconds"] == 1800  # type: ignore[index]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["severities"].pop("P2"), "no policy for P2"),
        (lambda d: d["severities"]["P1"].update(response={"seconds": -5}), r"P1\.response"),
        (lambda d: d["severities"]["P0"].update(resolution="soon"), r"P0\.resolution"),
        (lambda d: d["severities"]["P3"].update(response={"business_days": 0}), ">= 1"),
        (lambda d: d["severities"].update(P7=d["severities"]["P0"]), "unknown severity 'P7'"),
        (lambda d: d.update(timezone="Mars/Olympus"), "unknown SLA timezone"),
    ],
)
def test_table_from_dict_names_what_is_wrong(mutate: object, message: str) -> None:
    """Reject a broken SLA dict with an error naming the key."""
    plain = DEFAULT_SLA_TABLE.to_dict()
    mutate(plain)  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        SlaTable.from_dict(plain)


def test_severity_parse() -> None:
    """Parse severities case-insensitively and reject unknown ones with the allowed list."""
    assert Severity.parse(" p0 ") is Severity.P0
    with pytest.raises(ValueError, match="expected one of P0, P1, P2, P3"):
        Severity.parse("SEV1")


def test_policy_rejects_zero_duration() -> None:
    """Reject a zero or negative SLA duration."""
    with pytest.raises(ValueError, match="response must be longer than zero"):
        SlaPolicy(timedelta(0), timedelta(hours=1))

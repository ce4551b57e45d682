"""Duration strings and SLA durations: parsing, formatting and rejection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import SlaDuration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("0m", timedelta(0)),
        (" 1d12h ", timedelta(days=1, hours=12)),
        ("1H", timedelta(hours=1)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    """Parse every documented duration spelling."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["15", "900", "", "15 minutes", "1.5h", "30m1h", "-5m", "1h 30m"])
def test_parse_duration_rejects_with_hint(text: str) -> None:
    """Reject bare numbers and malformed text with the "15m" hint."""
    with pytest.raises(ValueError, match='expected a duration like "15m"'):
        parse_duration(text)


def test_parse_duration_explains_business_days() -> None:
    """Reject "1bd" outside SLAs, saying where business days are allowed."""
    with pytest.raises(ValueError, match="only allowed for severity SLAs"):
        parse_duration("1bd")


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_round_trips(seconds: int) -> None:
    """Return the same duration after formatting and parsing it again."""
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("text", "expected", "spelling"),
    [
        ("15m", SlaDuration.of(timedelta(minutes=15)), "15m"),
        ("24h", SlaDuration.of(timedelta(hours=24)), "1d"),
        ("1bd", SlaDuration.days(1), "1bd"),
        ("3bd", SlaDuration.days(3), "3bd"),
        ("next-release", SlaDuration.next_release(), "next-release"),
        ("next release", SlaDuration.next_release(), "next-release"),
    ],
)
def test_sla_duration_parses_each_kind(text: str, expected: SlaDuration, spelling: str) -> None:
    """Parse spans, business days and "next release", and spell them back."""
    parsed = SlaDuration.parse(text)
    assert parsed == expected
    assert str(parsed) == spelling


@pytest.mark.parametrize("text", ["0bd", "0m", "soon", "4"])
def test_sla_duration_rejects(text: str) -> None:
    """Reject SLAs with no usable deadline."""
    with pytest.raises(ValueError, match=r"expected|at least|longer than"):
        SlaDuration.parse(text)


def test_sla_duration_has_deadline_only_when_it_should() -> None:
    """Carry a span only for span SLAs and nothing for "next release"."""
    assert SlaDuration.next_release().span is None
    assert SlaDuration.next_release().business_days is None
    assert SlaDuration.days(2).business_days == 2

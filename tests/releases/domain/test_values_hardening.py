"""Issue 12 reproducers for release values: strict ASCII semver, empty windows, odd zones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.chat import ids
from bot.core.errors import InvalidInput
from bot.incidents.service.oncall import parse_until
from bot.releases.domain.values import DeploymentWindow, Version


@pytest.mark.parametrize(
    "text",
    ["v1.2٣.3", "v1.2.3-rc.01", "v01.2.3", "v1.2.3-rc..1", "v1.2.3\n-x", "v" + "1" * 100 + ".0.0"],
)
def test_versions_are_strict_ascii_semver(text: str) -> None:
    """Unicode digits, leading zeros in numeric pre-release parts and junk are refused."""
    with pytest.raises(InvalidInput, match="ASCII digits"):
        Version.parse(text)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("v1.2.3", "v1.2.3"), ("v1.2.3-rc.1", "v1.2.3-rc.1"), ("v1.2.3-0a.10", "v1.2.3-0a.10")],
)
def test_valid_versions_still_parse(text: str, shown: str) -> None:
    """Ordinary versions keep working and are not rewritten."""
    assert str(Version.parse(text)) == shown


def test_an_empty_window_is_refused() -> None:
    """`10:00-10:00` is empty, not 24 hours."""
    with pytest.raises(InvalidInput, match="empty"):
        DeploymentWindow.parse("2026-12-01 10:00-10:00")
    crossing = DeploymentWindow.parse("2026-12-01 22:00-02:00")
    assert (crossing.end - crossing.start).total_seconds() == 4 * 3600


@pytest.mark.parametrize("zone", ["Europe", "+99:00", "Z" * 300, "٣"])
def test_odd_zones_are_refused_plainly(zone: str) -> None:
    """A tzdata directory, an impossible offset or a long name are InvalidInput, not a crash."""
    with pytest.raises(InvalidInput):
        DeploymentWindow.parse(f"2026-12-01 10:00-12:00 {zone}")


@pytest.mark.parametrize("text", ["1" * 25, "²", "٣", "9223372036854775808"])
def test_control_ids_are_ascii_and_in_range(text: str) -> None:
    """A 25-digit id, a superscript or an Arabic-Indic digit is a plain refusal."""
    with pytest.raises(InvalidInput, match="not a valid number"):
        ids.parse(ids.REFRESH_TEMPLATE, f"rb:refresh:{text}")
    assert ids.parse(ids.REFRESH_TEMPLATE, "rb:refresh:9223372036854775807") == {
        "release": 2**63 - 1
    }


def test_an_absurd_override_is_refused_not_an_overflow() -> None:
    """`/oncall set until:999999999d` is "too far away", not an OverflowError."""
    now = datetime(2026, 3, 2, 10, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="days away"):
        parse_until("999999999d", now)

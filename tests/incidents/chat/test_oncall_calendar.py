"""/oncall show through SimCord with the on-call primary read from an iCal rotation file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings
from tests.incidents.chat.harness import said
from tests.support.world import make_settings

if TYPE_CHECKING:
    from tests.support.world import World


def rotation(user_id: str) -> str:
    """Return a weekly rotation naming `user_id` by mention, Mondays 08:00 UTC on."""
    return (
        "BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//releasebot tests//EN\nBEGIN:VEVENT\n"
        "UID:week@example.org\nDTSTAMP:20260101T000000Z\nDTSTART:20251229T080000Z\n"
        f"DTEND:20260105T080000Z\nRRULE:FREQ=WEEKLY\nSUMMARY:<@{user_id}>\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )


def write(path: Path, text: str) -> None:
    """Write the calendar file (a few hundred bytes; no need for a thread)."""
    path.write_text(text)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings whose on-call calendar is a file the test writes (Omar is static)."""
    oncall = {"primary": "omar", "calendar": str(tmp_path / "rotation.ics")}
    return make_settings(tmp_path / "releasebot.db", oncall=oncall)


async def test_oncall_show_names_the_calendar_as_the_source(world: World, settings) -> None:
    """Show Dora (from the calendar event) on step 1, with "calendar" as the source."""
    assert settings.oncall.calendar is not None
    write(Path(settings.oncall.calendar), rotation(str(world.dora.id)))
    shown = said(await world.tom.slash(world.channel, "oncall show"))
    assert f"1. On-call engineer at 2026-01-05 09:00 UTC: {world.dora.mention} (calendar)" in shown
    assert f"calendar event '<@{world.dora.id}>' names {world.dora.mention}" in shown

"""The `[checklist]` limits reach `/release start`; stored snapshots load whatever the limits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import simcord

from bot.app import create_bot
from bot.checklist import TemplateError, parse_template
from bot.checklist.limits import TemplateLimits
from bot.releases.store.templates import parsed
from tests.support.world import ROOM_EXTENSIONS, ROOT, make_settings

if TYPE_CHECKING:
    from bot.core.clock import FakeClock


async def test_configured_checklist_limits_apply_to_the_started_bot(
    tmp_path: Path, clock: FakeClock
) -> None:
    """A template over the configured items-per-phase limit stops the bot, naming the limit."""
    settings = make_settings(
        tmp_path / "db.sqlite",
        checklist={"path": str(ROOT / "config/checklists/release.md"), "max_items_per_phase": 1},
    )
    bot = create_bot(settings, clock=clock, extensions=ROOM_EXTENSIONS)
    with pytest.raises(TemplateError, match="max_items_per_phase"):
        async with simcord.run(bot):
            pass
    await bot.close()


def test_a_stored_snapshot_loads_past_todays_limits() -> None:
    """A snapshot bigger than the default limits (a release started before) still parses."""
    items = "\n".join(f"- [ ] item {n}" for n in range(TemplateLimits().max_items_per_phase + 5))
    body = f"# Release\n\n## Phase one\n\n{items}\n"
    with pytest.raises(TemplateError):
        parse_template(body, "strict")
    template = parsed("snapshot-over-limits", body, "stored")
    assert len(template.items()) == TemplateLimits().max_items_per_phase + 5

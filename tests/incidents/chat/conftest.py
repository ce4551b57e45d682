"""Discord tests: the SimCord world, the bot under test, and no unexpected logged errors.

Most incident tests share one world: Omar on call and the bot with the incident extension.
The `settings` and `simcord_bot` fixtures here say so once; a test file that needs another
world overrides either fixture.
"""

from pathlib import Path

import pytest

from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from tests.incidents.chat.harness import PAGING, incident_bot
from tests.support.world import (  # noqa: F401  (fixtures)
    _no_unexpected_errors,
    allow_logged_errors,
    make_settings,
    world,
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return test settings with Omar as the on-call primary."""
    return make_settings(tmp_path / "releasebot.db", **PAGING)


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with the incident extension and the members intent (see senders.py)."""
    return incident_bot(settings, clock)

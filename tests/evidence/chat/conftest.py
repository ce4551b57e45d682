"""SimCord fixtures for the evidence chat tests: the real bot, the loopback GitHub behind it.

Faked: Discord (SimCord runs the real discord.py against a simulated Discord) and GitHub
(bot/sandbox/github.py, GitHub's own REST shapes); the bot's githubkit client, store,
timers and outbox are the real ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.releases.chat.bot import ReleaseBot
from bot.sandbox.github import GitHubSandbox, seed_release
from tests.support.world import (  # noqa: F401  (fixtures)
    SERVICE,
    _no_unexpected_errors,
    allow_logged_errors,
    make_settings,
    world,
)

# The release room, monitoring (Post-Release opens its window) and the evidence extension.
EXTENSIONS = [
    "bot.releases.chat.commands",
    "bot.releases.chat.signoffs",
    "bot.monitoring.chat.cog",
    "bot.evidence.chat.cog",
]


@pytest.fixture
async def github(clock: FakeClock) -> AsyncIterator[GitHubSandbox]:
    """Serve a repository holding a good v1.4.0 under GitHub Enterprise's /api/v3."""
    server = GitHubSandbox(prefix="/api/v3", clock=clock.now)
    seed_release(server)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def settings(tmp_path: Path, github: GitHubSandbox) -> Settings:
    """Return settings with GitHub evidence on, pointed at the loopback GitHub."""
    service = {
        **SERVICE,
        "github": {
            "repository": "nexis/nexis",
            "assets": ["nexis-v{version}-linux-x86_64.tar.gz"],
        },
    }
    return make_settings(
        tmp_path / "releasebot.db",
        services=[service],
        github={"enabled": True, "api_url": github.base_url, "web_url": "https://github.example"},
    )


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot under test with the release room and the evidence extension."""
    return create_bot(settings, clock=clock, extensions=EXTENSIONS)

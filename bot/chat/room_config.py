"""The part of the settings the Discord side needs, read once from `Settings`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bot.config import ROLE_KEYS, Settings
from bot.core.actors import ROLE_TITLES


@dataclass(frozen=True)
class RoomConfig:
    """Guild, release channel, sign-off emoji, role references and releasable services."""

    guild_id: int | None = None
    release_channel: str = "releases"
    signoff_emoji: str = "✅"
    role_refs: Mapping[str, str] = field(default_factory=dict)
    services: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> RoomConfig:
        """Return the chat's view of `settings`."""
        return cls(
            guild_id=settings.discord.guild_id,
            release_channel=settings.discord.release_channel,
            signoff_emoji=settings.discord.signoff_emoji,
            role_refs={key: settings.roles.discord_role(key) for key in ROLE_KEYS},
            services=tuple(service.name for service in settings.services),
        )

    def role_name(self, key: str) -> str:
        """Return how to name role `key` to a person: its Discord name, or its title for an id."""
        ref = self.role_refs.get(key, "")
        if ref and not ref.strip().isdigit():
            return ref.strip()
        return ROLE_TITLES.get(key, key)

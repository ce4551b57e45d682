"""Who is who: the Discord server, role names, who may do what, and who is on call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from bot.config.base import DiscordRef, NonEmptyStr, RoleKey, SectionModel, fail
from bot.config.durations import Duration
from bot.config.problems import ConfigProblem
from bot.core.roles import ROLE_KEYS


class DiscordSettings(SectionModel):
    """Say which Discord server and channels the bot works in."""

    guild_id: int | None = None
    release_channel: DiscordRef = "releases"
    alerts_channel: DiscordRef = "releases"
    signoff_emoji: NonEmptyStr = "✅"

    @model_validator(mode="before")
    @classmethod
    def _alerts_default_to_release_channel(cls, data: Any) -> Any:
        """Post alerts in the release channel unless another channel is named."""
        if isinstance(data, dict) and data.get("alerts_channel") is None:
            return {**data, "alerts_channel": data.get("release_channel", "releases")}
        return data

    @field_validator("guild_id")
    @classmethod
    def _positive_guild(cls, value: int | None) -> int | None:
        """Reject ids that no Discord server can have."""
        if value is not None and value <= 0:
            raise fail("expected a Discord server id (a positive number)")
        return value


class RoleSettings(SectionModel):
    """Map each role key used by the bot to a Discord role name or numeric id."""

    key_noun: ClassVar[str] = "role key"

    release_lead: DiscordRef = "Release Lead"
    tech_lead: DiscordRef = "Tech Lead"
    devops: DiscordRef = "DevOps"
    oncall: DiscordRef = "On-call"
    eng_manager: DiscordRef = "Engineering Manager"
    stakeholders: DiscordRef = "Stakeholders"
    dev_team: DiscordRef = "Developers"

    def discord_role(self, role_key: str) -> str:
        """Return the Discord role name or id configured for `role_key`."""
        if role_key not in type(self).model_fields:
            raise KeyError(f"unknown role key {role_key!r}")
        return str(getattr(self, role_key))


_EVERYONE_WHO_TICKS = ["release_lead", "tech_lead", "devops", "oncall", "eng_manager", "dev_team"]
_LEADS = ["release_lead", "tech_lead"]
_INCIDENT_OWNERS = ["oncall", "tech_lead", "eng_manager"]


def _roles(*keys: str) -> Any:
    """Return a list-valued field default (a fresh list each time)."""
    return Field(default_factory=lambda: list(keys))


class PermissionSettings(SectionModel):
    """List, for each privileged action, the role keys allowed to take it."""

    key_noun: ClassVar[str] = "permission action"

    start: list[RoleKey] = _roles(*_LEADS)
    tick: list[RoleKey] = _roles(*_EVERYONE_WHO_TICKS)
    waive: list[RoleKey] = _roles(*_LEADS)
    advance: list[RoleKey] = _roles(*_LEADS)
    abort: list[RoleKey] = _roles(*_LEADS, "eng_manager")
    note: list[RoleKey] = _roles(*_EVERYONE_WHO_TICKS)
    rollback: list[RoleKey] = _roles("devops", "oncall", "tech_lead")
    deploy: list[RoleKey] = _roles("devops")
    override_window: list[RoleKey] = _roles("tech_lead", "eng_manager")
    monitor: list[RoleKey] = _roles("devops", "oncall", "tech_lead")
    close_monitoring: list[RoleKey] = _roles("tech_lead", "eng_manager")
    ack: list[RoleKey] = _roles(*_INCIDENT_OWNERS)
    resolve: list[RoleKey] = _roles(*_INCIDENT_OWNERS)
    severity: list[RoleKey] = _roles(*_INCIDENT_OWNERS)
    oncall_set: list[RoleKey] = _roles("tech_lead", "eng_manager")
    silence: list[RoleKey] = _roles("oncall", "tech_lead", "devops")

    @model_validator(mode="before")
    @classmethod
    def _note_follows_tick(cls, data: Any) -> Any:
        """Let anyone who may tick items add notes, unless `note` is set on its own."""
        if isinstance(data, dict) and "note" not in data and _role_keys_only(data.get("tick")):
            return {**data, "note": data["tick"]}
        return data

    @classmethod
    def actions(cls) -> tuple[str, ...]:
        """Return every action name, in declaration order."""
        return tuple(cls.model_fields)

    def roles_for(self, action: str) -> tuple[str, ...]:
        """Return the role keys allowed to take `action`; raise KeyError for unknown actions."""
        if action not in type(self).model_fields:
            raise KeyError(f"unknown permission action {action!r}")
        return tuple(getattr(self, action))


def _role_keys_only(value: object) -> bool:
    """Return True for a list of known role keys (a bad list is reported under its own key)."""
    return isinstance(value, list) and all(key in ROLE_KEYS for key in value)


class OncallSettings(SectionModel):
    """Name the on-call engineers and when the secondary is paged too."""

    primary: DiscordRef | None = None
    secondary: DiscordRef | None = None
    secondary_after: Duration = timedelta(minutes=5)
    # An iCal URL (http/https) or file path; the event at the page time names the primary.
    calendar: NonEmptyStr | None = None
    calendar_refresh: Duration = timedelta(minutes=5)
    # Who an event names (ATTENDEE e-mail or SUMMARY) -> Discord user id.
    calendar_people: dict[str, str] = Field(default_factory=dict)

    def problems(self) -> list[ConfigProblem]:
        """Reject a secondary with no primary, a too-eager refresh and non-numeric people."""
        found: list[ConfigProblem] = []
        if self.secondary is not None and self.primary is None:
            found.append(ConfigProblem("secondary", "set, but oncall.primary is not"))
        if self.calendar_refresh < timedelta(seconds=10):
            found.append(ConfigProblem("calendar_refresh", "must be at least 10s"))
        found += [
            ConfigProblem(f"calendar_people.{name}", f"expected a Discord user id, got {ref!r}")
            for name, ref in self.calendar_people.items()
            if not ref.strip().isdigit()
        ]
        return found

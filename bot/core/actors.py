"""Who acts, what they may do, and how the roles they hold map to actions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.errors import NotAuthorized
from bot.core.roles import ROLE_KEYS, ROLE_TITLES

__all__ = ["ROLE_KEYS", "ROLE_TITLES"]  # re-exported: imported from here by callers

_PARTICIPANTS = frozenset(
    {"release_lead", "tech_lead", "devops", "oncall", "eng_manager", "dev_team"}
)

DEFAULT_PERMISSIONS: Mapping[str, frozenset[str]] = {
    "start": frozenset({"release_lead", "tech_lead"}),
    "tick": _PARTICIPANTS,
    "note": _PARTICIPANTS,
    "waive": frozenset({"release_lead", "tech_lead"}),
    "advance": frozenset({"release_lead", "tech_lead"}),
    "abort": frozenset({"release_lead", "tech_lead", "eng_manager"}),
    "rollback": frozenset({"devops", "oncall", "tech_lead"}),
    "deploy": frozenset({"devops"}),
    "override_window": frozenset({"tech_lead", "eng_manager"}),
    "monitor": frozenset({"devops", "oncall", "tech_lead"}),
    "ack": frozenset({"oncall", "tech_lead", "eng_manager"}),
    "resolve": frozenset({"oncall", "tech_lead", "eng_manager"}),
    "severity": frozenset({"oncall", "tech_lead", "eng_manager"}),
    "oncall_set": frozenset({"tech_lead", "eng_manager"}),
    "silence": frozenset({"oncall", "tech_lead", "devops"}),
}


class Source(StrEnum):
    """Where an action came from; recorded on every audit event."""

    SLASH = "slash"
    BUTTON = "button"
    SELECT = "select"
    MODAL = "modal"
    REACTION = "reaction"
    TIMER = "timer"
    WEBHOOK = "webhook"
    PAGERDUTY = "pagerduty"
    CLI = "cli"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """A person (or the bot) acting, with the role keys they hold right now."""

    id: str
    name: str
    roles: frozenset[str] = field(default_factory=frozenset)
    is_bot: bool = False

    def holds(self, role: str) -> bool:
        """Return True if the actor holds `role`."""
        return role in self.roles


BOT_ACTOR = Actor(id="releasebot", name="releasebot", roles=frozenset(ROLE_KEYS), is_bot=True)


@dataclass(frozen=True)
class AccessPolicy:
    """Map each privileged action to the role keys allowed to perform it."""

    permissions: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: dict(DEFAULT_PERMISSIONS)
    )

    def allowed_roles(self, action: str) -> frozenset[str]:
        """Return the role keys that may perform `action` (KeyError for an unknown action)."""
        try:
            return self.permissions[action]
        except KeyError:
            raise KeyError(f"unknown action {action!r}") from None

    def may(self, actor: Actor, action: str, *, lead_id: str | None = None) -> bool:
        """Return True if `actor` may do `action`; the release's lead counts as release_lead."""
        roles = set(actor.roles)
        if lead_id is not None and actor.id == lead_id:
            roles.add("release_lead")
        return bool(roles & self.allowed_roles(action))

    def require(
        self, actor: Actor, action: str, *, lead_id: str | None = None, target: str = ""
    ) -> None:
        """Raise NotAuthorized unless `actor` may perform `action`."""
        if not self.may(actor, action, lead_id=lead_id):
            raise NotAuthorized(action, actor.name, self.allowed_roles(action), target)

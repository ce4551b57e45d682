"""On-call roster: who an escalation target resolves to at a given moment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.incidents.domain.escalation import ONCALL, SECONDARY, EscalationPolicy, check_target

PRIMARY = "primary"
# Where a step's people come from, as `/oncall show` names it.
CALENDAR, OVERRIDE, STATIC, ROLE = "calendar", "override", "static", "role"


def _check_user_id(user_id: str, what: str) -> str:
    if not isinstance(user_id, str) or not user_id.isdigit():
        raise ValueError(f"{what} must be a numeric user id string, got {user_id!r}")
    return user_id


@dataclass(frozen=True, slots=True)
class Override:
    """Stand in for `role` ("primary", "secondary" or a role key) until `until`."""

    user_id: str
    role: str
    until: datetime
    set_by: str

    def __post_init__(self) -> None:
        _check_user_id(self.user_id, "override user_id")
        if self.role != PRIMARY:
            check_target(self.role)
        if self.role == ONCALL:
            raise ValueError("override role 'oncall' is spelled 'primary'")
        if self.role.startswith("user:"):
            raise ValueError(f"override role must be a role key, got {self.role!r}")
        if self.until.tzinfo is None:
            raise ValueError("override 'until' must be timezone-aware")

    def active(self, now: datetime) -> bool:
        """Return True while the override is in force."""
        return now < self.until


@dataclass(frozen=True, slots=True)
class Coverage:
    """Say whom one escalation step would page right now, and why."""

    step_index: int | None
    target: str
    pages_at: timedelta
    user_ids: tuple[str, ...]
    override: Override | None
    source: str = STATIC


@dataclass(frozen=True, slots=True)
class Roster:
    """Hold the primary and secondary on-call, temporary overrides and role membership."""

    primary: str | None = None
    secondary: str | None = None
    overrides: tuple[Override, ...] = ()
    role_members: Mapping[str, Sequence[str]] = field(default_factory=dict)
    # How `primary` was chosen: "calendar" (the rotation's event now) or "static" (config).
    primary_source: str = STATIC

    def __post_init__(self) -> None:
        for name in (PRIMARY, SECONDARY):
            value = getattr(self, name)
            if value is not None:
                _check_user_id(value, f"roster {name}")
        object.__setattr__(self, "overrides", tuple(self.overrides))

    def override_for(self, role: str, now: datetime) -> Override | None:
        """Return the override in force for `role`, the most recently added one winning."""
        for override in reversed(self.overrides):
            if override.role == role and override.active(now):
                return override
        return None

    def who_for(self, target: str, now: datetime) -> tuple[str, ...]:
        """Return the user ids that `target` pages at `now` (empty when nobody is set)."""
        check_target(target)
        if target.startswith("user:"):
            return (target.removeprefix("user:"),)
        role = PRIMARY if target == ONCALL else target
        override = self.override_for(role, now)
        if override is not None:
            return (override.user_id,)
        if target == ONCALL:
            if self.primary:
                return (self.primary,)
            # No primary named in the config: whoever holds the on-call role is on call.
            return tuple(dict.fromkeys(self.role_members.get(ONCALL, ())))
        if target == SECONDARY:
            return (self.secondary,) if self.secondary else ()
        return tuple(dict.fromkeys(self.role_members.get(target, ())))

    def with_override(self, override: Override, now: datetime) -> Roster:
        """Return a roster with `override` added and expired overrides dropped."""
        kept = tuple(o for o in self.overrides if o.active(now))
        return replace(self, overrides=(*kept, override))

    def without_override(self, role: str, now: datetime) -> Roster:
        """Return a roster where `role` falls back to its regular holder."""
        kept = tuple(o for o in self.overrides if o.active(now) and o.role != role)
        return replace(self, overrides=kept)

    def source_of(self, target: str, now: datetime) -> str:
        """Return where `target`'s people come from at `now`: override, calendar, static, role."""
        if target.startswith("user:"):
            return STATIC
        role = PRIMARY if target == ONCALL else target
        if self.override_for(role, now) is not None:
            return OVERRIDE
        if target == ONCALL:
            return self.primary_source if self.primary else ROLE
        return STATIC if target == SECONDARY else ROLE

    def _coverage(
        self, index: int | None, target: str, after: timedelta, now: datetime
    ) -> Coverage:
        role = PRIMARY if target == ONCALL else target
        return Coverage(
            index,
            target,
            after,
            self.who_for(target, now),
            self.override_for(role, now),
            self.source_of(target, now),
        )

    def describe(self, now: datetime, policy: EscalationPolicy) -> tuple[Coverage, ...]:
        """Return, step by step, whom `policy` would page if an incident opened at `now`."""
        rows: list[Coverage] = []
        for step in policy.steps:
            rows.append(self._coverage(step.index, step.target, step.after, now))
            if step.target == ONCALL and step.index == 0:
                rows.append(self._coverage(None, SECONDARY, policy.secondary_after, now))
        return tuple(rows)

"""On-call use-cases: who each escalation step pages right now, and temporary overrides.

Role holders are looked up through the `MemberDirectory` port at the moment a page is
decided (not when the message is sent): the incident records who was paged, and that
record is what lets a paged person acknowledge without holding an incident role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, cast

from bot.config import Settings
from bot.config.durations import parse_duration
from bot.core.actors import ROLE_KEYS, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import InvalidInput, NotAuthorized
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.incidents.calendar.source import CalendarRead
from bot.incidents.domain.escalation import SECONDARY, EscalationPolicy
from bot.incidents.domain.oncall import CALENDAR, PRIMARY, STATIC, Coverage, Override, Roster
from bot.incidents.domain.ports import IncidentUnitOfWork, MemberDirectory, StoredOverride
from bot.incidents.service.policy import escalation_policy

CALENDAR_WARNING_KIND = "channel"  # the Discord channel sender posts a plain text payload
MAX_OVERRIDE = timedelta(days=31)
OVERRIDE_ROLES = (PRIMARY, SECONDARY, *ROLE_KEYS)
_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})(?::\d{2})?\s*(?:z|utc)?", re.I)


def parse_until(text: str, now: datetime) -> datetime:
    """Return the end of an override: a duration from now ("8h") or a UTC time.

    Accepted: "8h", "2d12h", "2026-03-02 18:00" (read as UTC), "2026-03-02T18:00Z".
    """
    cleaned = (text or "").strip()
    if not cleaned:
        raise InvalidInput('"until" is empty: give a duration like "8h" or "2026-03-02 18:00"')
    match = _DATE_TIME.fullmatch(cleaned)
    if match is not None:
        try:
            until = datetime.fromisoformat(f"{match[1]}T{match[2].zfill(5)}").replace(tzinfo=UTC)
        except ValueError:
            raise InvalidInput(f'"until" {cleaned!r} is not a real date and time') from None
    else:
        try:
            delta = parse_duration(cleaned)
        except (ValueError, OverflowError):
            delta = None
        if delta is not None and delta > MAX_OVERRIDE:
            raise InvalidInput(
                f'"until" is more than {MAX_OVERRIDE.days} days away; set a nearer end'
            )
        if delta is None:
            raise InvalidInput(
                f'"until" {cleaned!r} is neither a duration like "8h" nor a UTC time like '
                '"2026-03-02 18:00"'
            )
        until = now + delta
    if until <= now:
        raise InvalidInput(f'"until" {until:%Y-%m-%d %H:%M} UTC is not in the future')
    if until - now > MAX_OVERRIDE:
        raise InvalidInput(f'"until" is more than {MAX_OVERRIDE.days} days away; set a nearer end')
    return until


class RotationCalendar(Protocol):
    """Where the on-call rotation is read (bot.incidents.calendar.source.CalendarSource)."""

    location: str

    async def shift_at(self, now: datetime, *, warn: bool = True) -> CalendarRead:
        """Return who the calendar names at `now`, or why it cannot say."""
        ...


@dataclass(frozen=True)
class OncallView:
    """Say whom each step of the current policy pages right now, and which overrides hold."""

    at: datetime
    policy: EscalationPolicy
    coverage: tuple[Coverage, ...]
    overrides: tuple[StoredOverride, ...]
    calendar: str | None = None  # what the calendar said: its event, or why it was not read


@dataclass
class OncallService:
    """Build the on-call roster and manage overrides; every change is audited."""

    uow: UnitOfWorkFactory
    clock: Clock
    access: AccessPolicy
    settings: Settings
    directory: MemberDirectory
    calendar: RotationCalendar | None = None

    async def policy(self) -> EscalationPolicy:
        """Return the escalation policy as configured now (incidents keep their snapshot)."""
        return await escalation_policy(self.settings, self.directory)

    async def _ref(self, ref: str | None) -> str | None:
        if ref is None:
            return None
        return ref if ref.isdigit() else await self.directory.user_id(ref)

    async def roster(self, uow: UnitOfWork, now: datetime, *, warn: bool = True) -> Roster:
        """Return the roster at `now`: calendar or config primary, role holders, overrides.

        With `warn`, the first page of a calendar failure streak also posts a warning in
        the alerts channel (in the page's transaction).
        """
        roster, read = await self._roster(uow, now, warn=warn)
        if read is not None and read.warn and self.calendar is not None:
            await uow.outbox.enqueue(
                CALENDAR_WARNING_KIND,
                {"where": "alerts", "content": _calendar_warning(self.calendar.location, read)},
                f"oncall-calendar-unreadable:{now.isoformat()}",
            )
        return roster

    async def _roster(
        self, uow: UnitOfWork, now: datetime, *, warn: bool
    ) -> tuple[Roster, CalendarRead | None]:
        stored = await cast(IncidentUnitOfWork, uow).incidents.overrides(now)
        members = {key: tuple(await self.directory.role_members(key)) for key in ROLE_KEYS}
        primary, source = await self._ref(self.settings.oncall.primary), STATIC
        read = None
        if self.calendar is not None:
            read = await self.calendar.shift_at(now, warn=warn)
            if read.shift is not None:
                primary, source = read.shift.user_id, CALENDAR
        roster = Roster(
            primary=primary,
            secondary=await self._ref(self.settings.oncall.secondary),
            overrides=tuple(s.override for s in stored),
            role_members=members,
            primary_source=source,
        )
        return roster, read

    async def show(self) -> OncallView:
        """Return who each step of the configured policy pages right now."""
        now = self.clock.now()
        async with self.uow() as uow:
            roster, read = await self._roster(uow, now, warn=False)
            stored = await cast(IncidentUnitOfWork, uow).incidents.overrides(now)
        policy = await self.policy()
        said = None if read is None or self.calendar is None else _calendar_said(read)
        return OncallView(now, policy, roster.describe(now, policy), tuple(stored), said)

    async def set_override(
        self,
        actor: Actor,
        user_id: str,
        until: str | datetime,
        *,
        role: str = PRIMARY,
        source: Source = Source.SLASH,
    ) -> Override:
        """Let `user_id` stand in for `role` until `until`; refuse, audited, without the role."""
        now = self.clock.now()
        target = f"oncall {role}"
        async with self.uow() as uow:
            if not self.access.may(actor, "oncall_set"):
                denied = NotAuthorized(
                    "set who is on call", actor.name, self.access.allowed_roles("oncall_set")
                )
                await uow.audit.append(
                    AuditEvent.record(
                        actor,
                        "denied",
                        target,
                        now,
                        source,
                        attempted="oncall_set",
                        reason=denied.message,
                    )
                )
                await uow.commit()
                raise denied
            override = self._override(user_id, role, until, actor, now)
            await cast(IncidentUnitOfWork, uow).incidents.add_override(override, now)
            await uow.audit.append(
                AuditEvent.record(
                    actor,
                    "oncall_set",
                    target,
                    now,
                    source,
                    user=f"<@{override.user_id}>",
                    until=override.until.isoformat(),
                )
            )
            await uow.commit()
        return override

    def _override(
        self, user_id: str, role: str, until: str | datetime, actor: Actor, now: datetime
    ) -> Override:
        if role not in OVERRIDE_ROLES:
            raise InvalidInput(
                f"unknown on-call role {role!r}: expected one of {', '.join(OVERRIDE_ROLES)}"
            )
        if not str(user_id).isdigit():
            raise InvalidInput(f"on-call override needs a member, got {user_id!r}")
        end = parse_until(until, now) if isinstance(until, str) else until
        if end.tzinfo is None or end <= now:
            raise InvalidInput('"until" must be a timezone-aware time in the future')
        return Override(str(user_id), role, end, actor.id)


def _calendar_said(read: CalendarRead) -> str:
    if read.shift is not None:
        return f"calendar event {read.shift.summary!r} names <@{read.shift.user_id}>"
    if read.error is not None:
        return f"calendar unreadable ({read.error}): the static primary pages"
    return "the calendar names nobody now: the static primary pages"


def _calendar_warning(location: str, read: CalendarRead) -> str:
    return (
        f"⚠️ The on-call calendar {location} cannot be read ({read.error}); paging the static "
        "primary (oncall.primary) until it can. Said once until the calendar is readable again."
    )

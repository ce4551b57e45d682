"""Incident severities and their SLA clocks: response and resolution deadlines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.roles import Severity


class NextRelease(Enum):
    """Mark an SLA that has no clock: the fix ships with the next release."""

    NEXT_RELEASE = "next_release"


NEXT_RELEASE = NextRelease.NEXT_RELEASE


@dataclass(frozen=True, slots=True)
class BusinessDays:
    """Count N working days (Monday to Friday) in the SLA table's timezone."""

    days: int

    def __post_init__(self) -> None:
        if isinstance(self.days, bool) or not isinstance(self.days, int) or self.days < 1:
            raise ValueError(f"business days must be a whole number >= 1, got {self.days!r}")


SlaDuration = timedelta | BusinessDays | NextRelease

_WEEKEND = (5, 6)


def _add_business_days(start: datetime, days: int, zone: tzinfo) -> datetime:
    # Counted on the local wall clock so "Friday 17:00 + 1 business day" is Monday 17:00
    # whatever the UTC offset does over the weekend.
    local = start.astimezone(zone).replace(tzinfo=None)
    if local.weekday() in _WEEKEND:
        # Work reported on a weekend starts counting at Monday 00:00.
        while local.weekday() in _WEEKEND:
            local = datetime.combine(local.date() + timedelta(days=1), time(0))
    for _ in range(days):
        local += timedelta(days=1)
        while local.weekday() in _WEEKEND:
            local += timedelta(days=1)
    return local.replace(tzinfo=zone).astimezone(UTC)


def span_words(delta: timedelta) -> str:
    """Return a span people read: "45 s", "14 min", "1 h 58 min", "2 d 3 h" (rounded down)."""
    seconds = int(abs(delta).total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def until_words(due: datetime, now: datetime) -> str:
    """Return "in 14 min" before `due` and "overdue by 1 h 58 min" after it."""
    if due >= now:
        return f"in {span_words(due - now)}"
    return f"overdue by {span_words(now - due)}"


def deadline(start: datetime, sla: SlaDuration, zone: tzinfo = UTC) -> datetime | None:
    """Return when `sla` runs out if its clock starts at `start`, or None for NEXT_RELEASE."""
    if start.tzinfo is None:
        raise ValueError("deadline needs a timezone-aware start time")
    if isinstance(sla, NextRelease):
        return None
    if isinstance(sla, BusinessDays):
        return _add_business_days(start, sla.days, zone)
    return (start + sla).astimezone(UTC)


def describe_duration(sla: SlaDuration) -> str:
    """Return a short human label for `sla` ("15m", "4h", "3d", "1 business day")."""
    if isinstance(sla, NextRelease):
        return "next release"
    if isinstance(sla, BusinessDays):
        return f"{sla.days} business day" + ("s" if sla.days > 1 else "")
    seconds = int(sla.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{sla.total_seconds():g}s"


def _duration_to_plain(sla: SlaDuration) -> object:
    if isinstance(sla, NextRelease):
        return sla.value
    if isinstance(sla, BusinessDays):
        return {"business_days": sla.days}
    return {"seconds": sla.total_seconds()}


def _duration_from_plain(raw: object, where: str) -> SlaDuration:
    if raw == NEXT_RELEASE.value:
        return NEXT_RELEASE
    if isinstance(raw, Mapping) and set(raw) == {"business_days"}:
        try:
            return BusinessDays(raw["business_days"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    if isinstance(raw, Mapping) and set(raw) == {"seconds"}:
        seconds = raw["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds <= 0:
            raise ValueError(f"{where}.seconds: must be a number > 0, got {seconds!r}")
        return timedelta(seconds=seconds)
    raise ValueError(
        f"{where}: expected {{'seconds': N}}, {{'business_days': N}} or 'next_release', got {raw!r}"
    )


def _update_every(raw: object, where: str) -> timedelta | None:
    # Snapshots from before status updates existed have no cadence: nobody is reminded.
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw <= 0:
        raise ValueError(f"{where}: must be a number > 0 or null, got {raw!r}")
    return timedelta(seconds=raw)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Say how fast a severity must be answered and fixed, and whom to tell."""

    response: SlaDuration
    resolution: SlaDuration
    notify: tuple[str, ...] = ()
    # How often the incident's owner must post a status update (None: no cadence).
    update_every: timedelta | None = None

    def __post_init__(self) -> None:
        if self.update_every is not None and self.update_every <= timedelta(0):
            raise ValueError(f"SLA update_every must be longer than zero, got {self.update_every}")
        for name in ("response", "resolution"):
            value = getattr(self, name)
            if isinstance(value, timedelta) and value <= timedelta(0):
                raise ValueError(f"SLA {name} must be longer than zero, got {value}")
            if not isinstance(value, timedelta | BusinessDays | NextRelease):
                raise ValueError(f"SLA {name} must be a timedelta, BusinessDays or NEXT_RELEASE")
        if isinstance(self.notify, str) or not all(
            isinstance(k, str) and k.strip() for k in self.notify
        ):
            raise ValueError(f"SLA notify must be a tuple of role keys, got {self.notify!r}")


def _default_policies() -> dict[Severity, SlaPolicy]:
    return {
        Severity.P0: SlaPolicy(
            timedelta(minutes=15),
            timedelta(hours=4),
            ("everyone", "stakeholders"),
            timedelta(minutes=30),
        ),
        Severity.P1: SlaPolicy(
            timedelta(hours=1),
            timedelta(hours=24),
            ("tech_lead", "stakeholders"),
            timedelta(hours=2),
        ),
        Severity.P2: SlaPolicy(timedelta(hours=4), timedelta(days=3), ("dev_team",)),
        Severity.P3: SlaPolicy(BusinessDays(1), NEXT_RELEASE, ("dev_team",)),
    }


@dataclass(frozen=True, slots=True)
class SlaTable:
    """Hold the SLA of every severity plus the timezone business days are counted in."""

    policies: Mapping[Severity, SlaPolicy] = field(default_factory=_default_policies)
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        missing = [s.value for s in Severity if s not in self.policies]
        if missing:
            raise ValueError(f"SLA table has no policy for {', '.join(missing)}")
        _ = self.zone  # fail on a bad timezone name now, not at the first deadline
        # A private copy keeps the table immutable even if the caller's dict changes later.
        object.__setattr__(self, "policies", dict(self.policies))

    @property
    def zone(self) -> tzinfo:
        """Return the timezone that business days are counted in."""
        if self.timezone == "UTC":
            return UTC
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown SLA timezone {self.timezone!r}") from None

    def for_severity(self, severity: Severity) -> SlaPolicy:
        """Return the SLA policy for `severity`."""
        return self.policies[severity]

    def deadlines(
        self, severity: Severity, start: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """Return the (response, resolution) deadlines of `severity` counted from `start`."""
        policy = self.policies[severity]
        return (
            deadline(start, policy.response, self.zone),
            deadline(start, policy.resolution, self.zone),
        )

    def to_dict(self) -> dict[str, object]:
        """Return a plain, JSON-ready dict that `from_dict` turns back into an equal table."""
        return {
            "version": 1,
            "timezone": self.timezone,
            "severities": {
                sev.value: {
                    "response": _duration_to_plain(p.response),
                    "resolution": _duration_to_plain(p.resolution),
                    "notify": list(p.notify),
                    "update_every_seconds": (
                        None if p.update_every is None else p.update_every.total_seconds()
                    ),
                }
                for sev, p in sorted(self.policies.items())
            },
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> SlaTable:
        """Build a table from `to_dict` output, naming the key path of anything wrong."""
        if raw.get("version", 1) != 1:
            raise ValueError(f"sla: unsupported version {raw.get('version')!r}")
        severities = raw.get("severities")
        if not isinstance(severities, Mapping):
            raise ValueError("sla.severities: expected a mapping of P0..P3 to policies")
        policies: dict[Severity, SlaPolicy] = {}
        for key, body in severities.items():
            where = f"sla.severities.{key}"
            sev = Severity.parse(str(key))
            if not isinstance(body, Mapping):
                raise ValueError(f"{where}: expected a mapping")
            notify = body.get("notify", [])
            if not isinstance(notify, list | tuple):
                raise ValueError(f"{where}.notify: expected a list of role keys")
            response = _duration_from_plain(body.get("response"), f"{where}.response")
            resolution = _duration_from_plain(body.get("resolution"), f"{where}.resolution")
            every = _update_every(body.get("update_every_seconds"), f"{where}.update_every_seconds")
            try:
                policies[sev] = SlaPolicy(response, resolution, tuple(notify), every)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
        zone = raw.get("timezone", "UTC")
        if not isinstance(zone, str):
            raise ValueError(f"sla.timezone: expected an IANA name, got {zone!r}")
        return cls(policies, zone)


DEFAULT_SLA_TABLE = SlaTable()

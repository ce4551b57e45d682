"""Value objects of a release: version, target date, deployment window."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import InvalidInput

# Strict semver with ASCII digits only; a numeric pre-release identifier has no leading zero.
_PRE_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_VERSION = re.compile(
    r"v(?P<major>0|[1-9][0-9]*)\.(?P<minor>0|[1-9][0-9]*)\.(?P<patch>0|[1-9][0-9]*)"
    rf"(?:-(?P<pre>{_PRE_IDENT}(?:\.{_PRE_IDENT})*))?",
    re.ASCII,
)
_MAX_VERSION_LENGTH = 64
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


@dataclass(frozen=True, order=True)
class Version:
    """A release version `vMAJOR.MINOR.PATCH[-pre.release]`."""

    major: int
    minor: int
    patch: int
    pre: str = ""

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `text` or raise InvalidInput saying which form is expected."""
        stripped = text.strip()
        match = _VERSION.fullmatch(stripped) if len(stripped) <= _MAX_VERSION_LENGTH else None
        if match is None:
            raise InvalidInput(
                f"version {text[:80]!r} is not valid: expected vMAJOR.MINOR.PATCH (ASCII digits, "
                "no leading zeros) with an optional pre-release suffix, e.g. v1.2.3 or v1.2.3-rc.1"
            )
        return cls(
            int(match["major"]), int(match["minor"]), int(match["patch"]), match["pre"] or ""
        )

    def __str__(self) -> str:
        base = f"v{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{self.pre}" if self.pre else base


def validate_service(name: str) -> str:
    """Return `name` if it is a valid service name, else raise InvalidInput."""
    if not _SERVICE.match(name):
        raise InvalidInput(
            f"service {name!r} is not valid: expected lowercase letters, digits and dashes"
        )
    return name


def parse_date(text: str) -> date:
    """Parse a `YYYY-MM-DD` date or raise InvalidInput."""
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"date {text!r} is not valid: expected YYYY-MM-DD") from None


def _parse_zone(text: str) -> tzinfo:
    text = text.strip()
    if not text or text.upper() in {"UTC", "Z"}:
        return UTC
    offset = re.fullmatch(r"([+-])([0-9]{2}):?([0-9]{2})", text)
    if offset and int(offset[2]) < 24 and int(offset[3]) < 60:
        sign = 1 if offset[1] == "+" else -1
        from datetime import timezone

        return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3])))
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(
            f"time zone {text!r} is unknown: use UTC, an offset like +08:00, "
            "or a name like Asia/Shanghai"
        ) from None


_WINDOW = re.compile(
    r"^(?P<day>\d{4}-\d{2}-\d{2})[ T](?P<start>\d{1,2}:\d{2})\s*-\s*"
    r"(?:(?P<endday>\d{4}-\d{2}-\d{2})[ T])?(?P<end>\d{1,2}:\d{2})\s*(?P<zone>\S*)$",
    re.ASCII,
)


@dataclass(frozen=True)
class DeploymentWindow:
    """The time span in which production may be deployed (aware datetimes)."""

    start: datetime
    end: datetime

    @classmethod
    def parse(cls, text: str) -> DeploymentWindow:
        """Parse `YYYY-MM-DD HH:MM-HH:MM [zone]`, as the seed writes it, or raise InvalidInput."""
        match = _WINDOW.match(text.strip()) if len(text) <= 200 else None
        if match is None:
            raise InvalidInput(
                f"deployment window {text!r} is not valid: expected "
                "'YYYY-MM-DD HH:MM-HH:MM [zone]', e.g. '2026-12-01 14:00-16:00 Asia/Shanghai'"
            )
        zone = _parse_zone(match["zone"])
        try:
            start = datetime.fromisoformat(f"{match['day']}T{match['start']:0>5}").replace(
                tzinfo=zone
            )
            end_day = match["endday"] or match["day"]
            end = datetime.fromisoformat(f"{end_day}T{match['end']:0>5}").replace(tzinfo=zone)
        except ValueError:
            raise InvalidInput(
                f"deployment window {text!r} has an impossible date or time"
            ) from None
        if end == start:
            raise InvalidInput(f"deployment window {text!r} is empty: it ends when it starts")
        if end < start and not match["endday"]:
            end += timedelta(days=1)  # "22:00-02:00" crosses midnight
        if end <= start:
            raise InvalidInput(f"deployment window {text!r} ends before it starts")
        return cls(start.astimezone(UTC), end.astimezone(UTC))

    def contains(self, when: datetime) -> bool:
        """Return True if `when` falls inside the window."""
        return self.start <= when < self.end

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M} UTC"

"""Duration strings ("15m", "1h30m", "3d") and SLA durations ("1bd", "next-release")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, GetCoreSchemaHandler, PlainSerializer
from pydantic_core import PydanticCustomError, core_schema

DURATION_HINT = 'expected a duration like "15m"'
SLA_HINT = 'expected a duration like "4h", business days like "1bd", or "next-release"'

_UNITS: tuple[tuple[str, int], ...] = (
    ("w", 604800),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
)
_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_BUSINESS_DAYS_RE = re.compile(r"(\d+)bd")
_MAX_DIGITS = 18  # int() would refuse 4,300 digits, timedelta overflows long before that
# A config duration longer than this is a typo, and adding it to "now" would overflow.
MAX_CONFIG_DURATION = timedelta(weeks=520)
MAX_BUSINESS_DAYS = 2_600
_NEXT_RELEASE = frozenset({"next-release", "next release", "next_release"})


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for a duration string such as "90s", "15m", "1h30m", "3d" or "2w".

    Units run from largest to smallest, each at most once. Bare numbers are rejected on
    purpose: "15" could mean seconds or minutes, and guessing wrong pages people at 3 a.m.
    """
    if not isinstance(text, str):
        raise ValueError(DURATION_HINT)
    cleaned = text.strip().lower()
    match = _DURATION_RE.fullmatch(cleaned)
    if not cleaned or match is None or not any(match.groups()):
        if _BUSINESS_DAYS_RE.fullmatch(cleaned):
            raise ValueError(f"{DURATION_HINT} (business days are only allowed for severity SLAs)")
        raise ValueError(DURATION_HINT)
    if any(group and len(group) > _MAX_DIGITS for group in match.groups()):
        raise ValueError("duration is too large")
    seconds = sum(
        int(group) * size for group, (_, size) in zip(match.groups(), _UNITS, strict=True) if group
    )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration {text!r} is too large") from None


def format_duration(delta: timedelta) -> str:
    """Return the shortest duration string for `delta` ("1h30m", "0s"); the inverse of parse."""
    remaining = int(delta.total_seconds())
    if remaining < 0:
        return "-" + format_duration(-delta)
    parts: list[str] = []
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def _coerce_duration(value: object) -> timedelta:
    """Turn a TOML value into a non-negative timedelta or raise a config error."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise PydanticCustomError("releasebot", "must not be negative")
        return _bounded(value)
    if not isinstance(value, str):
        raise PydanticCustomError("releasebot", DURATION_HINT)
    try:
        delta = parse_duration(value)
    except ValueError as exc:
        raise PydanticCustomError("releasebot", str(exc)) from None
    return _bounded(delta)


def _bounded(delta: timedelta) -> timedelta:
    """Refuse durations too long to mean anything (and to add to a date)."""
    if delta > MAX_CONFIG_DURATION:
        raise PydanticCustomError(
            "releasebot", f"must be at most {format_duration(MAX_CONFIG_DURATION)} (10 years)"
        )
    return delta


def _coerce_positive_duration(value: object) -> timedelta:
    """Turn a TOML value into a timedelta longer than zero or raise a config error."""
    delta = _coerce_duration(value)
    if delta <= timedelta(0):
        raise PydanticCustomError("releasebot", "must be longer than 0s")
    return delta


_as_text = PlainSerializer(format_duration, return_type=str, when_used="json")

Duration = Annotated[timedelta, BeforeValidator(_coerce_duration), _as_text]
"""A duration of zero or more, written "15m" in the config file."""

PositiveDuration = Annotated[timedelta, BeforeValidator(_coerce_positive_duration), _as_text]
"""A duration longer than zero, written "15m" in the config file."""


@dataclass(frozen=True, slots=True)
class SlaDuration:
    """Give an incident deadline: a fixed span, whole business days, or "by the next release"."""

    kind: Literal["span", "business_days", "next_release"]
    span: timedelta | None = None
    business_days: int | None = None

    def __post_init__(self) -> None:
        """Reject combinations that do not describe one deadline."""
        if self.kind == "span" and (self.span is None or self.span <= timedelta(0)):
            raise ValueError("a span SLA needs a duration longer than 0s")
        if self.kind == "business_days" and (self.business_days is None or self.business_days < 1):
            raise ValueError("a business-day SLA needs at least 1 business day")

    @classmethod
    def of(cls, span: timedelta) -> SlaDuration:
        """Return an SLA of a fixed span."""
        return cls("span", span=span)

    @classmethod
    def days(cls, business_days: int) -> SlaDuration:
        """Return an SLA of whole business days."""
        return cls("business_days", business_days=business_days)

    @classmethod
    def next_release(cls) -> SlaDuration:
        """Return the SLA "fixed by the next release", which has no clock deadline."""
        return cls("next_release")

    @classmethod
    def parse(cls, text: str) -> SlaDuration:
        """Return the SLA for "4h", "3d", "1bd" or "next-release"; raise ValueError otherwise."""
        if not isinstance(text, str):
            raise ValueError(SLA_HINT)
        cleaned = text.strip().lower()
        if cleaned in _NEXT_RELEASE:
            return cls.next_release()
        if match := _BUSINESS_DAYS_RE.fullmatch(cleaned):
            if len(match.group(1)) > _MAX_DIGITS or int(match.group(1)) > MAX_BUSINESS_DAYS:
                raise ValueError(f"business days must be at most {MAX_BUSINESS_DAYS}bd")
            if int(match.group(1)) < 1:
                raise ValueError("business days must be at least 1bd")
            return cls.days(int(match.group(1)))
        try:
            span = parse_duration(cleaned)
        except ValueError:
            raise ValueError(SLA_HINT) from None
        if span <= timedelta(0):
            raise ValueError("must be longer than 0s")
        return cls.of(span)

    def __str__(self) -> str:
        """Return the config-file spelling ("4h", "1bd", "next-release")."""
        if self.kind == "span" and self.span is not None:
            return format_duration(self.span)
        if self.kind == "business_days":
            return f"{self.business_days}bd"
        return "next-release"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate SLA strings (or instances) and serialize back to their spelling."""
        return core_schema.no_info_plain_validator_function(
            _coerce_sla,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )


def _coerce_sla(value: object) -> SlaDuration:
    """Turn a TOML value into an SlaDuration or raise a config error."""
    if isinstance(value, SlaDuration):
        return value
    if isinstance(value, timedelta):
        value = format_duration(value)
    if not isinstance(value, str):
        raise PydanticCustomError("releasebot", SLA_HINT)
    try:
        sla = SlaDuration.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("releasebot", str(exc)) from None
    if sla.span is not None:
        _bounded(sla.span)
    return sla

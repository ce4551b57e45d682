"""The period of `/release stats` and `releasebot stats`: "7d", "30d", "12w" (docs/reports.md)."""

from __future__ import annotations

from datetime import timedelta

from bot.config.durations import parse_duration
from bot.core.errors import InvalidInput

DEFAULT_PERIOD = timedelta(days=30)
MAX_PERIOD = timedelta(days=3650)
EXAMPLES = '"7d", "30d" or "12w"'


def parse_period(text: str) -> timedelta:
    """Return the period a text such as "7d", "30d", "12w" or "2w3d" names.

    The project's duration syntax (bot/config/durations.py); between 1 day and 3650 days.
    A bare number is refused rather than guessed (days? weeks?). InvalidInput names the text.
    """
    cleaned = text.strip()
    if cleaned.isdigit():
        raise InvalidInput(
            f"period {text!r} needs a unit: e.g. {cleaned}d for {cleaned} days "
            f"(a duration like {EXAMPLES})"
        )
    try:
        delta = parse_duration(cleaned)
    except ValueError:
        raise InvalidInput(f"period {text!r} is not a duration like {EXAMPLES}") from None
    if delta < timedelta(days=1):
        raise InvalidInput(f"period {text!r} is shorter than 1 day (try {EXAMPLES})")
    if delta > MAX_PERIOD:
        raise InvalidInput(f"period {text!r} is longer than 3650 days")
    return delta


def stats_period(days: int | None, period: str | None) -> timedelta:
    """Return the period of a stats request given in days or as a duration (not both)."""
    if days is not None and period is not None:
        raise InvalidInput("give the period either in days or as a duration like 30d, not both")
    if period is not None:
        return parse_period(period)
    if days is None:
        return DEFAULT_PERIOD
    if not 1 <= days <= MAX_PERIOD.days:
        raise InvalidInput(f"days must be between 1 and {MAX_PERIOD.days}, not {days}")
    return timedelta(days=days)

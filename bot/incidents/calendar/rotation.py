"""Read who is on call from an iCal calendar at a given instant.

An event names its person by an ATTENDEE e-mail or its SUMMARY, looked up in
`oncall.calendar_people`; a SUMMARY that is itself a Discord user id (or a mention
`<@123>`) needs no mapping. Recurring events (RRULE, RDATE, EXDATE) are expanded by
`recurring-ical-events`. When events overlap (a one-off swap over the weekly rotation),
the one that started last wins: it is the more specific arrangement.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded on first parse: a bot without an on-call calendar never pays for it
    import icalendar

_MENTION = re.compile(r"<@!?(\d+)>|(\d{5,25})")
_INSTANT = timedelta(seconds=1)


class CalendarUnreadable(Exception):
    """The calendar could not be fetched or parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Shift:
    """Who the calendar names at an instant, and the event that says so."""

    user_id: str
    summary: str
    starts: datetime


def _start(event: Any) -> datetime:
    value = event.get("DTSTART").dt
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


def _attendees(event: Any) -> list[str]:
    found = event.get("ATTENDEE")
    if found is None:
        return []
    items = found if isinstance(found, list) else [found]
    return [str(item).removeprefix("mailto:").removeprefix("MAILTO:").strip() for item in items]


def person_of(event: Any, people: Mapping[str, str]) -> str | None:
    """Return the Discord user id an event names, or None if it names nobody we know."""
    lowered = {name.strip().lower(): ref.strip() for name, ref in people.items()}
    summary = str(event.get("SUMMARY", "")).strip()
    for name in (*_attendees(event), summary):
        if name.lower() in lowered:
            return lowered[name.lower()]
    match = _MENTION.fullmatch(summary)
    if match is not None:
        return match[1] or match[2]
    return None


class Rotation:
    """A parsed calendar: ask it who is on call at any instant."""

    def __init__(self, calendar: icalendar.Calendar, people: Mapping[str, str]) -> None:
        self._calendar = calendar
        self._people = dict(people)

    @classmethod
    def parse(cls, text: str | bytes, people: Mapping[str, str]) -> Rotation:
        """Parse iCal text; raise CalendarUnreadable if it is not a calendar."""
        import icalendar

        try:
            calendar = icalendar.Calendar.from_ical(text)
        except (ValueError, IndexError, KeyError) as error:
            raise CalendarUnreadable(f"not an iCal calendar: {error}") from None
        if not isinstance(calendar, icalendar.Calendar):
            raise CalendarUnreadable("not an iCal calendar (no VCALENDAR)")
        return cls(calendar, people)

    def shift_at(self, now: datetime) -> Shift | None:
        """Return who the calendar names at `now` (None: no event, or nobody we can map)."""
        import recurring_ical_events

        try:
            events = recurring_ical_events.of(self._calendar).between(now, now + _INSTANT)
        except Exception as error:  # a broken RRULE surfaces only when expanded
            raise CalendarUnreadable(f"cannot expand the calendar's events: {error}") from None
        for event in sorted(events, key=_start, reverse=True):
            user_id = person_of(event, self._people)
            if user_id is not None:
                return Shift(user_id, str(event.get("SUMMARY", "")), _start(event))
        return None

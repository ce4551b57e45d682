"""A weekly on-call rotation as an iCal file, shared by the calendar tests.

Alice and Bob alternate weekly (Monday 09:00 UTC hand-over, two RRULEs each every two
weeks); Alice's week of 16 March is cut out (EXDATE) and covered by a one-off event whose
SUMMARY is Carol's Discord mention. Alice is named by ATTENDEE e-mail, Bob by SUMMARY,
both through `oncall.calendar_people`.
"""

from __future__ import annotations

from datetime import UTC, datetime

ALICE, BOB, CAROL = "111", "222", "888"
PEOPLE = {"alice@example.org": ALICE, "Bob": BOB}

ROTATION_ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//releasebot tests//rotation//EN
BEGIN:VEVENT
UID:alice-weekly@example.org
DTSTAMP:20260201T000000Z
DTSTART:20260302T090000Z
DTEND:20260309T090000Z
RRULE:FREQ=WEEKLY;INTERVAL=2
EXDATE:20260316T090000Z
SUMMARY:On call: Alice
ATTENDEE;CN=Alice:mailto:alice@example.org
END:VEVENT
BEGIN:VEVENT
UID:bob-weekly@example.org
DTSTAMP:20260201T000000Z
DTSTART:20260309T090000Z
DTEND:20260316T090000Z
RRULE:FREQ=WEEKLY;INTERVAL=2
SUMMARY:Bob
END:VEVENT
BEGIN:VEVENT
UID:carol-swap@example.org
DTSTAMP:20260201T000000Z
DTSTART:20260316T090000Z
DTEND:20260323T090000Z
SUMMARY:<@888>
END:VEVENT
END:VCALENDAR
"""

# (instant, who the calendar names then)
EXPECTED = [
    (datetime(2026, 3, 2, 10, 0, tzinfo=UTC), ALICE),
    (datetime(2026, 3, 10, 3, 0, tzinfo=UTC), BOB),
    (datetime(2026, 3, 17, 12, 0, tzinfo=UTC), CAROL),  # Alice's EXDATE week
    (datetime(2026, 3, 30, 9, 30, tzinfo=UTC), ALICE),  # the rule repeats after the swap
]

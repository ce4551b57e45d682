"""The calendar source: fetched over loopback HTTP with httpx, parsed, cached, failing cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web

from bot.config import build_settings
from bot.config.problems import ConfigError
from bot.incidents.calendar.rotation import CalendarUnreadable, Rotation
from bot.incidents.calendar.source import CalendarSource
from tests.incidents.rotation import ALICE, BOB, EXPECTED, PEOPLE, ROTATION_ICS

NOW = EXPECTED[0][0]


class CalendarServer:
    """A loopback HTTP server serving the rotation (a real aiohttp server; status settable)."""

    def __init__(self) -> None:
        self.status = 200
        self.body = ROTATION_ICS
        self.hits = 0
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        """Answer with the current status and body."""
        self.hits += 1
        return web.Response(status=self.status, text=self.body, content_type="text/calendar")


@pytest.fixture
async def calendar_server() -> AsyncIterator[CalendarServer]:
    """Run the calendar server on a free loopback port."""
    server = CalendarServer()
    app = web.Application()
    app.router.add_get("/rotation.ics", server.serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/rotation.ics"
    yield server
    await runner.cleanup()


async def test_url_is_fetched_cached_and_refreshed(calendar_server):
    """Fetch once per refresh period over HTTP; a refreshed calendar changes who is on call."""
    async with httpx.AsyncClient() as client:
        source = CalendarSource(calendar_server.url, PEOPLE, timedelta(minutes=5), client)
        first = await source.shift_at(NOW)
        again = await source.shift_at(NOW + timedelta(minutes=4))
        assert first.shift is not None and first.shift.user_id == ALICE
        assert again.shift == first.shift and calendar_server.hits == 1
        calendar_server.body = ROTATION_ICS.replace("mailto:alice@example.org", "mailto:x@y")
        stale = await source.shift_at(NOW + timedelta(minutes=5))
        await source.settle()
        later = await source.shift_at(NOW + timedelta(minutes=5, seconds=1))
    assert stale.shift == first.shift  # the due refresh ran in the background, not in the page
    assert calendar_server.hits == 2 and later.shift is None and later.error is None


async def test_http_error_warns_once_then_recovers(calendar_server):
    """Report a 503 as unreadable, warn on the first page only, and recover after RETRY_AFTER."""
    calendar_server.status = 503
    source = CalendarSource(calendar_server.url, PEOPLE, timedelta(minutes=5))
    first = await source.shift_at(NOW)
    shown = await source.shift_at(NOW + timedelta(seconds=61), warn=False)
    await source.settle()
    second = await source.shift_at(NOW + timedelta(seconds=122))
    await source.settle()
    assert (first.error, first.warn) == ("fetch answered HTTP 503", True)
    assert shown.warn is False and second.warn is False and calendar_server.hits == 3
    calendar_server.status = 200
    await source.shift_at(NOW + timedelta(seconds=183))  # starts the refresh that recovers
    await source.settle()
    back = await source.shift_at(NOW + timedelta(seconds=184))
    assert back.shift is not None and back.shift.user_id == ALICE and back.error is None


async def test_unreachable_url_is_unreadable_not_an_exception():
    """Turn a refused connection into an error message naming the failure."""
    source = CalendarSource("http://127.0.0.1:9/rotation.ics", PEOPLE, timedelta(minutes=5))
    read = await source.shift_at(NOW)
    assert read.shift is None and read.error is not None and "fetch failed" in read.error


def test_overlapping_events_the_later_start_wins():
    """Let a one-off swap inside a weekly rotation win over the rotation's event."""
    swap = (
        "BEGIN:VEVENT\nUID:swap@x\nDTSTAMP:20260201T000000Z\nDTSTART:20260303T000000Z\n"
        "DTEND:20260304T000000Z\nSUMMARY:Bob\nEND:VEVENT\nEND:VCALENDAR\n"
    )
    rotation = Rotation.parse(ROTATION_ICS.replace("END:VCALENDAR\n", swap), PEOPLE)
    at = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    shift = rotation.shift_at(at)
    assert shift is not None and shift.user_id == BOB
    assert rotation.shift_at(at + timedelta(days=1)).user_id == ALICE  # type: ignore[union-attr]


def test_not_a_calendar_is_refused_with_a_reason():
    """Refuse text that is not iCal, saying so."""
    with pytest.raises(CalendarUnreadable, match="not an iCal calendar"):
        Rotation.parse("hello", PEOPLE)


def test_config_rejects_bad_people_and_a_too_short_refresh():
    """Name calendar_people entries that are not user ids, and a refresh under 10 s."""
    raw = {"oncall": {"calendar": "r.ics", "calendar_refresh": "5s",
                      "calendar_people": {"alice@x": "alice"}}}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        build_settings(raw, env={})
    text = str(caught.value)
    assert "calendar_refresh" in text and "calendar_people.alice@x" in text

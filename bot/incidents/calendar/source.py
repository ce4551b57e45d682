"""Fetch the on-call calendar (URL with httpx, or a file), cache it and track failures.

The parsed calendar is kept for `refresh` (default 5 min): pages in a burst read it from
memory. A failure is retried after `RETRY_AFTER` at most, so a blip does not leave the
rotation on the static primary for a whole refresh period. Failures form a streak that
ends with the next good read; the warning for a streak is handed out once.

A page asks the calendar inside its database transaction, which holds the write lock: an
HTTP fetch there (up to `FETCH_TIMEOUT`) would stall every other writer. So only the very
first read of a URL waits for the fetch; after that a due refresh runs in the background and
the page is answered from what was last read (the previous answer, good or failed), and the
refreshed calendar serves the pages after it. A file is read in place (milliseconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx

from bot.incidents.calendar.rotation import CalendarUnreadable, Rotation, Shift

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(seconds=60)
FETCH_TIMEOUT = httpx.Timeout(10.0)
MAX_BYTES = 2_000_000


@dataclass(frozen=True, slots=True)
class CalendarRead:
    """The outcome of asking the calendar: a shift, or why it could not be read."""

    shift: Shift | None
    error: str | None = None
    warn: bool = False  # True once per failure streak: the caller posts the warning


class CalendarSource:
    """Read the rotation from `location` at most every `refresh`; never raise."""

    def __init__(
        self,
        location: str,
        people: Mapping[str, str],
        refresh: timedelta,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.location = location
        self._people = dict(people)
        self._refresh = refresh
        self._client = client
        self._rotation: Rotation | None = None
        self._read_at: datetime | None = None
        self._error: str | None = None
        self._warned = False
        self._refreshing: asyncio.Task[None] | None = None
        self.fetches = 0

    @property
    def is_url(self) -> bool:
        """Return True when the calendar is fetched over HTTP(S)."""
        return self.location.startswith(("http://", "https://"))

    async def shift_at(self, now: datetime, *, warn: bool = True) -> CalendarRead:
        """Return who is on call at `now` by the calendar, refreshing it when due.

        `warn=False` (e.g. `/oncall show`) reads without using up the streak's warning.
        """
        if self._due(now):
            if self.is_url and self._read_at is not None:
                self._refresh_in_background(now)
            else:
                await self._reload(now)
        if self._rotation is None or self._error is not None:
            first = warn and not self._warned
            self._warned = self._warned or warn
            return CalendarRead(None, self._error or "not read yet", first)
        try:
            return CalendarRead(self._rotation.shift_at(now))
        except CalendarUnreadable as error:
            return CalendarRead(None, str(error), False)

    async def settle(self) -> None:
        """Wait for a background refresh in flight (tests; shutdown)."""
        if self._refreshing is not None:
            await asyncio.shield(self._refreshing)

    def _refresh_in_background(self, now: datetime) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            return  # one fetch at a time: a burst of pages starts one refresh
        self._read_at = now  # not due again until this one is old
        self._refreshing = asyncio.get_running_loop().create_task(self._reload(now))

    def _due(self, now: datetime) -> bool:
        if self._read_at is None:
            return True
        wait = RETRY_AFTER if self._error is not None else self._refresh
        return now - self._read_at >= min(wait, self._refresh)

    async def _reload(self, now: datetime) -> None:
        self._read_at = now
        self.fetches += 1
        try:
            self._rotation = Rotation.parse(await self._fetch(), self._people)
        except CalendarUnreadable as error:
            self._fail(str(error))
            return
        if self._error is not None:
            log.info("on-call calendar %s readable again", self.location)
        self._error, self._warned = None, False

    def _fail(self, reason: str) -> None:
        # The static primary pages while this lasts: a stale rotation could page someone off.
        self._rotation = None
        self._error = reason
        log.warning("on-call calendar %s unreadable: %s", self.location, reason)

    async def _fetch(self) -> bytes:
        if not self.is_url:
            return await asyncio.to_thread(_read_file, Path(self.location))
        client = self._client or httpx.AsyncClient(timeout=FETCH_TIMEOUT)
        try:
            response = await client.get(self.location, timeout=FETCH_TIMEOUT)
        except httpx.HTTPError as error:
            raise CalendarUnreadable(f"fetch failed: {type(error).__name__}: {error}") from None
        finally:
            if self._client is None:
                await client.aclose()
        if response.status_code != 200:
            raise CalendarUnreadable(f"fetch answered HTTP {response.status_code}")
        if len(response.content) > MAX_BYTES:
            raise CalendarUnreadable(f"calendar is larger than {MAX_BYTES} bytes")
        return response.content


def _read_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CalendarUnreadable(f"{path} is larger than {MAX_BYTES} bytes")
        return path.read_bytes()
    except OSError as error:
        raise CalendarUnreadable(f"cannot read {path}: {error.strerror or error}") from None

"""The coalescing message updater on its own: real asyncio, small in-memory load/edit."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import discord

from bot.chat.layout import EmbedSpec, MessageSpec
from bot.core.ports import MessageRef
from bot.releases.chat.updater import Backoff, RoomUpdater

REF = MessageRef(1, "summary", "", 10, 100)
FAST = Backoff(base=0.001, factor=2.0, cap=0.01, attempts=4)


class Room:
    """A release room whose state is a counter; edits can be held in flight."""

    def __init__(self) -> None:
        self.state = 0
        self.shown: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[BaseException] = []

    async def load(self, release_id: int) -> list[tuple[MessageRef, MessageSpec]]:
        """Return the one message with the current state."""
        return [(REF, MessageSpec(embeds=(EmbedSpec(str(self.state)),)))]

    async def edit(self, ref: MessageRef, spec: MessageSpec) -> None:
        """Show `spec` once the gate opens, or fail with the next queued failure."""
        await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        self.shown.append(int(spec.embeds[0].title))


def _http_error(status: int) -> discord.HTTPException:
    response = SimpleNamespace(status=status, reason="injected")
    cls = discord.NotFound if status == 404 else discord.HTTPException
    return cls(response, "injected")  # type: ignore[arg-type]


async def test_requests_during_an_edit_coalesce_into_one_more_edit() -> None:
    """Serve ten changes made during one in-flight edit with a single extra edit."""
    room = Room()
    updater = RoomUpdater(room.load, room.edit)
    room.gate.clear()
    room.state = 1
    updater.request(1)
    await asyncio.sleep(0)
    for n in range(2, 12):
        room.state = n
        updater.request(1)
    room.gate.set()
    assert await updater.wait_idle(1)
    assert room.shown == [1, 11]
    assert (updater.stats.requests, updater.stats.passes, updater.stats.edits) == (11, 2, 2)


async def test_an_unchanged_message_is_not_edited_again() -> None:
    """Skip the edit when the message already shows the current state."""
    room = Room()
    updater = RoomUpdater(room.load, room.edit)
    updater.request(1)
    await updater.wait_idle(1)
    updater.request(1)
    await updater.wait_idle(1)
    assert room.shown == [0]
    updater.request(1, force=True)
    await updater.wait_idle(1)
    assert room.shown == [0, 0]


async def test_a_failed_edit_is_retried_with_backoff_until_it_lands() -> None:
    """Retry after a 500 and a dropped connection, then show the newest state."""
    room = Room()
    room.failures = [_http_error(500), OSError("connection reset")]
    updater = RoomUpdater(room.load, room.edit, FAST)
    room.state = 3
    updater.request(1)
    assert await updater.wait_idle(1)
    assert room.shown == [3]
    assert updater.stats.failed_edits == 2


async def test_a_deleted_message_is_not_retried() -> None:
    """Stop editing a message Discord says no longer exists."""
    room = Room()
    room.failures = [_http_error(404)]
    updater = RoomUpdater(room.load, room.edit, FAST)
    updater.request(1)
    assert await updater.wait_idle(1)
    assert (updater.stats.failed_edits, updater.stats.passes, room.shown) == (0, 1, [])


async def test_close_cancels_a_refresh_waiting_to_retry() -> None:
    """Cancel a pending retry on close instead of waiting for it."""
    room = Room()
    room.failures = [_http_error(503)]
    updater = RoomUpdater(room.load, room.edit, Backoff(base=3600))
    updater.request(1)
    await asyncio.sleep(0.01)
    assert updater.busy()
    await updater.close(grace=0.01)
    assert not updater.busy()


def test_backoff_grows_exponentially_up_to_its_cap() -> None:
    """Double the delay per attempt and never exceed the cap."""
    backoff = Backoff(base=1, factor=2, cap=60, attempts=8)
    assert [backoff.delay(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]

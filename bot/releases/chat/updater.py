"""Keep a release room's messages current without flooding Discord with edits.

One refresh runs per release at a time. A change that arrives while a refresh is running
only marks the release dirty; when the running refresh ends it renders once more from the
database, so a burst of N clicks costs a couple of edits and the last one shows the newest
state. Within a refresh only messages whose spec changed are edited, so each message has at
most one edit in flight. A failed edit (Discord 5xx, a timeout) is logged and the refresh is
retried with exponential backoff; the truth is in the database, so a retry always renders it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import discord

from bot.chat.layout import MessageSpec
from bot.core.ports import MessageRef

log = logging.getLogger(__name__)

LoadRoom = Callable[[int], Awaitable[Sequence[tuple[MessageRef, MessageSpec]]]]
EditMessage = Callable[[MessageRef, MessageSpec], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """How long to wait before retry `attempt` (1-based), and when to give up."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0
    attempts: int = 8

    def delay(self, attempt: int) -> float:
        """Return the seconds to wait before retry `attempt`."""
        return float(min(self.cap, self.base * self.factor ** (attempt - 1)))


@dataclass
class UpdaterStats:
    """Counters for tests and the benchmark."""

    requests: int = 0
    passes: int = 0
    edits: int = 0
    failed_edits: int = 0


class RoomUpdater:
    """Coalesce refresh requests per release; edit only what changed; retry failures."""

    def __init__(self, load: LoadRoom, edit: EditMessage, backoff: Backoff | None = None) -> None:
        self._load = load
        self.edit = edit
        self.backoff = backoff or Backoff()
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._dirty: set[int] = set()
        self._forced: set[int] = set()
        self._sent: dict[int, MessageSpec] = {}
        self.stats = UpdaterStats()

    def remember(self, message_id: int, spec: MessageSpec) -> None:
        """Record that message `message_id` already shows `spec` (it was just posted)."""
        self._sent[message_id] = spec

    def request(self, release_id: int, *, force: bool = False) -> None:
        """Ask for release `release_id`'s messages to be brought up to date (non-blocking).

        With `force`, every message is edited even if the bot believes it is current.
        """
        self.stats.requests += 1
        if force:
            self._forced.add(release_id)
        task = self._tasks.get(release_id)
        if task is not None and not task.done():
            self._dirty.add(release_id)
            return
        self._tasks[release_id] = asyncio.create_task(
            self._run(release_id), name=f"releasebot-room-refresh-{release_id}"
        )

    def busy(self) -> bool:
        """Return True while any refresh is running or waiting to retry."""
        return any(not task.done() for task in self._tasks.values())

    async def wait_idle(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until no refresh is running; return False if `timeout` passed first."""
        while pending := [t for t in self._tasks.values() if not t.done()]:
            done, _ = await asyncio.wait(pending, timeout=timeout)
            if not done:
                return False
        return True

    async def close(self, grace: float = 5.0) -> None:
        """Let running refreshes finish for up to `grace` seconds, then cancel the rest."""
        await self.wait_idle(grace)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run(self, release_id: int) -> None:
        attempt = 0
        try:
            while True:
                self._dirty.discard(release_id)
                if await self._pass(release_id):
                    attempt = 0
                    if release_id not in self._dirty:
                        return
                    continue
                attempt += 1
                if attempt >= self.backoff.attempts:
                    log.error(
                        "giving up refreshing release %s after %d attempts; "
                        "the next change or Refresh retries",
                        release_id,
                        attempt,
                    )
                    return
                delay = self.backoff.delay(attempt)
                log.warning(
                    "refresh of release %s failed; retry %d in %.0fs", release_id, attempt, delay
                )
                await asyncio.sleep(delay)
        finally:
            if self._tasks.get(release_id) is asyncio.current_task():
                del self._tasks[release_id]

    async def _pass(self, release_id: int) -> bool:
        self.stats.passes += 1
        forced = release_id in self._forced
        self._forced.discard(release_id)
        try:
            wanted = await self._load(release_id)
        except Exception:
            log.exception("could not load release %s to refresh its messages", release_id)
            return False
        stale = [
            (ref, spec) for ref, spec in wanted if forced or self._sent.get(ref.message_id) != spec
        ]
        results = await asyncio.gather(*(self._edit_one(ref, spec) for ref, spec in stale))
        if not all(results) and forced:
            self._forced.add(release_id)
        return all(results)

    async def _edit_one(self, ref: MessageRef, spec: MessageSpec) -> bool:
        try:
            await self.edit(ref, spec)
        except discord.NotFound:
            log.warning(
                "message %s (%s %s of release %s) is gone; not editing it again",
                ref.message_id,
                ref.kind,
                ref.key,
                ref.release_id,
            )
            self._sent[ref.message_id] = spec
            return True
        except (discord.HTTPException, OSError, TimeoutError) as error:
            self.stats.failed_edits += 1
            log.warning(
                "editing message %s of release %s failed: %s", ref.message_id, ref.release_id, error
            )
            return False
        self.stats.edits += 1
        self._sent[ref.message_id] = spec
        return True

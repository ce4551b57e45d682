"""The release room: a thread holding the summary, the phase messages and the sign-offs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

import discord

from bot.chat.kit import edit_spec, send_spec
from bot.chat.layout import MessageSpec, clip
from bot.chat.room_config import RoomConfig
from bot.core.actors import Actor, Source
from bot.core.errors import InvalidInput
from bot.core.ports import MessageRef
from bot.releases.chat.render import render_context
from bot.releases.chat.summary import PhaseMemo, room_messages
from bot.releases.chat.updater import RoomUpdater
from bot.releases.domain.release import Release
from bot.releases.service import ReleaseService

log = logging.getLogger(__name__)

THREAD_NAME_MAX = 100
# A week: the longest auto-archive Discord allows; releases are rarely quiet that long.
ARCHIVE_MINUTES: Literal[10080] = 10080


class ChangeQueue:
    """The changes of one release this process makes, one at a time, and how many wait."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self.pending = 0  # changes holding or waiting for the turn

    async def __aenter__(self) -> None:
        self.pending += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self.pending -= 1
            raise

    async def __aexit__(self, *_exc: object) -> None:
        self._lock.release()
        self.pending -= 1

    async def drained(self) -> None:
        """Wait until the changes queued now are done (later ones queue behind this wait)."""
        if self.pending:
            async with self._lock:
                pass


class ReleaseRoom:
    """Open, keep current and talk in the thread of each release."""

    def __init__(
        self, client: discord.Client, releases: ReleaseService, config: RoomConfig
    ) -> None:
        self.client = client
        self.releases = releases
        self.config = config
        self.render_context = render_context(config)
        self.updater = RoomUpdater(self.wanted, self._edit)
        self._changes: dict[int, ChangeQueue] = {}
        # Caches that spare each refresh two database reads; the database stays the truth.
        self._latest: dict[int, Release] = {}
        self._rendered: dict[int, int] = {}  # release id -> revision last rendered
        self._refs: dict[int, list[MessageRef]] = {}
        self._phase_memo: dict[int, PhaseMemo] = {}  # per release: rendered phase messages

    def serial(self, release_id: int) -> ChangeQueue:
        """Return the queue (`async with`) of this bot's changes to release `release_id`.

        ReleaseService retries a change when another one committed first, so a burst of
        clicks on one release would make most of them retry again and again; queuing them
        lets each commit on its first try. Different releases do not wait for each other:
        a change is a few rows now, and every write transaction is `BEGIN IMMEDIATE`, so the
        database queues writers itself. The service's retries still guard other processes.
        """
        queue = self._changes.get(release_id)
        if queue is None:
            queue = self._changes[release_id] = ChangeQueue()
        return queue

    # ----- lookups ------------------------------------------------------------------------

    def release_channel(self, guild: discord.Guild) -> discord.TextChannel:
        """Return the configured release channel of `guild`, or raise InvalidInput."""
        ref = self.config.release_channel.strip()
        for channel in guild.text_channels:
            if (ref.isdigit() and channel.id == int(ref)) or channel.name == ref.lstrip("#"):
                return channel
        raise InvalidInput(
            f"the release channel {ref!r} does not exist in this server: create it, or set "
            "discord.release_channel in the config to an existing channel"
        )

    async def release_in_channel(self, channel_id: int) -> int | None:
        """Return the release whose room is channel `channel_id`, if it is one."""
        ref = await self.releases.find_message(channel_id)
        return ref.release_id if ref is not None and ref.kind == "thread" else None

    async def thread_id(self, release_id: int) -> int | None:
        """Return the id of the release's thread, if it has one."""
        refs = await self.releases.messages(release_id)
        return next((r.channel_id for r in refs if r.kind == "thread"), None)

    def _channel(
        self, channel_id: int
    ) -> discord.Thread | discord.TextChannel | discord.PartialMessageable:
        channel = self.client.get_channel(channel_id)
        if isinstance(channel, (discord.Thread, discord.TextChannel)):
            return channel
        return self.client.get_partial_messageable(channel_id)

    # ----- opening --------------------------------------------------------------------------

    async def open(self, release: Release, parent: discord.TextChannel) -> discord.Thread:
        """Create the release's thread and post every message it needs."""
        assert release.id is not None, "open a room for a stored release"
        name = clip(release.name, THREAD_NAME_MAX)
        thread = await parent.create_thread(
            name=name, type=discord.ChannelType.public_thread, auto_archive_duration=ARCHIVE_MINUTES
        )
        await self._store(MessageRef(release.id, "thread", "", thread.id, thread.id))
        await self.complete(release, thread)
        return thread

    async def complete(self, release: Release, thread: discord.Thread) -> int:
        """Post the room messages still missing (all of them for a new room); return how many."""
        assert release.id is not None, "complete the room of a stored release"
        refs = list(await self.releases.messages(release.id))
        have = {(ref.kind, ref.key) for ref in refs}
        posted = 0
        for message in room_messages(release, self.render_context):
            if (message.kind, message.key) in have:
                continue
            sent = thread.get_partial_message(await send_spec(self.client, thread.id, message.spec))
            ref = MessageRef(release.id, message.kind, message.key, thread.id, sent.id)
            await self._store(ref)
            refs.append(ref)
            self.updater.remember(sent.id, message.spec)
            posted += 1
            if message.kind == "summary":
                await self._pin(sent)
            for emoji in message.spec.reactions:
                await sent.add_reaction(emoji)
        # What was just stored: the first refresh of the room reads no message list.
        self._refs[release.id] = refs
        return posted

    async def _store(self, ref: MessageRef) -> None:
        await self.releases.put_message(ref)
        self._refs.pop(ref.release_id, None)

    async def repair(self, release: Release, guild: discord.Guild | None) -> int | None:
        """Finish a room whose opening failed half-way; return the thread id (None: no room).

        An active release without a thread gets one in the release channel; a thread missing
        some messages gets them appended.
        """
        assert release.id is not None, "repair the room of a stored release"
        thread_id = await self.thread_id(release.id)
        if thread_id is None:
            if not release.is_active or guild is None:
                return None
            return (await self.open(release, self.release_channel(guild))).id
        thread = self.client.get_channel(thread_id) or await self.client.fetch_channel(thread_id)
        if isinstance(thread, discord.Thread):
            await self.complete(release, thread)
        return thread_id

    async def _pin(self, message: discord.PartialMessage) -> None:
        try:
            await message.pin(reason="release summary")
        except discord.HTTPException as error:
            # A full pin list (50) must not stop the room from opening.
            log.warning("could not pin the summary %s: %s", message.id, error)

    # ----- keeping it current ---------------------------------------------------------------

    async def changed(self, release: Release) -> None:
        """Refresh the room of a release that just changed (ReleaseService listener)."""
        if release.id is not None:
            # The service hands over the state it just committed. Changes made elsewhere
            # (timers, other features) may report out of order, so keep the newest revision.
            known = self._latest.get(release.id)
            if known is None or known.revision <= release.revision:
                self._latest[release.id] = release
            self.updater.request(release.id)

    async def wanted(self, release_id: int) -> Sequence[tuple[MessageRef, MessageSpec]]:
        """Return every stored message of the release with what it should show now.

        Changes to the release still queued behind `serial` commit first: one render (and
        one edit per message) then serves the whole burst instead of one per click.
        """
        queued = self._changes.get(release_id)
        if queued is not None:
            await queued.drained()
        release = self._latest.pop(release_id, None)
        if release is None or release.revision < self._rendered.get(release_id, -1):
            release = await self.releases.get(release_id)
        self._rendered[release_id] = release.revision
        refs = self._refs.get(release_id)
        if refs is None:
            refs = self._refs[release_id] = list(await self.releases.messages(release_id))
        memo = self._phase_memo.setdefault(release_id, {})
        rendered = room_messages(release, self.render_context, memo)
        specs = {(m.kind, m.key): m.spec for m in rendered}
        return [(ref, specs[(ref.kind, ref.key)]) for ref in refs if (ref.kind, ref.key) in specs]

    async def _edit(self, ref: MessageRef, spec: MessageSpec) -> None:
        await edit_spec(self.client, ref.channel_id, ref.message_id, spec)

    # ----- talking in the thread ------------------------------------------------------------

    async def announce(self, release_id: int, text: str) -> None:
        """Post `text` in the release's thread (logged, not raised, if that fails)."""
        thread_id = await self.thread_id(release_id)
        if thread_id is None:
            return
        try:
            await self._channel(thread_id).send(
                clip(text, 2000), allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as error:
            log.warning("could not announce in release %s's thread: %s", release_id, error)

    async def advance(
        self, release_id: int, actor: Actor, source: Source, phase_key: str | None = None
    ) -> Release:
        """Close phase `phase_key` (default: the current one as read now); say so in the thread."""
        before = await self.releases.get(release_id)
        closed = before.current_phase
        if phase_key is None and closed is not None:
            phase_key = closed.key
        if phase_key is not None:
            closed = before.phases[before.phase_position(phase_key)]
        async with self.serial(release_id):
            release = await self.releases.advance(release_id, actor, source, phase_key)
        if release.current_phase is not None and closed is not None:
            await self.announce(
                release_id,
                f"➡️ {actor.name} closed **{closed.title}**; "
                f"now in **{release.current_phase.title}**.",
            )
        else:
            await self.announce(release_id, f"🏁 Release {release.name}: Completed.")
        return release

    async def close(self) -> None:
        """Finish (briefly) or cancel pending edits."""
        await self.updater.close()

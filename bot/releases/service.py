"""Release use-cases: start, tick, waive, sign off, advance, abort, note, and reads."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.checklist import parse_template
from bot.checklist.limits import DEFAULT_LIMITS, TemplateLimits
from bot.checklist.model import ChecklistTemplate
from bot.core.actors import AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import Clock
from bot.core.errors import ConcurrentUpdate, DomainError, InvalidInput, NotAuthorized
from bot.core.events import EventBus, MonitoringPassed, Publisher, ReleaseSignalled
from bot.core.ports import MessageRef, UnitOfWork, UnitOfWorkFactory
from bot.releases.domain.release import Hold, Release, ReleaseSignal, start_release
from bot.releases.domain.values import DeploymentWindow, parse_date, validate_service

log = logging.getLogger(__name__)

MAX_RETRIES = 8
# Releases kept in memory (the newest committed state of each); active ones are far fewer.
KNOWN_MAX = 512

ChangeListener = Callable[[Release], Awaitable[None]]
HoldSource = Callable[[UnitOfWork, Release], Awaitable[Sequence[Hold]]]
"""Asked inside the transaction what keeps a release from finishing (`bot.app.events`)."""


@dataclass(frozen=True)
class TemplateSource:
    """A checklist template together with the exact text it was parsed from."""

    template: ChecklistTemplate
    body: str

    @classmethod
    def from_path(cls, path: Path, limits: TemplateLimits = DEFAULT_LIMITS) -> TemplateSource:
        """Read and parse the template at `path` within `limits` (the `[checklist]` ones)."""
        body = path.read_text(encoding="utf-8")
        return cls(parse_template(body, str(path), limits=limits), body)


@dataclass
class ReleaseService:
    """Drive releases; every call is one transaction, retried on a concurrent update."""

    uow: UnitOfWorkFactory
    clock: Clock
    policy: AccessPolicy
    template: Callable[[], TemplateSource]
    services: Sequence[str]
    events: Publisher = field(default_factory=EventBus)
    # After commit: who is told a release changed (the room; `bot.app.events` lists them).
    listeners: list[ChangeListener] = field(default_factory=list)
    # In the transaction: what holds a release open (the monitoring window; `bot.app.events`).
    hold_sources: list[HoldSource] = field(default_factory=list)
    # Releases ticked inside another feature's transaction, told to the listeners after it.
    _credited: weakref.WeakKeyDictionary[object, list[Release]] = field(
        default_factory=weakref.WeakKeyDictionary, repr=False
    )
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, repr=False)
    # The last committed state of each release this process saw; used only while the stored
    # revision still matches it (one indexed read instead of loading the whole aggregate).
    _known: dict[int, Release] = field(default_factory=dict, repr=False)
    # Message id -> what it shows: a posted message never changes release or part.
    _refs: dict[int, MessageRef] = field(default_factory=dict, repr=False)

    # ----- commands -------------------------------------------------------------------------

    async def start(
        self,
        actor: Actor,
        *,
        service: str,
        version: str,
        lead: Actor | None = None,
        target_date: str | None = None,
        window: str | None = None,
        source: Source = Source.SLASH,
    ) -> Release:
        """Start a release after validating every option; refuse a duplicate active one."""
        validate_service(service)
        if service not in self.services:
            known = ", ".join(self.services) or "none configured"
            raise InvalidInput(f"unknown service {service!r} (configured: {known})")
        parsed_date = parse_date(target_date) if target_date else None
        parsed_window = DeploymentWindow.parse(window) if window else None
        source_template = self.template()
        now = self.clock.now()
        try:
            release = start_release(
                service=service,
                version=version,
                lead=lead or actor,
                template=source_template.template,
                now=now,
                actor=actor,
                source=source,
                policy=self.policy,
                target_date=parsed_date,
                window=parsed_window,
            )
        except NotAuthorized as denied:
            await self.record_denial(
                None, actor, "start", f"{service} {version}", source, denied.message
            )
            raise
        async with self.uow() as uow:
            await uow.releases.add(release, source_template.body)
            # The first phase opens with the release (each Advance signals the next one).
            first = release.current_phase
            if first is not None:
                opened = ReleaseSignal("phase_entered", release.id, now, (("phase", first.key),))
                await self.events.publish(uow, ReleaseSignalled(release, opened))
            await uow.commit()
        self._remember(release)
        await self._notify(release)
        return release

    async def tick(
        self,
        release_id: int,
        item_id: str,
        actor: Actor,
        source: Source,
        override: str | None = None,
        evidence: str | None = None,
    ) -> Release:
        """Tick an item (`override`: the reason to tick production-deployed outside the window;
        `evidence`: the link that proves a bot tick, shown on the item and in the audit)."""
        return await self._mutate(
            release_id,
            actor,
            "tick",
            item_id,
            source,
            lambda r, now, held: r.tick(
                item_id, actor, now, source, self.policy, override, evidence
            ),
        )

    async def untick(
        self, release_id: int, item_id: str, actor: Actor, source: Source, reason: str | None = None
    ) -> Release:
        """Reopen an item while its phase is open."""
        return await self._mutate(
            release_id,
            actor,
            "untick",
            item_id,
            source,
            lambda r, now, held: r.untick(item_id, actor, now, source, self.policy, reason),
        )

    async def waive(
        self, release_id: int, item_id: str, reason: str, actor: Actor, source: Source
    ) -> Release:
        """Waive an item with a reason."""
        return await self._mutate(
            release_id,
            actor,
            "waive",
            item_id,
            source,
            lambda r, now, held: r.waive(item_id, reason, actor, now, source, self.policy),
        )

    async def sign(self, release_id: int, key: str, actor: Actor, source: Source) -> Release:
        """Record a sign-off."""
        return await self._mutate(
            release_id,
            actor,
            "sign",
            key,
            source,
            lambda r, now, held: r.sign(key, actor, now, source, held),
        )

    async def withdraw(self, release_id: int, key: str, actor: Actor, source: Source) -> Release:
        """Withdraw a sign-off while its phase is open."""
        return await self._mutate(
            release_id,
            actor,
            "withdraw",
            key,
            source,
            lambda r, now, held: r.withdraw(key, actor, now, source),
        )

    async def advance(
        self, release_id: int, actor: Actor, source: Source, phase_key: str | None = None
    ) -> Release:
        """Close phase `phase_key` (the one the button or command names) if its gates hold.

        The phase is checked inside the transaction: of two clicks at the same instant one
        closes the phase and the other is told it was already advanced.
        """
        return await self._mutate(
            release_id,
            actor,
            "advance",
            f"release #{release_id}",
            source,
            lambda r, now, held: r.advance(actor, now, source, self.policy, phase_key, held),
        )

    async def holds(self, release_id: int) -> Sequence[Hold]:
        """Return what keeps the release from finishing now (e.g. its monitoring window)."""
        async with self.uow() as uow:
            release = await uow.releases.get(release_id)
            return await self._holds_of(uow, release)

    async def _holds_of(self, uow: UnitOfWork, release: Release) -> list[Hold]:
        found: list[Hold] = []
        for source in self.hold_sources:
            found.extend(await source(uow, release))
        return found

    async def abort(self, release_id: int, reason: str, actor: Actor, source: Source) -> Release:
        """Abort a release."""
        return await self._mutate(
            release_id,
            actor,
            "abort",
            f"release #{release_id}",
            source,
            lambda r, now, held: r.abort(reason, actor, now, source, self.policy),
        )

    async def note(self, release_id: int, text: str, actor: Actor, source: Source) -> Release:
        """Add a note to the timeline."""
        return await self._mutate(
            release_id,
            actor,
            "note",
            f"release #{release_id}",
            source,
            lambda r, now, held: r.note(text, actor, now, source, self.policy),
        )

    async def mark_rolled_back(
        self, release_id: int, actor: Actor, source: Source, detail: str
    ) -> Release:
        """Move a release to Rolled back after the rollback completed."""
        return await self._mutate(
            release_id,
            actor,
            "rolled_back",
            f"release #{release_id}",
            source,
            lambda r, now, held: r.mark_rolled_back(actor, now, source, detail),
        )

    async def record_denial(
        self,
        release_id: int | None,
        actor: Actor,
        action: str,
        target: str,
        source: Source,
        reason: str,
    ) -> None:
        """Write an audit event for a refused attempt, in its own transaction."""
        event = AuditEvent.record(
            actor,
            "denied",
            target,
            self.clock.now(),
            source,
            release_id,
            attempted=action,
            reason=reason,
        )
        async with self.uow() as uow:
            await uow.audit.append(event)
            await uow.commit()
        log.info("denied %s %s to %s: %s", action, target, actor.name, reason)

    async def _mutate(
        self,
        release_id: int,
        actor: Actor,
        action: str,
        target: str,
        source: Source,
        change: Callable[[Release, datetime, Sequence[Hold]], None],
    ) -> Release:
        for attempt in range(MAX_RETRIES):
            async with self.uow() as uow:  # writers take turns in the unit's WriteQueue
                # The release as this process last committed or read it, unread: the UPDATE
                # of its revision (save) is the optimistic check, and a refusal is decided
                # only after the stored revision was read. Unknown: read it now.
                known = self._known.get(release_id)
                verified = known is None
                release = (
                    known.copy() if known is not None else await self._current(uow, release_id)
                )
                now = self.clock.now()
                held = (
                    await self._holds_of(uow, release)
                    if release.is_active and action in ("sign", "advance")
                    else []
                )
                try:
                    change(release, now, held)
                except DomainError as refused:
                    if not verified and await uow.releases.revision(release_id) != release.revision:
                        log.debug("release %s changed elsewhere; deciding again", release_id)
                        self._known.pop(release_id, None)
                        continue  # a stale copy never refuses: decide on what is stored
                    if not isinstance(refused, NotAuthorized):
                        raise
                    denial = release.deny(actor, action, target, now, source, refused.message)
                    await uow.audit.append(denial)
                    await uow.commit()
                    raise
                signals = list(release.signals)
                try:
                    await uow.releases.save(release)
                except ConcurrentUpdate:
                    log.debug("concurrent update of release %s (attempt %d)", release_id, attempt)
                    self._known.pop(release_id, None)
                    continue
                for signal in signals:
                    await self.events.publish(uow, ReleaseSignalled(release, signal))
                await uow.commit()
            release.signals.clear()
            self._remember(release)
            await self._notify(release)
            return release
        raise ConcurrentUpdate(f"release #{release_id} is changing too fast; try again")

    async def on_monitoring_passed(self, uow: UnitOfWork, event: MonitoringPassed) -> None:
        """Tick the item the passed part of the window covers, inside monitoring's transaction.

        The room is refreshed after that transaction commits (`after_commit`).
        """
        release = await uow.releases.get(event.release_id)
        credited = release.credit(
            event.item_id,
            event.evidence,
            event.at,
            polls=str(event.polls),
            start=event.start.isoformat(),
            end=event.end.isoformat(),
        )
        if credited is None:
            return
        self._known.pop(event.release_id, None)  # until monitoring's transaction commits
        await uow.releases.save(release)  # ConcurrentUpdate: monitoring's transaction retries
        self._credited.setdefault(uow, []).append(release)

    def after_commit(self, uow: object) -> None:
        """Refresh the room of each release the committed unit of work ticked for monitoring."""
        for release in self._credited.pop(uow, []):
            self._remember(release)
            task = asyncio.get_running_loop().create_task(self._notify(release))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(self, release: Release) -> None:
        for listener in self.listeners:
            try:
                await listener(release)
            except Exception:  # a broken listener must not undo a committed change
                log.exception("release change listener failed for release %s", release.id)

    # ----- reads ----------------------------------------------------------------------------

    async def get(self, release_id: int) -> Release:
        """Return a release as stored now."""
        async with self.uow(read_only=True) as uow:
            return await self._current(uow, release_id)

    async def peek(self, release_id: int) -> Release:
        """Return the release as this process last committed or read it (no database read
        when known), for what a click needs before its change: the phase's items, the lead.

        The change itself reads the stored revision in its transaction, so a stale peek never
        decides anything.
        """
        known = self._known.get(release_id)
        return known.copy() if known is not None else await self.get(release_id)

    async def _current(self, uow: UnitOfWork, release_id: int) -> Release:
        """Return a private copy of the release as stored now: from memory while the stored
        revision matches the one kept (every committed change bumps it), else loaded."""
        known = self._known.get(release_id)
        if known is not None and await uow.releases.revision(release_id) == known.revision:
            return known.copy()
        release = await uow.releases.get(release_id)
        self._remember(release.copy())
        return release

    def _remember(self, release: Release) -> None:
        """Keep `release` (committed; never changed afterwards) unless a newer one is kept."""
        if release.id is None:
            return
        known = self._known.pop(release.id, None)
        self._known[release.id] = (
            release if known is None or known.revision <= release.revision else known
        )
        while len(self._known) > KNOWN_MAX:  # the least recently changed goes first
            del self._known[next(iter(self._known))]

    async def list(self, *, active: bool | None = None, limit: int = 25) -> Sequence[Release]:
        """Return releases, newest first."""
        async with self.uow(read_only=True) as uow:
            return await uow.releases.list(active=active, limit=limit)

    async def timeline(self, release_id: int, limit: int = 50) -> Sequence[AuditEvent]:
        """Return the release's audit events, oldest first."""
        async with self.uow(read_only=True) as uow:
            return await uow.audit.for_release(release_id, limit)

    async def put_message(self, ref: MessageRef) -> None:
        """Remember a Discord message that shows part of a release."""
        async with self.uow() as uow:
            await uow.messages.put(ref)
            await uow.commit()
        # A re-posted part replaces the older message's row: forget what it showed.
        for message_id, known in list(self._refs.items()):
            if (known.release_id, known.kind, known.key) == (ref.release_id, ref.kind, ref.key):
                del self._refs[message_id]
        # What this process posted is known: the first click on it reads nothing (in a burst
        # on a fresh message every click would otherwise read it, each in its own unit).
        self._refs[ref.message_id] = ref

    async def messages(self, release_id: int) -> Sequence[MessageRef]:
        """Return the Discord messages kept for a release."""
        async with self.uow(read_only=True) as uow:
            return await uow.messages.for_release(release_id)

    async def find_message(self, message_id: int) -> MessageRef | None:
        """Return what a Discord message shows, if the bot keeps it (every click asks)."""
        known = self._refs.get(message_id)
        if known is not None:
            return known
        async with self.uow(read_only=True) as uow:
            found = await uow.messages.find_by_message(message_id)
        if found is not None:
            self._refs[message_id] = found
        return found

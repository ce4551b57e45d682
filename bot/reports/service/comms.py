"""Announcements, feedback, the retrospective and the bot's ticks of the report items.

Everything leaves through the outbox (stored with the change that causes it, delivered
at least once, same idempotency key on every retry). The bot ticks a checklist item only
when it is open and its phase is the current one, as the bot actor; a person's tick or
waiver is never touched. Evidence (message link, SMTP Message-ID, figures) is written to
the audit log as `report_evidence` on the item's check key before the tick is requested.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config.reports import ReportSettings
from bot.core.actors import BOT_ACTOR, AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.errors import DomainError, InvalidInput, NotAuthorized, UnknownTarget
from bot.core.events import WindowEnded
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.core.timers import TimerRecord
from bot.releases.domain.release import ItemState, Release, ReleaseSignal
from bot.releases.service import ReleaseService
from bot.reports.domain.announcement import (
    CHECK_ANNOUNCED,
    CHECK_DURATION,
    CHECK_FEEDBACK,
    CHECK_ISSUES,
    CHECK_RETRO,
    CHECK_TEAM,
    Announcement,
    ChangelogSection,
)
from bot.reports.domain.feedback import Tally, tally, valid_score
from bot.reports.domain.metrics import duration_text
from bot.reports.domain.ports import Retrospective, Vote
from bot.reports.domain.series import Series, SeriesReader
from bot.reports.service.use_cases import metrics_in, reports_of

log = logging.getLogger(__name__)

ANNOUNCE_KIND = "report.announce"
EMAIL_KIND = "report.email"
TICK_KIND = "report.tick"
RETRO_PROMPT_KIND = "report.retro_prompt"
REPORT_POST_KIND = "report.post"
FEEDBACK_REFRESH_KIND = "report.feedback_refresh"
FEEDBACK_TIMER = "report.feedback_close"
EVIDENCE = "report_evidence"
MAX_COMMENT = 1000
MAX_RETRO = 1000

ChangelogReader = Callable[[str, str], ChangelogSection | None]
"""(service, version) -> the version's CHANGELOG section (blocking; run in a thread)."""


@dataclass
class CommsService:
    """Announce, collect feedback and the retrospective, tick the report items."""

    uow: UnitOfWorkFactory
    clock: Any
    settings: ReportSettings
    releases: ReleaseService
    policy: AccessPolicy
    changelog: ChangelogReader = field(default=lambda service, version: None)
    # Set by the chat extension: release id -> the release thread's URL (for the email).
    thread_links: list[Callable[[int], Awaitable[str | None]]] = field(default_factory=list)
    # Set by the composition root: release id -> its monitoring series (bot.app.events).
    series_readers: list[SeriesReader] = field(default_factory=list)

    async def series(self, release_id: int) -> list[Series]:
        """Return the release's monitoring series (none when no reader is wired)."""
        found: list[Series] = []
        for read in self.series_readers:
            found += await read(release_id)
        return found

    async def thread_link(self, release_id: int) -> str | None:
        """Return the release thread's link, when the chat extension knows it."""
        for find in self.thread_links:
            found = await find(release_id)
            if found:
                return found
        return None

    # ----- in the transaction (bot.app.events) ---------------------------------------------

    async def announce(self, uow: UnitOfWork, release: Release, signal: ReleaseSignal) -> None:
        """Enqueue the announcement (Discord, and email when enabled) of a release event."""
        if not self.settings.enabled:
            return
        if release.id is None:
            return
        if signal.kind == "production_deployed":
            due = signal.at + self.settings.feedback_window
            await uow.timers.schedule(FEEDBACK_TIMER, release.id, due)
        if signal.kind not in self.settings.announce_on:
            return
        section = await asyncio.to_thread(self.changelog, release.service, str(release.version))
        note = ""
        if signal.kind == "rolled_back" and release.close_reason:
            note = f"Rollback: {release.close_reason}"
        announcement = Announcement(
            release.id, release.service, str(release.version), release.lead_name, signal.kind,
            section, note,
        )  # fmt: skip
        payload = announcement.payload()
        if self.settings.announcements_channel is not None:  # no channel: no Discord post
            key = f"{ANNOUNCE_KIND}:{release.id}:{signal.kind}"
            await uow.outbox.enqueue(ANNOUNCE_KIND, payload, key)
        if self.settings.email.enabled:
            email = {**payload, "to": list(self.settings.email.to)}
            await uow.outbox.enqueue(EMAIL_KIND, email, f"{EMAIL_KIND}:{release.id}:{signal.kind}")

    async def on_phase_entered(
        self, uow: UnitOfWork, release: Release, signal: ReleaseSignal
    ) -> None:
        """Ask for the ticks whose evidence came before their phase opened (announcements)."""
        if not self.settings.enabled:
            return
        if release.id is None:
            return
        phase = dict(signal.detail).get("phase", "")
        recorded = {
            e.target for e in await reports_of(uow).timeline(release.id) if e.action == EVIDENCE
        }
        for check in sorted(recorded):
            if any(i.check == check and i.phase_key == phase for i in release.template.items()):
                await self._request_tick(uow, release.id, check, phase)

    async def on_window_ended(self, uow: UnitOfWork, event: WindowEnded) -> None:
        """Record duration and issue figures as evidence, tick them; ask for the retrospective."""
        if not self.settings.enabled:
            return
        header = await reports_of(uow).header(event.release_id)
        if header is None:
            return
        m = await metrics_in(uow, header)
        until_now = (event.at - m.started_at).total_seconds()
        phases = ", ".join(f"{p.key} {duration_text(p.seconds)}" for p in m.phases if p.seconds)
        duration = (
            f"start → window end {duration_text(until_now)}; start → production "
            f"{duration_text(m.lead_time_seconds)}; phases: {phases or '—'} "
            "(the final figures are recorded at completion)"
        )
        by = m.incidents_by_severity()
        issues = (
            "incidents: "
            + (", ".join(f"{s} × {n}" for s, n in by.items()) if by else "none")
            + f"; pages {m.pages}; rollbacks {m.rollbacks}; waived items {len(m.waivers)}"
        )
        await self._evidence(uow, event.release_id, CHECK_DURATION, duration)
        await self._evidence(uow, event.release_id, CHECK_ISSUES, issues)
        await self._request_tick(uow, event.release_id, CHECK_DURATION, "window")
        await self._request_tick(uow, event.release_id, CHECK_ISSUES, "window")
        await uow.outbox.enqueue(
            RETRO_PROMPT_KIND,
            {"release_id": event.release_id},
            f"{RETRO_PROMPT_KIND}:{event.release_id}",
        )

    async def on_release_ended(
        self, uow: UnitOfWork, release: Release, signal: ReleaseSignal
    ) -> None:
        """Post the report in the thread once the figures are recorded (after `record`)."""
        if not self.settings.enabled:
            return
        if release.id is None:
            return
        await uow.outbox.enqueue(
            REPORT_POST_KIND,
            {"release_id": release.id},
            f"{REPORT_POST_KIND}:{release.id}:{signal.kind}",
        )
        if signal.kind != "completed":  # the window never ended normally: ask now
            await uow.outbox.enqueue(
                RETRO_PROMPT_KIND, {"release_id": release.id}, f"{RETRO_PROMPT_KIND}:{release.id}"
            )

    async def request_report(self, release_id: int, actor: Actor) -> None:
        """Post the report again in the thread (through the outbox: charts take seconds)."""
        now = self.clock.now()
        async with self.uow() as uow:
            if await reports_of(uow).header(release_id) is None:
                raise UnknownTarget(f"no release #{release_id}")
            await uow.outbox.enqueue(
                REPORT_POST_KIND, {"release_id": release_id, "again": True},
                f"{REPORT_POST_KIND}:{release_id}:again:{actor.id}:{now.isoformat()}",
            )  # fmt: skip
            await uow.commit()

    async def on_feedback_timer(self, uow: UnitOfWork, timer: TimerRecord, now: datetime) -> None:
        """The feedback window closed: tick "user feedback collected" with the tally."""
        votes = await reports_of(uow).votes(timer.ref_id)
        found = tally(votes)
        await self._evidence(
            uow, timer.ref_id, CHECK_FEEDBACK, f"feedback window closed: {found.line()}"
        )
        await self._request_tick(uow, timer.ref_id, CHECK_FEEDBACK, "closed")

    # ----- outbox senders' callbacks ---------------------------------------------------------

    async def delivered(self, release_id: int, checks: Sequence[str], evidence: str) -> None:
        """Record a delivery's evidence on `checks` and ask for their ticks (own transaction)."""
        async with self.uow() as uow:
            for check in checks:
                await self._evidence(uow, release_id, check, evidence)
                await self._request_tick(uow, release_id, check, "delivered")
            await uow.commit()

    async def tick_check(self, release_id: int, check: str) -> str:
        """Tick, as the bot, the open items of `check` in the current phase; say what happened."""
        release = await self.releases.get(release_id)
        items = [i for i in release.template.items() if i.check == check]
        if not items:
            return f"no item has check={check}"
        current = release.current_phase
        said: list[str] = []
        for item in items:
            state = release.progress(item.id).state
            if state is not ItemState.OPEN:
                said.append(f"{item.id} already {state.value} (left as it is)")
            elif current is None or item.phase_key != current.key:
                said.append(f"{item.id} waits for its phase {item.phase_key}")
            else:
                try:
                    release = await self.releases.tick(
                        release_id, item.id, BOT_ACTOR, Source.SYSTEM
                    )
                except DomainError as error:
                    said.append(f"{item.id} not ticked: {error.message}")
                else:
                    said.append(f"{item.id} ticked")
        return "; ".join(said)

    # ----- feedback ---------------------------------------------------------------------------

    async def vote(self, release_id: int, actor: Actor, score: int) -> Tally:
        """Store `actor`'s score (their earlier one is replaced); return the tally."""
        try:
            valid_score(score)
        except ValueError as error:
            raise InvalidInput(str(error)) from None
        return await self._feedback(release_id, actor, score=score)

    async def comment(self, release_id: int, actor: Actor, text: str) -> Tally:
        """Store `actor`'s comment (replacing their earlier one); return the tally."""
        body = text.strip()
        if not body:
            raise InvalidInput("a feedback comment cannot be empty")
        if len(body) > MAX_COMMENT:
            raise InvalidInput(
                f"a feedback comment is at most {MAX_COMMENT} characters (this one has {len(body)})"
            )
        return await self._feedback(release_id, actor, comment=body)

    async def _feedback(
        self, release_id: int, actor: Actor, *, score: int | None = None, comment: str | None = None
    ) -> Tally:
        now = self.clock.now()
        async with self.uow() as uow:
            repo = reports_of(uow)
            if await repo.header(release_id) is None:
                raise UnknownTarget(f"no release #{release_id}")
            earlier = {v.user_id: v for v in await repo.votes(release_id)}.get(actor.id)
            vote = Vote(
                actor.id, actor.name,
                score if score is not None else (earlier.score if earlier else None),
                comment if comment is not None else (earlier.comment if earlier else None),
                now,
            )  # fmt: skip
            await repo.put_vote(release_id, vote)
            found = tally(await repo.votes(release_id))
            await uow.audit.append(
                AuditEvent.record(
                    actor, "feedback", f"release #{release_id}", now,
                    Source.BUTTON if comment is None else Source.MODAL, release_id,
                    score=str(vote.score or ""), comment="yes" if comment else "",
                )
            )  # fmt: skip
            recorded = any(
                e.action == EVIDENCE and e.target == CHECK_FEEDBACK
                for e in await repo.timeline(release_id)
            )
            if found.votes >= self.settings.feedback_min_answers and not recorded:
                await self._evidence(
                    uow, release_id, CHECK_FEEDBACK, f"{found.votes} answers: {found.line()}"
                )
                await self._request_tick(uow, release_id, CHECK_FEEDBACK, "enough")
            await uow.outbox.enqueue(
                FEEDBACK_REFRESH_KIND, {"release_id": release_id},
                f"{FEEDBACK_REFRESH_KIND}:{release_id}:{now.isoformat()}:{actor.id}",
            )  # fmt: skip
            await uow.commit()
        return found

    async def tally(self, release_id: int) -> Tally:
        """Return the release's feedback tally."""
        async with self.uow() as uow:
            return tally(await reports_of(uow).votes(release_id))

    # ----- retrospective --------------------------------------------------------------------

    async def retrospective(
        self,
        release_id: int,
        actor: Actor,
        went_well: str,
        went_badly: str,
        actions: str,
        source: Source,
    ) -> Retrospective:
        """Store the release lead's retrospective (lead or release_lead role, checked now)."""
        release = await self.releases.get(release_id)
        if actor.id != release.lead_id and not actor.holds("release_lead"):
            await self.releases.record_denial(
                release_id, actor, "retrospective", release.name, source,
                f"only the release lead ({release.lead_name}) or a release lead can submit it",
            )  # fmt: skip
            raise NotAuthorized(
                "submit the retrospective", actor.name, ["release_lead"], release.name
            )
        texts = [t.strip() for t in (went_well, went_badly, actions)]
        for name, text in zip(("what went well", "what went badly", "actions"), texts, strict=True):
            if len(text) > MAX_RETRO:
                raise InvalidInput(f"{name} is at most {MAX_RETRO} characters (it has {len(text)})")
        if not any(texts):
            raise InvalidInput("the retrospective is empty: write at least one answer")
        retro = Retrospective(actor.id, actor.name, texts[0], texts[1], texts[2], self.clock.now())
        async with self.uow() as uow:
            await reports_of(uow).put_retrospective(release_id, retro)
            await uow.audit.append(
                AuditEvent.record(
                    actor, "retrospective", release.name, retro.at, source, release_id
                )
            )
            await self._evidence(
                uow,
                release_id,
                CHECK_RETRO,
                f"submitted by {actor.name} at {retro.at:%Y-%m-%d %H:%M} UTC",
            )
            await self._request_tick(uow, release_id, CHECK_RETRO, "submitted")
            await uow.commit()
        return retro

    async def retrospective_of(self, release_id: int) -> Retrospective | None:
        """Return the stored retrospective, if any."""
        async with self.uow() as uow:
            return await reports_of(uow).retrospective(release_id)

    # ----- helpers -----------------------------------------------------------------------------

    async def _evidence(self, uow: UnitOfWork, release_id: int, check: str, text: str) -> None:
        await uow.audit.append(
            AuditEvent.record(
                BOT_ACTOR,
                EVIDENCE,
                check,
                self.clock.now(),
                Source.SYSTEM,
                release_id,
                evidence=text,
            )
        )

    async def _request_tick(self, uow: UnitOfWork, release_id: int, check: str, why: str) -> None:
        await uow.outbox.enqueue(
            TICK_KIND, {"release_id": release_id, "check": check},
            f"{TICK_KIND}:{release_id}:{check}:{why}",
        )  # fmt: skip


def evidence_of(events: Sequence[AuditEvent]) -> dict[str, list[str]]:
    """Return check key -> the evidence recorded for it, oldest first."""
    found: dict[str, list[str]] = {}
    for event in events:
        if event.action == EVIDENCE:
            found.setdefault(event.target, []).append(event.detail.get("evidence", ""))
    return found


__all__ = ["CHECK_ANNOUNCED", "CHECK_TEAM", "CommsService", "evidence_of"]

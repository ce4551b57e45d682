"""Record a release's figures when it ends; read them back; DORA over a period."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from bot.core.clock import Clock
from bot.core.errors import UnknownTarget
from bot.core.ports import UnitOfWork, UnitOfWorkFactory
from bot.reports.domain.dora import DoraStats, dora, dora_over_time
from bot.reports.domain.feedback import tally
from bot.reports.domain.metrics import ReleaseMetrics, release_metrics
from bot.reports.domain.ports import ReleaseHeader, ReportRepository, Vote
from bot.reports.domain.report import ReleaseReport

log = logging.getLogger(__name__)


class ReportUnitOfWork(Protocol):
    """A unit of work that carries the reports repository."""

    reports: ReportRepository


def reports_of(uow: UnitOfWork) -> ReportRepository:
    """Return the reports repository of a unit of work."""
    return cast(ReportUnitOfWork, uow).reports


class EndedRelease(Protocol):
    """What the recording needs of the release that ended (the releases aggregate)."""

    @property
    def id(self) -> int | None: ...


def feedback_score(votes: Sequence[Vote]) -> tuple[float | None, int]:
    """Return (mean score, number of scores) of the votes."""
    scores = [v.score for v in votes if v.score is not None]
    return (sum(scores) / len(scores) if scores else None), len(scores)


async def metrics_in(uow: UnitOfWork, header: ReleaseHeader) -> ReleaseMetrics:
    """Return the release's figures recomputed from its audit timeline and feedback."""
    repo = reports_of(uow)
    events = await repo.timeline(header.id)
    votes = await repo.votes(header.id)
    return release_metrics(
        header.id, header.service, header.version, header.lead, events,
        feedback=feedback_score(votes),
    )  # fmt: skip


@dataclass
class ReportService:
    """Release metrics and DORA figures, from the audit log."""

    uow: UnitOfWorkFactory
    clock: Clock

    async def record(self, uow: UnitOfWork, release: EndedRelease, signal: object) -> None:
        """Record the ended release's figures in its own transaction (completion/rollback/abort)."""
        if release.id is None:
            return
        repo = reports_of(uow)
        header = await repo.header(release.id)
        if header is None:
            return
        metrics = await metrics_in(uow, header)
        await repo.save_metrics(
            header.id, header.service, header.version, metrics.outcome, self.clock.now(),
            metrics.figures(),
        )  # fmt: skip
        log.info("recorded the figures of release #%s (%s)", header.id, metrics.outcome)

    async def metrics(self, release_id: int) -> ReleaseMetrics:
        """Return a release's figures recomputed now (UnknownTarget if there is no such release)."""
        async with self.uow() as uow:
            header = await reports_of(uow).header(release_id)
            if header is None:
                raise UnknownTarget(f"no release #{release_id}")
            return await metrics_in(uow, header)

    async def recorded(self, release_id: int) -> dict[str, object] | None:
        """Return the figures recorded when the release ended (None while it runs)."""
        async with self.uow() as uow:
            found = await reports_of(uow).recorded(release_id)
            return None if found is None else dict(found)

    async def history(self, service: str | None = None) -> list[ReleaseMetrics]:
        """Return the figures of every release (of `service`), from the audit log."""
        async with self.uow() as uow:
            repo = reports_of(uow)
            headers = await repo.headers(service)
            timelines = await repo.timelines([h.id for h in headers])
            return [
                release_metrics(h.id, h.service, h.version, h.lead, timelines.get(h.id, ()))
                for h in headers
            ]

    async def stats(
        self, since: datetime, until: datetime, service: str | None = None
    ) -> DoraStats:
        """Return the DORA figures of the period, recomputed from the audit log."""
        return dora(await self.history(service), since, until, service)

    async def trend(
        self, since: datetime, until: datetime, service: str | None = None
    ) -> tuple[DoraStats, list[DoraStats]]:
        """Return the period's DORA figures and those of each of its buckets (daily up to
        14 days, else weekly), from one read of the audit log."""
        history = await self.history(service)
        return dora(history, since, until, service), dora_over_time(history, since, until, service)

    async def report(self, release_id: int) -> ReleaseReport:
        """Return the release's report, from the database (UnknownTarget if no such release)."""
        async with self.uow() as uow:
            repo = reports_of(uow)
            header = await repo.header(release_id)
            if header is None:
                raise UnknownTarget(f"no release #{release_id}")
            metrics = await metrics_in(uow, header)
            votes = await repo.votes(release_id)
            retro = await repo.retrospective(release_id)
            earlier = [h for h in await repo.headers(header.service) if h.id < header.id]
            previous = None
            if earlier:
                timelines = await repo.timelines([h.id for h in earlier])
                for h in reversed(earlier):
                    if any(e.action == "monitor_open" for e in timelines.get(h.id, ())):
                        previous = h.id
                        break
            return ReleaseReport(metrics, tally(votes), retro, previous)

"""The reports repository on the unit of work's session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.audit import AuditEvent
from bot.releases.store.repository import audit_event
from bot.reports.domain.ports import ReleaseHeader, Retrospective, Vote
from bot.reports.store.tables import FeedbackRow, ReleaseMetricsRow, RetrospectiveRow
from bot.store.tables import AuditRow, ReleaseRow


def _header(row: ReleaseRow) -> ReleaseHeader:
    return ReleaseHeader(
        row.id, row.service, row.version, row.lead_name, row.status, row.created_at
    )


class SqlReportRepository:
    """Recorded metrics, feedback and retrospectives; release headers and timelines."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def header(self, release_id: int) -> ReleaseHeader | None:
        """Return the release's header, or None."""
        row = await self._session.get(ReleaseRow, release_id)
        return None if row is None else _header(row)

    async def headers(self, service: str | None = None) -> Sequence[ReleaseHeader]:
        """Return every release (of `service`), oldest first."""
        query = select(ReleaseRow).order_by(ReleaseRow.id)
        if service is not None:
            query = query.where(ReleaseRow.service == service)
        return [_header(row) for row in await self._session.scalars(query)]

    async def timeline(self, release_id: int) -> Sequence[AuditEvent]:
        """Return every audit event of the release, oldest first."""
        return (await self.timelines([release_id])).get(release_id, [])

    async def timelines(self, release_ids: Sequence[int]) -> Mapping[int, Sequence[AuditEvent]]:
        """Return the audit events of each release, oldest first."""
        found: dict[int, list[AuditEvent]] = {i: [] for i in release_ids}
        rows = await self._session.scalars(
            select(AuditRow).where(AuditRow.release_id.in_(release_ids)).order_by(AuditRow.id)
        )
        for row in rows:
            assert row.release_id is not None
            found[row.release_id].append(audit_event(row))
        return found

    async def save_metrics(
        self, release_id: int, service: str, version: str, outcome: str, at: datetime,
        figures: Mapping[str, Any],
    ) -> None:  # fmt: skip
        """Insert or replace the recorded figures of a release."""
        await self._session.merge(
            ReleaseMetricsRow(
                release_id=release_id, service=service, version=version, outcome=outcome,
                recorded_at=at, figures=dict(figures),
            )
        )  # fmt: skip
        await self._session.flush()

    async def recorded(self, release_id: int) -> Mapping[str, Any] | None:
        """Return the recorded figures of a release, if any."""
        row = await self._session.get(ReleaseMetricsRow, release_id)
        return None if row is None else dict(row.figures)

    async def put_vote(self, release_id: int, vote: Vote) -> None:
        """Insert or replace a person's vote and comment."""
        await self._session.merge(
            FeedbackRow(
                release_id=release_id, user_id=vote.user_id, user_name=vote.user_name,
                score=vote.score, comment=vote.comment, updated_at=vote.at,
            )
        )  # fmt: skip
        await self._session.flush()

    async def votes(self, release_id: int) -> Sequence[Vote]:
        """Return every vote on a release."""
        rows = await self._session.scalars(
            select(FeedbackRow)
            .where(FeedbackRow.release_id == release_id)
            .order_by(FeedbackRow.updated_at)
        )
        return [Vote(r.user_id, r.user_name, r.score, r.comment, r.updated_at) for r in rows]

    async def put_retrospective(self, release_id: int, retro: Retrospective) -> None:
        """Insert or replace the release's retrospective."""
        await self._session.merge(
            RetrospectiveRow(
                release_id=release_id, author_id=retro.author_id, author_name=retro.author_name,
                went_well=retro.went_well, went_badly=retro.went_badly, actions=retro.actions,
                submitted_at=retro.at,
            )
        )  # fmt: skip
        await self._session.flush()

    async def retrospective(self, release_id: int) -> Retrospective | None:
        """Return the release's retrospective, if submitted."""
        r = await self._session.get(RetrospectiveRow, release_id)
        if r is None:
            return None
        return Retrospective(
            r.author_id, r.author_name, r.went_well, r.went_badly, r.actions, r.submitted_at
        )

"""What the reports use-cases need from the store, as a Protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.core.audit import AuditEvent


@dataclass(frozen=True)
class ReleaseHeader:
    """Who and what a release is (from the releases table)."""

    id: int
    service: str
    version: str
    lead: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Vote:
    """One person's feedback on a release."""

    user_id: str
    user_name: str
    score: int | None
    comment: str | None
    at: datetime


@dataclass(frozen=True)
class Retrospective:
    """The release lead's answers."""

    author_id: str
    author_name: str
    went_well: str
    went_badly: str
    actions: str
    at: datetime


class ReportRepository(Protocol):
    """The reports feature's reads and writes inside a unit of work."""

    async def header(self, release_id: int) -> ReleaseHeader | None:
        """Return the release's header, or None."""
        ...

    async def headers(self, service: str | None = None) -> Sequence[ReleaseHeader]:
        """Return every release (of `service`), oldest first."""
        ...

    async def timeline(self, release_id: int) -> Sequence[AuditEvent]:
        """Return every audit event of the release, oldest first."""
        ...

    async def timelines(self, release_ids: Sequence[int]) -> Mapping[int, Sequence[AuditEvent]]:
        """Return the audit events of each release, oldest first."""
        ...

    async def save_metrics(
        self, release_id: int, service: str, version: str, outcome: str, at: datetime,
        figures: Mapping[str, Any],
    ) -> None:  # fmt: skip
        """Insert or replace the recorded figures of a release."""
        ...

    async def recorded(self, release_id: int) -> Mapping[str, Any] | None:
        """Return the recorded figures of a release, if any."""
        ...

    async def put_vote(self, release_id: int, vote: Vote) -> None:
        """Insert or replace a person's vote and comment."""
        ...

    async def votes(self, release_id: int) -> Sequence[Vote]:
        """Return every vote on a release."""
        ...

    async def put_retrospective(self, release_id: int, retro: Retrospective) -> None:
        """Insert or replace the release's retrospective."""
        ...

    async def retrospective(self, release_id: int) -> Retrospective | None:
        """Return the release's retrospective, if submitted."""
        ...

"""Incident repository: rows <-> the Incident value, with optimistic concurrency."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, Text, and_, bindparam, insert, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.audit import AuditEvent
from bot.core.errors import ConcurrentUpdate, UnknownTarget
from bot.core.roles import Severity
from bot.incidents.domain.escalation import EscalationPolicy
from bot.incidents.domain.model import Incident, IncidentStatus, Timer, TimerKind
from bot.incidents.domain.oncall import Override
from bot.incidents.domain.ports import IncidentMessage, StoredOverride, audit_target
from bot.incidents.domain.sla import SlaTable
from bot.incidents.store.tables import IncidentMessageRow, IncidentRow, OncallOverrideRow
from bot.releases.store.repository import audit_event, audit_row
from bot.store.tables import AuditRow

_AUDIT_COLUMNS = ("release_id", "at", "actor_id", "actor_name", "action", "target", "source")
_INCIDENTS = cast(Table, IncidentRow.__table__)
_AUDIT = cast(Table, AuditRow.__table__)


class DuplicateIncident(ConcurrentUpdate):
    """Signal that another transaction opened the same release+condition incident first."""


def timer_to_plain(timer: Timer) -> dict[str, Any]:
    """Return a JSON-ready dict for `timer`."""
    return {
        "kind": timer.kind.value,
        "due_at": timer.due_at.isoformat(),
        "step": timer.step_index,
        "token": timer.token,
        "fired": timer.fired,
    }


def timer_from_plain(raw: dict[str, Any]) -> Timer:
    """Return the timer stored by `timer_to_plain`."""
    return Timer(
        TimerKind(raw["kind"]),
        datetime.fromisoformat(raw["due_at"]),
        raw.get("step"),
        int(raw["token"]),
        bool(raw.get("fired", False)),
    )


def _columns(incident: Incident) -> dict[str, Any]:
    return {
        "release_id": incident.release_id,
        "condition": incident.condition,
        "severity": incident.severity.value,
        "title": incident.title[:300],
        "status": incident.status.value,
        "source": incident.source[:40],
        "opened_at": incident.opened_at,
        "opened_by": incident.opened_by,
        "trigger_count": incident.trigger_count,
        "latest_value": incident.latest_value,
        "unit": incident.unit or None,
        "acked_by": incident.acked_by,
        "acked_at": incident.acked_at,
        "resolved_by": incident.resolved_by,
        "resolved_at": incident.resolved_at,
        "resolution_note": incident.resolution_note,
        "response_due": incident.response_due,
        "resolution_due": incident.resolution_due,
        "responded_at": incident.responded_at,
        "response_sla_breached": incident.response_sla_breached,
        "resolution_sla_breached": incident.resolution_sla_breached,
        "escalation_token": incident.escalation_token,
        "escalation_started_at": incident.escalation_started_at,
        "paged_user_ids": list(incident.paged_user_ids),
        "paged_channels": list(incident.paged_channels),
        "last_update_at": incident.last_update_at,
        "updates_missed": incident.updates_missed,
        "timers": [timer_to_plain(t) for t in incident.timers],
    }


def _incident(
    row: Any, policy: EscalationPolicy | None = None, sla: SlaTable | None = None
) -> Incident:
    """Return the incident of an ORM row or of a Core row of the incidents table (with its
    policy and SLA snapshots already parsed, if given)."""
    return Incident(
        id=row.id,
        release_id=row.release_id,
        condition=row.condition,
        severity=Severity(row.severity),
        title=row.title,
        opened_at=row.opened_at,
        opened_by=row.opened_by,
        source=row.source,
        policy=policy or EscalationPolicy.from_dict(row.policy),
        sla=sla or SlaTable.from_dict(row.sla),
        status=IncidentStatus(row.status),
        trigger_count=row.trigger_count,
        latest_value=row.latest_value,
        unit=row.unit or "",
        acked_by=row.acked_by,
        acked_at=row.acked_at,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        resolution_note=row.resolution_note,
        response_due=row.response_due,
        resolution_due=row.resolution_due,
        responded_at=row.responded_at,
        response_sla_breached=row.response_sla_breached,
        resolution_sla_breached=row.resolution_sla_breached,
        escalation_token=row.escalation_token,
        escalation_started_at=row.escalation_started_at,
        paged_user_ids=tuple(row.paged_user_ids or ()),
        paged_channels=tuple(row.paged_channels or ()),
        last_update_at=row.last_update_at,
        updates_missed=row.updates_missed or 0,
        timers=tuple(timer_from_plain(t) for t in row.timers or ()),
    )


class SqlIncidentRepository:
    """Load and save incidents in the unit of work's session."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now
        self._revisions: dict[int, int] = {}  # revision of each incident as this UoW read it

    def _remember(self, row: IncidentRow) -> Incident:
        self._revisions[row.id] = row.revision
        return _incident(row)

    async def add(self, incident: Incident) -> int:
        """Insert a new incident with its policy and SLA snapshots; return its id."""
        row = IncidentRow(
            **_columns(incident),
            policy=incident.policy.to_dict(),
            sla=incident.sla.to_dict(),
            updated_at=self._now,
            revision=0,
        )
        try:
            async with self._session.begin_nested():
                self._session.add(row)
                await self._session.flush()
        except IntegrityError:
            raise DuplicateIncident(
                f"{incident.condition} already has an open incident on release "
                f"#{incident.release_id}"
            ) from None
        self._revisions[row.id] = 0
        return row.id

    async def get(self, incident_id: int) -> Incident:
        """Return incident `incident_id` or raise UnknownTarget."""
        row = await self._session.get(IncidentRow, incident_id, populate_existing=True)
        if row is None:
            raise UnknownTarget(f"there is no incident #{incident_id}")
        return self._remember(row)

    async def save(self, incident: Incident) -> None:
        """Persist `incident`; raise ConcurrentUpdate if its row changed since it was read."""
        if incident.id is None or incident.id not in self._revisions:
            raise ValueError("save() needs an incident read or added in this unit of work")
        seen = self._revisions[incident.id]
        result = await self._session.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident.id, IncidentRow.revision == seen)
            .values(**_columns(incident), updated_at=self._now, revision=seen + 1)
            .execution_options(synchronize_session=False)
        )
        if int(result.rowcount) != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"incident #{incident.id} changed meanwhile; try again")
        self._revisions[incident.id] = seen + 1

    async def get_many(self, incident_ids: Sequence[int]) -> dict[int, Incident]:
        """Return the incidents of `incident_ids` that exist, by id, in one Core query."""
        if not incident_ids:
            return {}
        table = _INCIDENTS
        # The snapshots come as JSON text, parsed once per distinct text: incidents opened
        # under the same configuration share one (frozen) policy and SLA table.
        rows = await self._session.execute(
            select(
                *(c for c in table.c if c.name not in ("policy", "sla")),
                sql_cast(table.c.policy, Text).label("policy_text"),
                sql_cast(table.c.sla, Text).label("sla_text"),
            ).where(table.c.id.in_(sorted(set(incident_ids))))
        )
        found: dict[int, Incident] = {}
        policies: dict[str, EscalationPolicy] = {}
        tables: dict[str, SlaTable] = {}
        for row in rows:
            if row.policy_text not in policies:
                policies[row.policy_text] = EscalationPolicy.from_dict(json.loads(row.policy_text))
            if row.sla_text not in tables:
                tables[row.sla_text] = SlaTable.from_dict(json.loads(row.sla_text))
            self._revisions[row.id] = row.revision
            found[row.id] = _incident(row, policies[row.policy_text], tables[row.sla_text])
        return found

    async def save_many(self, incidents: Sequence[Incident]) -> None:
        """Persist several incidents read in this unit of work, in one statement.

        Raise ConcurrentUpdate if any row changed since it was read (the caller's transaction
        then rolls back as a whole).
        """
        if not incidents:
            return
        if not self._session.get_bind().dialect.supports_sane_multi_rowcount:
            for incident in incidents:  # no per-row count from an executemany: one by one
                await self.save(incident)
            return
        table = _INCIDENTS
        params = []
        for incident in incidents:
            if incident.id is None or incident.id not in self._revisions:
                raise ValueError("save_many() needs incidents read in this unit of work")
            seen = self._revisions[incident.id]
            params.append(
                {**_columns(incident), "b_id": incident.id, "b_seen": seen, "revision": seen + 1}
            )
        # The column keys of `params` become the SET clause of each row's UPDATE.
        result = await self._session.execute(
            update(table)
            .where(and_(table.c.id == bindparam("b_id"), table.c.revision == bindparam("b_seen")))
            .values(updated_at=self._now),
            params,
        )
        if int(result.rowcount) != len(params):  # type: ignore[attr-defined]
            raise ConcurrentUpdate("an incident changed meanwhile; try again")
        for incident in incidents:
            assert incident.id is not None
            self._revisions[incident.id] += 1

    async def append_audit(self, events: Sequence[AuditEvent]) -> None:
        """Append several audit events in one statement, in order."""
        if not events:
            return
        rows = []
        for event in events:
            row = audit_row(event, event.release_id)
            rows.append({c: getattr(row, c) for c in _AUDIT_COLUMNS} | {"detail": row.detail})
        await self._session.execute(insert(_AUDIT), rows)

    async def find_open(self, release_id: int | None, condition: str) -> Incident | None:
        """Return the open incident of `release_id` for `condition`, if any."""
        query = select(IncidentRow).where(
            IncidentRow.condition == condition,
            IncidentRow.status != IncidentStatus.RESOLVED.value,
        )
        if release_id is None:
            query = query.where(IncidentRow.release_id.is_(None))
        else:
            query = query.where(IncidentRow.release_id == release_id)
        row = await self._session.scalar(query.order_by(IncidentRow.id.desc()).limit(1))
        return self._remember(row) if row is not None else None

    async def list(
        self, *, open_only: bool = False, release_id: int | None = None, limit: int = 25
    ) -> Sequence[Incident]:
        """Return incidents, newest first."""
        query = select(IncidentRow)
        if open_only:
            query = query.where(IncidentRow.status != IncidentStatus.RESOLVED.value)
        if release_id is not None:
            query = query.where(IncidentRow.release_id == release_id)
        rows = await self._session.scalars(query.order_by(IncidentRow.id.desc()).limit(limit))
        return [self._remember(row) for row in rows]

    async def timeline(self, incident: Incident, limit: int = 100) -> Sequence[AuditEvent]:
        """Return the newest `limit` audit events of `incident`, oldest first."""
        if incident.id is None:
            return []
        query = select(AuditRow).where(AuditRow.target == audit_target(incident.id))
        if incident.release_id is None:
            rows = await self._session.scalars(query.order_by(AuditRow.id.desc()).limit(limit))
            return [audit_event(row) for row in reversed(rows.all())]
        # The release id is indexed; the target narrows within the release's events. An
        # incident moved from an earlier release (a hotfix superseded it) keeps that part of
        # its timeline: each "incident_moved" names the release it came from.
        releases: set[int] = set()
        wanted = {incident.release_id}
        while wanted - releases:
            releases |= wanted
            found = await self._session.scalars(
                query.where(AuditRow.release_id.in_(releases)).order_by(AuditRow.id.desc())
                .limit(limit)
            )  # fmt: skip
            events = [audit_event(row) for row in reversed(found.all())]
            wanted = releases | {
                int(e.detail["from_release_id"])
                for e in events
                if e.action == "incident_moved" and e.detail.get("from_release_id", "").isdigit()
            }
        return events

    async def put_message(self, message: IncidentMessage) -> None:
        """Remember (or replace) a Discord message showing an incident."""
        await self._session.merge(
            IncidentMessageRow(
                incident_id=message.incident_id,
                key=message.key,
                channel_id=message.channel_id,
                message_id=message.message_id,
            )
        )
        await self._session.flush()

    async def messages(self, incident_id: int) -> Sequence[IncidentMessage]:
        """Return the Discord messages showing an incident, in key order."""
        rows = await self._session.scalars(
            select(IncidentMessageRow)
            .where(IncidentMessageRow.incident_id == incident_id)
            .order_by(IncidentMessageRow.key)
        )
        return [IncidentMessage(r.incident_id, r.key, r.channel_id, r.message_id) for r in rows]

    async def add_override(self, override: Override, set_at: datetime) -> None:
        """Store an on-call override."""
        self._session.add(
            OncallOverrideRow(
                user_id=override.user_id,
                role=override.role,
                until=override.until,
                set_by=override.set_by,
                set_at=set_at,
            )
        )
        await self._session.flush()

    async def overrides(self, now: datetime) -> Sequence[StoredOverride]:
        """Return the overrides in force at `now`, oldest first (the newest wins a role)."""
        rows = await self._session.scalars(
            select(OncallOverrideRow)
            .where(OncallOverrideRow.until > now)
            .order_by(OncallOverrideRow.set_at, OncallOverrideRow.id)
        )
        return [
            StoredOverride(Override(r.user_id, r.role, r.until, r.set_by), r.set_at) for r in rows
        ]

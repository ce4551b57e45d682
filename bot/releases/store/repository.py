"""Release repository: rows <-> the Release aggregate, with optimistic concurrency."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.actors import Source
from bot.core.audit import AuditEvent
from bot.core.errors import ConcurrentUpdate, DuplicateRelease, UnknownTarget
from bot.releases.domain.release import ItemProgress, ItemState, Release, ReleaseStatus, SignOff
from bot.releases.domain.values import DeploymentWindow, Version
from bot.releases.store.templates import parsed, snapshot_id
from bot.store.tables import AuditRow, ItemStateRow, ReleaseRow, SignOffRow, TemplateRow

# The tables a click writes, for Core statements: the ORM's bulk paths cost more than the rows.
RELEASES: Table = ReleaseRow.__table__  # type: ignore[assignment]
AUDIT: Table = AuditRow.__table__  # type: ignore[assignment]
ITEMS: Table = ItemStateRow.__table__  # type: ignore[assignment]
SIGNOFFS: Table = SignOffRow.__table__  # type: ignore[assignment]

# A click's statements, built once with bound parameters: building and cache-keying a
# statement per click cost more than running it.
_REVISION = select(RELEASES.c.revision).where(RELEASES.c.id == bindparam("release_id"))
_BUMP = (
    update(RELEASES)
    .where(RELEASES.c.id == bindparam("release_id"), RELEASES.c.revision == bindparam("seen"))
    .values(
        status=bindparam("new_status"),
        phase_index=bindparam("new_phase_index"),
        closed_at=bindparam("new_closed_at"),
        close_reason=bindparam("new_close_reason"),
        updated_at=bindparam("new_updated_at"),
        revision=bindparam("new_revision"),
    )
)
_INSERT_AUDIT = insert(AUDIT)
_UPSERTS: dict[tuple[str, str], Executable] = {}


def _upsert_statement(dialect: str, table: Table, keys: tuple[str, ...]) -> Executable:
    """Return the (cached) upsert of one row of `table`: insert, or update all but `keys`."""
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        base = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
        changed = {c.name: base.excluded[c.name] for c in table.c if c.name not in keys}
        statement = base.on_conflict_do_update(index_elements=keys, set_=changed)
        _UPSERTS[(dialect, table.name)] = statement
    return statement


def audit_row(event: AuditEvent, release_id: int | None) -> AuditRow:
    """Return the row for `event`, attached to `release_id` when the event has none."""
    return AuditRow(**_audit_values(event, release_id))


def _audit_values(event: AuditEvent, release_id: int | None) -> dict[str, Any]:
    """Return the column values of `event`'s row (a Core insert: no ORM object per click)."""
    return {
        "release_id": event.release_id if event.release_id is not None else release_id,
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target": event.target[:300],
        "source": event.source.value,
        "detail": dict(event.detail),
    }


def audit_event(row: AuditRow) -> AuditEvent:
    """Return the domain event of an audit row."""
    return AuditEvent(
        row.at,
        row.actor_id,
        row.actor_name,
        row.action,
        row.target,
        Source(row.source),
        row.release_id,
        dict(row.detail or {}),
    )


class SqlReleaseRepository:
    """Load and save releases in one session (owned by the unit of work)."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def get(self, release_id: int) -> Release:
        """Return release `release_id` or raise UnknownTarget."""
        row = await self._session.get(ReleaseRow, release_id, populate_existing=True)
        if row is None:
            raise UnknownTarget(f"there is no release #{release_id}")
        return await self._load(row)

    async def revision(self, release_id: int) -> int | None:
        """Return the stored revision of release `release_id` (None: there is no such release).

        One indexed read: enough to tell whether a release kept in memory is still current.
        """
        stored: int | None = await self._session.scalar(_REVISION, {"release_id": release_id})
        return stored

    async def _load(self, row: ReleaseRow) -> Release:
        template_row = await self._session.get(TemplateRow, row.template_id)
        assert template_row is not None  # foreign key guarantees it
        template = parsed(template_row.sha256, template_row.body, template_row.source)
        items = await self._session.scalars(
            select(ItemStateRow).where(ItemStateRow.release_id == row.id)
        )
        signoffs = await self._session.scalars(
            select(SignOffRow).where(SignOffRow.release_id == row.id)
        )
        window = (
            DeploymentWindow(row.window_start, row.window_end)
            if row.window_start and row.window_end
            else None
        )
        return Release(
            service=row.service,
            version=Version.parse(row.version),
            lead_id=row.lead_id,
            lead_name=row.lead_name,
            template=template,
            created_at=row.created_at,
            id=row.id,
            target_date=row.target_date,
            window=window,
            status=ReleaseStatus(row.status),
            phase_index=row.phase_index,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
            revision=row.revision,
            items={
                i.item_id: ItemProgress(
                    i.item_id,
                    ItemState(i.state),
                    i.actor_id,
                    i.actor_name,
                    i.at,
                    i.reason,
                    i.source,
                )
                for i in items
            },
            signoffs={s.key: SignOff(s.key, s.actor_id, s.actor_name, s.at) for s in signoffs},
        )

    async def add(self, release: Release, template_body: str) -> int:
        """Insert `release` with its template snapshot and events; return its id."""
        template_id = await snapshot_id(
            self._session, template_body, release.template.source, self._now
        )
        row = ReleaseRow(
            service=release.service,
            version=str(release.version),
            status=release.status.value,
            phase_index=release.phase_index,
            lead_id=release.lead_id,
            lead_name=release.lead_name,
            template_id=template_id,
            target_date=release.target_date,
            window_start=release.window.start if release.window else None,
            window_end=release.window.end if release.window else None,
            created_at=release.created_at,
            updated_at=self._now,
            revision=0,
        )
        self._session.add(row)
        try:
            async with self._session.begin_nested():
                await self._session.flush()
        except IntegrityError:
            raise DuplicateRelease(
                f"{release.name} already has an active release; finish or abort it first"
            ) from None
        release.id = row.id
        await self._write_changes(release)
        return row.id

    async def save(self, release: Release) -> None:
        """Persist changes of `release`; raise ConcurrentUpdate if its revision moved on."""
        if release.id is None:
            raise ValueError("save() needs a stored release; use add() first")
        result = await self._session.execute(
            _BUMP,
            {
                "release_id": release.id,
                "seen": release.revision,
                "new_status": release.status.value,
                "new_phase_index": release.phase_index,
                "new_closed_at": release.closed_at,
                "new_close_reason": release.close_reason,
                "new_updated_at": self._now,
                "new_revision": release.revision + 1,
            },
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise ConcurrentUpdate(f"{release.name} was changed by someone else; try again")
        release.revision += 1
        await self._write_changes(release)

    async def _write_changes(self, release: Release) -> None:
        # One statement per changed row: an upsert needs no read of the row first (merge()
        # would SELECT it), and nothing else of the aggregate is touched.
        assert release.id is not None
        for item_id in sorted(release.dirty_items):
            progress = release.items[item_id]
            await self._upsert(
                ITEMS,
                ("release_id", "item_id"),
                release_id=release.id,
                item_id=item_id,
                state=progress.state.value,
                actor_id=progress.actor_id,
                actor_name=progress.actor_name,
                at=progress.at,
                reason=progress.reason,
                source=progress.source,
            )
        for key in sorted(release.dirty_signoffs):
            given = release.signoffs.get(key)
            if given is None:
                await self._session.execute(
                    delete(SignOffRow).where(
                        SignOffRow.release_id == release.id, SignOffRow.key == key
                    )
                )
            else:
                await self._upsert(
                    SIGNOFFS,
                    ("release_id", "key"),
                    release_id=release.id,
                    key=key,
                    actor_id=given.actor_id,
                    actor_name=given.actor_name,
                    at=given.at,
                )
        if release.events:
            rows = [_audit_values(event, release.id) for event in release.events]
            await self._session.execute(_INSERT_AUDIT, rows)
        release.events.clear()
        release.dirty_items.clear()
        release.dirty_signoffs.clear()

    async def _upsert(self, table: Table, keys: tuple[str, ...], **values: Any) -> None:
        dialect = self._session.get_bind().dialect.name
        await self._session.execute(_upsert_statement(dialect, table, keys), values)

    async def list(self, *, active: bool | None = None, limit: int = 25) -> Sequence[Release]:
        """Return releases, newest first, optionally only active or only closed ones."""
        query = select(ReleaseRow).order_by(ReleaseRow.id.desc()).limit(limit)
        if active is True:
            query = query.where(ReleaseRow.status == ReleaseStatus.ACTIVE.value)
        elif active is False:
            query = query.where(ReleaseRow.status != ReleaseStatus.ACTIVE.value)
        rows = (await self._session.scalars(query)).all()
        return [await self._load(row) for row in rows]

    async def find_active(self, service: str, version: str) -> Release | None:
        """Return the active release of `service` `version`, if any."""
        row = await self._session.scalar(
            select(ReleaseRow).where(
                ReleaseRow.service == service,
                ReleaseRow.version == version,
                ReleaseRow.status == ReleaseStatus.ACTIVE.value,
            )
        )
        return await self._load(row) if row else None

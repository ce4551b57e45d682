"""Template snapshots: a release follows the checklist text as it was when it started."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.checklist import parse_template
from bot.checklist.limits import TemplateLimits
from bot.checklist.model import ChecklistTemplate
from bot.store.tables import TemplateRow

_PARSED: dict[str, ChecklistTemplate] = {}


def parsed(sha: str, body: str, source: str) -> ChecklistTemplate:
    """Return the parsed template for a snapshot, parsing each distinct text once per process.

    A snapshot was accepted when its release started: it is parsed leniently and without
    limits, so a stricter parser or smaller limits after an upgrade never strand a release.
    """
    cached = _PARSED.get(sha)
    if cached is None:
        cached = parse_template(body, source, lenient=True, limits=TemplateLimits.unlimited())
        _PARSED[sha] = cached
    return cached


async def snapshot_id(session: AsyncSession, body: str, source: str, now: datetime) -> int:
    """Return the id of the snapshot row holding `body`, inserting it if new."""
    sha = hashlib.sha256(body.encode()).hexdigest()
    existing = await session.scalar(select(TemplateRow.id).where(TemplateRow.sha256 == sha))
    if existing is not None:
        return existing
    # Two releases starting at once may both insert the same snapshot: let one win quietly.
    values = {"sha256": sha, "source": source[:500], "body": body, "created_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(insert(TemplateRow).values(**values).on_conflict_do_nothing())
    snapshot = await session.scalar(select(TemplateRow.id).where(TemplateRow.sha256 == sha))
    assert snapshot is not None
    return snapshot

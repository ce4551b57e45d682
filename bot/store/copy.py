"""`releasebot db copy`: move every row of one database into another, empty one.

The usual case is an existing SQLite file moving to PostgreSQL. The target is upgraded to the
newest schema first; the source must already be at that revision (so both have the same
tables); tables are copied parent before child (`MetaData.sorted_tables`, foreign keys), in
one transaction on the target, and PostgreSQL's id sequences are moved past the copied ids so
the bot keeps numbering from where it was.
"""

from __future__ import annotations

from sqlalchemy import MetaData, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store import migrate
from bot.store.db import make_engine

BATCH = 1_000


class CopyRefused(RuntimeError):
    """The copy cannot start: the target holds data, or the source is not migrated to head."""


async def copy_database(source_url: str, target_url: str, metadata: MetaData) -> dict[str, int]:
    """Copy every table of `metadata` from `source_url` to `target_url`; return rows per table.

    Raise CopyRefused (nothing written but the target's schema) when the target already holds
    rows or the source is not at the newest revision.
    """
    source = make_engine(source_url)
    target = make_engine(target_url)
    try:
        return await _copy(source, target, metadata)
    finally:
        await source.dispose()
        await target.dispose()


async def _copy(source: AsyncEngine, target: AsyncEngine, metadata: MetaData) -> dict[str, int]:
    head = migrate.head()
    found = await migrate.current(source)
    if found != head:
        raise CopyRefused(
            f"the source database is at revision {found or 'base (empty)'}, not {head}: "
            "run `releasebot db upgrade --url SOURCE` first"
        )
    await migrate.upgrade(target)
    counts: dict[str, int] = {}
    async with source.connect() as reading, target.begin() as writing:
        for table in metadata.sorted_tables:
            held = await writing.scalar(select(func.count()).select_from(table))
            if held:
                raise CopyRefused(
                    f"the target database is not empty (table {table.name} holds {held} "
                    "rows): copy into a new, empty database"
                )
        for table in metadata.sorted_tables:
            counts[table.name] = await _copy_table(reading, writing, table)
        if writing.dialect.name == "postgresql":
            await _advance_sequences(writing, metadata)
    return counts


async def _copy_table(reading: AsyncConnection, writing: AsyncConnection, table: object) -> int:
    from sqlalchemy import Table

    assert isinstance(table, Table)
    order = list(table.primary_key.columns) or list(table.columns)
    result = await reading.stream(select(table).order_by(*order))
    copied = 0
    async for batch in result.mappings().partitions(BATCH):
        rows = [dict(row) for row in batch]
        await writing.execute(insert(table), rows)
        copied += len(rows)
    return copied


async def _advance_sequences(writing: AsyncConnection, metadata: MetaData) -> None:
    """Move each serial id's sequence past the largest copied id."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            if column.autoincrement is False or column.type.python_type is not int:
                continue
            sequence = await writing.scalar(
                text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            )
            if sequence is None:
                continue
            await writing.execute(
                text(
                    "SELECT setval(CAST(:sequence AS regclass), "
                    f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'
                ),
                {"sequence": sequence},
            )

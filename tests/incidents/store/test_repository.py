"""Incident repository on real SQLite: snapshots round-trip, one open incident, concurrency."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import inspect, text

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.errors import ConcurrentUpdate, UnknownTarget
from bot.core.roles import Severity
from bot.incidents.domain.escalation import EscalationPolicy, EscalationStep
from bot.incidents.domain.lifecycle import acknowledge, open_incident, retrigger
from bot.incidents.domain.oncall import Roster
from bot.incidents.domain.sla import DEFAULT_SLA_TABLE, BusinessDays, SlaPolicy, SlaTable
from bot.store import migrate
from bot.store.db import make_session_factory
from tests.support.actors import LEAD, NOW

POLICY = EscalationPolicy(
    (
        EscalationStep(0, "oncall", timedelta(0), pagerduty=True),
        EscalationStep(1, "user:42", timedelta(minutes=7), webhook=True),
    ),
    ack_timeout=timedelta(minutes=20),
)
SLA = SlaTable(
    {**DEFAULT_SLA_TABLE.policies, Severity.P2: SlaPolicy(BusinessDays(2), timedelta(days=5))},
    "Europe/Berlin",
)


def _open(condition: str = "error_rate", release_id: int | None = None):
    incident, _ = open_incident(
        release_id, condition, Severity.P2, "Error rate 3%", 0.03, NOW, POLICY, SLA, "poll",
        "releasebot", Roster(primary="100"),
    )  # fmt: skip
    return incident


@pytest.fixture
def uow(engine, clock) -> SqlUnitOfWorkFactory:
    """Return a unit-of-work factory on the migrated database."""
    return SqlUnitOfWorkFactory(make_session_factory(engine), clock)


async def test_incident_round_trips_with_its_snapshots_and_timers(uow):
    """Read back exactly the incident that was stored: policy, SLA table, timers, paging."""
    incident = _open()
    async with uow() as u:
        incident_id = await u.incidents.add(incident)
        await u.commit()
    async with uow() as u:
        stored = await u.incidents.get(incident_id)
    # Events live in the audit log, not on the row.
    assert stored == incident.__class__(**{**_fields(incident), "id": incident_id, "events": ()})


def _fields(incident) -> dict:
    return {name: getattr(incident, name) for name in incident.__slots__}


async def test_only_one_open_incident_per_release_condition(uow, service):
    """Refuse a second open incident of the same release+condition; allow another condition."""
    release = await service.start(LEAD, service="gw", version="v1.2.3")
    async with uow() as u:
        await u.incidents.add(_open(release_id=release.id))
        with pytest.raises(ConcurrentUpdate, match="already has an open incident"):
            await u.incidents.add(_open(release_id=release.id))
        await u.incidents.add(_open("latency_p95", release_id=release.id))
        await u.commit()
    async with uow() as u:
        assert len(await u.incidents.list(open_only=True)) == 2


async def test_save_refuses_a_stale_copy(uow):
    """Raise ConcurrentUpdate when the incident changed since this unit of work read it."""
    async with uow() as u:
        incident_id = await u.incidents.add(_open())
        await u.commit()
    # SQLite serializes units of work (BEGIN IMMEDIATE), so "another writer" is simulated by
    # bumping the row's revision underneath this unit of work, as a PostgreSQL peer could.
    async with uow() as u:
        mine = await u.incidents.get(incident_id)
        await u.session.execute(
            text("UPDATE incidents SET revision = revision + 1 WHERE id = :id"), {"id": incident_id}
        )
        with pytest.raises(ConcurrentUpdate, match="changed meanwhile"):
            await u.incidents.save(acknowledge(mine, "200", NOW)[0])


async def test_unknown_incident_is_named(uow):
    """Name the missing incident id."""
    async with uow() as u:
        with pytest.raises(UnknownTarget, match="no incident #99"):
            await u.incidents.get(99)


async def test_the_conditions_unit_round_trips_and_a_row_from_before_0009_has_no_unit(uow):
    """Store "ratio" with the incident, replace it on a retrigger ("seconds"), and read a row
    whose unit is NULL (opened before migration 0009) as "" (its value shown as is)."""
    incident, _ = open_incident(
        None, "error_rate", Severity.P1, "Error rate 5.1 %", 0.051, NOW, POLICY, SLA, "poll",
        "releasebot", Roster(primary="100"), "5.1 %", unit="ratio",
    )  # fmt: skip
    async with uow() as u:
        incident_id = await u.incidents.add(incident)
        await u.commit()
    async with uow() as u:
        stored = await u.incidents.get(incident_id)
        assert (stored.unit, stored.latest_value) == ("ratio", 0.051)
        again, _ = retrigger(stored, 0.412, NOW + timedelta(minutes=5), unit="seconds")
        await u.incidents.save(again)
        await u.commit()
    async with uow() as u:
        assert (await u.incidents.get(incident_id)).unit == "seconds"
        await u.session.execute(
            text("UPDATE incidents SET unit = NULL WHERE id = :id"), {"id": incident_id}
        )
        await u.commit()
    async with uow() as u:
        legacy = await u.incidents.get(incident_id)
        assert (legacy.unit, legacy.latest_value) == ("", 0.412)
        raw = await u.session.execute(
            text("SELECT unit FROM incidents WHERE id = :id"), {"id": incident_id}
        )
        assert raw.scalar_one() is None


async def test_an_incident_from_before_0009_survives_the_migration_without_a_unit(engine, uow):
    """Down to 0008 (no unit column) and up again: the incident and its value are kept, and it
    reads with no unit, so its message shows the number as before the migration."""
    incident, _ = open_incident(
        None, "error_rate", Severity.P1, "Error rate 0.051", 0.051, NOW, POLICY, SLA, "poll",
        "releasebot", Roster(primary="100"), unit="ratio",
    )  # fmt: skip
    async with uow() as u:
        incident_id = await u.incidents.add(incident)
        await u.commit()
    await migrate.downgrade(engine, "0008")
    async with engine.connect() as conn:
        columns = await conn.run_sync(lambda c: inspect(c).get_columns("incidents"))
    assert "unit" not in {c["name"] for c in columns}
    await migrate.upgrade(engine)
    async with uow() as u:
        stored = await u.incidents.get(incident_id)
    assert (stored.title, stored.latest_value, stored.unit) == ("Error rate 0.051", 0.051, "")


async def test_repeat_and_status_update_columns_round_trip(uow):
    """Store repeat in the policy snapshot and last update / missed count in their columns."""
    incident = replace(_open(), policy=replace(POLICY, repeat=3))
    async with uow() as u:
        incident_id = await u.incidents.add(incident)
        await u.commit()
    async with uow() as u:
        stored = await u.incidents.get(incident_id)
        await u.incidents.save(replace(stored, last_update_at=NOW, updates_missed=2))
        await u.commit()
    async with uow() as u:
        again = await u.incidents.get(incident_id)
    assert (again.policy.repeat, again.last_update_at, again.updates_missed) == (3, NOW, 2)


async def test_get_many_and_save_many_round_trip_several_incidents(uow):
    """Read several incidents in one query (same values as `get`) and save them in one."""
    async with uow() as u:
        ids = [await u.incidents.add(_open(f"c-{n}")) for n in range(3)]
        await u.commit()
    async with uow() as u:
        found = await u.incidents.get_many([*ids, 999])
        assert sorted(found) == ids  # a missing id is simply absent
        assert found[ids[1]] == await u.incidents.get(ids[1])
        acked = [acknowledge(found[i], "200", NOW)[0] for i in ids[:2]]
        await u.incidents.save_many(acked)
        await u.commit()
    async with uow() as u:
        assert [(await u.incidents.get(i)).acked_by for i in ids] == ["200", "200", None]


async def test_save_many_refuses_when_one_incident_changed_meanwhile(uow):
    """Raise ConcurrentUpdate from a bulk save when any one row's revision moved."""
    async with uow() as u:
        ids = [await u.incidents.add(_open(f"c-{n}")) for n in range(2)]
        await u.commit()
    async with uow() as u:
        found = await u.incidents.get_many(ids)
        await u.session.execute(
            text("UPDATE incidents SET revision = revision + 1 WHERE id = :id"), {"id": ids[1]}
        )
        with pytest.raises(ConcurrentUpdate, match="changed meanwhile"):
            await u.incidents.save_many([acknowledge(found[i], "200", NOW)[0] for i in ids])

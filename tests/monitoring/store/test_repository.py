"""Monitoring repository on real SQLite: round trips, optimistic concurrency, NaN, upserts."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.errors import ConcurrentUpdate
from bot.monitoring.domain import ConditionState, Measurement, MonitoringWindow, Verdict
from bot.monitoring.domain.records import (
    AlertKind,
    AlertRecord,
    AlertStatus,
    PollInProgress,
    Silence,
    StoredCondition,
    WindowRecord,
)
from bot.store.db import make_session_factory
from tests.monitoring.service.harness import AVAILABILITY, ERROR_RATE
from tests.support.actors import LEAD, NOW


@pytest.fixture
def units(engine, clock):
    """Return a unit-of-work factory on the migrated database."""
    return SqlUnitOfWorkFactory(make_session_factory(engine), clock)


async def _window(units, service) -> int:
    release = await service.start(LEAD, service="gw", version="v1.0.0")
    record = WindowRecord(release.id, "gw", MonitoringWindow(NOW), (ERROR_RATE, AVAILABILITY))
    record.in_progress = PollInProgress(
        NOW, 2, "retry", NOW + timedelta(minutes=1), ("error_rate",), 1
    )
    async with units() as uow:
        window_id = await uow.monitoring.add_window(record)
        await uow.commit()
    return window_id


async def test_window_round_trip_keeps_every_field(units, service):
    """Store a window with a poll marker and a paused, extended schedule; read it back."""
    window_id = await _window(units, service)
    async with units() as uow:
        record = await uow.monitoring.get_window(window_id)
        record.window = record.window.pause(NOW + timedelta(minutes=3)).extend(timedelta(hours=1))
        record.next_due_at = NOW + timedelta(minutes=5)
        await uow.monitoring.save_window(record)
        await uow.commit()
    async with units() as uow:
        loaded = await uow.monitoring.window_for_release(record.release_id)
    assert loaded.conditions == (ERROR_RATE, AVAILABILITY)
    assert loaded.window.paused_at == NOW + timedelta(minutes=3)
    assert loaded.window.closes_at == NOW + timedelta(hours=25)
    assert loaded.in_progress == record.in_progress
    assert (loaded.revision, loaded.next_due_at) == (1, NOW + timedelta(minutes=5))


async def test_stale_revision_is_a_concurrent_update(units, service):
    """Refuse to save a window someone else saved first."""
    window_id = await _window(units, service)
    async with units() as uow:
        first = await uow.monitoring.get_window(window_id)
    async with units() as uow:
        second = await uow.monitoring.get_window(window_id)
        await uow.monitoring.save_window(second)
        await uow.commit()
    async with units() as uow:
        with pytest.raises(ConcurrentUpdate, match="changed meanwhile"):
            await uow.monitoring.save_window(first)


async def test_measurements_store_nan_as_no_data_and_states_upsert(units, service):
    """Read NaN back as no value; replace a condition's state in place, silence included."""
    window_id = await _window(units, service)
    nan = Measurement.of("error_rate", NOW, math.nan, threshold=0.01, op=">", query="q")
    async with units() as uow:
        repo = uow.monitoring
        first = await repo.add_measurement(window_id, 1, nan, "poll")
        await repo.put_condition(window_id, StoredCondition(ConditionState("error_rate")), first)
        silence = Silence(NOW + timedelta(hours=1), "known", "4", "Omar")
        state = ConditionState("error_rate", consecutive_blind=1)
        await repo.put_condition(window_id, StoredCondition(state, silence), first)
        await uow.commit()
    async with units() as uow:
        (stored,) = (await uow.monitoring.conditions(window_id)).values()
        (measured,) = await uow.monitoring.measurements(window_id, "error_rate")
    assert measured.value is None and measured.verdict is Verdict.INCONCLUSIVE
    assert stored.state.consecutive_blind == 1 and stored.state.last == measured
    assert stored.silence == silence


async def test_open_alerts_lists_only_open_episodes(units, service):
    """List open episodes with their measurement; ended ones drop out."""
    window_id = await _window(units, service)
    m = Measurement.of("error_rate", NOW, 0.05, threshold=0.01, op=">", query="q")
    async with units() as uow:
        repo = uow.monitoring
        mid = await repo.add_measurement(window_id, 1, m, "poll")
        alerts = [
            AlertRecord(
                window_id,
                1,
                "gw",
                "error_rate",
                "Error rate",
                "P1",
                kind,
                status,
                NOW,
                NOW,
                "first_breach",
                m,
                measurement_id=mid,
            )
            for kind, status in (
                (AlertKind.BREACH, AlertStatus.FIRING),
                (AlertKind.BLIND, AlertStatus.RESTORED),
            )
        ]
        for alert in alerts:
            await repo.add_alert(alert)
        await uow.commit()
    async with units() as uow:
        (open_alert,) = await uow.monitoring.open_alerts(window_id)
    assert (open_alert.id, open_alert.measurement.value) == (alerts[0].id, 0.05)
    assert open_alert.kind is AlertKind.BREACH

"""Rollout operation rules (pure) and their store: the in-flight guard in SQLite itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.actors import Source
from bot.core.errors import InvalidInput
from bot.releases.domain.values import DeploymentWindow
from bot.releases.service import TemplateSource
from bot.rollouts.domain import (
    AutoRollbackPolicy,
    OperationKind,
    OperationStatus,
    RolloutInFlight,
    RolloutOperation,
    check_items,
    passing_items,
    requested_operation,
    runs_release_version,
    window_decision,
)
from tests.rollouts.service.harness import DEVOPS, LEAD, TEMPLATE

NOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
WINDOW = DeploymentWindow.parse("2026-01-05 10:00-12:00 UTC")


def operation(kind: OperationKind = OperationKind.ROLLBACK, **fields: object) -> RolloutOperation:
    """Return a requested operation on production/nexis-gateway of release 1."""
    return requested_operation(
        kind,
        release_id=1,
        service="nexis-gateway",
        environment="production",
        namespace="production",
        deployment="nexis-gateway",
        actor=DEVOPS,
        source=Source.BUTTON,
        now=NOW,
        **fields,
    )


@pytest.mark.parametrize(
    ("environment", "window", "now", "allowed", "says"),
    [
        ("staging", None, NOW, True, "staging has no deployment window"),
        ("production", WINDOW, NOW, True, "inside the deployment window"),
        ("production", WINDOW, NOW - timedelta(hours=1), False, "has not opened yet"),
        ("production", WINDOW, NOW + timedelta(hours=2), False, "has closed"),
        ("production", None, NOW, False, "has no deployment window"),
    ],
)
def test_window_decision(
    environment: str, window: DeploymentWindow | None, now: datetime, allowed: bool, says: str
) -> None:
    """Allow staging always and production only inside the release's window."""
    decision = window_decision(environment, window, now)
    assert decision.allowed is allowed
    assert decision.needs_override is not allowed
    assert says in decision.reason


def test_default_template_check_items_per_environment() -> None:
    """Map the default template's check keys to staging and production."""
    template = TemplateSource.from_path(TEMPLATE).template
    assert [i.id for i in check_items(template, "staging")] == ["staging-deployed"]
    assert [i.id for i in check_items(template, "production")] == ["prod-health", "prod-available"]
    found = passing_items(template, "production", complete=True, available=False)
    assert [i.id for i in found] == ["prod-health"]
    assert passing_items(template, "staging", complete=False, available=True) == []
    with pytest.raises(InvalidInput, match="environment 'qa' is not valid"):
        check_items(template, "qa")


@pytest.mark.parametrize(
    ("images", "expected"),
    [
        (("ghcr.io/nexis/nexis-gateway:v1.2.0",), True),
        (("registry:5000/nexis-gateway:v1.2.0",), True),
        (("ghcr.io/nexis/nexis-gateway:v1.2.0-rc.1",), False),
        (("registry:5000/nexis-gateway",), False),
        ((), False),
    ],
)
def test_runs_release_version(images: tuple[str, ...], expected: bool) -> None:
    """Match the image tag exactly, never a registry port or a longer tag."""
    assert runs_release_version(images, "v1.2.0") is expected


def test_auto_rollback_policy() -> None:
    """Apply only when enabled and the condition or its severity is listed."""
    policy = AutoRollbackPolicy(True, frozenset({"error_rate"}), frozenset({"P0"}))
    assert (
        policy.applies("error_rate", "P2")
        == "condition error_rate is set to roll back automatically"
    )
    assert "severity P0" in (policy.applies("latency", "P0") or "")
    assert policy.applies("latency", "P1") is None
    off = AutoRollbackPolicy(False, frozenset({"error_rate"}))
    assert off.applies("error_rate", "P0") is None


def test_operation_lifecycle_rules() -> None:
    """Start only a requested operation; finish only with an outcome."""
    op = operation()
    assert op.in_flight and op.target == "production/nexis-gateway"
    op.start(NOW)
    assert op.status is OperationStatus.IN_PROGRESS
    with pytest.raises(InvalidInput, match="not requested"):
        op.start(NOW)
    with pytest.raises(InvalidInput, match="cannot finish as requested"):
        op.finish(OperationStatus.REQUESTED, NOW, "")
    op.finish(OperationStatus.SUCCEEDED, NOW, "done")
    assert not op.in_flight
    with pytest.raises(TypeError, match="no field 'colour'"):
        operation(colour="red")


async def store(tmp_path: Path) -> tuple[SqlUnitOfWorkFactory, object]:
    """Return a unit-of-work factory on a migrated database holding one release."""
    from bot.core.actors import AccessPolicy
    from bot.core.clock import FakeClock
    from bot.releases.service import ReleaseService
    from bot.store import migrate
    from bot.store.db import make_engine, make_session_factory

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}")
    await migrate.upgrade(engine)
    clock = FakeClock(NOW)
    uow = SqlUnitOfWorkFactory(make_session_factory(engine), clock)
    source = TemplateSource.from_path(TEMPLATE)
    releases = ReleaseService(uow, clock, AccessPolicy(), lambda: source, ["nexis-gateway"])
    await releases.start(LEAD, service="nexis-gateway", version="v1.2.0")
    return uow, engine


async def test_store_round_trips_an_operation(tmp_path: Path) -> None:
    """Store every field and read it back; saving bumps the version."""
    uow, engine = await store(tmp_path)
    try:
        op = operation(from_revision=3, to_revision=2, trigger="condition x met")
        async with uow() as work:
            await work.rollouts.add(op)
            await work.commit()
        op.finish(OperationStatus.FAILED, NOW, "it broke")
        op.ticked = ("a", "b")
        async with uow() as work:
            await work.rollouts.save(op)
            await work.commit()
        async with uow() as work:
            back = await work.rollouts.get(op.id or 0)
        assert back == op
        assert back.version == 1
    finally:
        await engine.dispose()  # type: ignore[attr-defined]


async def test_database_refuses_two_in_flight_rollbacks_of_one_deployment(tmp_path: Path) -> None:
    """Refuse the race loser through the unique index, even when its own check saw nothing."""
    uow, engine = await store(tmp_path)
    try:
        async with uow() as work:
            await work.rollouts.add(operation())
            await work.commit()
        async with uow() as work:

            async def nothing_in_flight(*args: object) -> None:
                return None  # what a transaction that checked before the winner committed saw

            work.rollouts.in_flight = nothing_in_flight  # type: ignore[method-assign,assignment]
            with pytest.raises(RolloutInFlight, match="already in progress"):
                await work.rollouts.add(operation())
            # The transaction is still usable: a deploy may be in flight next to the rollback.
            await work.rollouts.add(operation(OperationKind.DEPLOY))
            await work.commit()
        async with uow() as work:
            flying = await work.rollouts.with_status([OperationStatus.REQUESTED])
            assert [op.kind for op in flying] == [OperationKind.ROLLBACK, OperationKind.DEPLOY]
            done = flying[0]
            done.finish(OperationStatus.SUCCEEDED, NOW, "ok")
            await work.rollouts.save(done)
            await work.rollouts.add(operation())  # a finished rollback frees the slot
            await work.commit()
    finally:
        await engine.dispose()  # type: ignore[attr-defined]

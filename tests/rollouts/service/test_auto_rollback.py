"""Auto-rollback: a met condition schedules a durable timer; the timer requests the rollback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import AutoRollbackSettings
from bot.core.actors import Source
from bot.releases.domain.release import ReleaseStatus
from bot.rollouts.domain import AutoRollbackPolicy, OperationStatus
from bot.rollouts.service.auto_rollback import TIMER_KIND, AutoRollback, policy_from_settings
from bot.sandbox.kubernetes.api import Recorder
from tests.rollouts.service.harness import (
    DEVOPS,
    IMAGE,
    SERVICE,
    World,
    build_world,
    roll_out,
    rollout_rbac,
)

__all__ = ["rollout_rbac"]


@dataclass(frozen=True)
class Met:
    """The fields of the ConditionMet event (bot.core.events) that auto-rollback reads."""

    release_id: int
    condition: str
    severity: str


@pytest.fixture
async def world(tmp_path: Path, rollout_rbac: Recorder, engine) -> AsyncIterator[World]:
    """Return a world with production at revision 2 (v1.1.0 deployed over v1.0.0)."""
    async with build_world(tmp_path, rollout_rbac, engine=engine) as built:
        roll_out(built.api, "production", "v1.1.0")
        yield built


def auto(world: World, policy: AutoRollbackPolicy) -> AutoRollback:
    """Return the auto-rollback with `policy`, its timer handler registered."""
    rollback = AutoRollback(world.rollbacks, policy, world.clock)
    world.background.timers.register(TIMER_KIND, rollback.fire)
    return rollback


async def condition_met(world: World, rollback: AutoRollback, event: Met) -> int:
    """Deliver the event inside a transaction, as monitoring does; return pending timers."""
    async with world.uow() as uow:
        await rollback.on_condition_met(uow, event)
        await uow.commit()
    async with world.uow() as uow:
        return len(await uow.timers.pending(kind=TIMER_KIND))


def image(world: World) -> str:
    """Return the image production's Deployment template runs."""
    dep = world.api.cluster.deployment("production", SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def test_met_condition_rolls_back_without_a_human(world: World) -> None:
    """Roll production back as the bot once a listed condition is met, and say why."""
    release = await world.start_release()
    assert release.id is not None
    rollback = auto(world, AutoRollbackPolicy(True, frozenset({"error_rate"})))
    assert await condition_met(world, rollback, Met(release.id, "error_rate", "P1")) == 1
    assert world.api.requests() == []  # nothing slow ran inside monitoring's transaction
    await world.background.pump()
    await world.settle()
    ops = await world.rollbacks.for_release(release.id)
    assert len(ops) == 1
    op = ops[0]
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert (op.requested_by_id, op.source, op.trigger) == (
        "releasebot",
        Source.TIMER,
        "condition error_rate met (P1)",
    )
    assert image(world) == f"{IMAGE}:v1.0.0"
    assert (await world.releases.get(release.id)).status is ReleaseStatus.ROLLED_BACK
    assert world.sent.sent[-1].idempotency_key.endswith(":succeeded")


async def test_severity_listed_in_the_policy_triggers_too(world: World) -> None:
    """Roll back for an unlisted condition whose severity the policy lists."""
    release = await world.start_release()
    assert release.id is not None
    rollback = auto(world, AutoRollbackPolicy(True, frozenset(), frozenset({"P0"})))
    assert await condition_met(world, rollback, Met(release.id, "latency_p95", "P1")) == 0
    assert await condition_met(world, rollback, Met(release.id, "availability", "P0")) == 1


async def test_policy_off_by_default_schedules_nothing(world: World) -> None:
    """Leave rollback to humans when the policy is off (the default settings)."""
    release = await world.start_release()
    assert release.id is not None
    policy = policy_from_settings(AutoRollbackSettings())
    assert not policy.enabled
    rollback = auto(world, policy)
    assert await condition_met(world, rollback, Met(release.id, "error_rate", "P0")) == 0
    await world.background.pump()
    assert await world.rollbacks.for_release(release.id) == []


async def test_timer_is_stale_once_a_person_rolled_back_first(world: World) -> None:
    """Do nothing when someone rolled back between the condition and the timer."""
    release = await world.start_release()
    assert release.id is not None
    rollback = auto(world, AutoRollbackPolicy(True, frozenset({"error_rate"})))
    await condition_met(world, rollback, Met(release.id, "error_rate", "P1"))
    await world.rollbacks.request(release.id, DEVOPS, Source.BUTTON, from_revision=2)
    await world.settle()
    await world.background.pump()
    await world.settle()
    ops = await world.rollbacks.for_release(release.id)
    assert [op.requested_by_name for op in ops] == ["dana"]
    skipped = await world.audit("auto_rollback_skipped")
    assert len(skipped) == 1
    assert "was requested since the condition was met" in skipped[0].detail["reason"]
    assert image(world) == f"{IMAGE}:v1.0.0"  # one undo, not two


async def test_settings_map_to_the_policy() -> None:
    """Build the policy from [kubernetes.auto_rollback] settings."""
    settings = AutoRollbackSettings(enabled=True, conditions=["error_rate"], severities=["P0"])
    policy = policy_from_settings(settings)
    assert policy.applies("error_rate", "P3") is not None
    assert policy.applies("latency", "P0") is not None
    assert policy.applies("latency", "P1") is None

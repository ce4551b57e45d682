"""DeployService: apply within the window (or overridden), watch, tick the check items, status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.core.actors import Actor, Source
from bot.core.errors import InvalidInput, InvalidTransition, NotAuthorized
from bot.releases.domain.release import ItemState, Release
from bot.rollouts.domain import OperationStatus, RolloutInFlight
from bot.sandbox.kubernetes.api import Recorder
from tests.rollouts.service.harness import (
    DEVOPS,
    EVERYONE,
    IMAGE,
    SERVICE,
    TECH_LEAD,
    World,
    build_world,
    manifests_for,
    roll_out,
    rollout_rbac,
)

__all__ = ["rollout_rbac"]

IN_WINDOW = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
DEVOPS_LEAD = Actor("106", "olga", frozenset({"devops", "tech_lead"}))
CHECKED = ("staging-deployed", "prod-health", "prod-available")


@pytest.fixture
async def world(tmp_path: Path, rollout_rbac: Recorder, engine) -> AsyncIterator[World]:
    """Return a world whose manifests deploy v1.2.0."""
    async with build_world(
        tmp_path, rollout_rbac, manifests_for(tmp_path, "v1.2.0"), engine=engine
    ) as built:
        yield built


async def in_deployment(world: World, *, approved: bool = True) -> Release:
    """Start v1.2.0 and walk it into the Deployment phase (approved by the Tech Lead)."""
    started = await world.start_release()
    assert started.id is not None
    release = await world.advance_to(started.id, "deployment")
    if approved:
        release = await world.releases.sign(started.id, "approval", TECH_LEAD, Source.REACTION)
    return release


async def deployed(world: World, release: Release, environment: str, **options: object) -> int:
    """Request a deploy as DevOps (or the given actor), let it finish; return its id."""
    assert release.id is not None
    actor = options.pop("actor", DEVOPS)
    assert isinstance(actor, Actor)
    op = await world.deploys.request(
        release.id,
        actor,
        Source.SLASH,
        environment=environment,
        **options,  # type: ignore[arg-type]
    )
    await world.settle()
    assert op.id is not None
    return op.id


def image(world: World, namespace: str) -> str:
    """Return the image the stored Deployment's template runs."""
    dep = world.api.cluster.deployment(namespace, SERVICE)
    return str(dep["spec"]["template"]["spec"]["containers"][0]["image"])


async def states(world: World, release: Release) -> dict[str, tuple[ItemState, str | None]]:
    """Return the state and actor of each automatically checked item."""
    assert release.id is not None
    current = await world.releases.get(release.id)
    return {
        item: (current.progress(item).state, current.progress(item).actor_id) for item in CHECKED
    }


async def test_staging_deploy_applies_watches_and_ticks_its_item(world: World) -> None:
    """Apply k8s/staging, watch the rollout, tick “Staging deployed” as the bot."""
    release = await in_deployment(world, approved=False)
    op = await world.deploys.get(await deployed(world, release, "staging"))
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert "Service/nexis-gateway created" in op.detail
    assert "Deployment/nexis-gateway configured" in op.detail
    assert "successfully rolled out" in op.detail
    assert op.ticked == ("staging-deployed",)
    assert image(world, "staging") == f"{IMAGE}:v1.2.0"
    assert image(world, "production") == f"{IMAGE}:v1.0.0"
    applies = world.api.requests("PATCH")
    assert {r.content_type for r in applies} == {"application/apply-patch+yaml"}
    assert all(r.query.get("fieldManager") == "releasebot" for r in applies)
    assert (await states(world, release))["staging-deployed"] == (ItemState.DONE, "releasebot")
    assert (await states(world, release))["prod-health"][0] is ItemState.OPEN


async def test_production_outside_the_window_is_refused_before_any_call(world: World) -> None:
    """Refuse production before the window opens, naming the window and who may override."""
    release = await in_deployment(world)
    assert release.id is not None
    with pytest.raises(
        InvalidTransition, match=r"window 2026-01-05 10:00-12:00 UTC has not opened"
    ):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="production")
    world.clock.set(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    with pytest.raises(InvalidTransition, match=r"has closed.*eng_manager, tech_lead"):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="production")
    assert world.api.requests() == []


async def test_production_inside_the_window_ticks_health_and_availability(world: World) -> None:
    """Deploy production in the window; tick the health and availability checks, not more."""
    release = await in_deployment(world)
    world.clock.set(IN_WINDOW)
    op = await world.deploys.get(await deployed(world, release, "production"))
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert set(op.ticked) == {"prod-health", "prod-available"}
    assert image(world, "production") == f"{IMAGE}:v1.2.0"
    found = await states(world, release)
    assert found["prod-health"] == (ItemState.DONE, "releasebot")
    assert found["prod-available"] == (ItemState.DONE, "releasebot")
    assert release.id is not None
    current = await world.releases.get(release.id)
    assert current.progress("prod-deployed").state is ItemState.OPEN
    assert current.progress("prod-health").source == Source.SYSTEM


async def test_production_waits_for_the_approval_sign_off(world: World) -> None:
    """Refuse production while the Tech Lead's approval still locks its section."""
    release = await in_deployment(world, approved=False)
    assert release.id is not None
    world.clock.set(IN_WINDOW)
    with pytest.raises(InvalidTransition, match=r"locked until the sign-off .* \(tech_lead\)"):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="production")
    assert world.api.requests() == []


async def test_override_needs_the_role_and_a_reason_and_is_audited(world: World) -> None:
    """Override the window only as a holder of override_window, with a reason, audited."""
    release = await in_deployment(world)
    assert release.id is not None
    with pytest.raises(NotAuthorized, match="dana may not override_window"):
        await world.deploys.request(
            release.id, DEVOPS, Source.SLASH, environment="production", override="hotfix"
        )
    with pytest.raises(InvalidInput, match="needs a reason of at least 3 characters"):
        await world.deploys.request(
            release.id, DEVOPS_LEAD, Source.SLASH, environment="production", override="x "
        )
    op = await world.deploys.get(
        await deployed(world, release, "production", actor=DEVOPS_LEAD, override="outage fix")
    )
    assert op.status is OperationStatus.SUCCEEDED, op.detail
    assert op.override_reason == "outage fix"
    overrides = await world.audit("override_window")
    assert [(e.actor_name, e.detail["reason"]) for e in overrides] == [("olga", "outage fix")]
    assert "has not opened yet" in overrides[0].detail["window"]
    denied = await world.audit("denied")
    assert [e.detail["attempted"] for e in denied] == ["override_window"]


async def test_deploy_needs_the_deploy_role(world: World) -> None:
    """Deny a Tech Lead without the DevOps role and audit the denial."""
    release = await in_deployment(world)
    assert release.id is not None
    with pytest.raises(NotAuthorized, match="tom may not deploy"):
        await world.deploys.request(release.id, TECH_LEAD, Source.SLASH, environment="staging")
    assert [e.actor_name for e in await world.audit("denied")] == ["tom"]


async def test_deploy_before_the_deployment_phase_is_refused(world: World) -> None:
    """Refuse a deploy while the release is still in an earlier phase."""
    release = await world.start_release()
    assert release.id is not None
    with pytest.raises(InvalidTransition, match="staging deploy belongs to Deployment"):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="staging")


async def test_failed_apply_lists_what_was_applied_and_what_was_not(world: World) -> None:
    """Report a 403 mid-apply: what was applied, the error, what was never attempted."""
    release = await in_deployment(world)
    world.api.fail("PATCH", "/apis/apps/v1/namespaces/staging/deployments/*", 403, times=None)
    op = await world.deploys.get(await deployed(world, release, "staging"))
    assert op.status is OperationStatus.FAILED
    assert "Service/nexis-gateway created" in op.detail
    assert "may not patch deployments in staging" in op.detail
    assert op.ticked == ()
    assert (await states(world, release))["staging-deployed"][0] is ItemState.OPEN


async def test_stalled_rollout_fails_without_ticking(world: World) -> None:
    """Report a rollout that hits its progress deadline and tick nothing."""
    release = await in_deployment(world)
    world.api.cluster.stall("staging", SERVICE)
    op = await world.deploys.get(await deployed(world, release, "staging"))
    assert op.status is OperationStatus.FAILED
    assert "the rollout did not complete: ProgressDeadlineExceeded" in op.detail
    assert (await states(world, release))["staging-deployed"][0] is ItemState.OPEN


async def test_rollout_superseded_while_watched_ticks_nothing(world: World) -> None:
    """Notice that the Deployment changed again under the watch (e.g. a rollback)."""
    release = await in_deployment(world)
    assert release.id is not None
    held = world.api.hang("GET", "/apis/apps/v1/namespaces/staging/deployments/nexis-gateway")
    held.skip = 1  # the request's own read (the plan: image old → new) passes; hold the watch's
    op = await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="staging")
    await asyncio.wait_for(held.entered.wait(), 5)
    roll_out(world.api, "staging", "v9.9.9")
    assert held.release is not None
    held.release.set()
    await world.settle()
    assert op.id is not None
    stored = await world.deploys.get(op.id)
    assert stored.status is OperationStatus.FAILED
    assert "changed again while it rolled out" in stored.detail
    assert (await states(world, release))["staging-deployed"][0] is ItemState.OPEN


async def test_second_deploy_of_the_same_target_is_refused_while_one_runs(world: World) -> None:
    """Refuse a second deploy of a Deployment while the first one runs."""
    release = await in_deployment(world)
    assert release.id is not None
    held = world.api.hang("GET", "/apis/apps/v1/namespaces/staging/deployments/nexis-gateway")
    await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="staging")
    await asyncio.wait_for(held.entered.wait(), 5)
    with pytest.raises(RolloutInFlight, match="a deploy of staging/nexis-gateway is already"):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="staging")
    assert held.release is not None
    held.release.set()
    await world.settle()


async def test_person_unticks_a_bot_ticked_item_only_with_a_reason(world: World) -> None:
    """Keep a bot-ticked check item unless a person gives a reason for unticking it."""
    release = await in_deployment(world)
    assert release.id is not None
    await deployed(world, release, "staging")
    with pytest.raises(InvalidInput, match="unticking the automatic check"):
        await world.releases.untick(release.id, "staging-deployed", DEVOPS, Source.SELECT)
    await world.releases.untick(
        release.id, "staging-deployed", DEVOPS, Source.SELECT, reason="smoke test failed"
    )
    assert (await states(world, release))["staging-deployed"][0] is ItemState.OPEN


async def test_deploy_status_reports_each_target(world: World) -> None:
    """Show replicas, generation, conditions and the progress deadline of both targets."""
    release = await in_deployment(world)
    assert release.id is not None
    roll_out(world.api, "production", "v1.1.0")
    report = await world.deploys.status(release.id)
    by_env = {t.environment: t for t in report.targets}
    assert set(by_env) == {"staging", "production"}
    prod = by_env["production"].status
    assert prod is not None
    assert (prod.revision, prod.replicas, prod.available_replicas) == (2, 3, 3)
    assert prod.observed_generation == prod.generation and prod.progress_deadline_seconds == 600
    assert {c.type for c in prod.conditions} == {"Available", "Progressing"}
    # Neither target runs v1.2.0, so a healthy rollout of an older version ticks nothing.
    assert all(t.ticked == () for t in report.targets)


async def test_deploy_status_ticks_checks_once_the_release_version_runs(world: World) -> None:
    """Tick the production checks from status when production runs the release's version."""
    release = await in_deployment(world)
    assert release.id is not None
    roll_out(world.api, "production", "v1.2.0")
    report = await world.deploys.status(release.id)
    ticked = {t.environment: t.ticked for t in report.targets}
    assert set(ticked["production"]) == {"prod-health", "prod-available"}
    assert ticked["staging"] == ()
    assert report.release.progress("prod-health").actor_id == "releasebot"


async def test_deploy_status_reports_api_errors_per_target(world: World) -> None:
    """Show a target's API error instead of its status, and keep the other target."""
    release = await in_deployment(world)
    assert release.id is not None
    world.api.fail("GET", "/apis/apps/v1/namespaces/staging/deployments/*", 404, times=None)
    report = await world.deploys.status(release.id)
    by_env = {t.environment: t for t in report.targets}
    assert by_env["staging"].error == "deployment staging/nexis-gateway not found"
    assert by_env["production"].status is not None


async def test_deploy_is_refused_during_a_rollback(world: World) -> None:
    """Refuse a deploy of a Deployment that is being rolled back."""
    release = await in_deployment(world)
    assert release.id is not None
    roll_out(world.api, "production", "v1.1.0")
    held = world.api.hang("GET", "/apis/apps/v1/namespaces/production/deployments/nexis-gateway")
    await world.rollbacks.request(release.id, EVERYONE, Source.BUTTON, from_revision=2)
    await asyncio.wait_for(held.entered.wait(), 5)
    world.clock.set(IN_WINDOW)
    with pytest.raises(RolloutInFlight, match="a rollback of production/nexis-gateway is in"):
        await world.deploys.request(release.id, DEVOPS, Source.SLASH, environment="production")
    assert held.release is not None
    held.release.set()
    await world.settle()

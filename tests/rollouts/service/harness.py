"""A whole rollout world for tests: SQLite store, release service, fake Kubernetes API, runners.

Everything is real except the cluster, which is the loopback fake API server from
tests/k8s driven by the real kubernetes-asyncio client. Time is a FakeClock; the controller's
sleeps only move that clock, so a ten-minute rollout watch runs in milliseconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app.uow import SqlUnitOfWorkFactory
from bot.core.actors import AccessPolicy, Actor, Source
from bot.core.audit import AuditEvent
from bot.core.clock import FakeClock
from bot.releases.domain.release import Release
from bot.releases.service import ReleaseService, TemplateSource
from bot.releases.store.repository import audit_event
from bot.rollouts.k8s import CallPolicy, DeploymentTarget, RolloutController, make_api_client
from bot.rollouts.service.deploy import DeployService
from bot.rollouts.service.rollback import ClusterAccess, RollbackService, RolloutTarget
from bot.runtime.background import Background
from bot.sandbox.kubernetes.api import FakeKubeApi, Recorder
from bot.store import migrate
from bot.store.db import make_engine
from bot.store.tables import AuditRow
from tests.rollouts.k8s.rbacfile import granted
from tests.support.clock import VirtualSleep
from tests.support.inbox import Inbox
from tests.support.store import backbone

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "config" / "checklists" / "release.md"
SERVICE = "nexis-gateway"
IMAGE = "ghcr.io/nexis/nexis-gateway"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WINDOW = "2026-01-05 10:00-12:00 UTC"

LEAD = Actor("100", "lena", frozenset({"release_lead"}))
TECH_LEAD = Actor("101", "tom", frozenset({"tech_lead"}))
DEVOPS = Actor("102", "dana", frozenset({"devops"}))
DEV = Actor("103", "devin", frozenset({"dev_team"}))
MANAGER = Actor("104", "maria", frozenset({"eng_manager"}))
EVERYONE = Actor("105", "root", frozenset({"release_lead", "tech_lead", "devops", "oncall"}))


@pytest.fixture(scope="session")
def rollout_rbac() -> Iterator[Recorder]:
    """Collect what the rollout flows called; at the end, everything must be granted."""
    recorder = Recorder()
    yield recorder
    missing = recorder.used - granted()
    assert not missing, f"deploy/k8s/rbac.yaml does not grant {sorted(missing)}"


@contextlib.asynccontextmanager
async def fake_cluster(recorder: Recorder) -> AsyncIterator[FakeKubeApi]:
    """Run the fake API server with nexis-gateway at revision 1 in staging and production."""
    api = FakeKubeApi(recorders=(recorder,))
    for namespace in ("production", "staging"):
        api.cluster.add_deployment(
            namespace, SERVICE, image=f"{IMAGE}:v1.0.0", change_cause="release v1.0.0"
        )
    await api.start()
    try:
        yield api
    finally:
        await api.close()
    assert not api.unrouted, f"the code called endpoints the fake does not serve: {api.unrouted}"


def roll_out(api: FakeKubeApi, namespace: str, *versions: str) -> int:
    """Roll `namespace`'s Deployment out to each version in turn; return the last revision."""
    revision = 1
    for version in versions:
        revision = api.cluster.roll_out(
            namespace, SERVICE, image=f"{IMAGE}:{version}", change_cause=f"release {version}"
        )
    return revision


def targets(manifests: Path = ROOT / "k8s") -> dict[tuple[str, str], RolloutTarget]:
    """Return nexis-gateway's staging and production targets with the repo's manifests."""
    return {
        (SERVICE, env): RolloutTarget(
            SERVICE, env, DeploymentTarget(env, SERVICE, timedelta(minutes=10)), manifests / env
        )
        for env in ("staging", "production")
    }


@dataclass
class World:
    """The services under test and what the tests look at."""

    clock: FakeClock
    api: FakeKubeApi
    releases: ReleaseService
    rollbacks: RollbackService
    deploys: DeployService
    uow: SqlUnitOfWorkFactory
    background: Background
    sent: Inbox
    sleep: VirtualSleep
    extra: dict[str, Any] = field(default_factory=dict)

    async def start_release(self, version: str = "v1.2.0", window: str | None = WINDOW) -> Release:
        """Start a release of nexis-gateway led by lena."""
        return await self.releases.start(
            LEAD, service=SERVICE, version=version, window=window, source=Source.SLASH
        )

    async def advance_to(self, release_id: int, phase_key: str) -> Release:
        """Tick every item and give every sign-off of each phase before `phase_key`; advance."""
        release = await self.releases.get(release_id)
        while release.current_phase is not None and release.current_phase.key != phase_key:
            phase = release.current_phase
            for spec in release.phase_signoffs(phase):
                release = await self.releases.sign(release_id, spec.key, EVERYONE, Source.SLASH)
            for item in release.phase_items(phase):
                release = await self.releases.tick(release_id, item.id, EVERYONE, Source.SLASH)
            release = await self.releases.advance(release_id, EVERYONE, Source.SLASH)
        return release

    async def settle(self) -> None:
        """Let the background runners finish, then deliver what they queued."""
        await self.rollbacks.settle()
        await self.deploys.settle()
        await self.background.pump()

    async def audit(self, action: str | None = None) -> list[AuditEvent]:
        """Return the stored audit events, optionally only those of `action`."""
        async with self.uow() as uow:
            query = select(AuditRow).order_by(AuditRow.id)
            if action is not None:
                query = query.where(AuditRow.action == action)
            return [audit_event(row) for row in await uow.session.scalars(query)]


def manifests_for(tmp_path: Path, version: str) -> Path:
    """Copy the repo's k8s/ manifests with nexis-gateway's image tag set to `version`."""
    root = tmp_path / "manifests"
    for env in ("staging", "production"):
        (root / env).mkdir(parents=True, exist_ok=True)
        for source in (ROOT / "k8s" / env).glob("*.yaml"):  # not cluster-policy/
            text = source.read_text(encoding="utf-8").replace(
                f"{IMAGE}:v1.0.0", f"{IMAGE}:{version}"
            )
            (root / env / source.name).write_text(text, encoding="utf-8")
    return root


@contextlib.asynccontextmanager
async def build_world(
    tmp_path: Path,
    recorder: Recorder,
    manifests: Path = ROOT / "k8s",
    *,
    engine: Any = None,
) -> AsyncIterator[World]:
    """Build the world on a fresh database and fake cluster; tear both down afterwards.

    `engine`: the store fixture's migrated engine (SQLite or PostgreSQL); default: a fresh
    SQLite file of our own.
    """
    own = engine is None
    if own:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rollouts.db'}")
        await migrate.upgrade(engine)
    clock = FakeClock(START)
    # The rollout runners are woken by the commit hook, the background only by pump().
    base = backbone(engine, clock, wake_on_commit=False)
    uow = base.uow
    source = TemplateSource.from_path(TEMPLATE)
    releases = ReleaseService(uow, clock, AccessPolicy(), lambda: source, [SERVICE])
    sleep = VirtualSleep(clock)
    async with fake_cluster(recorder) as api:
        client = await make_api_client(
            in_cluster=False, kubeconfig=None, context=None, host=api.host
        )
        controller = RolloutController(
            client, clock=clock, sleep=sleep, policy=CallPolicy(request_timeout_seconds=5.0)
        )

        async def connect() -> RolloutController:
            return controller

        cluster = ClusterAccess(connect)
        common: dict[str, Any] = dict(
            uow=uow,
            clock=clock,
            releases=releases,
            policy=AccessPolicy(),
            targets=targets(manifests),
            cluster=cluster,
            poll_seconds=1.0,
        )
        rollbacks = RollbackService(**common)
        deploys = DeployService(**common)
        uow.after_commit.extend([rollbacks.after_commit, deploys.after_commit])
        background = base.background
        sent = base.inbox("k8s.rollout")
        world = World(clock, api, releases, rollbacks, deploys, uow, background, sent, sleep)
        try:
            yield world
        finally:
            await rollbacks.close()
            await deploys.close()
            await client.close()
            if own:
                await engine.dispose()

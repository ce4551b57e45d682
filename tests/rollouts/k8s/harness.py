"""Fixtures for the Kubernetes adapter: a loopback fake API server and the real client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from kubernetes_asyncio import client

from bot.core.clock import FakeClock
from bot.rollouts.k8s import CallPolicy, DeploymentTarget, RolloutController, make_api_client
from bot.sandbox.kubernetes.api import FakeKubeApi, Recorder
from tests.rollouts.k8s.rbacfile import granted
from tests.support.clock import VirtualSleep

IMAGE = "ghcr.io/nexis/nexis-gateway"
PRODUCTION = DeploymentTarget("production", "nexis-gateway", timedelta(minutes=10))
STAGING = DeploymentTarget("staging", "nexis-gateway", timedelta(minutes=10))


@pytest.fixture(scope="session")
def rbac_recorder() -> Iterator[Recorder]:
    """Collect what every k8s test used; at the end, everything used must be granted."""
    recorder = Recorder()
    yield recorder
    missing = recorder.used - granted()
    assert not missing, f"deploy/k8s/rbac.yaml does not grant {sorted(missing)}"


@pytest.fixture(autouse=True)
def _loopback_without_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a proxy from the environment away from loopback requests (aiohttp trusts env)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@asynccontextmanager
async def seeded_fake(recorders: tuple[Recorder, ...]) -> AsyncIterator[FakeKubeApi]:
    """Run a fake API server with nexis-gateway in production and staging at revision 1."""
    api = FakeKubeApi(recorders=recorders)
    for target in (PRODUCTION, STAGING):
        api.cluster.add_deployment(
            target.namespace,
            target.deployment,
            image=f"{IMAGE}:v1.0.0",
            change_cause="release v1.0.0",
        )
    await api.start()
    try:
        yield api
    finally:
        await api.close()
    assert not api.unrouted, f"the code called endpoints the fake does not serve: {api.unrouted}"


@asynccontextmanager
async def client_for(fake: FakeKubeApi) -> AsyncIterator[client.ApiClient]:
    """Yield a real kubernetes-asyncio ApiClient pointed at `fake`, closed afterwards."""
    api = await make_api_client(in_cluster=False, kubeconfig=None, context=None, host=fake.host)
    async with api:
        yield api
    assert api.rest_client.pool_manager.closed


@pytest.fixture
async def fake_api(rbac_recorder: Recorder) -> AsyncIterator[FakeKubeApi]:
    """Run the seeded fake server; what the bot's code uses there counts for the RBAC check."""
    async with seeded_fake((rbac_recorder,)) as api:
        yield api


@pytest.fixture
async def api_client(fake_api: FakeKubeApi) -> AsyncIterator[client.ApiClient]:
    """Return a real kubernetes-asyncio ApiClient pointed at the fake server."""
    async with client_for(fake_api) as api:
        yield api


@pytest.fixture
async def raw_client() -> AsyncIterator[client.ApiClient]:
    """Return a client on a seeded fake whose requests do not count as the bot's RBAC use.

    For tests that call the API directly to check the fake, not the adapter.
    """
    async with seeded_fake(()) as fake, client_for(fake) as api:
        yield api


@pytest.fixture
def sleep(clock: FakeClock) -> VirtualSleep:
    """Return a sleep that only moves the fake clock."""
    return VirtualSleep(clock)


@pytest.fixture
def controller(
    api_client: client.ApiClient, clock: FakeClock, sleep: VirtualSleep
) -> RolloutController:
    """Return a RolloutController on the fake server with virtual time."""
    return RolloutController(
        api_client, clock=clock, sleep=sleep, policy=CallPolicy(request_timeout_seconds=5.0)
    )


@pytest.fixture
def at_revision_3(fake_api: FakeKubeApi) -> DeploymentTarget:
    """Roll production out twice more so it runs revision 3 (v1.2.0) with 1 and 2 behind it."""
    cluster = fake_api.cluster
    cluster.roll_out(
        "production", "nexis-gateway", image=f"{IMAGE}:v1.1.0", change_cause="release v1.1.0"
    )
    cluster.roll_out(
        "production", "nexis-gateway", image=f"{IMAGE}:v1.2.0", change_cause="release v1.2.0"
    )
    return PRODUCTION

"""Build the monitoring feature for the bot: service, probes, metrics and the web server.

`create_bot` calls `wire_monitoring` once; nothing here touches the network or the disk until
the returned hooks run (`start` when the bot starts, `close` when it closes).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import httpx

from bot.config import Settings
from bot.domain.actors import AccessPolicy
from bot.domain.clock import Clock
from bot.domain.monitoring.records import WatchedCondition
from bot.domain.ports import UnitOfWorkFactory
from bot.k8s import RolloutController
from bot.k8s.models import DeploymentTarget
from bot.monitoring.factory import AvailabilityReader, ConfiguredProbes, monitoring_config
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.probes import Probe
from bot.monitoring.transport import probe_client
from bot.runtime.health import Health
from bot.services.monitoring import MonitoringService, SignalSource, TimerRegistry
from bot.services.monitoring_types import ProbeFactory
from bot.web.server import WebServer, make_web_app, web_server_for

log = logging.getLogger(__name__)


class ControllerSource(Protocol):
    """Where a rollout controller comes from (the rollout feature's cluster access)."""

    async def controller(self) -> RolloutController:
        """Return a connected controller (raises when the cluster cannot be reached)."""
        ...


class LazyProbes:
    """The configured probes over an HTTP client opened on first use and closed with the bot."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.AsyncClient | None = None,
        availability: AvailabilityReader | None = None,
    ) -> None:
        """Keep what the probes need; open nothing yet."""
        self._settings = settings
        self._client = client
        self._owned = client is None
        self._availability = availability
        self._probes: ConfiguredProbes | None = None

    def probes(self, service: str, conditions: Sequence[WatchedCondition]) -> list[Probe]:
        """Return the configured probes (the client is created on the first poll)."""
        if self._probes is None:
            if self._client is None:
                self._client = probe_client()
            self._probes = ConfiguredProbes(self._settings, self._client, self._availability)
        return self._probes.probes(service, conditions)

    def read_availability_with(self, reader: AvailabilityReader) -> None:
        """Read Kubernetes availability with `reader` unless a reader was given already."""
        if self._availability is None:
            self._availability = reader
            self._probes = None  # rebuilt with the reader on the next poll

    async def aclose(self) -> None:
        """Close the HTTP client if this object opened it."""
        if self._owned and self._client is not None:
            await self._client.aclose()
        self._client, self._probes = None, None


@dataclass
class MonitoringWiring:
    """The monitoring parts of one bot and the hooks that start and stop them."""

    service: MonitoringService
    metrics: MonitoringMetrics
    web: WebServer | None
    probes: ProbeFactory
    start_web: bool

    def use_cluster(self, cluster: ControllerSource) -> None:
        """Measure availability conditions through the rollout feature's cluster access."""

        async def available_ratio(namespace: str, deployment: str) -> float:
            controller = await cluster.controller()
            status = await controller.status(DeploymentTarget(namespace, deployment))
            return status.available_ratio

        if isinstance(self.probes, LazyProbes):
            self.probes.read_availability_with(available_ratio)

    async def start(self) -> None:
        """Start the web server when it is enabled (its bound port is `web.port`)."""
        if self.web is not None and self.start_web:
            await self.web.start()

    async def close(self) -> None:
        """Stop the web server and close the probes' HTTP client."""
        if self.web is not None:
            await self.web.stop()
        if isinstance(self.probes, LazyProbes):
            await self.probes.aclose()


def wire_monitoring(
    settings: Settings,
    uow: UnitOfWorkFactory,
    clock: Clock,
    policy: AccessPolicy,
    releases: SignalSource,
    timers: TimerRegistry,
    collaborators: Mapping[str, object],
    *,
    start_web: bool,
) -> MonitoringWiring:
    """Return the wired monitoring feature.

    Collaborators it reads (all optional): ``monitoring_probes`` (a ProbeFactory, e.g. one
    pointing at loopback servers), ``monitoring_metrics`` (a MonitoringMetrics),
    ``kubernetes_availability`` (an async ``(namespace, deployment) -> ratio`` reader) and
    ``http_client`` (an httpx.AsyncClient for the probes).
    """
    metrics = cast(MonitoringMetrics | None, collaborators.get("monitoring_metrics"))
    metrics = metrics or MonitoringMetrics()
    probes = cast(ProbeFactory | None, collaborators.get("monitoring_probes"))
    if probes is None:
        client = collaborators.get("http_client")
        probes = LazyProbes(
            settings,
            client if isinstance(client, httpx.AsyncClient) else None,
            cast(AvailabilityReader | None, collaborators.get("kubernetes_availability")),
        )
    service = MonitoringService(uow, clock, policy, monitoring_config(settings), probes, metrics)
    service.attach(releases, timers)
    web = None
    if settings.web.enabled:
        health = cast(Health | None, collaborators.get("health"))
        app = make_web_app(service, metrics, settings, settings.secrets, health)
        web = web_server_for(app, settings)
    return MonitoringWiring(service, metrics, web, probes, start_web)

"""Build the monitoring feature for the bot: service, probes, metrics and the web server.

`create_bot` calls `wire_monitoring` once and hands the returned `MonitoringFeature` to the
bot; nothing here touches the network or the disk until its hooks run (`start` when the bot
starts, `close` when it closes). Release signals reach the service through `bot.app.events`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bot.config import Settings
from bot.core.actors import AccessPolicy
from bot.core.clock import Clock
from bot.core.events import Publisher
from bot.core.ports import UnitOfWorkFactory
from bot.monitoring.domain.records import WatchedCondition
from bot.monitoring.factory import AvailabilityReader, ConfiguredProbes, monitoring_config
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.probes.base import Probe
from bot.monitoring.probes.transport import probe_client
from bot.monitoring.service.config import ProbeFactory
from bot.monitoring.service.use_cases import MonitoringService, TimerRegistry
from bot.monitoring.web import WebServer, make_web_app, web_server_for
from bot.runtime.health import Health

log = logging.getLogger(__name__)


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
class MonitoringFeature:
    """The monitoring parts of one bot and the hooks that start and stop them."""

    service: MonitoringService
    metrics: MonitoringMetrics
    web: WebServer | None
    probes: ProbeFactory
    start_web: bool

    def read_availability_with(self, reader: AvailabilityReader) -> None:
        """Measure availability conditions with `reader` (the app passes the rollouts')."""
        if isinstance(self.probes, LazyProbes):
            self.probes.read_availability_with(reader)

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
    timers: TimerRegistry,
    events: Publisher,
    *,
    start_web: bool,
    probes: ProbeFactory | None = None,
    metrics: MonitoringMetrics | None = None,
    http_client: httpx.AsyncClient | None = None,
    availability: AvailabilityReader | None = None,
    health: Health | None = None,
) -> MonitoringFeature:
    """Return the wired monitoring feature, its timers registered.

    Overrides (all optional): `probes` (a ProbeFactory, e.g. one pointing at loopback
    servers), `metrics`, `http_client` (for the configured probes) and `availability` (an
    async ``(namespace, deployment) -> ratio`` reader; default: the rollout feature's cluster).
    """
    metrics = metrics or MonitoringMetrics()
    if probes is None:
        probes = LazyProbes(settings, http_client, availability)
    config = monitoring_config(settings)
    service = MonitoringService(uow, clock, policy, config, probes, metrics, events)
    service.register_timers(timers)
    web = None
    if settings.web.enabled:
        app = make_web_app(service, metrics, settings, settings.secrets, health)
        web = web_server_for(app, settings)
    return MonitoringFeature(service, metrics, web, probes, start_web)

"""Availability conditions read the cluster through the rollout feature's access (wired).

The real kubernetes-asyncio client talks to the loopback fake API server of tests/k8s;
the monitoring window, timers and store are the real ones on SQLite.
"""

from __future__ import annotations

from datetime import timedelta

from bot.config import build_settings
from bot.core.actors import AccessPolicy, Source
from bot.core.events import ConditionMet, ReleaseSignalled, on_signal
from bot.monitoring.domain import Verdict
from bot.monitoring.wiring import wire_monitoring
from bot.rollouts.k8s import RolloutController
from bot.rollouts.wiring import availability_reader
from bot.runtime.timers import TimerService
from tests.rollouts.k8s.harness import client_for, seeded_fake
from tests.support.actors import DEV, DEVOPS, LEAD, NOW, TECH
from tests.support.store import clock_start, engine, service

__all__ = ["clock_start", "engine", "service"]

SETTINGS = {
    "services": [
        {
            "name": "gw",
            "kubernetes": {
                "production": {"namespace": "production", "deployment": "nexis-gateway"}
            },
            "conditions": {"error_rate": {"enabled": False}, "latency_p95": {"enabled": False}},
        }
    ],
    "web": {"enabled": False},
}


class Access:
    """The rollout feature's cluster access, reduced to what monitoring asks of it."""

    def __init__(self, controller: RolloutController) -> None:
        """Keep the controller."""
        self._controller = controller

    async def controller(self) -> RolloutController:
        """Return the connected controller."""
        return self._controller


async def test_availability_is_measured_from_the_production_deployment(service, clock):
    """Pass at 3/3 available replicas; at 1/3 the one-breach condition is met at once."""
    settings = build_settings(SETTINGS, env={})
    timers = TimerService(service.uow, clock)
    events = service.events
    wiring = wire_monitoring(
        settings, service.uow, clock, AccessPolicy(), timers, events, start_web=False
    )
    events.subscribe(ReleaseSignalled, on_signal("production_deployed", wiring.service.open_window))
    met = []

    async def on_met(uow, event):
        met.append(event)

    events.subscribe(ConditionMet, on_met)
    async with seeded_fake(()) as api, client_for(api) as k8s:
        wiring.read_availability_with(
            availability_reader(Access(RolloutController(k8s, clock=clock)))
        )
        release = await service.start(LEAD, service="gw", version="v1.0.0")
        await service.tick(release.id, release.template.items()[0].id, DEV, Source.BUTTON)
        await service.sign(release.id, "pre-release", LEAD, Source.REACTION)
        await service.advance(release.id, LEAD, Source.BUTTON)
        await service.sign(release.id, "approval", TECH, Source.REACTION)
        await service.tick(release.id, "prod-deployed", DEVOPS, Source.BUTTON)
        clock.advance(timedelta(minutes=5))
        await timers.fire_due()
        view = await wiring.service.window_view(release_id=release.id)
        (line,) = view.conditions
        assert (line.name, line.last.verdict, line.last.value) == (
            "availability",
            Verdict.PASS,
            1.0,
        )
        assert "production/nexis-gateway" in line.last.query
        stored = api.cluster.stored("deployments", "production", "nexis-gateway")
        stored["status"]["availableReplicas"] = 1
        clock.advance(timedelta(minutes=5))
        await timers.fire_due()
    (event,) = met
    assert (event.condition, event.severity, event.at) == (
        "availability",
        "P0",
        NOW + timedelta(minutes=10),
    )
    assert event.value == 1 / 3
    await wiring.close()

"""End to end: the whole bot (SimCord) watching a release against a real Prometheus.

Prometheus (the Debian package, started once per session by tests/monitoring/conftest.py;
missing binary = failure, not skip) scrapes exporters whose traffic the tests set. The bot
uses its production wiring: probes built from the settings, the aiohttp-backed HTTP client,
durable timers, the outbox and the Discord senders. Only time is injected (FakeClock), so a
"5-minute" poll is one `clock.advance` away while Prometheus answers in real time.
"""

from __future__ import annotations

import io
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.monitoring.domain import Verdict
from bot.monitoring.service.use_cases import MonitoringService
from bot.releases.chat.bot import ReleaseBot
from bot.runtime.background import Background
from tests.monitoring.probes.prometheus_server import PrometheusServer, free_port
from tests.support.world import _no_unexpected_errors, make_settings, world

pytestmark = pytest.mark.prometheus

__all__ = ["_no_unexpected_errors", "world"]

RATIO = (
    'sum(rate(http_requests_total{{service="$service",code=~"5.."}}[{w}]))'
    ' / sum(rate(http_requests_total{{service="$service"}}[{w}]))'
)
VANISHING = "e2e-vanish"


def service(name: str, url: str, window: str = "15s") -> dict[str, Any]:
    """Return a service watched by its error ratio over a short rate window only."""
    return {
        "name": name,
        "prometheus_url": url,
        "conditions": {
            "error_rate": {"query": RATIO.format(w=window)},
            "latency_p95": {"enabled": False},
            "availability": {"enabled": False},
        },
    }


@pytest.fixture
def settings(tmp_path: Path, prometheus: PrometheusServer) -> Settings:
    """Return settings whose services are measured by the session's real Prometheus."""
    url = prometheus.base_url
    return make_settings(
        tmp_path / "releasebot.db",
        services=[
            service("checkout", url),
            service("catalog", url),
            service(VANISHING, url, window="5s"),
            service("unreachable", f"http://127.0.0.1:{free_port()}"),
        ],
    )


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the production-wired bot (real probes) on a fake clock."""
    return create_bot(settings, clock=clock)


def monitoring(world: Any) -> MonitoringService:
    """Return the bot's monitoring service."""
    found = world.bot.handle(MonitoringService)
    assert isinstance(found, MonitoringService)
    return found


async def deploy(world: Any, name: str) -> None:
    """Start a release of `name` through Discord and take it past the production deploy."""
    await world.start(service=name)
    await world.run_whole_release_until("post-release")
    await world.bot.handle(Background).pump()


async def poll(world: Any, clock: FakeClock, minutes: float = 5) -> None:
    """Let `minutes` pass and run what fell due (polls against Prometheus, deliveries)."""
    clock.advance(timedelta(minutes=minutes))
    await world.bot.handle(Background).pump()


def alerts_in(channel: Any) -> list[Any]:
    """Return the alert messages of a channel."""
    return [
        m for m in channel.history() if m.embeds and "alert #" in (m.embeds[0].footer.text or "")
    ]


def has_value(result: list[Any]) -> bool:
    """Return True when an instant-query result holds a number."""
    return bool(result) and not math.isnan(float(result[0]["value"][1]))


async def test_five_percent_errors_for_two_polls_meet_the_condition_and_alert(world, clock):
    """Breach twice at ~5 % -> condition met; the alert shows the value and a PNG chart."""
    await deploy(world, "checkout")
    await poll(world, clock)
    (warning,) = alerts_in(world.channel)
    assert "First breach: Error rate" in warning.content
    await poll(world, clock)
    (alert,) = alerts_in(world.channel)
    assert alert.id == warning.id
    assert "Rollback condition met: Error rate" in alert.content
    fields = {f.name: f.value for f in alert.embeds[0].fields}
    measured = fields["Measured value"]
    assert measured.endswith(" %")  # a ratio reads as a percentage
    assert float(measured.removesuffix(" %")) == pytest.approx(5.0, abs=1.0)
    assert fields["Threshold"] == "breach if > 1 %"
    assert 'service="checkout"' in fields["Query"]
    (attachment,) = alert.attachments
    assert Image.open(io.BytesIO(await attachment.read())).format == "PNG"
    view = await monitoring(world).window_view(release_id=1)
    state = view.conditions[0].stored
    assert state is not None and state.state.met


async def test_half_a_percent_errors_raise_no_alert(world, clock):
    """Pass at ~0.5 %: no alert message anywhere, the last verdict shown is PASS."""
    await deploy(world, "catalog")
    for _ in range(2):
        await poll(world, clock)
    assert alerts_in(world.channel) == []
    assert alerts_in(world.thread()) == []
    view = await monitoring(world).window_view(release_id=1)
    last = view.conditions[0].last
    assert last is not None and last.verdict is Verdict.PASS
    assert last.value == pytest.approx(0.005, abs=0.002)


@pytest.fixture
def vanished(prometheus: PrometheusServer) -> None:
    """Serve traffic for a service, then drop its series until Prometheus has nothing."""
    prometheus.app.set_traffic(VANISHING, 100.0, 0.0)
    query = RATIO.format(w="5s").replace("$service", VANISHING)
    prometheus.wait_for(query, has_value)
    prometheus.app.remove_series(VANISHING)
    prometheus.wait_for(query, lambda result: not result)


async def test_series_gone_goes_blind_after_blind_after_polls_never_healthy(world, clock, vanished):
    """Alert "monitoring blind" at the third poll without data; never report healthy."""
    await deploy(world, VANISHING)
    await poll(world, clock)
    await poll(world, clock)
    assert alerts_in(world.channel) == []
    await poll(world, clock)
    (blind,) = alerts_in(world.channel)
    assert "Monitoring blind: Error rate" in blind.content
    assert "no data" in blind.content
    view = await monitoring(world).window_view(release_id=1)
    assert not view.summary.healthy
    assert view.summary.for_condition("error_rate").worst is Verdict.INCONCLUSIVE


async def test_unreachable_prometheus_is_retried_after_10s_and_goes_blind(world, clock):
    """Retry a failed query 10 s later (not at the next poll) and go blind, never healthy."""
    await deploy(world, "unreachable")
    await poll(world, clock)
    for _ in range(2):
        await poll(world, clock, minutes=10 / 60)
    (blind,) = alerts_in(world.channel)
    assert "Monitoring blind: Error rate" in blind.content
    view = await monitoring(world).window_view(release_id=1)
    errored = view.summary.for_condition("error_rate")
    assert (errored.count, errored.worst) == (3, Verdict.ERROR)
    assert not view.summary.healthy

"""The whole alerting chain, all real: exporter → Prometheus rule → Alertmanager → the bot.

A prometheus_client exporter the test controls serves `http_requests_total` for the
release's service; a real Prometheus (Debian package) scrapes it every second and evaluates
an alerting rule on the error ratio (> 1 %, `for: 0s`: the chain, not the rule, is under
test); a real Alertmanager (Debian package) routes the alert to the bot's webhook with the
bearer token; the bot (SimCord, fake clock) opens the incident and pages the on-call.
The ratio falls: Prometheus resolves the alert, Alertmanager sends the resolve, the bot
notes the recovery. Missing binaries fail the test (install scripts in .ci/), never skip.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from bot.app import create_bot
from bot.config import Settings
from bot.core.clock import FakeClock
from bot.monitoring.domain import Verdict
from bot.releases.chat.bot import ReleaseBot
from tests.incidents.chat.harness import dms
from tests.monitoring.chain.alertmanager_server import start_alertmanager
from tests.monitoring.chain.harness import (
    TOKEN,
    chain_settings,
    eventually,
    incidents,
    pump,
    webhook_url,
    window_state,
)
from tests.monitoring.probes.prometheus_server import (
    PrometheusServer,
    TrafficExporter,
    _require_binary,
    _wait_ready,
    free_port,
)
from tests.monitoring.service.harness import Script, ScriptedProbes
from tests.support.world import SERVICE

if TYPE_CHECKING:
    from tests.support.world import World

pytestmark = pytest.mark.prometheus

NAME = str(SERVICE["name"])
CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [{rules}]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{alertmanager_port}"]
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{app_port}"]
"""
RULES = """\
groups:
  - name: releasebot
    interval: 1s
    rules:
      - alert: HighErrorRatio
        expr: >
          sum by (service) (rate(http_requests_total{code=~"5.."}[4s]))
          / sum by (service) (rate(http_requests_total[4s])) > 0.01
        for: 0s
        labels:
          severity: critical
        annotations:
          value: "{{ $value }}"
          summary: "5xx ratio {{ $value }} on {{ $labels.service }}"
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Return settings with the web server on a loopback port and the webhook token."""
    return chain_settings(tmp_path)


@pytest.fixture
def simcord_bot(settings: Settings, clock: FakeClock) -> ReleaseBot:
    """Return the bot with its web server (its own polls scripted healthy: the push is tested)."""
    return create_bot(settings, clock=clock, probes=ScriptedProbes(Script()), start_web=True)


def start_rule_prometheus(
    workdir: Path, exporter: TrafficExporter, alertmanager_port: int
) -> PrometheusServer:
    """Start Prometheus with the error-ratio rule, sending alerts to Alertmanager."""
    binary = _require_binary()
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "rules.yml"
    rules.write_text(RULES)
    config = workdir / "prometheus.yml"
    config.write_text(
        CONFIG.format(rules=rules, alertmanager_port=alertmanager_port, app_port=exporter.port)
    )
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                "--rules.alert.resend-delay=1s",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(process, port, exporter, TrafficExporter(), log_path)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


async def rule_state(prometheus: PrometheusServer) -> str:
    """Return the alerting rule's state ("inactive", "pending", "firing")."""
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        body = (await client.get(f"{prometheus.base_url}/api/v1/rules")).json()
    [rule] = body["data"]["groups"][0]["rules"]
    state: str = rule["state"]
    return state


async def test_error_ratio_past_one_percent_pages_and_its_fall_resolves(
    world: World, tmp_path: Path
) -> None:
    """5 % errors → the rule fires → Alertmanager pushes → P1 incident, on-call paged; 0 % → ok."""
    await world.start()
    await world.run_whole_release_until("post-release")
    exporter = TrafficExporter()
    exporter.set_traffic(NAME, 200.0, 0.0)
    alertmanager = start_alertmanager(tmp_path / "am", webhook_url(world), TOKEN)
    prometheus = start_rule_prometheus(tmp_path / "prom", exporter, alertmanager.port)
    try:
        await eventually(lambda: rule_state(prometheus), lambda s: s == "inactive", "rule loaded")
        exporter.set_traffic(NAME, 200.0, 0.05)
        await eventually(lambda: rule_state(prometheus), lambda s: s == "firing", "rule firing")
        await eventually(lambda: incidents(world), bool, "the incident opened", within=30)
        await pump(world)
        [incident] = await incidents(world)
        assert (incident.condition, incident.severity) == ("high_error_ratio", "P1")
        [page] = [m for m in dms(world.omar) if m.embeds]
        assert "You are paged: P1 incident #1: high error ratio" in page.content
        state, measured, firing = await window_state(world, "high_error_ratio")
        assert state is not None and state.state.met and len(firing) == 1
        assert measured[0].value is not None and measured[0].value > 0.01
        exporter.set_traffic(NAME, 200.0, 0.0)
        state, measured, firing = await eventually(
            lambda: window_state(world, "high_error_ratio"),
            lambda s: s[0] is not None and not s[0].state.met,
            "the resolve from Alertmanager",
            within=45,
        )
        assert firing == {}
        assert [m.verdict for m in measured] == [Verdict.BREACH, Verdict.PASS]
        assert await rule_state(prometheus) == "inactive"
    finally:
        prometheus.stop()
        alertmanager.stop()

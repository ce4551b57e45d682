"""A real Alertmanager (the Debian package) on loopback, routing to the bot's webhook.

Started per test with short `group_wait` / `group_interval` / `repeat_interval` so a group's
notifications (and re-sends) arrive within a second; clustering is switched off. A missing
binary fails the test (`.ci/install-alertmanager.sh` installs it), never skips it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.monitoring.probes.prometheus_server import free_port

ALERTMANAGER_BIN = os.environ.get("RELEASEBOT_ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager")
INSTALL_HINT = "Run `bash .ci/install-alertmanager.sh` (as root) to install the Debian package"
READY_TIMEOUT = 30.0

CONFIG = """\
global:
  resolve_timeout: {resolve_timeout}
route:
  receiver: releasebot
  group_by: [alertname, service]
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: {repeat_interval}
receivers:
  - name: releasebot
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: {token}
"""


@dataclass
class Alertmanager:
    """A running Alertmanager and its v2 API."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        """Return the end of Alertmanager's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-3000:]

    async def post(self, *alerts: dict[str, Any]) -> None:
        """Send alerts the way Prometheus does (POST /api/v2/alerts)."""
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            response = await client.post(f"{self.url}/api/v2/alerts", json=list(alerts))
        assert response.status_code == 200, response.text

    async def alerts(self, **params: str) -> list[dict[str, Any]]:
        """Return GET /api/v2/alerts."""
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            response = await client.get(f"{self.url}/api/v2/alerts", params=params)
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    async def silences(self) -> list[dict[str, Any]]:
        """Return GET /api/v2/silences."""
        async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
            response = await client.get(f"{self.url}/api/v2/silences")
        response.raise_for_status()
        found: list[dict[str, Any]] = response.json()
        return found

    def stop(self) -> None:
        """Stop Alertmanager."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def alert(
    name: str,
    *,
    instance: str = "api-0",
    service: str = "nexis-gateway",
    severity: str = "warning",
    resolved: bool = False,
    **labels: str,
) -> dict[str, Any]:
    """Return one alert for POST /api/v2/alerts (resolved: endsAt in the past)."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "labels": {
            "alertname": name,
            "service": service,
            "instance": instance,
            "severity": severity,
            **labels,
        },
        "annotations": {"summary": f"{name} on {instance}"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus.test/graph",
    }
    if resolved:
        body["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return body


def start_alertmanager(
    workdir: Path,
    webhook_url: str,
    token: str,
    *,
    group_wait: str = "100ms",
    group_interval: str = "300ms",
    repeat_interval: str = "300ms",
    resolve_timeout: str = "5m",
) -> Alertmanager:
    """Start Alertmanager routing every alert to `webhook_url` with the bearer `token`."""
    if shutil.which(ALERTMANAGER_BIN) is None:
        where = (
            "CI (CI=true): scripts/setup.sh --test must install it first; "
            if os.environ.get("CI")
            else ""
        )
        pytest.fail(f"Alertmanager binary {ALERTMANAGER_BIN} not found. {where}{INSTALL_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(
        CONFIG.format(
            webhook_url=webhook_url,
            token=token,
            group_wait=group_wait,
            group_interval=group_interval,
            repeat_interval=repeat_interval,
            resolve_timeout=resolve_timeout,
        )
    )
    port = free_port()
    log_path = workdir / "alertmanager.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                ALERTMANAGER_BIN,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Alertmanager(process, port, log_path)
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Alertmanager exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    pytest.fail(f"Alertmanager not ready after {READY_TIMEOUT:.0f}s:\n{server.log_tail()}")

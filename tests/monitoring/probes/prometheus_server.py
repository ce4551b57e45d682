"""A real Prometheus server on loopback, scraping exporters whose traffic the tests set."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

PROMETHEUS_BIN = os.environ.get("RELEASEBOT_PROMETHEUS_BIN", "/usr/bin/prometheus")
INSTALL_HINT = "Run `bash .ci/install-prometheus.sh` (as root) to install the Debian package"
TICK_SECONDS = 0.1
DATA_TIMEOUT = 60.0

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ["127.0.0.1:{app_port}"]
  - job_name: canary
    static_configs:
      - targets: ["127.0.0.1:{canary_port}"]
"""


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class TrafficExporter:
    """A prometheus_client registry on a loopback port, fed by a thread at rates the test sets."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    rates: dict[str, tuple[float, float]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        """Create the metrics, start serving and start generating traffic."""
        self.requests = Counter(
            "http_requests_total", "Requests.", ["service", "code"], registry=self.registry
        )
        self.duration = Histogram(
            "http_request_duration_seconds", "Latency.", ["service"], registry=self.registry
        )
        self.server: WSGIServer
        self.server, self.server_thread = start_http_server(0, "127.0.0.1", self.registry)
        self.port: int = self.server.server_port
        self.generator = threading.Thread(target=self._generate, daemon=True)
        self.generator.start()

    def set_traffic(self, service: str, per_second: float, error_ratio: float) -> None:
        """Serve `per_second` requests of `service`, a share `error_ratio` of them 5xx."""
        with self.lock:
            self.rates[service] = (per_second, error_ratio)

    def stop_traffic(self, service: str) -> None:
        """Stop new requests (the series stay, so rates fall to 0 and ratios to NaN)."""
        self.set_traffic(service, 0.0, 0.0)

    def remove_series(self, service: str) -> None:
        """Stop traffic and drop the service's series from the exposition."""
        with self.lock:
            self.rates.pop(service, None)
            for code in ("200", "500"):
                self.requests.remove(service, code)
            self.duration.remove(service)

    def _generate(self) -> None:
        while not self.stopping.wait(TICK_SECONDS):
            with self.lock:
                for service, (per_second, error_ratio) in self.rates.items():
                    count = per_second * TICK_SECONDS
                    self.requests.labels(service, "500").inc(count * error_ratio)
                    self.requests.labels(service, "200").inc(count * (1 - error_ratio))
                    if count:
                        self.duration.labels(service).observe(0.120)

    def shutdown(self) -> None:
        """Stop generating and serving (scrapes then fail: the target is down)."""
        self.stopping.set()
        self.generator.join(timeout=5)
        self.server.shutdown()
        self.server.server_close()


@dataclass
class PrometheusServer:
    """A running Prometheus and the exporters it scrapes."""

    process: subprocess.Popen[bytes]
    port: int
    app: TrafficExporter
    canary: TrafficExporter
    log_path: Path

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        """Return the end of Prometheus's log, for failure messages."""
        return self.log_path.read_text(errors="replace")[-2000:]

    def query(self, promql: str) -> dict[str, Any]:
        """Return the `data` of an instant query (raises on an API error)."""
        response = httpx.get(f"{self.base_url}/api/v1/query", params={"query": promql}, timeout=5)
        body: dict[str, Any] = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query {promql!r} failed: {body}")
        data: dict[str, Any] = body["data"]
        return data

    def wait_for(
        self, promql: str, done: Callable[[list[Any]], bool], *, timeout: float = DATA_TIMEOUT
    ) -> list[Any]:
        """Poll `promql` until `done(result)` holds; fail with the last result after `timeout`."""
        deadline = time.monotonic() + timeout
        result: list[Any] = []
        while time.monotonic() < deadline:
            result = self.query(promql)["result"]
            if done(result):
                return result
            time.sleep(0.25)
        pytest.fail(f"Prometheus never satisfied the wait on {promql!r}; last result {result}")

    def stop(self) -> None:
        """Stop Prometheus and the exporters."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        for exporter in (self.app, self.canary):
            if not exporter.stopping.is_set():
                exporter.shutdown()


def _require_binary() -> str:
    if shutil.which(PROMETHEUS_BIN) is None:
        where = "CI (CI=true): .ci/run must install it first; " if os.environ.get("CI") else ""
        pytest.fail(f"Prometheus server binary {PROMETHEUS_BIN} not found. {where}{INSTALL_HINT}")
    return PROMETHEUS_BIN


def _wait_ready(server: PrometheusServer) -> None:
    deadline = time.monotonic() + DATA_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"Prometheus exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/-/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"Prometheus not ready after {DATA_TIMEOUT:.0f}s:\n{server.log_tail()}")


def start_prometheus(workdir: Path) -> PrometheusServer:
    """Start exporters and Prometheus on loopback; return once every started series has data."""
    binary = _require_binary()
    app, canary = TrafficExporter(), TrafficExporter()
    for service, per_second, error_ratio in SESSION_TRAFFIC:
        app.set_traffic(service, per_second, error_ratio)
    canary.set_traffic("canary", 100.0, 0.0)
    config = workdir / "prometheus.yml"
    config.write_text(CONFIG.format(app_port=app.port, canary_port=canary.port))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                "--storage.tsdb.retention.time=1h",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = PrometheusServer(process, port, app, canary, log_path)
    try:
        _wait_ready(server)
        expected = len(SESSION_TRAFFIC) + 1
        server.wait_for(
            "count(sum by (service) (rate(http_requests_total[10s])) > 0)",
            lambda result: bool(result) and float(result[0]["value"][1]) >= expected,
        )
    except BaseException:
        server.stop()
        raise
    return server


SESSION_TRAFFIC = [
    ("checkout", 200.0, 0.05),
    ("catalog", 200.0, 0.005),
    ("search", 200.0, 0.01),
    ("payments", 200.0, 0.01),
]
"""Services fed from session start: breaching, healthy, one to go quiet, one to vanish."""

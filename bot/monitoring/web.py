"""aiohttp app: `POST /alertmanager`, `GET /healthz`, `GET /readyz`, `GET /metrics`.

`/healthz` is liveness: 503 when the event loop, the timer loop or the outbox loop made no
progress within its bound (or the database cannot even be read); a restart helps then.
`/readyz` is readiness: 503 while the database cannot be written, the Discord gateway is
disconnected, a database write keeps failing, or pages fail past their retry budget. Both
answer from memory plus one short statement that takes no write lock: `/healthz` reads in a
read-only transaction (a WAL snapshot), `/readyz` only tries the lock, so neither ever waits
behind a write (a push of thousands of alerts included).

A push the store cannot take in time (the database stayed locked, the write queue is full)
is answered 503 with Retry-After, never 500: Alertmanager retries, and the intake is
idempotent on each alert's fingerprint, so the retry stores only what is still missing.

The webhook authenticates before it parses, and both happen before anything is stored: a
refused body (401 unauthenticated, 400 malformed, 413 too large) changes nothing and the
response says exactly what was wrong. With no bearer token and no HMAC secret configured
every push is refused (401): an open endpoint that can trigger rollbacks is never a default.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot.config import Secrets, Settings
from bot.core.errors import ConcurrentUpdate, StoreBusy
from bot.core.redaction import install_redaction
from bot.monitoring.alertmanager import (
    MAX_BODY_BYTES,
    AlertmanagerPayload,
    WebhookRejected,
    authenticate,
    authenticate_headers,
    parse_alertmanager_webhook,
)
from bot.monitoring.metrics import MonitoringMetrics
from bot.monitoring.service.views import IntakeReport
from bot.runtime.health import Health

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Seconds Alertmanager is told to wait before retrying a push the store was too busy for.
RETRY_AFTER_SECONDS = 5
# /healthz gives the database this long to answer one read (a reader never waits for a writer).
HEALTH_READ_TIMEOUT = 2.0
# ... and reuses an answer this fresh: a probe every few ms costs one read a second at most.
HEALTH_READ_MAX_AGE = 1.0
# Bodies from this size (a few hundred alerts) are parsed in a worker thread.
PARSE_IN_THREAD_BYTES = 64 * 1024


class PushedAlerts(Protocol):
    """What the web server needs from the monitoring service."""

    async def receive_alertmanager(self, payload: AlertmanagerPayload) -> IntakeReport:
        """Evaluate a validated webhook body at once."""
        ...

    async def open_window_count(self) -> int:
        """Return how many windows are open (a database round trip)."""
        ...


class RecentRead:
    """The open-window count, read at most every HEALTH_READ_MAX_AGE s; probes share one read.

    A failed read is not kept: the next probe reads again (and reports the failure again).
    """

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        """Keep the read (a read-only database round trip)."""
        self._read = read
        self._value: int | None = None
        self._at = -math.inf
        self._pending: asyncio.Future[int] | None = None

    async def get(self) -> int:
        """Return a count at most HEALTH_READ_MAX_AGE seconds old, reading it if needed."""
        if self._value is not None and time.monotonic() - self._at < HEALTH_READ_MAX_AGE:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh())
        return await asyncio.shield(self._pending)

    async def _refresh(self) -> int:
        try:
            value = await asyncio.wait_for(self._read(), HEALTH_READ_TIMEOUT)
            self._value, self._at = value, time.monotonic()
            return value
        finally:
            self._pending = None


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"status": "rejected", "error": reason}, status=status)


class WebHandlers:
    """The request handlers, over the monitoring service, the metrics and the secrets."""

    def __init__(
        self,
        monitoring: PushedAlerts,
        metrics: MonitoringMetrics,
        secrets: Secrets,
        health: Health | None = None,
        settings: Settings | None = None,
    ) -> None:
        """Keep what the routes need; read the webhook credentials and limits once."""
        web_settings = (settings or Settings()).web
        self._max_alerts = web_settings.max_alerts_per_push
        self._max_conditions = web_settings.max_conditions_per_push
        self._read_timeout = web_settings.read_timeout_seconds
        self._monitoring = monitoring
        self._open_windows = RecentRead(monitoring.open_window_count)
        self._health = health or Health()
        self._metrics = metrics
        token, hmac_secret = secrets.alertmanager_token, secrets.alertmanager_hmac_secret
        self._bearer = token.get_secret_value() if token else None
        self._hmac = hmac_secret.get_secret_value() if hmac_secret else None
        install_redaction([self._bearer, self._hmac])

    async def alertmanager(self, request: web.Request) -> web.Response:
        """Authenticate from the headers, read the body (bounded in time), parse, evaluate."""
        try:
            authenticate_headers(request.headers, bearer_token=self._bearer, hmac_secret=self._hmac)
            body = await self._read(request)
            authenticate(request.headers, body, bearer_token=self._bearer, hmac_secret=self._hmac)
            payload = await self._parse(body)
        except WebhookRejected as rejected:
            log.warning("alertmanager webhook refused (%s): %s", rejected.status, rejected.reason)
            return _error(rejected.status, rejected.reason)
        try:
            report = await self._monitoring.receive_alertmanager(payload)
        except (StoreBusy, ConcurrentUpdate) as busy:
            log.warning("alertmanager push deferred (store busy): %s", busy)
            return web.json_response(
                {
                    "status": "busy",
                    "error": f"the store is busy, retry in {RETRY_AFTER_SECONDS} s: {busy}",
                },
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return web.json_response(
            {
                "status": "accepted",
                "evaluated": list(report.evaluated),
                "ignored": list(report.ignored),
                "rejected": list(payload.rejected),
            }
        )

    async def _read(self, request: web.Request) -> bytes:
        """Return the body, or refuse one too large (413) or too slow to arrive (408)."""
        try:
            return await asyncio.wait_for(request.read(), self._read_timeout)
        except TimeoutError:
            raise WebhookRejected(
                408, f"body not received within {self._read_timeout:g} seconds"
            ) from None
        except web.HTTPRequestEntityTooLarge:
            raise WebhookRejected(
                413, f"body is larger than the limit of {MAX_BODY_BYTES} bytes"
            ) from None

    async def _parse(self, body: bytes) -> AlertmanagerPayload:
        """Parse; a large body off the event loop, so probes are answered meanwhile."""
        limits = {"max_alerts": self._max_alerts, "max_conditions": self._max_conditions}
        if len(body) < PARSE_IN_THREAD_BYTES:
            return parse_alertmanager_webhook(body, **limits)
        return await asyncio.to_thread(parse_alertmanager_webhook, body, **limits)

    async def healthz(self, request: web.Request) -> web.Response:
        """Liveness: 200 when every loop made progress and the database answers, else 503."""
        alive, loops = self._health.liveness()
        try:
            open_windows = await self._open_windows.get()
        except Exception as exc:  # any database failure is "unhealthy", with the reason
            log.exception("health check: database unavailable")
            return web.json_response(
                {
                    "status": "unavailable",
                    "database": f"{type(exc).__name__}: {exc}",
                    "loops": loops,
                },
                status=503,
            )
        body: dict[str, object] = {"status": "ok", "database": "ok", "open_windows": open_windows}
        if not alive:
            body["status"] = "stalled"
        if self._health.beats:
            body["loops"] = loops
        return web.json_response(body, status=200 if alive else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        """Readiness: 200 when the database is writable, the gateway up and no fault is set."""
        ready, details = await self._health.readiness()
        return web.json_response(
            {"status": "ready" if ready else "not ready", **details}, status=200 if ready else 503
        )

    async def metrics(self, request: web.Request) -> web.Response:
        """Serve the bot's metrics in the Prometheus text format."""
        return web.Response(
            body=self._metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )


def make_web_app(
    monitoring: PushedAlerts,
    metrics: MonitoringMetrics,
    settings: Settings,
    secrets: Secrets,
    health: Health | None = None,
) -> web.Application:
    """Return the aiohttp application (not started; `WebServer` runs it)."""
    handlers = WebHandlers(monitoring, metrics, secrets, health, settings)
    # aiohttp answers 413 itself above this size (plus headroom for the JSON framing).
    app = web.Application(client_max_size=MAX_BODY_BYTES + 1024)
    app.router.add_post("/alertmanager", handlers.alertmanager)
    app.router.add_get("/healthz", handlers.healthz)
    app.router.add_get("/readyz", handlers.readyz)
    app.router.add_get("/metrics", handlers.metrics)
    app[SETTINGS] = settings
    return app


class WebServer:
    """Run the web app on `host:port` (port 0 picks a free one; `port` tells which)."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, idle_timeout: float = 15.0
    ) -> None:
        """Keep the app and where to listen."""
        self._app = app
        self._host = host
        self._wanted_port = port
        self._runner: web.AppRunner | None = None
        self._idle_timeout = idle_timeout
        self.port: int | None = None

    def add_post(self, path: str, handler: Handler) -> None:
        """Serve POST `path` with another feature's handler too (call before `start`)."""
        self._app.router.add_post(path, handler)

    @property
    def url(self) -> str:
        """Return http://host:port of the running server."""
        if self.port is None:
            raise RuntimeError("web server is not running")
        return f"http://{self._host}:{self.port}"

    async def start(self) -> int:
        """Start listening and return the bound port."""
        # aiohttp's keep-alive timer starts when a connection opens and is only moved on by a
        # complete response, so it also drops a client that sends no request or trickles its
        # request line and headers (aiohttp has no separate header timeout): `idle_timeout`
        # (15 s; aiohttp's default is an hour). A body that trickles in is cut off by the
        # handler's read timeout.
        runner = web.AppRunner(self._app, access_log=None, keepalive_timeout=self._idle_timeout)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._wanted_port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("web server listening on %s", self.url)
        return self.port

    async def stop(self) -> None:
        """Stop listening and release the port."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self.port = None


def web_server_for(app: web.Application, settings: Settings) -> WebServer:
    """Return a server for `app` on the configured host and port (port 0: any free one)."""
    return WebServer(app, settings.web.host, settings.web.port)

"""Fixtures for the monitoring adapters: a scripted loopback HTTP server and a real Prometheus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.monitoring.probes.prometheus_server import PrometheusServer, start_prometheus


@dataclass
class Reply:
    """What the scripted server answers on one path."""

    status: int = 200
    body: Any = None
    text: str | None = None
    delay: float = 0.0
    hang: bool = False


@dataclass
class ScriptedServer:
    """A loopback HTTP server answering each path as scripted, recording what it was sent."""

    server: TestServer
    replies: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.server.port}"

    def url(self, path: str) -> str:
        """Return the absolute URL of `path`."""
        return self.base_url + path

    def reply(self, path: str, reply: Reply) -> None:
        """Script the answer for `path`."""
        self.replies[path] = reply

    def prometheus_success(self, path: str, result_type: str, result: Any) -> None:
        """Script a Prometheus API success body."""
        body = {"status": "success", "data": {"resultType": result_type, "result": result}}
        self.reply(path, Reply(body=body))


@pytest.fixture
async def scripted_server() -> AsyncIterator[ScriptedServer]:
    """Serve scripted replies on a random loopback port; hanging handlers are freed at teardown."""
    holder: list[ScriptedServer] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        scripted = holder[0]
        scripted.requests.append((request.path, dict(request.query)))
        reply = scripted.replies.get(request.path)
        if reply is None:
            return web.Response(status=404, text=f"no reply scripted for {request.path}")
        if reply.hang:
            await scripted.release.wait()
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.text is not None:
            return web.Response(status=reply.status, text=reply.text)
        return web.Response(
            status=reply.status, text=json.dumps(reply.body), content_type="application/json"
        )

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    scripted = ScriptedServer(server)
    holder.append(scripted)
    try:
        yield scripted
    finally:
        scripted.release.set()
        await server.close()


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Run one real Prometheus for the session, scraping exporters the tests control."""
    workdir: Path = tmp_path_factory.mktemp("prometheus")
    server = start_prometheus(workdir)
    try:
        yield server
    finally:
        server.stop()

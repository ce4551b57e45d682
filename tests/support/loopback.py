"""A loopback HTTP receiver that plays scripted answers and records every request."""

from __future__ import annotations

import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    """One scripted response."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class LoopbackReceiver:
    """Serve on 127.0.0.1 at a free port; answer each path from its script, else 202."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: dict[str, deque[Answer]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def script(self, path: str, *answers: Answer) -> None:
        """Queue answers for `path`; once used up, the path answers 202 again."""
        self._script[path].extend(answers)

    def at(self, path: str) -> list[Received]:
        """Return the requests that reached `path`."""
        return [r for r in self.received if r.path == path]

    def url(self, path: str) -> str:
        """Return the full URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.method, request.path, dict(request.headers), body))
        queue = self._script[request.path]
        answer = queue.popleft() if queue else Answer(202, {"status": "success"})
        if isinstance(answer.body, str):
            return web.Response(status=answer.status, text=answer.body, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)

    async def start(self) -> None:
        """Start listening on a random free loopback port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop the server."""
        if self._runner is not None:
            await self._runner.cleanup()

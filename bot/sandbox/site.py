"""One aiohttp application served on a loopback port: the lifecycle every sandbox server shares."""

from __future__ import annotations

import socket

from aiohttp import web


class LoopbackSite:
    """Serve `app` on `host:port` (0: a free port chosen by the kernel) until `stop()`."""

    def __init__(self, app: web.Application, *, shutdown_timeout: float = 60.0) -> None:
        self._app = app
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen and return the base URL `http://host:port` (idempotent while running)."""
        if self._runner is not None:
            return self.url
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        # Bind the socket ourselves: the kernel's choice of free port is then known before any
        # request (TCPSite with port 0 hides it behind the server object).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((host, port))
        await web.SockSite(runner, sock).start()
        bound_host, bound_port = sock.getsockname()[:2]
        self._runner = runner
        self.url = f"http://{bound_host}:{bound_port}"
        return self.url

    async def stop(self) -> None:
        """Stop listening (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
